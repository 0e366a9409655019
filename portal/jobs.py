"""RQ job functions: thin, import-safe, given ids. The app is built on first use in a process.

Every job Baton queues is `run_outbox(message_id)`: it loads the outbox row, runs the handler
named there, and the handler deletes the row in the transaction that commits its work. A row
that is gone means the work is done, so a job delivered twice does nothing the second time.
Timers fire by `fire_timer(timer_id)`, guarded the same way by their `fired_at`. The one job
whose loss costs nothing is `refresh_insight`: it recomputes a copy of what the database says.
"""

from __future__ import annotations

import logging
import os

from flask import Flask
from sqlalchemy import select

logger = logging.getLogger(__name__)
_app: Flask | None = None
_app_pid: int | None = None


def use_app(app: Flask | None) -> None:
    """Run jobs in this process with `app` (tests, and the worker that preloads it)."""
    global _app, _app_pid
    _app, _app_pid = app, os.getpid()


def application() -> Flask:
    """The app for jobs in this process; after a fork, with fresh database connections."""
    global _app, _app_pid
    if _app is None:
        from portal import create_app

        use_app(create_app())
    if _app_pid != os.getpid():
        from portal.extensions import db

        with _app.app_context():
            db.engine.dispose(close=False)  # the parent's connections are not ours to use
        _app_pid = os.getpid()
    return _app


def run_outbox(message_id: int) -> str:
    """Run the work one outbox row asks for, once."""
    from portal.extensions import db
    from portal.models import OutboxMessage

    with application().app_context():
        message = db.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.id == message_id)
            .with_for_update(skip_locked=True)
        ).first()
        if message is None:
            db.session.rollback()
            return "nothing to do: done already, or another worker has it"
        handler = HANDLERS.get(message.job)
        if handler is None:
            logger.error("outbox message %s names an unknown job %r", message.id, message.job)
            db.session.rollback()
            return "unknown job"
        job = message.job  # handlers commit and delete the row: not to be read back after
        try:
            handler(message, **message.args)
        except Exception:
            db.session.rollback()
            raise
        return f"{job} done"


def fire_timer(timer_id: int) -> str:
    """A reminder, escalation or timeout whose time has come (once, whoever calls first)."""
    from portal.extensions import db
    from portal.services import deadlines

    with application().app_context():
        try:
            outcome = deadlines.fire(timer_id)
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise
        return outcome


def refresh_insight(form_id: int, period, scope) -> str:
    """Compute a busy period's insight figures and keep them (portal.services.insight_snapshots).

    Not an outbox job: the snapshot is a copy of what the database says, so a lost job costs
    nothing but a recomputation when the page is next asked for."""
    from portal.extensions import db
    from portal.services import insight_snapshots

    with application().app_context():
        try:
            return insight_snapshots.refresh(form_id, period, scope)
        finally:
            db.session.rollback()


def sweep() -> str:
    """Every minute (rq cron): hand RQ lost or never-handed outbox work, due timers, digests."""
    from flask import current_app

    from portal import clock, outbox
    from portal.extensions import db
    from portal.services import deadlines

    with application().app_context():
        relayed = outbox.relay_due()
        timers = outbox.enqueue_due_timers(deadlines.due_timers())
        digests = deadlines.digest_due()
        today = clock.today(current_app.config["BATON_TIMEZONE"])
        for user_id in digests:
            deadlines.queue_digest(user_id, today)
        db.session.commit()
        return f"relayed {relayed}, timers {timers}, digests {len(digests)}"


def _start_chain(message, submission_id: int) -> None:
    from portal.extensions import db
    from portal.services import approvals

    approvals.start_chain(submission_id)
    db.session.delete(message)
    db.session.commit()


def _render_pdf(message, submission_id: int, user_id: int | None = None) -> None:
    from sqlalchemy.exc import IntegrityError

    from portal.extensions import db
    from portal.models import OutboxMessage, Submission, User
    from portal.services import records

    submission = db.session.get(Submission, submission_id)
    user = db.session.get(User, user_id) if user_id else None
    if submission is not None:
        try:
            records.render(submission, user)
            db.session.flush()
        except IntegrityError:
            db.session.rollback()  # another job rendered this same state first: theirs stands
    row = db.session.get(OutboxMessage, message.id)
    if row is not None:
        db.session.delete(row)
    db.session.commit()


def _build_export(message, export_id: int) -> None:
    from portal.services import exports

    exports.build(message, export_id)


def _send_email(message, email_id: int) -> None:
    from portal.services import notifications

    notifications.deliver(message, email_id)


#: Outbox job names and the functions that do their work.
def _deliver_webhook(message, delivery_id: int) -> None:
    from portal.extensions import db
    from portal.services import webhooks

    outcome = webhooks.send(delivery_id)
    logger.info("webhook delivery %s: %s", delivery_id, outcome)
    db.session.delete(message)
    db.session.commit()


HANDLERS = {
    "start_chain": _start_chain,
    "deliver_webhook": _deliver_webhook,
    "send_email": _send_email,
    "render_pdf": _render_pdf,
    "build_export": _build_export,
}
