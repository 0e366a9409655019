"""The append-only, hash-chained audit log. Only portal.audit writes here, and never updates."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal import clock
from portal.extensions import db
from portal.models.types import JSONDocument, UTCDateTime


class AuditEvent(db.Model):
    __tablename__ = "audit_event"
    __table_args__ = (UniqueConstraint("chain", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Which chain: "submission:42" for a submission's record, "admin" for admin actions.
    chain: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int]
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submission.id"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    #: Who acted, as written at the time: an email, or "system (rule or job)".
    actor: Mapped[str] = mapped_column(String(300))
    action: Mapped[str] = mapped_column(String(64))
    #: web, email, api, worker or cli.
    channel: Mapped[str] = mapped_column(String(16))
    details: Mapped[dict] = mapped_column(JSONDocument, default=dict)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditChain(db.Model):
    """The head of each chain. Appends lock this row, so two writers cannot fork a chain."""

    __tablename__ = "audit_chain"

    chain: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(default=0)
    head_hash: Mapped[str] = mapped_column(String(64))
