"""A task's timers, written when it opens and cancelled when it closes.

What firing them does (remind, escalate, time out) is portal.services.deadlines, which moves
chains through portal.services.approvals; approvals itself only needs this part.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import update

from portal import clock, outbox
from portal.domain import sla
from portal.domain.chain import StepSpec
from portal.extensions import db
from portal.models import Task, Timer


def calendar() -> sla.Calendar:
    """The business calendar: weekdays in the portal's time zone, minus BATON_HOLIDAYS."""
    return sla.Calendar(
        zone=clock.local_zone_name(),
        holidays=frozenset(current_app.config.get("BATON_HOLIDAYS", ())),
    )


def schedule(task: Task, step: StepSpec, escalate: bool = True) -> None:
    """Set the task's due time and write its timers (scheduled in RQ after the commit)."""
    if step.timing.is_empty:
        return
    plan = sla.plan(step.timing, task.created_at, calendar(), escalate=escalate)
    task.due_at = plan.due_at
    write(task, sla.opening_timers(plan))


def write(task: Task, moments) -> None:
    """Timer rows for `moments` of `task`, each scheduled in RQ after the commit."""
    timers = [
        Timer(task=task, kind=moment.kind, sequence=moment.sequence, fire_at=moment.at)
        for moment in moments
    ]
    # Not flushed here: they go out with the rest of the transaction's rows, in one multi-row
    # INSERT with every other timer of the step change, and are handed to RQ after the commit.
    db.session.add_all(timers)
    for timer in timers:
        outbox.schedule_timer(timer, timer.fire_at)


def cancel(task: Task, reason: str) -> None:
    """A task closed: its timers that have not fired never will."""
    now, outcome = clock.now(), f"cancelled: {reason}"
    # Timers not written yet (the task opened in this same transaction): changed here, and
    # written as cancelled.
    for row in db.session.new:
        if isinstance(row, Timer) and row.task is task and row.cancelled_at is None:
            row.cancelled_at, row.outcome = now, outcome
    if task.id is None:
        return
    # One UPDATE, not a read of every timer the task ever had and an UPDATE of each; timers
    # already in the session are brought up to date from the same criteria.
    db.session.execute(
        update(Timer)
        .where(Timer.task_id == task.id, Timer.fired_at.is_(None), Timer.cancelled_at.is_(None))
        .values(cancelled_at=now, outcome=outcome)
    )
