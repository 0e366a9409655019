"""Every email Baton sends, recorded before it is sent so that a repeated job finds it done."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Enum, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal import clock
from portal.extensions import db
from portal.models.types import JSONDocument, UTCDateTime


class EmailState(StrEnum):
    PENDING = "pending"  # written, not yet tried
    SENDING = "sending"  # a job has claimed it and is talking to the mail server
    SENT = "sent"
    FAILED = "failed"  # the mail server refused it; the sweep tries again later


class EmailMessage(db.Model):
    __tablename__ = "email_message"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: What this email is about, unique: one email per task assignment, per outcome, ...
    key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(64))
    submission_id: Mapped[int | None] = mapped_column(
        ForeignKey("submission.id", ondelete="CASCADE"), index=True
    )
    task_id: Mapped[int | None] = mapped_column(
        ForeignKey("task.id", ondelete="CASCADE"), index=True
    )
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300), default="")
    #: The text as sent, with any action link replaced by a placeholder (links are secrets).
    body: Mapped[str] = mapped_column(Text, default="")
    #: Anything the message needs beyond the ids (an outcome, a comment).
    context: Mapped[dict] = mapped_column(JSONDocument, default=dict)
    state: Mapped[EmailState] = mapped_column(
        Enum(
            EmailState,
            native_enum=False,
            length=16,
            values_callable=lambda members: [m.value for m in members],
        ),
        default=EmailState.PENDING,
    )
    message_id: Mapped[str | None] = mapped_column(String(300))
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
