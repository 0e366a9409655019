"""Work to do after a commit: written in the same transaction as the change that needs it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from portal import clock
from portal.extensions import db
from portal.models.types import JSONDocument, UTCDateTime


class OutboxMessage(db.Model):
    """A job to run. Deleted by the job, in its own transaction, once its work is done."""

    __tablename__ = "outbox_message"
    # Rows are deleted when done; AUTOINCREMENT stops SQLite from handing a done row's id
    # (and so its RQ job id) to a new row.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Which job: a name in portal.jobs.HANDLERS.
    job: Mapped[str] = mapped_column(String(64))
    args: Mapped[dict] = mapped_column(JSONDocument, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    #: When it was last handed to RQ; empty until the relay (or the sweep) has done so.
    enqueued_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    #: Not before this time (a retry that waits); empty means as soon as possible.
    run_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
