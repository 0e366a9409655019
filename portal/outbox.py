"""The outbox: jobs are written as rows in the transaction that needs them, and handed to RQ
only after that transaction commits.

    add(JobKind.START_CHAIN, submission_id=42)   # inside a service, before the commit
    ... commit ...                                # the after-commit hook relays the new rows

A crash between commit and relay, a Redis restart or FLUSHALL loses nothing: the row stays,
and the cron sweep (`relay_due`) hands it to RQ again. A row is deleted by the outbox runner
(`portal.jobs.run_outbox`) in the transaction that commits its job's work, so it is "done"
exactly when the work is committed.
"""

from __future__ import annotations

import datetime as dt
import logging

from flask import current_app, has_app_context
from sqlalchemy import and_, delete, event, inspect, or_, select, update
from sqlalchemy.orm import Session

from portal import clock, queue
from portal.extensions import db
from portal.jobs.registry import REGISTRY, JobKind, QueueKind, check
from portal.models import OutboxMessage

logger = logging.getLogger(__name__)
#: RQ's job function for every outbox row, and for every timer.
RUNNER = "portal.jobs.run_outbox"
TIMER_RUNNER = "portal.jobs.fire_timer"
#: A row handed to RQ longer ago than this and still here is handed over again by the sweep:
#: its job was lost (Redis flushed) or its worker died.
DEFAULT_LEASE = dt.timedelta(minutes=2)
_PENDING = "baton.outbox.pending"
_TIMERS = "baton.outbox.timers"


def add(kind: JobKind, run_at: dt.datetime | None = None, **args) -> OutboxMessage:
    """Write a job to run after the current transaction commits (not before `run_at`).

    UnknownJob if `kind` is not a JobKind or its handler does not take these arguments: a
    job that no worker could run is refused here, not found out by a worker.
    """
    spec = check(kind, args)
    now = clock.now()
    # Written as handed to RQ already, since the commit hook hands it over right after the
    # commit: marking it there would be a second transaction on a second connection for every
    # job. If the process dies between the commit and the hand-over, the sweep hands the row
    # over once its lease has run out, as it does for a job RQ lost (and if Redis refuses it,
    # the hook marks it never handed, for the next sweep).
    message = OutboxMessage(
        job=kind.value,
        subject=spec.subject_of(args),
        args=args,
        created_at=now,
        run_at=run_at,
        enqueued_at=now,
        attempts=1,
    )
    # Not flushed here: a transaction's rows go out together at its next flush (one multi-row
    # INSERT); the hook takes their ids from the rows once the commit has written them.
    db.session.add(message)
    db.session.info.setdefault(_PENDING, []).append((message, kind.value, run_at))
    return message


def waiting(kind: JobKind, **args) -> bool:
    """True if a job of this kind about the same subject is waiting (by the indexed subject)."""
    subject = REGISTRY[kind].subject_of(args)
    found = db.session.scalar(
        select(OutboxMessage.id)
        .where(OutboxMessage.subject == subject, OutboxMessage.job == kind.value)
        .limit(1)
    )
    return found is not None


def take_back() -> None:
    """Take back every job the current transaction wrote, before it commits: their rows are
    deleted and nothing (timers included) is handed to RQ at the commit. For histories that
    happen in the past (portal.demo): their work must never run. Rows that were ever committed
    are not touched; only the runner deletes those, once their work is done."""
    db.session.flush()
    written = [message.id for message, _, _ in db.session.info.pop(_PENDING, [])]
    db.session.info.pop(_TIMERS, None)
    for start in range(0, len(written), 1000):
        db.session.execute(
            delete(OutboxMessage).where(OutboxMessage.id.in_(written[start : start + 1000]))
        )


def schedule_timer(timer, fire_at: dt.datetime) -> None:
    """Ask RQ, after the commit, to fire this timer at its time (the sweep is the safety net).

    `timer` is its id, or the Timer row itself when it is not flushed yet: its id is taken
    from it after the commit (timers go out with the rest of their transaction's rows)."""
    db.session.info.setdefault(_TIMERS, []).append((timer, fire_at))


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    timers = session.info.pop(_TIMERS, None)
    if not has_app_context():
        return
    if pending:
        rows = {}
        for message, name, run_at in pending:
            identity = inspect(message).identity  # the id, without loading the expired row
            if identity is not None:
                rows[identity[0]] = (name, run_at)
        if rows:
            relay(list(rows), rows, marked=True)
    if timers:
        ids = []
        for timer, fire_at in timers:
            if not isinstance(timer, int):
                identity = inspect(timer).identity
                if identity is None:
                    continue  # never written (taken back with a savepoint)
                timer = identity[0]
            ids.append((timer, fire_at))
        _schedule(ids)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_TIMERS, None)


def job_id(kind: str, row_id: int) -> str:
    """RQ's id for the job of an outbox row or a timer: '<queue>-outbox-42', '<queue>-timer-7'.

    Naming the queue keeps two installations sharing a Redis (or a restored database whose ids
    start again) from mistaking each other's jobs for their own.
    """
    return f"{current_app.config['RQ_QUEUE']}-{kind}-{row_id}"


def timer_job_id(timer_id: int) -> str:
    return job_id("timer", timer_id)


def _schedule(timers: list[tuple[int, dt.datetime]]) -> None:
    q = queue.queue(current_app)
    # One round trip for all of a commit's timers (a task plans a dozen or more).
    pipe = q.connection.pipeline()
    try:
        for timer_id, fire_at in timers:
            q.enqueue_at(
                fire_at,
                TIMER_RUNNER,
                timer_id,
                job_id=timer_job_id(timer_id),
                result_ttl=0,
                failure_ttl=24 * 3600,
                pipeline=pipe,
            )
        pipe.execute()
    except Exception:  # noqa: BLE001 - Redis down: the sweep fires them when they are due
        logger.warning(
            "could not schedule timers %s in RQ; the sweep will fire them",
            ", ".join(str(timer_id) for timer_id, _ in timers),
        )


def enqueue_due_timers(due: list[tuple[int, dt.datetime]]) -> int:
    """Hand RQ the due timers it does not hold (lost to a flush, never scheduled, or stuck).

    A timer whose job is waiting in a queue is left alone. One whose job RQ says is running is
    left alone for a lease: longer than that, its worker has probably died (RQ only notices
    later), and firing is safe to repeat, so it is handed over again.
    """
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    q = queue.queue(current_app)
    lease = current_app.config.get("OUTBOX_LEASE", DEFAULT_LEASE)
    handed = 0
    for timer_id, fire_at in due:
        try:
            job = Job.fetch(timer_job_id(timer_id), connection=q.connection)
            status = job.get_status(refresh=False)
            if status in ("queued", "deferred"):
                continue
            if status == "started" and fire_at > clock.now() - lease:
                continue
        except NoSuchJobError:
            pass
        q.enqueue(TIMER_RUNNER, timer_id, job_id=timer_job_id(timer_id), result_ttl=0)
        handed += 1
    return handed


def relay(
    ids: list[int],
    rows: dict[int, tuple[str, dt.datetime | None]] | None = None,
    marked: bool = False,
) -> int:
    """Hand these outbox rows to RQ; a row that cannot be handed over stays for the sweep.

    `rows` is what the caller already knows of them (job and run_at, by id), as the commit
    hook does for the rows its transaction wrote; without it they are read from the table.
    `marked`: the rows already say they were handed over now (rows `add` wrote).
    """
    if not ids:
        return 0
    if rows is None:
        # Its own connection: this runs after the caller's commit, when its session is done.
        with db.engine.connect() as connection:
            rows = {
                row.id: (row.job, row.run_at)
                for row in connection.execute(
                    select(OutboxMessage.id, OutboxMessage.job, OutboxMessage.run_at).where(
                        OutboxMessage.id.in_(ids)
                    )
                )
            }
    now = clock.now()
    # Marked as handed over (and committed) before RQ has the job: a worker that picked the
    # job up at once would otherwise find the row locked by this very update, take it for
    # another worker's, and leave it to the sweep's lease.
    if not marked:
        _mark_handed(ids, handed=True)
    queues = {kind: queue.queue(current_app, kind) for kind in QueueKind}
    # All of them in one round trip (one MULTI/EXEC): handed over together, or not at all.
    pipe = queues[QueueKind.DEFAULT].connection.pipeline()
    ready: dict[QueueKind, list] = {kind: [] for kind in QueueKind}
    try:
        for message_id in ids:
            name, run_at = rows.get(message_id, (None, None))
            if run_at is not None and run_at.tzinfo is None:
                run_at = run_at.replace(tzinfo=dt.UTC)  # SQLite through a bare connection
            # By the row's name (JobKind values are their names). Only a row written around
            # outbox.add could name no kind: the runner logs it.
            spec = REGISTRY.get(name)
            lane = spec.queue if spec else QueueKind.DEFAULT
            timeout = (spec and spec.timeout) or current_app.config.get("JOB_TIMEOUT", 300)
            q = queues[lane]
            options = {
                "job_id": job_id("outbox", message_id),
                "result_ttl": 0,
                "failure_ttl": 24 * 3600,
            }
            if run_at is not None and run_at > now:
                q.enqueue_at(
                    run_at, RUNNER, message_id, job_timeout=timeout, pipeline=pipe, **options
                )
            else:
                ready[lane].append(
                    q.prepare_data(RUNNER, (message_id,), timeout=timeout, **options)
                )
        for kind, jobs in ready.items():
            if jobs:
                queues[kind].enqueue_many(jobs, pipeline=pipe)
        pipe.execute()
    except Exception:  # noqa: BLE001 - Redis down: the rows wait for the sweep
        logger.warning(
            "could not hand outbox message(s) %s to RQ; the sweep will retry",
            ", ".join(str(message_id) for message_id in ids),
        )
        _mark_handed(ids, handed=False)
        return 0
    return len(ids)


def _mark_handed(ids: list[int], handed: bool) -> None:
    """Record rows as handed to RQ now (or, when that failed, as never handed)."""
    # Its own short transaction on its own connection: the caller's has just committed.
    with db.engine.begin() as connection:
        connection.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids))
            .values(
                enqueued_at=clock.now() if handed else None,
                attempts=OutboxMessage.attempts + (1 if handed else -1),
            )
        )


def relay_due(lease: dt.timedelta | None = None, limit: int = 500) -> int:
    """Hand RQ every row never handed over, and every row whose lease ran out (the sweep)."""
    lease = lease if lease is not None else current_app.config.get("OUTBOX_LEASE", DEFAULT_LEASE)
    now = clock.now()
    stale = now - lease
    never_handed = OutboxMessage.enqueued_at.is_(None)
    # A row waiting for its run_at was handed to RQ's scheduler long ago: it is lost only if
    # its time has passed by a whole lease too.
    lost = and_(
        OutboxMessage.enqueued_at <= stale,
        or_(OutboxMessage.run_at.is_(None), OutboxMessage.run_at <= stale),
    )
    with db.engine.connect() as connection:
        ids = connection.scalars(
            select(OutboxMessage.id)
            .where(or_(never_handed, lost))
            .order_by(OutboxMessage.id)
            .limit(limit)
        ).all()
    if ids:
        logger.info("sweep: handing %d outbox message(s) to RQ", len(ids))
    return relay(list(ids)) if ids else 0
