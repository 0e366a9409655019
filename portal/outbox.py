"""The outbox: jobs are written as rows in the transaction that needs them, and handed to RQ
only after that transaction commits.

    add("start_chain", submission_id=42)   # inside a service, before the commit
    ... commit ...                          # the after-commit hook relays the new rows to RQ

A crash between commit and relay, a Redis restart or FLUSHALL loses nothing: the row stays,
and the cron sweep (`relay_due`) hands it to RQ again. A row is deleted by the job that did its
work, in that same transaction, so it is "done" exactly when the work is committed.
"""

from __future__ import annotations

import datetime as dt
import logging

from flask import current_app, has_app_context
from sqlalchemy import event, or_, select, update
from sqlalchemy.orm import Session

from portal import clock, queue
from portal.extensions import db
from portal.models import OutboxMessage

logger = logging.getLogger(__name__)
#: RQ's job function for every outbox row.
RUNNER = "portal.jobs.run_outbox"
#: A row handed to RQ longer ago than this and still here is handed over again by the sweep:
#: its job was lost (Redis flushed) or its worker died.
DEFAULT_LEASE = dt.timedelta(minutes=2)
_PENDING = "baton.outbox.pending"


def add(job: str, **args) -> OutboxMessage:
    """Write a job to run after the current transaction commits."""
    message = OutboxMessage(job=job, args=args, created_at=clock.now())
    db.session.add(message)
    db.session.flush()
    db.session.info.setdefault(_PENDING, []).append(message.id)
    return message


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    ids = session.info.pop(_PENDING, None)
    if ids and has_app_context():
        relay(ids)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


def relay(ids: list[int]) -> int:
    """Hand these outbox rows to RQ; a row that cannot be handed over stays for the sweep."""
    q = queue.queue(current_app)
    sent = []
    for message_id in ids:
        try:
            q.enqueue(
                RUNNER,
                message_id,
                job_id=f"outbox-{message_id}",
                job_timeout=current_app.config.get("JOB_TIMEOUT", 300),
                result_ttl=0,
                failure_ttl=24 * 3600,
            )
        except Exception:  # noqa: BLE001 - Redis down: the row waits for the sweep
            logger.warning(
                "could not hand outbox message %s to RQ; the sweep will retry", message_id
            )
            continue
        sent.append(message_id)
    if sent:
        # Its own short transaction on its own connection: the caller's has just committed.
        with db.engine.begin() as connection:
            connection.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(sent))
                .values(enqueued_at=clock.now(), attempts=OutboxMessage.attempts + 1)
            )
    return len(sent)


def relay_due(lease: dt.timedelta | None = None, limit: int = 500) -> int:
    """Hand RQ every row never handed over, and every row whose lease ran out (the sweep)."""
    lease = lease if lease is not None else current_app.config.get("OUTBOX_LEASE", DEFAULT_LEASE)
    stale = clock.now() - lease
    with db.engine.connect() as connection:
        ids = connection.scalars(
            select(OutboxMessage.id)
            .where(or_(OutboxMessage.enqueued_at.is_(None), OutboxMessage.enqueued_at <= stale))
            .order_by(OutboxMessage.id)
            .limit(limit)
        ).all()
    if ids:
        logger.info("sweep: handing %d outbox message(s) to RQ", len(ids))
    return relay(list(ids)) if ids else 0
