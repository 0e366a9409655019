"""A submission's chain as its rows hold it: the lock every chain change starts with, and the
current round read back into portal.domain.chain's terms.

Shared by approvals (which changes chains), deadlines (whose timers change them through
approvals) and notifications (whose digest lists open tasks), so none of them imports another
to reach these.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, select

from portal.domain import chain as engine
from portal.domain.chain import TaskState
from portal.extensions import db, hold, transaction_cache
from portal.models import ApprovalStep, Submission, SubmissionStatus, Task, User
from portal.services import catalog

#: transaction_cache key prefix of a locked submission's current round, as `lock` read it.
_ROUND = "chain round"


def lock(submission_id: int) -> Submission | None:
    """The submission, locked until the transaction ends (concurrent deciders queue up here),
    with its version (kept per process: portal.services.catalog) and its current round.

    FOR NO KEY UPDATE, not FOR UPDATE: deciders still queue up behind each other, but another
    transaction may meanwhile insert rows that refer to the submission (an audit event, an
    email) without waiting. With FOR UPDATE, a job holding the request's audit chain while its
    event's foreign-key check waited for this lock, and this transaction then waiting for that
    audit chain, was a deadlock (found by bench/chaos.py).

    The round comes with the row (a subquery), read under the lock like the rows `read` reads.
    """
    latest = (
        select(func.coalesce(func.max(ApprovalStep.round), 0))
        .where(ApprovalStep.submission_id == Submission.id)
        .scalar_subquery()
    )
    row = db.session.execute(
        select(Submission, latest)
        .where(Submission.id == submission_id)
        .with_for_update(key_share=True, of=Submission)
        .execution_options(populate_existing=True)
    ).first()
    if row is None:
        return None
    submission, number = row
    hold(submission)
    transaction_cache()[(_ROUND, submission.id)] = number
    catalog.version(submission.form_version_id)  # so `submission.form_version` is no query
    return submission


def current_round(submission: Submission) -> int:
    """The number of the submission's latest round (0 before the first starts)."""
    kept = transaction_cache().get((_ROUND, submission.id))
    if kept is not None:
        return kept
    return db.session.scalar(
        select(func.coalesce(func.max(ApprovalStep.round), 0)).where(
            ApprovalStep.submission_id == submission.id
        )
    )


def round_started(submission: Submission, number: int) -> None:
    """Round `number` has just been written: it is the current round from now on."""
    transaction_cache()[(_ROUND, submission.id)] = number


@dataclass
class Rows:
    """The current round's step and task rows as `read` found them (under the submission's
    lock), kept so that applying a transition finds them without asking the database again."""

    round: int
    steps: dict[str, ApprovalStep]
    tasks: dict[str, Task]

    def step(self, submission: Submission, number: int, name: str) -> ApprovalStep:
        """Round `number`'s row for step `name` (from the database if it is not held)."""
        row = self.steps.get(name) if number == self.round else None
        if row is not None:
            return row
        return db.session.scalars(
            select(ApprovalStep).where(
                ApprovalStep.submission_id == submission.id,
                ApprovalStep.round == number,
                ApprovalStep.name == name,
            )
        ).one()

    def task(self, submission: Submission, key: str) -> Task:
        """The task row with `key` (from the database if it is not held)."""
        row = self.tasks.get(key)
        if row is not None:
            return row
        return db.session.scalars(
            select(Task).where(Task.submission_id == submission.id, Task.key == key)
        ).one()


def load(submission: Submission) -> engine.Chain:
    """The chain as its rows say it stands (the current round only)."""
    return read(submission)[0]


def read(submission: Submission, number: int | None = None) -> tuple[engine.Chain, Rows]:
    """The chain and the rows it was read from; `number` is the current round, if known."""
    number = current_round(submission) if number is None else number
    if number == 0:
        return engine.Chain(submitter=submission.submitter_id), Rows(0, {}, {})
    held_steps, held_tasks = round_rows(submission, number)
    rows = Rows(number, {row.name: row for row in held_steps}, {row.key: row for row in held_tasks})
    steps = tuple(engine.Step(row.name, row.state, row.reason) for row in held_steps)
    tasks = tuple(
        engine.Task(
            row.key,
            row.step,
            row.assignee_id,
            row.state,
            on_behalf_of=row.on_behalf_of_id,
            slot=row.slot,
            reviews=row.slot if row.is_review else "",
        )
        for row in held_tasks
    )
    # What agents returned, by step: the later steps' conditions read it.
    outputs = {
        row.step: row.output
        for row in held_tasks
        if row.output is not None and row.state != TaskState.CANCELLED
    }
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
        outputs=outputs,
    )
    return chain, rows


def round_rows(submission: Submission, number: int) -> tuple[list[ApprovalStep], list[Task]]:
    """Round `number`'s step rows in their order and its task rows oldest first, fresh from
    the database, in one query (each step with its tasks)."""
    found = db.session.execute(
        select(ApprovalStep, Task)
        .outerjoin(
            Task,
            and_(
                Task.submission_id == ApprovalStep.submission_id,
                Task.round == ApprovalStep.round,
                Task.step == ApprovalStep.name,
            ),
        )
        .where(ApprovalStep.submission_id == submission.id, ApprovalStep.round == number)
        .order_by(ApprovalStep.position, Task.id)
        .execution_options(populate_existing=True)
    ).all()
    steps = list({id(step): step for step, _ in found}.values())
    tasks = sorted((task for _, task in found if task is not None), key=lambda task: task.id)
    return steps, tasks


def step_rows(submission: Submission, number: int) -> list[ApprovalStep]:
    """Round `number`'s step rows in their order, fresh from the database."""
    return list(
        db.session.scalars(
            select(ApprovalStep)
            .where(ApprovalStep.submission_id == submission.id, ApprovalStep.round == number)
            .order_by(ApprovalStep.position)
            .execution_options(populate_existing=True)
        )
    )


def task_rows(submission: Submission, number: int) -> list[Task]:
    """Round `number`'s task rows, oldest first, fresh from the database."""
    return list(
        db.session.scalars(
            select(Task)
            .where(Task.submission_id == submission.id, Task.round == number)
            .order_by(Task.id)
            .execution_options(populate_existing=True)
        )
    )


def open_tasks_for(user: User) -> list[Task]:
    """The user's open tasks, oldest first (the inbox, and the daily digest)."""
    return list(
        db.session.scalars(
            select(Task)
            .where(Task.assignee_id == user.id, Task.state == TaskState.OPEN)
            .order_by(Task.created_at, Task.id)
        )
    )
