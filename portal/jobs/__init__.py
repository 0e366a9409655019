"""RQ job functions: thin, import-safe, given ids. The app is built on first use in a process.

Every job Baton queues is `run_outbox(message_id)`: it claims the outbox row, runs the handler
its kind names (portal.jobs.registry), and deletes the row in the transaction that commits the
handler's work. Only this runner deletes outbox rows. A row that is gone means the work is
done, so a job delivered twice does nothing the second time; a handler whose work is not done
raises Postponed, and its row stays for the sweep. Handlers live in this package: the ones of
one transaction in `handlers`, the ones that commit in stages in `email` and `export`.

Timers fire by `fire_timer(timer_id)`, guarded the same way by their `fired_at`. The one job
whose loss costs nothing is `refresh_insight`: it recomputes a copy of what the database says.
"""

from __future__ import annotations

import logging
import os

from flask import Flask

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


class Postponed(Exception):  # noqa: N818 - says what happened to the job, not an error
    """The job's work is not done and its outbox row stays, for the sweep to hand out again:
    another job has the work, or it failed in a way worth trying again later."""


class Claim:
    """The outbox row a handler runs for, locked by the runner until the first commit."""

    def __init__(self, message_id: int):
        self.message_id = message_id
        #: Whether the row has ended (see finish); the runner ends it otherwise.
        self.finished = False

    def keep(self) -> bool:
        """Lock the row again after a commit, and renew its lease; False if it is gone or
        another worker holds it, so this attempt has been superseded and must stop.

        A job that commits in stages (an export's progress) releases the runner's row lock at
        each commit; taking it back, and moving `enqueued_at` on so the sweep sees the job is
        alive, keeps a long job to one worker.
        """
        from portal import clock
        from portal.extensions import claim
        from portal.models import OutboxMessage

        row = claim(OutboxMessage, self.message_id)
        if row is None:
            return False
        row.enqueued_at = clock.now()
        return True

    def finish(self) -> None:
        """Commit the job's work now, with the end of its outbox row: for a job whose last
        commit cannot wait for it to return (an email's, the moment the server said "250")."""
        _end(self.message_id)
        self.finished = True


def _end(message_id: int) -> None:
    """Delete the outbox row and commit: the row is gone exactly when its work is committed.

    One statement, whether or not the row is still there (another job may have ended it)."""
    from sqlalchemy import delete

    from portal.extensions import db
    from portal.models import OutboxMessage

    db.session.execute(
        delete(OutboxMessage).where(OutboxMessage.id == message_id),
        execution_options={"synchronize_session": False},  # the commit expires it anyway
    )
    db.session.commit()


def run_outbox(message_id: int) -> str:
    """Run the work one outbox row asks for, once, and delete the row when it is done."""
    from portal.extensions import claim, db
    from portal.jobs.registry import REGISTRY
    from portal.models import OutboxMessage

    with application().app_context():
        message = claim(OutboxMessage, message_id)
        if message is None:
            db.session.rollback()
            return "nothing to do: done already, or another worker has it"
        spec = REGISTRY.get(message.job)
        if spec is None:
            logger.error("outbox message %s names an unknown job %r", message.id, message.job)
            db.session.rollback()
            return "unknown job"
        job, args = message.job, message.args  # a handler's commit expires the row
        run = Claim(message_id)
        try:
            spec.function(run, **args)
            if not run.finished:
                _end(message_id)  # in the transaction of the handler's last changes
        except Postponed as reason:
            db.session.rollback()
            return f"{job} postponed: {reason}"
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
    from sqlalchemy.exc import IntegrityError, OperationalError

    from portal import clock, outbox
    from portal.extensions import db
    from portal.services import deadlines

    with application().app_context():
        relayed = outbox.relay_due()
        timers = outbox.enqueue_due_timers(deadlines.due_timers())
        digests = deadlines.digest_due()
        today = clock.local_today()
        db.session.commit()
        for user_id in digests:
            # Two hosts may both run the sweep. If the other sweep queued this digest after
            # this one looked (its row has the same key: PostgreSQL refuses this one's; SQLite
            # refuses a write from a transaction that read before the other's commit), look
            # again in a new transaction: the digest is there, and nothing more is queued.
            try:
                deadlines.queue_digest(user_id, today)
                db.session.commit()
            except (IntegrityError, OperationalError):
                db.session.rollback()
                logger.info("sweep: user %s's digest raced another sweep; looking again", user_id)
                deadlines.queue_digest(user_id, today)
                db.session.commit()
        return f"relayed {relayed}, timers {timers}, digests {len(digests)}"
