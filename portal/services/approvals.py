"""Approval chains meet the database: start a round, decide a task, withdraw.

Every public function locks the submission row first, rebuilds the chain from its rows, asks
portal.domain.chain what happens, and writes the outcome (step and task rows, the submission's
status, one audit event per change, emails through the outbox) in the caller's transaction.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass

from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy import func, select

from portal import audit, clock
from portal.domain import chain as engine
from portal.domain import paging
from portal.domain import values as value_rules
from portal.domain.chain import (
    AssigneeSpec,
    ChainSpec,
    Decision,
    DecisionRefused,
    PickKind,
    StepSpec,
    StepState,
    TaskState,
)
from portal.domain.refusal import Conflict
from portal.extensions import db, insert_unless_present
from portal.models import (
    ApprovalStep,
    Group,
    GroupCursor,
    Submission,
    SubmissionStatus,
    Task,
    User,
)
from portal.services import access, deadlines, notifications, users

logger = logging.getLogger(__name__)

__all__ = ["DecisionRefused", "StaleDecision", "decide", "start_chain", "withdraw"]


class StaleDecision(Conflict):
    """The request changed after the approver looked at it; they must look again."""


def data_hash(data: dict, submit_count: int) -> str:
    """SHA-256 of what was submitted (and which submission it was): what an approver saw."""
    canonical = json.dumps(
        {"data": data, "submission": submit_count}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# -- reading the chain back from its rows -----------------------------------------------------


def lock(submission_id: int) -> Submission | None:
    """The submission, locked until the transaction ends (concurrent deciders queue up here).

    FOR NO KEY UPDATE, not FOR UPDATE: deciders still queue up behind each other, but another
    transaction may meanwhile insert rows that refer to the submission (an audit event, an
    email) without waiting. With FOR UPDATE, a job holding the request's audit chain while its
    event's foreign-key check waited for this lock, and this transaction then waiting for that
    audit chain, was a deadlock (found by bench/chaos.py)."""
    return db.session.scalars(
        select(Submission)
        .where(Submission.id == submission_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    ).first()


def current_round(submission: Submission) -> int:
    return db.session.scalar(
        select(func.coalesce(func.max(ApprovalStep.round), 0)).where(
            ApprovalStep.submission_id == submission.id
        )
    )


@dataclass
class _Rows:
    """The current round's step and task rows as `load` read them (under the submission's
    lock), kept so that applying a transition finds them without asking the database again."""

    round: int
    steps: dict[str, ApprovalStep]
    tasks: dict[str, Task]


def load(submission: Submission) -> engine.Chain:
    """The chain as its rows say it stands (the current round only)."""
    return _load(submission)[0]


def _load(submission: Submission, number: int | None = None) -> tuple[engine.Chain, _Rows]:
    """The chain and the rows it was read from; `number` is the current round, if known."""
    number = current_round(submission) if number is None else number
    if number == 0:
        return engine.Chain(submitter=submission.submitter_id), _Rows(0, {}, {})
    step_rows = _step_rows(submission, number)
    task_rows = _task_rows(submission, number)
    rows = _Rows(number, {row.name: row for row in step_rows}, {row.key: row for row in task_rows})
    steps = tuple(engine.Step(row.name, row.state, row.reason) for row in step_rows)
    tasks = tuple(
        engine.Task(
            row.key,
            row.step,
            row.assignee_id,
            row.state,
            on_behalf_of=row.on_behalf_of_id,
            slot=row.slot,
        )
        for row in task_rows
    )
    # A withdrawal after the last step asked for changes leaves no step to mark cancelled;
    # the submission's status says it.
    withdrawn = submission.status == SubmissionStatus.WITHDRAWN
    chain = engine.Chain(
        submitter=submission.submitter_id,
        state=engine.ChainState.WITHDRAWN if withdrawn else engine.state_of(steps),
        round=number,
        steps=steps,
        tasks=tasks,
        sent_back_by=engine.sent_back_by(steps),
    )
    return chain, rows


def _step_rows(submission: Submission, number: int) -> list[ApprovalStep]:
    return list(
        db.session.scalars(
            select(ApprovalStep)
            .where(ApprovalStep.submission_id == submission.id, ApprovalStep.round == number)
            .order_by(ApprovalStep.position)
            .execution_options(populate_existing=True)
        )
    )


def _task_rows(submission: Submission, number: int) -> list[Task]:
    return list(
        db.session.scalars(
            select(Task)
            .where(Task.submission_id == submission.id, Task.round == number)
            .order_by(Task.id)
            .execution_options(populate_existing=True)
        )
    )


# -- use cases --------------------------------------------------------------------------------


def start_chain(submission_id: int) -> bool:
    """Start the round the submission is waiting for; False if there is nothing to start.

    Run by a job after each submit. A repeat (the same job twice, or a retry after a crash)
    finds the round started and does nothing.
    """
    submission = lock(submission_id)
    if submission is None or submission.status != SubmissionStatus.IN_REVIEW:
        return False
    spec = submission.form_version.spec.approval
    if spec is None:
        return _approve_without_chain(submission)
    number = current_round(submission)
    if number >= submission.submit_count:
        return False
    chain, rows = _load(submission, number)
    transition = engine.start(spec, chain, _values(submission), _today())
    if transition.chain is chain:
        return False
    actor = audit.Actor(system="start_chain job", channel="worker")
    _apply(submission, spec, transition, actor, rows=rows)
    return True


def decide(
    actor: User,
    task_id: int,
    decision: Decision,
    comment: str = "",
    *,
    password: str | None = None,
    seen_hash: str | None = None,
    channel: str = "web",
) -> Task:
    """Record `actor`'s decision on their task and move the chain on.

    Raises DecisionRefused (already decided, not theirs, no comment, wrong password...) or
    StaleDecision (the request changed since they looked); either way nothing changes.
    """
    task = db.session.get(Task, task_id)
    if task is None:
        raise DecisionRefused("There is no such task.")
    submission = lock(task.submission_id)
    task = db.session.scalars(
        select(Task).where(Task.id == task_id).execution_options(populate_existing=True)
    ).one()
    if task.assignee_id != actor.id:
        raise DecisionRefused("This task is not assigned to you.")
    if seen_hash is not None and seen_hash != submission.data_hash:
        raise StaleDecision()
    spec = submission.form_version.spec.approval
    step_spec = spec.step(task.step)
    meaning = None
    if step_spec.signature:
        if not password or not _password_matches(actor, password):
            raise DecisionRefused(
                "Your password did not match. This step needs it as your electronic signature."
            )
        meaning = step_spec.meaning(decision)
    chain, rows = _load(submission)
    transition = engine.decide(
        spec, chain, task.key, decision, comment, _values(submission), _today()
    )
    actor_info = audit.Actor(actor, channel=channel)
    _apply(
        submission,
        spec,
        transition,
        actor_info,
        decision_extra={
            "signature_meaning": meaning,
            "meaning": step_spec.meaning(decision),
            "channel": channel,
        },
        rows=rows,
    )
    return task


def withdraw(actor: User, submission: Submission) -> None:
    """The submitter takes back a request in review (or one sent back for changes)."""
    submission = lock(submission.id)
    refusal = access.why_not(actor, access.Action.WITHDRAW_SUBMISSION, submission)
    if refusal:
        raise DecisionRefused(refusal)
    spec = submission.form_version.spec.approval
    chain, rows = _load(submission)
    if spec is None or chain.round == 0 or chain.is_final:
        # Not started yet (or no chain): the start job will find it withdrawn and stop.
        _set_status(submission, SubmissionStatus.WITHDRAWN)
        audit.record(
            audit.submission_chain(submission.id),
            "withdrawn",
            audit.Actor(actor),
            submission_id=submission.id,
        )
        return
    _apply(submission, spec, engine.withdraw(chain), audit.Actor(actor), rows=rows)


def reassign_task(
    submission: Submission,
    task: Task,
    user: User,
    *,
    keep: bool,
    reason: str,
    actor: audit.Actor,
    origin: str,
) -> list[Task]:
    """Give `task`'s decision to `user` as well (keep) or instead; the submission is locked."""
    spec = submission.form_version.spec.approval
    chain, rows = _load(submission)
    transition = engine.reassign(chain, task.key, user.id, keep=keep, reason=reason)
    before = set(db.session.scalars(select(Task.id).where(Task.submission_id == submission.id)))
    _apply(submission, spec, transition, actor, decision_extra={"origin": origin}, rows=rows)
    return list(
        db.session.scalars(
            select(Task).where(Task.submission_id == submission.id, Task.id.not_in(before))
        )
    )


def reassign(admin: User, task_id: int, user_id: int, reason: str) -> Task:
    """An admin gives an open task to someone else, saying why (audited here and in admin)."""
    if not admin.in_group("admin"):
        raise DecisionRefused("Only an administrator can reassign tasks.")
    reason = (reason or "").strip()
    if not reason:
        raise DecisionRefused(
            "Say why the task is reassigned; the reason goes into the audit trail."
        )
    task = db.session.get(Task, task_id)
    target = db.session.get(User, user_id) if user_id else None
    if task is None or target is None or not target.is_active:
        raise DecisionRefused("Choose an active person to give the task to.")
    submission = lock(task.submission_id)
    previous = task.assignee.email
    (new_task,) = reassign_task(
        submission,
        task,
        target,
        keep=False,
        reason=f"reassigned by {admin.email}: {reason}",
        actor=audit.Actor(admin),
        origin="reassigned",
    )
    audit.record(
        audit.ADMIN_CHAIN,
        "task_reassigned",
        audit.Actor(admin),
        {
            "submission": submission.id,
            "task": task.id,
            "from": previous,
            "to": target.email,
            "reason": reason,
        },
    )
    return new_task


def hand_over(user: User) -> list[Task]:
    """A user gives all their open tasks to their delegate (the settings page offers this
    to someone going away; the dates there only decide where *new* tasks go)."""
    delegate = user.delegate
    if delegate is None or not delegate.is_active:
        raise DecisionRefused("Name an active delegate before handing tasks over.")
    moved = []
    for task in open_tasks_for(user):
        submission = lock(task.submission_id)
        if submission.submitter_id == delegate.id:
            continue  # the delegate cannot decide their own request; the task stays
        try:
            moved += reassign_task(
                submission,
                task,
                delegate,
                keep=False,
                reason=f"handed over to {delegate.email} (out of office)",
                actor=audit.Actor(user),
                origin="delegated",
            )
        except DecisionRefused:
            continue  # the delegate already holds a task on that step
    return moved


def time_out_step(submission: Submission, step: str, action: str, rule: str) -> str:
    """A step ran out of time: approve, reject or skip it as the system."""
    spec = submission.form_version.spec.approval
    chain, rows = _load(submission)
    transition = engine.time_out(spec, chain, step, action, rule, _values(submission), _today())
    if transition.chain is chain:
        return "nothing to do: the step was already decided"
    _apply(submission, spec, transition, audit.Actor(system=rule, channel="worker"), rows=rows)
    return f"step {step} timed out: {action}"


# -- applying a transition --------------------------------------------------------------------


@dataclass
class _Context:
    submission: Submission
    spec: ChainSpec
    actor: audit.Actor
    decision_extra: dict
    #: The current round's rows, as read by `_load` and as this transition adds to them.
    rows: _Rows

    def step_row(self, number: int, name: str) -> ApprovalStep:
        row = self.rows.steps.get(name) if number == self.rows.round else None
        return row if row is not None else _step_row(self.submission, number, name)

    def task_row(self, key: str) -> Task:
        row = self.rows.tasks.get(key)
        return row if row is not None else _task_row(self.submission, key)

    def update_step(self, number: int, name: str, state, reason: str, now) -> None:
        row = self.step_row(number, name)
        row.state = state
        row.reason = reason or row.reason
        row.started_at = row.started_at or now
        row.finished_at = now


def _apply(
    submission: Submission,
    spec: ChainSpec,
    transition: engine.Transition,
    actor: audit.Actor,
    decision_extra: dict | None = None,
    rows: _Rows | None = None,
) -> None:
    if rows is None:
        rows = _load(submission)[1]
    context = _Context(submission, spec, actor, decision_extra or {}, rows)
    pending = list(transition.actions)
    chain = transition.chain
    while pending:
        action = pending.pop(0)
        if isinstance(action, engine.AssigneesNeeded):
            _persist(context, chain, action)
            found = _delegate(context, _resolve_step(context, chain.round, spec.step(action.step)))
            follow = engine.assignees_found(spec, chain, action.step, found)
            chain = follow.chain
            pending = list(follow.actions) + pending
            continue
        _persist(context, chain, action)
    db.session.flush()


def _persist(context: _Context, chain: engine.Chain, action) -> None:
    submission, actor = context.submission, context.actor
    now = clock.now()
    record = _recorder(submission, actor)
    if isinstance(action, engine.RoundStarted):
        context.rows = _Rows(action.round, {}, {})
        for position, (step_spec, step) in enumerate(
            zip(context.spec.steps, chain.steps, strict=True)
        ):
            row = ApprovalStep(
                submission_id=submission.id,
                round=action.round,
                position=position,
                name=step_spec.name,
                title=step_spec.title,
                state=step.state,
                reason=step.reason,
                finished_at=now if step.state in engine.DONE_STEPS else None,
            )
            db.session.add(row)
            context.rows.steps[row.name] = row
        db.session.flush()
        record("round_started", {"round": action.round, "resumed_at": action.resumed_at})
    elif isinstance(action, engine.StepSkipped):
        context.update_step(chain.round, action.step, StepState.SKIPPED, action.reason, now)
        record("step_skipped", {"step": action.step, "reason": action.reason})
    elif isinstance(action, engine.StepAutoApproved):
        reason = f"approved by rule “{action.rule}”"
        context.update_step(chain.round, action.step, StepState.APPROVED, reason, now)
        record(
            "step_auto_approved",
            {"step": action.step, "rule": action.rule},
            actor=audit.Actor(system=f"auto_approve_if: {action.rule}", channel=actor.channel),
        )
    elif isinstance(action, engine.AssigneesNeeded):
        row = context.step_row(chain.round, action.step)
        row.state, row.started_at = StepState.ACTIVE, now
        record("step_started", {"step": action.step})
    elif isinstance(action, engine.StepBlocked):
        row = context.step_row(chain.round, action.step)
        row.state, row.reason = StepState.BLOCKED, action.reason
        record("step_blocked", {"step": action.step, "reason": action.reason})
        logger.warning(
            "submission %s: step %s is blocked: %s", submission.id, action.step, action.reason
        )
    elif isinstance(action, engine.TaskOpened):
        origin = context.decision_extra.get("origin", "")
        if not origin and action.task.on_behalf_of:
            origin = "delegated"
        task = Task(
            submission_id=submission.id,
            key=action.task.key,
            round=chain.round,
            step=action.task.step,
            assignee_id=action.task.assignee,
            on_behalf_of_id=action.task.on_behalf_of,
            slot=action.task.slot,
            origin=origin,
            state=TaskState.OPEN,
            created_at=now,
        )
        db.session.add(task)
        # Its deadline and timers before its first flush: the task is written with its due
        # time, not written and then updated.
        deadlines.schedule(task, context.spec.step(task.step), escalate=origin != "escalated")
        db.session.flush()
        if chain.round == context.rows.round:
            context.rows.tasks[task.key] = task
        assignee = db.session.get(User, action.task.assignee)
        details = {"step": action.task.step, "task": task.id, "assignee": assignee.email}
        if task.on_behalf_of_id:
            details["on_behalf_of"] = db.session.get(User, task.on_behalf_of_id).email
        if origin:
            details["origin"] = origin
        record("task_opened", details)
        notifications.task_assigned(submission, task, assignee, urgent=origin == "escalated")
    elif isinstance(action, engine.TaskDecided):
        task = context.task_row(action.task.key)
        extra = context.decision_extra
        task.state = action.task.state
        task.decision = action.decision
        task.comment = action.comment
        task.decided_at = now
        task.channel = extra.get("channel") or actor.channel
        task.signature_meaning = extra.get("signature_meaning")
        details = {
            "step": task.step,
            "task": task.id,
            "decision": action.decision.value,
            "comment": action.comment,
        }
        if extra.get("meaning"):
            details["meaning"] = extra["meaning"]
        if task.signature_meaning:
            details["signature_meaning"] = task.signature_meaning
        if task.on_behalf_of_id:
            details["on_behalf_of"] = task.on_behalf_of.email
        record("task_decided", details)
        deadlines.cancel(task, "decided")
    elif isinstance(action, engine.TaskCancelled):
        task = context.task_row(action.task.key)
        task.state, task.closed_reason = TaskState.CANCELLED, action.reason
        record("task_cancelled", {"step": task.step, "task": task.id, "reason": action.reason})
        deadlines.cancel(task, action.reason)
    elif isinstance(action, engine.StepTimedOut):
        context.step_row(chain.round, action.step).reason = f"timed out: {action.rule}"
        record(
            "step_timed_out",
            {"step": action.step, "action": action.action, "rule": action.rule},
            actor=audit.Actor(system=action.rule, channel=actor.channel),
        )
    elif isinstance(action, engine.StepFinished):
        context.update_step(chain.round, action.step, action.state, "", now)
        record("step_finished", {"step": action.step, "outcome": action.state.value})
    elif isinstance(action, engine.ChainFinished):
        status = SubmissionStatus(action.state.value)
        if action.state == engine.ChainState.WITHDRAWN:
            for step_row in _step_rows(submission, chain.round):
                if step_row.state in (StepState.WAITING, StepState.ACTIVE, StepState.BLOCKED):
                    step_row.state, step_row.finished_at = StepState.CANCELLED, now
        _set_status(submission, status)
        record(status.value, {"round": chain.round})
        if action.state != engine.ChainState.WITHDRAWN:
            notifications.outcome(submission, status, _last_comment(context, chain.round))


def _recorder(submission: Submission, actor: audit.Actor):
    def record(action: str, details: dict, actor: audit.Actor = actor) -> None:
        audit.record(
            audit.submission_chain(submission.id),
            action,
            actor,
            details,
            submission_id=submission.id,
        )

    return record


def _set_status(submission: Submission, status: SubmissionStatus) -> None:
    now = clock.now()
    submission.status = status
    submission.updated_at = now
    submission.finished_at = now if status.is_final else None


def _step_row(submission: Submission, number: int, name: str) -> ApprovalStep:
    return db.session.scalars(
        select(ApprovalStep).where(
            ApprovalStep.submission_id == submission.id,
            ApprovalStep.round == number,
            ApprovalStep.name == name,
        )
    ).one()


def _task_row(submission: Submission, key: str) -> Task:
    return db.session.scalars(
        select(Task).where(Task.submission_id == submission.id, Task.key == key)
    ).one()


def _last_comment(context: _Context, number: int) -> str:
    tasks = (
        sorted(context.rows.tasks.values(), key=lambda t: t.id)
        if number == context.rows.round
        else _task_rows(context.submission, number)
    )
    decided = [t for t in tasks if t.decision in (Decision.REJECT, Decision.REQUEST_CHANGES)]
    return decided[-1].comment if decided else ""


def _approve_without_chain(submission: Submission) -> bool:
    """A form with no approval section is approved as soon as it is submitted."""
    _set_status(submission, SubmissionStatus.APPROVED)
    audit.record(
        audit.submission_chain(submission.id),
        "approved",
        audit.Actor(system="form has no approval chain", channel="worker"),
        submission_id=submission.id,
    )
    notifications.outcome(submission, SubmissionStatus.APPROVED, "")
    return True


# -- who is asked -----------------------------------------------------------------------------


def _resolve_step(context: _Context, number: int, step: StepSpec) -> list[int]:
    """The people to ask for a step: everyone found, plus the fallback group's members in place
    of any assignee that could not be found (audited, and shown on the step)."""
    submission = context.submission
    values = submission.data or {}
    found: list[int] = []
    problems: list[str] = []
    for assignee in step.assignees:
        people, problem = _resolve(assignee, submission, values)
        found.extend(people)
        if problem:
            problems.append(problem)
    eligible = [user for user in dict.fromkeys(found) if user != submission.submitter_id]
    if found and not eligible:
        problems.append(
            "the only person found is the submitter, who cannot approve their own request"
        )
    if eligible and not problems:
        return eligible
    if problems:
        fallback = [
            user.id
            for user in group_members(context.spec.fallback_group)
            if user.id != submission.submitter_id
        ]
        reason = "; ".join(problems)
        audit.record(
            audit.submission_chain(submission.id),
            "assignee_unresolved",
            audit.Actor(system="assignee resolution", channel=context.actor.channel),
            {
                "step": step.name,
                "problem": reason,
                "fallback_group": context.spec.fallback_group,
                "fallback_people": len(fallback),
            },
            submission_id=submission.id,
        )
        logger.warning(
            "submission %s step %s: %s; asking group %s",
            submission.id,
            step.name,
            reason,
            context.spec.fallback_group,
        )
        context.step_row(
            number, step.name
        ).reason = f"{reason}; routed to the {context.spec.fallback_group} group"
        return list(dict.fromkeys(eligible + fallback))
    return eligible


def _delegate(context: _Context, people: list[int]) -> list[engine.Ask]:
    """Send each absent person's task to their delegate, who acts on their behalf."""
    today = _today()
    asks = []
    for user_id in people:
        user = db.session.get(User, user_id)
        delegate = user.delegate if user.is_away_on(today) else None
        if (
            delegate is not None
            and delegate.is_active
            and delegate.id != context.submission.submitter_id
            and delegate.id not in people
        ):
            asks.append(engine.Ask(delegate.id, on_behalf_of=user.id))
        else:
            asks.append(engine.Ask(user.id))
    return asks


def _resolve(assignee: AssigneeSpec, submission: Submission, data: dict) -> tuple[list[int], str]:
    """(user ids, problem) for one assignee entry; a problem means the fallback group is asked."""
    if assignee.user:
        user = users.find_user(assignee.user)
        if user is None or not user.is_active:
            return [], f"user {assignee.user} does not exist or is disabled"
        return [user.id], ""
    if assignee.group:
        members = [m for m in group_members(assignee.group) if m.id != submission.submitter_id]
        if not members:
            return [], f"group {assignee.group} has nobody (other than the submitter) to ask"
        return _pick(assignee, members), ""
    if assignee.manager:
        person = submission.submitter
        for level in range(assignee.manager):
            person = person.manager
            if person is None:
                return [], f"the submitter has no manager {level + 1} level(s) up"
        if not person.is_active:
            return [], f"the submitter's manager {person.email} is disabled"
        return [person.id], ""
    if assignee.field:
        email = data.get(assignee.field)
        user = users.find_user(email) if isinstance(email, str) else None
        if user is None or not user.is_active:
            return [], f"the field {assignee.field} names no active user"
        return [user.id], ""
    chosen = data.get(assignee.lookup_field)
    email = dict(assignee.lookup).get(chosen) if isinstance(chosen, str) else None
    if email is None:
        return [], f"nobody is set up as owner of {assignee.lookup_field} {chosen!r}"
    user = users.find_user(email)
    if user is None or not user.is_active:
        return [], f"{email}, owner of {assignee.lookup_field} {chosen!r}, is not an active user"
    return [user.id], ""


def group_members(name: str) -> list[User]:
    """Active members of a group, by id (none if the group does not exist)."""
    return list(
        db.session.scalars(
            select(User)
            .join(Group.members)
            .where(Group.name == name, User.is_active.is_(True))
            .order_by(User.id)
        )
    )


def _locked_cursor(group: str) -> GroupCursor:
    """The group's round-robin cursor, locked until the transaction ends.

    A group's first pick makes the row. Two transactions making it at once both go on (the
    second waits for the first to commit and then reads the first's pick), where a plain
    INSERT failed the second with a unique violation: a decision or a chain's start refused
    because someone else had just started using the group.
    """

    def locked() -> GroupCursor | None:
        return db.session.scalars(
            select(GroupCursor).where(GroupCursor.group_name == group).with_for_update()
        ).first()

    cursor = locked()
    if cursor is None:
        insert_unless_present(GroupCursor, "group_name", group_name=group)
        cursor = locked()
    return cursor


def _pick(assignee: AssigneeSpec, members: list[User]) -> list[int]:
    if assignee.pick == PickKind.ALL:
        return [member.id for member in members]
    if assignee.pick == PickKind.FEWEST_OPEN:
        counts = dict(
            db.session.execute(
                select(Task.assignee_id, func.count())
                .where(Task.state == TaskState.OPEN, Task.assignee_id.in_([m.id for m in members]))
                .group_by(Task.assignee_id)
            ).all()
        )
        return [min(members, key=lambda m: (counts.get(m.id, 0), m.id)).id]
    cursor = _locked_cursor(assignee.group)
    ids = [member.id for member in members]
    after = [user for user in ids if cursor.last_user_id is not None and user > cursor.last_user_id]
    chosen = after[0] if after else ids[0]
    cursor.last_user_id = chosen
    return [chosen]


# -- helpers ----------------------------------------------------------------------------------


def _values(submission: Submission) -> dict:
    return value_rules.decode(submission.form_version.spec, submission.data or {})


def _today():
    return clock.today(current_app.config["BATON_TIMEZONE"])


def _password_matches(user: User, password: str) -> bool:
    try:
        return users.hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# -- reading, for pages -----------------------------------------------------------------------


@dataclass
class StepView:
    """One step as a page shows it: its definition, its row (if reached) and its tasks."""

    spec: StepSpec
    state: StepState
    reason: str
    tasks: list[Task]
    started_at: object = None
    finished_at: object = None


@dataclass
class RoundView:
    number: int
    steps: list[StepView]


def rounds(submission: Submission) -> list[RoundView]:
    """Every round of the chain, newest first; before the first starts, the planned steps."""
    spec = submission.form_version.spec.approval
    if spec is None:
        return []
    step_rows = db.session.scalars(
        select(ApprovalStep)
        .where(ApprovalStep.submission_id == submission.id)
        .order_by(ApprovalStep.round.desc(), ApprovalStep.position)
    ).all()
    task_rows = db.session.scalars(
        select(Task).where(Task.submission_id == submission.id).order_by(Task.id)
    ).all()
    by_round: dict[int, list[ApprovalStep]] = {}
    for row in step_rows:
        by_round.setdefault(row.round, []).append(row)
    views = []
    for number, rows in by_round.items():
        steps = []
        for row in rows:
            step_spec = next((s for s in spec.steps if s.name == row.name), None)
            if step_spec is None:
                continue
            tasks = [t for t in task_rows if t.round == number and t.step == row.name]
            steps.append(
                StepView(step_spec, row.state, row.reason, tasks, row.started_at, row.finished_at)
            )
        views.append(RoundView(number, steps))
    if not views and submission.status == SubmissionStatus.IN_REVIEW:
        views.append(RoundView(1, [StepView(s, StepState.WAITING, "", []) for s in spec.steps]))
    return views


def open_tasks_for(user: User) -> list[Task]:
    """The user's open tasks, oldest first (the inbox)."""
    return list(
        db.session.scalars(
            select(Task)
            .where(Task.assignee_id == user.id, Task.state == TaskState.OPEN)
            .order_by(Task.created_at, Task.id)
        )
    )


def open_tasks_page(user: User, page: int | None, size: int) -> tuple[list[Task], int, int]:
    """One page of the user's open tasks, oldest first, how many are open in all, and which
    page that is (see paging.page_to_show).

    What the inbox shows of each task (its request, form version, submitter, the person it
    is on behalf of) is loaded with the page, not one query per row.
    """
    from sqlalchemy.orm import selectinload

    where = (Task.assignee_id == user.id, Task.state == TaskState.OPEN)
    total = db.session.scalar(select(func.count()).select_from(Task).where(*where))
    page = paging.page_to_show(page, total, size)
    request = selectinload(Task.submission)
    tasks = db.session.scalars(
        select(Task)
        .where(*where)
        .order_by(Task.created_at, Task.id)
        .options(
            request.selectinload(Submission.form_version),
            request.selectinload(Submission.submitter),
            selectinload(Task.on_behalf_of),
        )
        .offset((page - 1) * size)
        .limit(size)
    ).all()
    return list(tasks), total, page


def find_task(task_id: int) -> Task | None:
    return db.session.get(Task, task_id)


def open_task_count(user: User) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(Task)
        .where(Task.assignee_id == user.id, Task.state == TaskState.OPEN)
    )
