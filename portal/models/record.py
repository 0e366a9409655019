"""Rendered audit-trail PDFs, and bulk exports of records for compliance officers."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import BigInteger, Enum, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal import clock
from portal.extensions import db
from portal.models.types import JSONDocument, UTCDateTime
from portal.models.user import User


class AuditPdf(db.Model):
    """One rendering of a submission's audit trail, for one state of its audit chain.

    Keyed by the chain's head hash: while no event is added, the record is unchanged and the
    same file is served; the next event makes a new head and so a new rendering.
    """

    __tablename__ = "audit_pdf"
    __table_args__ = (UniqueConstraint("submission_id", "head_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submission.id"), index=True)
    head_hash: Mapped[str] = mapped_column(String(64))
    events: Mapped[int]
    verified: Mapped[bool]
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    #: Relative to the instance folder.
    path: Mapped[str] = mapped_column(String(300))
    rendered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    rendered_for_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    render_seconds: Mapped[float | None]

    rendered_for: Mapped[User | None] = relationship()


class ExportState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Export(db.Model):
    """A ZIP of audit-trail PDFs with a CSV index and a SHA-256 manifest, built by a job."""

    __tablename__ = "export"

    id: Mapped[int] = mapped_column(primary_key=True)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    #: The search that chose the records, as the compliance page had it.
    filters: Mapped[dict] = mapped_column(JSONDocument, default=dict)
    #: The submissions chosen when it was started (the export is of exactly these).
    submission_ids: Mapped[list] = mapped_column(JSONDocument, default=list)
    state: Mapped[ExportState] = mapped_column(
        Enum(
            ExportState,
            native_enum=False,
            length=16,
            values_callable=lambda members: [m.value for m in members],
        ),
        default=ExportState.QUEUED,
    )
    total: Mapped[int] = mapped_column(default=0)
    done: Mapped[int] = mapped_column(default=0)
    path: Mapped[str | None] = mapped_column(String(300))
    sha256: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    requested_by: Mapped[User] = relationship()

    @property
    def percent(self) -> int:
        return 100 if self.total == 0 else int(100 * self.done / self.total)
