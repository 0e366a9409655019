"""Deadlines on tasks, and the timers that chase them: reminders, escalations, timeouts.

When a task opens, portal.domain.sla plans its moments; its escalation, its timeout and its
first reminder become Timer rows (portal.services.timers writes them), scheduled in RQ for their
time after the commit, and each reminder that fires writes the next one (a task decided in a
day never has its other reminders written at all). The every-minute sweep also looks for timers
that are due and have not fired, so a Redis flush or a lost job delays a timer by about a
minute (a job stuck on a worker that died is handed over again once the outbox lease has
passed). Firing locks the submission and the timer, and does nothing if the timer already fired
or the task is no longer open; the work and `fired_at` commit together, so a timer fires once.
"""

from __future__ import annotations

import datetime as dt
import logging

from flask import current_app
from sqlalchemy import select

from portal import audit, clock
from portal.domain import routing, sla
from portal.domain.chain import DecisionRefused, StepSpec, TaskState
from portal.domain.sla import EscalationMode, TimerKind
from portal.extensions import db
from portal.models import Submission, Task, Timer, User
from portal.services import approvals, chain_rows, notifications, timers, users

logger = logging.getLogger(__name__)


def fire(timer_id: int) -> str:
    """Do what a timer is for, once. If it fired already nothing happens; if its task has
    closed, the timer is marked cancelled and nothing else happens."""
    timer = db.session.get(Timer, timer_id)
    if timer is None:
        return "no such timer"
    submission = chain_rows.lock(timer.task.submission_id)
    timer = db.session.scalars(
        select(Timer)
        .where(Timer.id == timer_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    if not timer.is_pending:
        return "already fired or cancelled"
    task = db.session.scalars(
        select(Task).where(Task.id == timer.task_id).execution_options(populate_existing=True)
    ).one()
    if task.state != TaskState.OPEN:
        timer.cancelled_at, timer.outcome = clock.now(), "cancelled: the task was closed"
        return "the task was closed"
    step = submission.form_version.spec.approval.step(task.step)
    # Fired before the work: a timeout or a move closes this very task, and closing a task
    # cancels its pending timers, which must not include the one firing.
    timer.fired_at = clock.now()
    if timer.kind == TimerKind.REMINDER:
        outcome = _remind(submission, task, timer)
        _plan_next_reminder(task, step, timer)
    elif timer.kind == TimerKind.ESCALATION:
        outcome = _escalate(submission, task, step)
    else:
        outcome = _time_out(submission, task, step)
    timer.outcome = outcome
    logger.info("timer %s (%s) for task %s: %s", timer.id, timer.kind.value, task.id, outcome)
    return outcome


def due_timers(limit: int = 500) -> list[tuple[int, dt.datetime]]:
    """(id, fire_at) of timers that are due and have neither fired nor been cancelled."""
    rows = (
        db.session.execute(
            select(Timer.id, Timer.fire_at)
            .where(
                Timer.fired_at.is_(None),
                Timer.cancelled_at.is_(None),
                Timer.fire_at <= clock.now(),
            )
            .order_by(Timer.fire_at)
            .limit(limit)
        )
    ).all()
    return [(timer_id, fire_at) for timer_id, fire_at in rows]


def _record(submission: Submission, action: str, details: dict, rule: str) -> None:
    audit.record(
        audit.submission_chain(submission.id),
        action,
        audit.Actor(system=rule, channel="worker"),
        details,
        submission_id=submission.id,
    )


def _remind(submission: Submission, task: Task, timer: Timer) -> str:
    assignee = task.assignee
    if assignee.daily_digest:
        outcome = f"reminder for {assignee.email} left to their daily digest"
    else:
        notifications.reminder(submission, task, assignee, timer)
        outcome = f"reminded {assignee.email}"
    _record(
        submission,
        "reminder_sent",
        {
            "task": task.id,
            "step": task.step,
            "to": assignee.email,
            "number": timer.sequence,
            "digest": assignee.daily_digest,
        },
        "reminder timer",
    )
    return outcome


def _plan_next_reminder(task: Task, step: StepSpec, fired: Timer) -> None:
    """Write the reminder after `fired`, from the same plan the task was opened with."""
    plan = sla.plan(step.timing, task.created_at, timers.calendar())
    following = sla.next_reminder(plan, fired.sequence, clock.now())
    if following is not None:
        timers.write(task, [following])


def _escalate(submission: Submission, task: Task, step: StepSpec) -> str:
    rule = step.timing.escalate
    targets, problem = _escalation_targets(rule, task, submission)
    if not targets:
        _record(
            submission,
            "escalation_failed",
            {"task": task.id, "step": task.step, "problem": problem},
            f"escalation: {rule.describe()}",
        )
        logger.warning(
            "submission %s: escalation of task %s found nobody: %s", submission.id, task.id, problem
        )
        return f"escalation found nobody: {problem}"
    keep = rule.mode == EscalationMode.ADD
    reason = f"overdue since {task.due_at:%Y-%m-%d %H:%M} UTC; escalated ({rule.describe()})"
    reached: list[User] = []
    base = task  # after a move, the others are added beside the first target's new task
    for target in targets:
        try:
            opened = approvals.reassign_task(
                submission,
                base,
                target,
                # A move closes the late task once, with the first target that can take it.
                keep=keep or bool(reached),
                reason=reason,
                actor=audit.Actor(system=f"escalation: {rule.describe()}", channel="worker"),
                origin="escalated",
            )
        except DecisionRefused as refusal:
            logger.info("escalation of task %s to %s skipped: %s", task.id, target.email, refusal)
            continue
        if not keep and not reached:
            base = opened[0]
        reached.append(target)
    if not reached:
        _record(
            submission,
            "escalation_failed",
            {"task": task.id, "step": task.step, "problem": "nobody it names could take the task"},
            f"escalation: {rule.describe()}",
        )
        return "escalation found nobody who could take the task"
    targets = reached
    _record(
        submission,
        "escalated",
        {
            "task": task.id,
            "step": task.step,
            "from": task.assignee.email,
            "to": [t.email for t in targets],
            "mode": rule.mode.value,
        },
        f"escalation: {rule.describe()}",
    )
    notifications.escalation_notice(submission, task, targets, rule.mode)
    names = ", ".join(t.email for t in targets)
    return f"{'moved to' if not keep else 'also asked'} {names}"


def _escalation_targets(
    rule: sla.Escalation, task: Task, submission: Submission
) -> tuple[list[User], str]:
    if rule.manager:
        late = task.on_behalf_of or task.assignee  # a delegate's task escalates the absentee's way
        person = late
        for level in range(rule.manager):
            person = person.manager
            if person is None:
                return [], f"{late.email} has no manager {level + 1} level(s) up"
        candidates = [person]
    elif rule.group:
        candidates = users.group_members(rule.group)
        if not candidates:
            return [], f"group {rule.group} has no active members"
    else:
        user = users.find_user(rule.user)
        candidates = [user] if user is not None else []
        if not candidates:
            return [], f"user {rule.user} does not exist"
    asked = {t.assignee_id for t in submission.tasks if t.step == task.step and t.is_open}
    eligible = [
        user
        for user in candidates
        if user.is_active
        and routing.may_decide(user.id, submission.submitter_id)
        and user.id not in asked
    ]
    if not eligible:
        return [], "everyone it names is the submitter, inactive or already asked"
    return eligible, ""


def _time_out(submission: Submission, task: Task, step: StepSpec) -> str:
    timeout = step.timing.on_timeout
    rule = f"on_timeout: {timeout.action.value} after {step.timing.due}" + (
        f" + {timeout.after}" if timeout.after else ""
    )
    return approvals.time_out_step(submission, task.step, timeout.action.value, rule)


# -- daily digest -----------------------------------------------------------------------------


def digest_due(now: dt.datetime | None = None) -> list[int]:
    """Users who want a daily digest, have open tasks, and have not had today's yet."""
    now = now or clock.now()
    zone = clock.local_zone()
    local = now.astimezone(zone)
    if local.hour < current_app.config.get("BATON_DIGEST_HOUR", 8):
        return []
    wanting = db.session.scalars(
        select(User).where(User.daily_digest.is_(True), User.is_active.is_(True))
    ).all()
    due = []
    for user in wanting:
        has_open = db.session.scalar(
            select(Task.id)
            .where(Task.assignee_id == user.id, Task.state == TaskState.OPEN)
            .limit(1)
        )
        if has_open and not notifications.digest_sent(user, local.date()):
            due.append(user.id)
    return due


def queue_digest(user_id: int, day: dt.date) -> None:
    user = db.session.get(User, user_id)
    notifications.digest(user, day)


def preview(chain_spec, start: dt.datetime) -> list[tuple[StepSpec, dt.datetime, sla.Plan]]:
    """For a form's timeline page: each step's plan if it started when the one before it was due.

    Computed by the same `sla.plan` that schedules real tasks, so the page and the jobs agree.
    """
    rows = []
    moment = start
    for step in chain_spec.steps:
        plan = sla.plan(step.timing, moment, timers.calendar())
        rows.append((step, moment, plan))
        if plan.due_at is not None:
            moment = plan.due_at
    return rows
