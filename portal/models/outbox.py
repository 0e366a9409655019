"""Work to do after a commit: written in the same transaction as the change that needs it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from portal import clock
from portal.extensions import db
from portal.models.types import JSONDocument, UTCDateTime


class OutboxMessage(db.Model):
    """A job to run. Deleted by the outbox runner in the transaction that commits its work."""

    __tablename__ = "outbox_message"
    # Rows are deleted when done; AUTOINCREMENT stops SQLite from handing a done row's id
    # (and so its RQ job id) to a new row.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Which job: a portal.jobs.registry.JobKind value (checked when the row is written).
    job: Mapped[str] = mapped_column(String(64))
    #: What the job is about, such as "submission:42" (the registry says which argument):
    #: finds a waiting job without reading every row's arguments.
    subject: Mapped[str | None] = mapped_column(String(64), index=True)
    args: Mapped[dict] = mapped_column(JSONDocument, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    #: When it was last handed to RQ; empty until the relay (or the sweep) has done so.
    enqueued_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    #: Not before this time (a retry that waits); empty means as soon as possible.
    run_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
