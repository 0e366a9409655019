"""Approval chains meet the database: start a round, decide a task, withdraw.

Every public function locks the submission row first, rebuilds the chain from its rows, asks
portal.domain.chain what happens, and writes the outcome (step and task rows, the submission's
status, one audit event per change, emails through the outbox) in the caller's transaction.
What each kind of action writes is one small function, listed in HANDLERS; who is asked for a
step is decided by portal.domain.routing from what `_find` looks up.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, inspect, select
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import flag_modified

from portal import audit, clock, limits
from portal.domain import chain as engine
from portal.domain import paging, routing
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
from portal.extensions import db, hold, insert_unless_present, transaction_cache
from portal.models import (
    ApprovalStep,
    GroupCursor,
    Submission,
    SubmissionStatus,
    Task,
    User,
)
from portal.services import access, catalog, chain_rows, notifications, sign_ins, timers, users
from portal.services.chain_rows import Rows, load, lock, open_tasks_for

logger = logging.getLogger(__name__)

#: What the rest of Baton uses. `load`, `lock` and `open_tasks_for` live in chain_rows (deadlines
#: and notifications need them too) and are part of this module's API as well.
__all__ = [
    "HANDLERS",
    "DecisionRefused",
    "Extras",
    "RoundView",
    "StaleDecision",
    "StepView",
    "data_hash",
    "decide",
    "hand_over",
    "load",
    "lock",
    "open_task_count",
    "open_tasks_for",
    "open_tasks_page",
    "reassign",
    "reassign_task",
    "recommendation_for",
    "rounds",
    "start_chain",
    "time_out_step",
    "withdraw",
]


class StaleDecision(Conflict):
    """The request changed after the approver looked at it; they must look again."""


def data_hash(data: dict, submit_count: int) -> str:
    """SHA-256 of what was submitted (and which submission it was): what an approver saw."""
    canonical = json.dumps(
        {"data": data, "submission": submit_count}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


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
    number = chain_rows.current_round(submission)
    if number >= submission.submit_count:
        return False
    chain, rows = chain_rows.read(submission, number)
    transition = engine.start(spec, chain, _values(submission), clock.local_today())
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
    output: dict | None = None,
) -> Task:
    """Record `actor`'s decision on their task and move the chain on.

    An agent decides with its step's `output` and a rationale (`comment`), on channel
    `agent`; where the step asks for review, its decision becomes a recommendation.
    Raises DecisionRefused (already decided, not theirs, no comment, wrong password, an
    output that does not fit: OutputRefused...) or StaleDecision (the request changed since
    they looked); either way nothing changes.
    """
    if actor.is_agent:
        channel = "agent"
    elif output is not None:
        raise engine.OutputRefused({"output": ["only an agent sends an output"]})
    task = db.session.get(Task, task_id)
    if task is None:
        raise DecisionRefused("There is no such task.")
    submission = lock(task.submission_id)
    # Read under the lock: the current round's rows, this task among them if it is open.
    chain, rows = chain_rows.read(submission)
    if rows.tasks.get(task.key) is not task:
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
    if step_spec.signature and actor.is_agent:
        raise DecisionRefused(
            "This step needs an electronic signature, which only a person can give."
        )
    if step_spec.signature:
        if not actor.password_hash:
            # Someone who signs in through the identity provider has no password to sign with.
            raise DecisionRefused(
                "This step needs your password as an electronic signature, and your account "
                "signs in through single sign-on without one. Ask an administrator to set you "
                "a password for signing, or to reassign the task."
            )
        limits.check_account(actor.email)  # a locked account signs nothing, as it signs in
        if not password or not _password_matches(actor, password):
            if password:
                limits.count_failure(actor.email)
            raise DecisionRefused(
                "Your password did not match. This step needs it as your electronic signature."
            )
        meaning = step_spec.meaning(decision)
    transition = engine.decide(
        spec,
        chain,
        task.key,
        decision,
        comment,
        _values(submission),
        clock.local_today(),
        agent=actor.is_agent,
        output=output,
    )
    actor_info = audit.Actor(actor, channel=channel)
    _apply(
        submission,
        spec,
        transition,
        actor_info,
        Extras(
            channel=channel,
            meaning=step_spec.meaning(decision),
            signature_meaning=meaning,
            output=_json_output(output),
        ),
        rows=rows,
    )
    return task


def withdraw(actor: User, submission: Submission) -> None:
    """The submitter takes back a request in review (or one sent back for changes)."""
    submission = lock(submission.id)
    refusal = access.why_not(actor, access.Action.WITHDRAW_SUBMISSION, submission)
    if refusal:
        raise DecisionRefused(refusal, status=Conflict.status)  # its state, not the input
    spec = submission.form_version.spec.approval
    chain, rows = chain_rows.read(submission)
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
    chain, rows = chain_rows.read(submission)
    transition = engine.reassign(chain, task.key, user.id, keep=keep, reason=reason)
    before = set(db.session.scalars(select(Task.id).where(Task.submission_id == submission.id)))
    _apply(submission, spec, transition, actor, Extras(origin=origin), rows=rows)
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
        if not routing.may_decide(delegate.id, submission.submitter_id):
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
    chain, rows = chain_rows.read(submission)
    transition = engine.time_out(
        spec, chain, step, action, rule, _values(submission), clock.local_today()
    )
    if transition.chain is chain:
        return "nothing to do: the step was already decided"
    _apply(submission, spec, transition, audit.Actor(system=rule, channel="worker"), rows=rows)
    return f"step {step} timed out: {action}"


# -- applying a transition: what each engine action writes ----------------------------------


@dataclass(frozen=True)
class Extras:
    """What the use case knows about its decision that the engine's actions do not say."""

    #: Why a task opens, if not plain asking: reassigned, delegated or escalated.
    origin: str = ""
    #: Where the decision was taken (web, email, api); the actor's channel otherwise.
    channel: str | None = None
    #: What the decision means on its step: "Approved as Finance".
    meaning: str | None = None
    #: The same words, when the approver signed them with their password.
    signature_meaning: str | None = None
    #: What an agent returned with its decision.
    output: dict | None = None


@dataclass(frozen=True)
class _Context:
    """What every handler is given besides the chain and its action."""

    submission: Submission
    spec: ChainSpec
    actor: audit.Actor
    extras: Extras
    #: The current round's rows, as read under the lock and as this transition adds to them.
    rows: Rows
    #: What waits for the step change's rows to be written (their ids): audit events and
    #: emails, in the order the actions asked for them (see _apply).
    later: list[Callable[[], None]]

    def record(self, action: str, details, actor: audit.Actor | None = None) -> None:
        """One audit event on the request's chain, by the transition's actor unless named;
        `details` is a dict, or a function giving it once the rows have their ids."""

        def write() -> None:
            audit.record(
                audit.submission_chain(self.submission.id),
                action,
                actor or self.actor,
                details() if callable(details) else details,
                submission_id=self.submission.id,
            )

        self.later.append(write)

    def step_row(self, number: int, name: str) -> ApprovalStep:
        return self.rows.step(self.submission, number, name)

    def task_row(self, key: str) -> Task:
        return self.rows.task(self.submission, key)

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
    extras: Extras = Extras(),
    rows: Rows | None = None,
) -> None:
    """Write `transition`'s actions in order; a step that needs people asks them here.

    The rows of the step change (steps, tasks, their timers) are written together in one
    flush, so each table gets one multi-row INSERT or UPDATE, not a statement per row; then the
    audit events and the emails, which name the new rows' ids, in the actions' order, in a
    second flush with the chain's head moved once; their outbox jobs go out with the commit.
    """
    if rows is None:
        rows = chain_rows.read(submission)[1]
    context = _Context(submission, spec, actor, extras, rows, [])
    pending = list(transition.actions)
    chain = transition.chain
    with db.session.no_autoflush:
        while pending:
            action = pending.pop(0)
            HANDLERS[type(action)](context, chain, action)
            if isinstance(action, engine.AssigneesNeeded):
                asks = _ask(context, chain.round, spec.step(action.step))
                follow = engine.assignees_found(spec, chain, action.step, asks)
                chain = follow.chain
                pending = list(follow.actions) + pending
            elif isinstance(action, engine.ReviewersNeeded):
                asks = _reviewers(context, spec.step(action.step))
                follow = engine.reviewers_found(spec, chain, action.task, asks)
                chain = follow.chain
                pending = list(follow.actions) + pending
    _same_columns(ApprovalStep, Task)
    db.session.flush()
    with db.session.no_autoflush:
        for write in context.later:
            write()
    notifications.queue_jobs()


def _same_columns(*models) -> None:
    """Have each changed row of `models` write the same columns (those any of them changed), so
    that the flush sends each table one UPDATE for all its rows (an executemany, which psycopg
    pipelines), not one per different set of columns."""
    for model in models:
        rows = [row for row in db.session.dirty if isinstance(row, model)]
        if len(rows) < 2:
            continue
        changed = set()
        for row in rows:
            state = inspect(row)
            changed.update(
                attribute.key
                for attribute in state.mapper.column_attrs
                if state.attrs[attribute.key].history.has_changes()
            )
        for row in rows:
            loaded = inspect(row).dict
            for key in changed:
                if key in loaded:
                    flag_modified(row, key)


def _round_started(context: _Context, chain: engine.Chain, action: engine.RoundStarted) -> None:
    now = clock.now()
    rows = context.rows
    rows.round, rows.steps, rows.tasks = action.round, {}, {}
    for position, (step_spec, step) in enumerate(zip(context.spec.steps, chain.steps, strict=True)):
        row = ApprovalStep(
            submission_id=context.submission.id,
            round=action.round,
            position=position,
            name=step_spec.name,
            title=step_spec.title,
            state=step.state,
            reason=step.reason,
            finished_at=now if step.state in engine.DONE_STEPS else None,
        )
        db.session.add(row)
        rows.steps[row.name] = row
    chain_rows.round_started(context.submission, action.round)
    context.record("round_started", {"round": action.round, "resumed_at": action.resumed_at})


def _step_skipped(context: _Context, chain: engine.Chain, action: engine.StepSkipped) -> None:
    context.update_step(chain.round, action.step, StepState.SKIPPED, action.reason, clock.now())
    context.record("step_skipped", {"step": action.step, "reason": action.reason})


def _step_auto_approved(
    context: _Context, chain: engine.Chain, action: engine.StepAutoApproved
) -> None:
    reason = f"approved by rule “{action.rule}”"
    context.update_step(chain.round, action.step, StepState.APPROVED, reason, clock.now())
    context.record(
        "step_auto_approved",
        {"step": action.step, "rule": action.rule},
        actor=audit.Actor(system=f"auto_approve_if: {action.rule}", channel=context.actor.channel),
    )


def _step_started(context: _Context, chain: engine.Chain, action: engine.AssigneesNeeded) -> None:
    row = context.step_row(chain.round, action.step)
    row.state, row.started_at = StepState.ACTIVE, clock.now()
    context.record("step_started", {"step": action.step})


def _step_blocked(context: _Context, chain: engine.Chain, action: engine.StepBlocked) -> None:
    row = context.step_row(chain.round, action.step)
    row.state, row.reason = StepState.BLOCKED, action.reason
    context.record("step_blocked", {"step": action.step, "reason": action.reason})
    logger.warning(
        "submission %s: step %s is blocked: %s", context.submission.id, action.step, action.reason
    )


def _task_opened(context: _Context, chain: engine.Chain, action: engine.TaskOpened) -> None:
    submission = context.submission
    origin = context.extras.origin
    if not origin and action.task.on_behalf_of:
        origin = "delegated"
    if action.task.reviews:
        # A review stays one when it is escalated or handed over: "escalated review".
        origin = f"{origin} review" if origin else "review"
    escalated = origin.startswith("escalated")
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
        created_at=clock.now(),
    )
    db.session.add(task)
    # Its deadline and timers before its first flush: the task is written with its due
    # time, not written and then updated.
    timers.schedule(task, context.spec.step(task.step), escalate=not escalated)
    if chain.round == context.rows.round:
        context.rows.tasks[task.key] = task

    def details() -> dict:
        assignee = db.session.get(User, task.assignee_id)
        found = {"step": task.step, "task": task.id, "assignee": assignee.email}
        if task.on_behalf_of_id:
            found["on_behalf_of"] = db.session.get(User, task.on_behalf_of_id).email
        if origin:
            found["origin"] = origin
        return found

    context.record("task_opened", details)

    def tell() -> None:
        assignee = db.session.get(User, task.assignee_id)
        notifications.task_assigned(submission, task, assignee, urgent=escalated, new=True)

    context.later.append(tell)


def _task_decided(context: _Context, chain: engine.Chain, action: engine.TaskDecided) -> None:
    task = context.task_row(action.task.key)
    extras = context.extras
    task.state = action.task.state
    task.decision = action.decision
    task.comment = action.comment
    task.decided_at = clock.now()
    task.channel = extras.channel or context.actor.channel
    task.signature_meaning = extras.signature_meaning
    details = {
        "step": task.step,
        "task": task.id,
        "decision": action.decision.value,
        "comment": action.comment,
    }
    if extras.output is not None:
        task.output = extras.output
        details["output"] = extras.output
    if task.is_review:
        recommended = _recommended_row(context, task)
        details["reviewed_task"] = recommended.id
        details["recommendation"] = recommended.recommendation.value
        details["agreed"] = recommended.recommendation == action.decision
    if extras.meaning:
        details["meaning"] = extras.meaning
    if task.signature_meaning:
        details["signature_meaning"] = task.signature_meaning
    if task.on_behalf_of_id:
        details["on_behalf_of"] = task.on_behalf_of.email
    context.record("task_decided", details)
    timers.cancel(task, "decided")


def _recommended_row(context: _Context, review: Task) -> Task:
    """The agent's task whose recommendation `review` confirms or overrides."""
    return next(
        row
        for row in context.rows.tasks.values()
        if row.state == TaskState.RECOMMENDED and (row.slot or row.key) == review.slot
    )


def _task_recommended(
    context: _Context, chain: engine.Chain, action: engine.TaskRecommended
) -> None:
    task = context.task_row(action.task.key)
    task.state = TaskState.RECOMMENDED
    task.recommendation = action.decision
    task.comment = action.comment
    task.output = context.extras.output
    task.decided_at = clock.now()
    task.channel = context.extras.channel or context.actor.channel
    details = {
        "step": task.step,
        "task": task.id,
        "recommendation": action.decision.value,
        "rationale": action.comment,
        "review_group": context.spec.step(task.step).review_group,
    }
    if task.output is not None:
        details["output"] = task.output
    context.record("task_recommended", details)
    timers.cancel(task, "recommended")


def _review_started(context: _Context, chain: engine.Chain, action: engine.ReviewersNeeded) -> None:
    """The reviewers are asked next (by `_apply`); nothing to write until they are found."""


def _task_cancelled(context: _Context, chain: engine.Chain, action: engine.TaskCancelled) -> None:
    task = context.task_row(action.task.key)
    task.state, task.closed_reason = TaskState.CANCELLED, action.reason
    context.record("task_cancelled", {"step": task.step, "task": task.id, "reason": action.reason})
    timers.cancel(task, action.reason)


def _step_timed_out(context: _Context, chain: engine.Chain, action: engine.StepTimedOut) -> None:
    context.step_row(chain.round, action.step).reason = f"timed out: {action.rule}"
    context.record(
        "step_timed_out",
        {"step": action.step, "action": action.action, "rule": action.rule},
        actor=audit.Actor(system=action.rule, channel=context.actor.channel),
    )


def _step_finished(context: _Context, chain: engine.Chain, action: engine.StepFinished) -> None:
    context.update_step(chain.round, action.step, action.state, "", clock.now())
    context.record("step_finished", {"step": action.step, "outcome": action.state.value})


def _chain_finished(context: _Context, chain: engine.Chain, action: engine.ChainFinished) -> None:
    submission = context.submission
    status = SubmissionStatus(action.state.value)
    if action.state == engine.ChainState.WITHDRAWN:
        now = clock.now()
        held = context.rows.steps.values() if chain.round == context.rows.round else None
        for step_row in held or chain_rows.step_rows(submission, chain.round):
            if step_row.state in (StepState.WAITING, StepState.ACTIVE, StepState.BLOCKED):
                step_row.state, step_row.finished_at = StepState.CANCELLED, now
    _set_status(submission, status)
    context.record(status.value, {"round": chain.round})
    if action.state != engine.ChainState.WITHDRAWN:
        comment = _last_comment(context, chain.round)
        context.later.append(lambda: notifications.outcome(submission, status, comment))


#: What each kind of engine action writes: rows, its audit event, emails and timers. A
#: transition's actions are written in order, each by its handler, in the caller's transaction.
HANDLERS: dict[type, Callable[[_Context, engine.Chain, Any], None]] = {
    engine.RoundStarted: _round_started,
    engine.StepSkipped: _step_skipped,
    engine.StepAutoApproved: _step_auto_approved,
    engine.AssigneesNeeded: _step_started,
    engine.StepBlocked: _step_blocked,
    engine.TaskOpened: _task_opened,
    engine.TaskDecided: _task_decided,
    engine.TaskRecommended: _task_recommended,
    engine.ReviewersNeeded: _review_started,
    engine.TaskCancelled: _task_cancelled,
    engine.StepTimedOut: _step_timed_out,
    engine.StepFinished: _step_finished,
    engine.ChainFinished: _chain_finished,
}


def _set_status(submission: Submission, status: SubmissionStatus) -> None:
    now = clock.now()
    submission.status = status
    submission.updated_at = now
    submission.finished_at = now if status.is_final else None


def _last_comment(context: _Context, number: int) -> str:
    tasks = (
        sorted(context.rows.tasks.values(), key=lambda t: t.id)
        if number == context.rows.round
        else chain_rows.task_rows(context.submission, number)
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


# -- who is asked: the lookups (portal.domain.routing decides) -------------------------------


def _ask(context: _Context, number: int, step: StepSpec) -> list[routing.Ask]:
    """The asks for a step: everyone found, the fallback group's members in place of any
    assignee that could not be found (audited, and shown on the step), and delegates in
    place of people who are away."""
    submission = context.submission
    submitter = submission.submitter_id
    values = submission.data or {}
    found = [_find(assignee, submission, values) for assignee in step.assignees]
    fallback_group = context.spec.fallback_group
    fallback = []
    if routing.needs_fallback(found, submitter):
        fallback = [user.id for user in _held(users.group_members(fallback_group))]
    asked = routing.route(found, submitter, fallback)
    if asked.problem:
        context.record(
            "assignee_unresolved",
            {
                "step": step.name,
                "problem": asked.problem,
                "fallback_group": fallback_group,
                "fallback_people": asked.fallback_people,
            },
            actor=audit.Actor(system="assignee resolution", channel=context.actor.channel),
        )
        logger.warning(
            "submission %s step %s: %s; asking group %s",
            submission.id,
            step.name,
            asked.problem,
            fallback_group,
        )
        context.step_row(number, step.name).reason = asked.step_reason(fallback_group)
    return routing.stand_ins(asked.people, submitter, _delegates(asked.people))


def _reviewers(context: _Context, step: StepSpec) -> list[routing.Ask]:
    """The people (never agents) of the step's review group, delegates for those away."""
    submitter = context.submission.submitter_id
    people = routing.deciders(
        [user.id for user in users.group_members(step.review_group) if not user.is_agent],
        submitter,
    )
    return routing.stand_ins(people, submitter, _delegates(people))


def _delegates(people: Iterable[int]) -> dict[int, int]:
    """Each of `people` who is away today, and their active delegate."""
    today = clock.local_today()
    delegates = {}
    for user_id in people:
        user = db.session.get(User, user_id)
        delegate = user.delegate if user.is_away_on(today) else None
        if delegate is not None and delegate.is_active:
            delegates[user.id] = delegate.id
    return delegates


def _find(assignee: AssigneeSpec, submission: Submission, data: dict) -> routing.Found:
    """Whom one assignee entry names; a problem means the fallback group is asked."""
    if assignee.user:
        user = _held(users.find_user(assignee.user))
        if user is None or not user.is_active:
            return routing.Found(problem=f"user {assignee.user} does not exist or is disabled")
        return routing.Found((user.id,))
    if assignee.group:
        members = [member.id for member in _held(users.group_members(assignee.group))]
        found = routing.from_group(assignee.group, members, submission.submitter_id)
        return routing.Found(_pick(assignee, found.people)) if found.people else found
    if assignee.manager:
        person = submission.submitter
        for level in range(assignee.manager):
            person = person.manager
            if person is None:
                return routing.Found(
                    problem=f"the submitter has no manager {level + 1} level(s) up"
                )
        if not person.is_active:
            return routing.Found(problem=f"the submitter's manager {person.email} is disabled")
        return routing.Found((person.id,))
    if assignee.field:
        email = data.get(assignee.field)
        user = _held(users.find_user(email)) if isinstance(email, str) else None
        if user is None or not user.is_active:
            return routing.Found(problem=f"the field {assignee.field} names no active user")
        return routing.Found((user.id,))
    chosen = data.get(assignee.lookup_field)
    email = dict(assignee.lookup).get(chosen) if isinstance(chosen, str) else None
    if email is None:
        return routing.Found(
            problem=f"nobody is set up as owner of {assignee.lookup_field} {chosen!r}"
        )
    user = _held(users.find_user(email))
    if user is None or not user.is_active:
        return routing.Found(
            problem=f"{email}, owner of {assignee.lookup_field} {chosen!r}, is not an active user"
        )
    return routing.Found((user.id,))


def _held(found):
    """`found` (a user, a list of them, or None), kept in the session for the transaction: the
    task and email written for each person asked find them there instead of reading them
    again."""
    if isinstance(found, list):
        hold(*found)
    elif found is not None:
        hold(found)
    return found


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


def _pick(assignee: AssigneeSpec, members: tuple[int, ...]) -> tuple[int, ...]:
    """Whom of a group's `members` (by id) the entry asks: all, the next in turn, or the least
    busy."""
    if assignee.pick == PickKind.ALL:
        return members
    if assignee.pick == PickKind.FEWEST_OPEN:
        db.session.flush()  # tasks this step change opened already count
        counts = dict(
            db.session.execute(
                select(Task.assignee_id, func.count())
                .where(Task.state == TaskState.OPEN, Task.assignee_id.in_(members))
                .group_by(Task.assignee_id)
            ).all()
        )
        return (routing.least_busy(members, counts),)
    cursor = _locked_cursor(assignee.group)
    cursor.last_user_id = routing.next_in_turn(members, cursor.last_user_id)
    return (cursor.last_user_id,)


# -- helpers ----------------------------------------------------------------------------------


def _json_output(output: dict | None) -> dict | None:
    """An agent's output as JSON keeps it: exact numbers as JSON numbers."""
    if output is None:
        return None
    return {
        key: (int(value) if value == value.to_integral_value() else float(value))
        if isinstance(value, Decimal)
        else value
        for key, value in output.items()
    }


def _values(submission: Submission) -> dict:
    return value_rules.decode(submission.form_version.spec, submission.data or {})


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


def next_open_task_id(user: User) -> int | None:
    """The id of the user's oldest open task (the inbox's first row), in one query."""
    return db.session.scalar(
        select(Task.id)
        .where(Task.assignee_id == user.id, Task.state == TaskState.OPEN)
        .order_by(Task.created_at, Task.id)
        .limit(1)
    )


def open_tasks_page(user: User, page: int | None, size: int) -> tuple[list[Task], int, int]:
    """One page of the user's open tasks, oldest first, how many are open in all, and which
    page that is (see paging.page_to_show).

    What the inbox shows of each task (its request, submitter, the person it is on behalf of)
    is loaded with the page in one query, without the requests' data (the inbox shows their
    summaries); their form versions are kept per process (portal.services.catalog), and the
    count is the one the signed-in person's row brought.
    """
    total = open_task_count(user)
    page = paging.page_to_show(page, total, size)
    request = joinedload(Task.submission, innerjoin=True)
    tasks = (
        db.session.scalars(
            select(Task)
            .where(Task.assignee_id == user.id, Task.state == TaskState.OPEN)
            .order_by(Task.created_at, Task.id)
            .options(
                request.defer(Submission.data).defer(Submission.draft),
                request.joinedload(Submission.submitter, innerjoin=True),
                joinedload(Task.on_behalf_of),
            )
            .offset((page - 1) * size)
            .limit(size)
        )
        .unique()
        .all()
    )
    for version_id in {task.submission.form_version_id for task in tasks}:
        catalog.version(version_id)
    return list(tasks), total, page


def recommendation_for(task: Task) -> Task | None:
    """For a person's review task, the agent's task whose recommendation it reviews."""
    if not task.is_review:
        return None
    return db.session.scalars(
        select(Task).where(
            Task.submission_id == task.submission_id,
            Task.round == task.round,
            Task.state == TaskState.RECOMMENDED,
            func.coalesce(func.nullif(Task.slot, ""), Task.key) == task.slot,
        )
    ).first()


def find_task(task_id: int) -> Task | None:
    return db.session.get(Task, task_id)


@dataclass(frozen=True)
class Settled:
    """Who settled a step a closed task belonged to, and when: for its own assignee's page."""

    person: User
    decision: Decision | None  # None: the request was withdrawn
    at: object
    own: bool = False


def settled_by(task: Task) -> Settled | None:
    """The decision (or withdrawal) that closed `task`'s step, if one did."""
    if task.decision is not None:
        return Settled(task.assignee, task.decision, task.decided_at, own=True)
    other = db.session.scalars(
        select(Task)
        .where(
            Task.submission_id == task.submission_id,
            Task.round == task.round,
            Task.step == task.step,
            Task.decision.is_not(None),
        )
        .order_by(Task.decided_at.desc())
        .limit(1)
    ).first()
    if other is not None:
        return Settled(other.assignee, other.decision, other.decided_at)
    submission = task.submission
    if submission.status == SubmissionStatus.WITHDRAWN:
        return Settled(submission.submitter, None, submission.updated_at)
    return None


def open_task_count(user: User) -> int:
    """How many open tasks `user` has (as the signed-in person's row brought it, if it did)."""
    kept = transaction_cache().get((sign_ins.OPEN_TASKS, user.id))
    if kept is not None:
        return kept
    return db.session.scalar(
        select(func.count())
        .select_from(Task)
        .where(Task.assignee_id == user.id, Task.state == TaskState.OPEN)
    )
