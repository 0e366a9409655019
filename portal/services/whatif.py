"""What if: a draft of a form's chain replayed over the period's past requests.

The replay itself is pure (portal.domain.replay); this module reads the history for it and
keeps what an admin asked and what the replay found (portal.models.WhatIf). The history is
read in bulk: one query for the recorded waits each step's drawn waits come from, then three
streamed queries (requests, their step rows, their task rows), all in request order, merged
as they arrive; nothing holds more than one request's rows at a time.

A replay runs as a job (JobKind.RUN_WHAT_IF, on the bulk queue) that commits its progress as
it goes; the command line (`flask --app app baton what-if`) runs the same `compute`.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sqlalchemy import String, and_, func, literal, select, type_coerce

from portal import clock, outbox
from portal.domain import replay, schema
from portal.domain import values as value_rules
from portal.domain.chain import Decision, StepState
from portal.domain.insight import Period
from portal.domain.refusal import NotFound, Refused
from portal.domain.replay import Plan, RecordedDecision, RecordedVisit, RequestHistory, Waits
from portal.extensions import db
from portal.jobs.registry import JobKind
from portal.models import (
    ApprovalStep,
    Form,
    FormVersion,
    Submission,
    SubmissionStatus,
    Task,
    User,
    WhatIf,
    WhatIfState,
)
from portal.models.sql_functions import epoch
from portal.services import access
from portal.services.access import Action

logger = logging.getLogger(__name__)

#: Rows fetched from the database at a time while streaming the history.
BATCH = 5000
#: The answers an admin may assume for a step with no answer on record.
ASSUMABLE = (Decision.APPROVE, Decision.REJECT)
MAX_MINUTES_PER_TASK = 8 * 60


class DraftInvalid(Refused):
    """The draft cannot be replayed; the message says why."""


@dataclass(frozen=True)
class Options:
    """The replay's assumptions, as the admin chose them."""

    assume: dict[str, str]
    similar: dict[str, str]
    minutes_per_task: int = replay.MINUTES_PER_TASK

    def as_dict(self) -> dict:
        return {
            "assume": self.assume,
            "similar": self.similar,
            "minutes_per_task": self.minutes_per_task,
        }

    @classmethod
    def of(cls, data: dict | None) -> Options:
        data = data or {}
        return cls(
            dict(data.get("assume") or {}),
            dict(data.get("similar") or {}),
            int(data.get("minutes_per_task") or replay.MINUTES_PER_TASK),
        )


def draft_spec(form: Form, text: str):
    """The draft's FormSpec; DraftInvalid (422) if it does not parse or has no chain."""
    try:
        spec = schema.load_text(text, form.slug)
    except schema.SchemaInvalid as invalid:
        first = "; ".join(error.message for error in invalid.errors[:3])
        raise DraftInvalid(f"The draft has problems to fix in the editor first: {first}") from None
    if spec.approval is None or not spec.approval.steps:
        raise DraftInvalid("The draft has no approval chain, so there is nothing to replay.")
    return spec


def check_options(spec, options: Options, recorded_steps: set[str]) -> Options:
    """The options, refused (DraftInvalid) where they name steps or answers that do not exist."""
    names = {step.name for step in spec.approval.steps}
    for step, answer in options.assume.items():
        if step not in names:
            raise DraftInvalid(f"The draft has no step “{step[:64]}” to assume an answer for.")
        if answer not in {d.value for d in ASSUMABLE}:
            raise DraftInvalid("A step with no answer on record is assumed to approve or reject.")
    for step, like in options.similar.items():
        if step not in names:
            raise DraftInvalid(f"The draft has no step “{step[:64]}”.")
        if like and like not in recorded_steps:
            raise DraftInvalid(f"No step “{like[:64]}” has recorded waits in this period.")
    if not 0 < options.minutes_per_task <= MAX_MINUTES_PER_TASK:
        raise DraftInvalid(
            f"Minutes per task must be a whole number from 1 to {MAX_MINUTES_PER_TASK}."
        )
    return options


def plan_of(spec, options: Options) -> Plan:
    return Plan(
        spec.approval,
        assume={step: Decision(answer) for step, answer in options.assume.items()},
        similar={step: like for step, like in options.similar.items() if like},
        minutes_per_task=options.minutes_per_task,
    )


# -- reading the history ----------------------------------------------------------------------


def _in_period(form: Form, period: Period):
    start, end = period.bounds(clock.local_zone_name())
    return and_(
        Submission.form_id == form.id,
        Submission.submitted_at >= start,
        Submission.submitted_at < end,
        Submission.status != SubmissionStatus.DRAFT,
    )


def count(form: Form, period: Period) -> int:
    """How many submitted requests of `form` the period holds."""
    return db.session.scalar(select(func.count()).where(_in_period(form, period))) or 0


def recorded_waits(form: Form, period: Period) -> Waits:
    """Every step's recorded waits in the period (ms), and how many people a visit asked."""
    seats = (
        select(func.count(func.distinct(func.coalesce(func.nullif(Task.slot, ""), Task.key))))
        .where(
            Task.submission_id == ApprovalStep.submission_id,
            Task.round == ApprovalStep.round,
            Task.step == ApprovalStep.name,
        )
        .scalar_subquery()
    )
    rows = db.session.execute(
        select(
            ApprovalStep.name,
            epoch(ApprovalStep.started_at),
            epoch(ApprovalStep.finished_at),
            seats,
        )
        .join(Submission, Submission.id == ApprovalStep.submission_id)
        .where(
            _in_period(form, period),
            ApprovalStep.started_at.is_not(None),
            ApprovalStep.finished_at > ApprovalStep.started_at,
            ApprovalStep.state != StepState.CANCELLED,
        )
    )
    found: dict[str, list[int]] = {}
    people: dict[str, list[int]] = {}
    for name, started, finished, asked in rows:
        found.setdefault(name, []).append(_from_epoch(finished) - _from_epoch(started))
        people.setdefault(name, []).append(asked or 1)
    return Waits(
        {name: tuple(sorted(waits)) for name, waits in found.items()},
        {name: sorted(counts)[(len(counts) - 1) // 2] for name, counts in people.items()},
    )


def histories(
    form: Form, period: Period, names: frozenset[str] | None = None
) -> Iterator[RequestHistory]:
    """The period's submitted requests with their recorded chains, in id order.

    Read a chunk of BATCH requests at a time: the requests, then their step rows and their
    task rows for the chunk's id range (three queries a chunk, none held open between them,
    so the job may commit its progress while it reads). Times come from the database as
    seconds since 1970 and states as their words, which spares converting every value; of a
    request's data only the fields in `names` (those the draft's chain reads) are decoded,
    all of them when `names` is None."""
    where = _in_period(form, period)
    fields: dict[int, list] = {}
    conditions: dict[int, dict] = {}
    current = form.current_version.spec if form.current_version else None
    amount_field = current.amount_field if current else None
    # A chain that reads only the amount reads it from its own column: no data to decode.
    only_amount = names is not None and amount_field is not None and names <= {amount_field}
    # Core, not the ORM: the rows are plain tuples, which spares the ORM's loading per row.
    connection = db.session.connection()
    after = 0
    while True:
        requests = connection.execute(
            select(
                Submission.id,
                Submission.form_version_id,
                literal(None) if only_amount else Submission.data,
                Submission.amount,
                epoch(Submission.submitted_at),
                epoch(Submission.finished_at),
                type_coerce(Submission.status, String),
            )
            .where(where, Submission.id > after)
            .order_by(Submission.id)
            .limit(BATCH)
        ).all()
        if not requests:
            return
        # The chunk's step and task rows: by its id range, joined back to the requests so
        # that other forms' requests in the range are left out (a bound list of 5,000 ids
        # costs more to send than the join).
        in_chunk = (where, Submission.id >= requests[0][0], Submission.id <= requests[-1][0])
        steps = connection.execute(
            select(
                ApprovalStep.submission_id,
                ApprovalStep.round,
                ApprovalStep.name,
                type_coerce(ApprovalStep.state, String),
                epoch(ApprovalStep.started_at),
                epoch(ApprovalStep.finished_at),
            )
            .join(Submission, Submission.id == ApprovalStep.submission_id)
            .where(*in_chunk)
            .order_by(ApprovalStep.submission_id, ApprovalStep.round, ApprovalStep.position)
        ).all()
        tasks = connection.execute(
            select(
                Task.submission_id,
                Task.round,
                Task.step,
                Task.key,
                Task.slot,
                type_coerce(Task.decision, String),
                epoch(Task.decided_at),
            )
            .join(Submission, Submission.id == Task.submission_id)
            .where(*in_chunk)
            .order_by(Task.submission_id, Task.id)
        ).all()
        steps_of = {sid: list(rows) for sid, rows in itertools.groupby(steps, key=_first)}
        tasks_of = {sid: list(rows) for sid, rows in itertools.groupby(tasks, key=_first)}
        for sid, version_id, data, amount, submitted, finished, status in requests:
            if version_id not in fields:
                spec = db.session.get(FormVersion, version_id).spec
                fields[version_id] = [
                    field for field in spec.inputs if names is None or field.name in names
                ]
                conditions[version_id] = _conditions(spec)
            if only_amount:
                values = {amount_field: amount}
            else:
                data = data or {}
                values = {
                    f.name: value_rules.decode_value(f, data.get(f.name))
                    for f in fields[version_id]
                }
            yield RequestHistory(
                sid,
                values,
                _from_epoch(submitted),
                status,
                _from_epoch(finished),
                _visits(steps_of.get(sid, ()), tasks_of.get(sid, ())),
                float(amount) if amount is not None else None,
                conditions[version_id],
            )
        after = requests[-1][0]


def _conditions(spec) -> dict[str, tuple[str | None, str | None]]:
    """Step -> the source of its `when` and `auto_approve_if` in a published version."""
    return {
        step.name: (
            step.when.source if step.when is not None else None,
            step.auto_approve_if.source if step.auto_approve_if is not None else None,
        )
        for step in (spec.approval.steps if spec.approval else ())
    }


def _from_epoch(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)


def _first(row):
    return row[0]


_STATES = {state.value: state for state in StepState}
_DECISIONS = {decision.value: decision for decision in Decision}


def _visits(steps, tasks) -> tuple[RecordedVisit, ...]:
    seats: dict[tuple[int, str], list[str]] = {}
    answers: dict[tuple[int, str], dict[str, RecordedDecision]] = {}
    for _, number, step, key, slot, decision, decided_at in tasks:
        seat = slot or key
        held = seats.setdefault((number, step), [])
        if seat not in held:
            held.append(seat)
        if decision is not None and decided_at is not None:
            given = answers.setdefault((number, step), {})
            if seat not in given:
                given[seat] = RecordedDecision(seat, _DECISIONS[decision], _from_epoch(decided_at))
    return tuple(
        RecordedVisit(
            number,
            name,
            _STATES[state],
            _from_epoch(started),
            _from_epoch(finished),
            tuple(seats.get((number, name), ())),
            tuple(answers.get((number, name), {}).values()),
        )
        for _, number, name, state, started, finished in steps
    )


def titles(form: Form, spec) -> dict[str, str]:
    """Step name -> title: the draft's, then the current version's, then the recorded rows'."""
    found = {}
    for name, title in db.session.execute(
        select(ApprovalStep.name, func.max(ApprovalStep.title))
        .join(Submission, Submission.id == ApprovalStep.submission_id)
        .where(Submission.form_id == form.id)
        .group_by(ApprovalStep.name)
    ):
        found[name] = title
    current = form.current_version.spec.approval if form.current_version else None
    for chain in (current, spec.approval):
        for step in chain.steps if chain else ():
            found[step.name] = step.title
    return found


def compute(
    form: Form,
    spec,
    period: Period,
    options: Options,
    progress: Callable[[int], None] | None = None,
) -> replay.Report:
    """Replay `form`'s requests of `period` through the draft `spec`; the report."""
    waits = recorded_waits(form, period)
    check_options(spec, options, set(waits.by_step))
    names = frozenset(
        name
        for step in spec.approval.steps
        for expression in (step.when, step.auto_approve_if)
        if expression is not None
        for name in expression.names
    )
    return replay.run(
        plan_of(spec, options),
        waits,
        histories(form, period, names),
        titles(form, spec),
        progress=progress,
        every=BATCH,
    )


# -- what-if rows -----------------------------------------------------------------------------


def start(user: User, form: Form, text: str, period: Period, options: Options) -> WhatIf:
    """Record a what-if and queue its replay; refused if the draft or options are unusable."""
    access.require(user, Action.ADMINISTER)
    spec = draft_spec(form, text)
    waits_of = {
        name
        for (name,) in db.session.execute(
            select(ApprovalStep.name)
            .join(Submission, Submission.id == ApprovalStep.submission_id)
            .where(_in_period(form, period), ApprovalStep.started_at.is_not(None))
            .group_by(ApprovalStep.name)
        )
    }
    check_options(spec, options, waits_of)
    what_if = WhatIf(
        form_id=form.id,
        requested_by_id=user.id,
        schema_text=text,
        first_day=period.first_day,
        last_day=period.last_day,
        options=options.as_dict(),
        state=WhatIfState.QUEUED,
        total=count(form, period),
        done=0,
        error="",
        created_at=clock.now(),
    )
    db.session.add(what_if)
    db.session.flush()
    outbox.add(JobKind.RUN_WHAT_IF, what_if_id=what_if.id)
    logger.info("what-if %s queued for %s by %s", what_if.id, form.slug, user.email)
    return what_if


def find(user: User, what_if_id: int) -> WhatIf:
    """A what-if, for an admin; NotFound otherwise."""
    access.require(user, Action.ADMINISTER)
    found = db.session.get(WhatIf, what_if_id)
    if found is None:
        raise NotFound("There is no such replay.")
    return found


def recent(form: Form, limit: int = 10) -> list[WhatIf]:
    """The form's latest replays, newest first."""
    return list(
        db.session.scalars(
            select(WhatIf).where(WhatIf.form_id == form.id).order_by(WhatIf.id.desc()).limit(limit)
        )
    )


def period_of(what_if: WhatIf) -> Period:
    return Period(what_if.first_day, what_if.last_day)


def run(what_if: WhatIf, progress: Callable[[int], None] | None = None) -> None:
    """Replay `what_if` and keep its report (the job's body, between its progress commits)."""
    began = time.perf_counter()
    spec = draft_spec(what_if.form, what_if.schema_text)
    report = compute(what_if.form, spec, period_of(what_if), Options.of(what_if.options), progress)
    what_if.result = report.as_dict()
    what_if.done = report.requests
    what_if.total = report.requests
    what_if.state = WhatIfState.DONE
    what_if.finished_at = clock.now()
    what_if.seconds = round(time.perf_counter() - began, 2)
    db.session.flush()
    logger.info("what-if %s: %s requests in %.1f s", what_if.id, report.requests, what_if.seconds)


def fail(what_if: WhatIf, problem: Exception) -> None:
    what_if.state = WhatIfState.FAILED
    what_if.error = str(problem) if isinstance(problem, Refused) else "The replay failed."
    what_if.finished_at = clock.now()
    db.session.flush()


# -- the set-up page --------------------------------------------------------------------------


@dataclass(frozen=True)
class DraftStep:
    name: str
    title: str
    #: The step has recorded waits: the replay uses its answers where a request went through it.
    recorded: bool
    policy_text: str = ""


@dataclass(frozen=True)
class Setup:
    """What the set-up page shows about a draft: its steps, or why it cannot be replayed."""

    problem: str | None
    steps: tuple[DraftStep, ...]
    #: (name, title) of every step with recorded waits, for "similar to".
    recorded: tuple[tuple[str, str], ...]
    recent: tuple[WhatIf, ...]


def setup(user: User, form: Form, text: str) -> Setup:
    """The draft's steps against the form's history, for the page that starts a replay."""
    access.require(user, Action.ADMINISTER)
    recent_ones = tuple(recent(form))
    try:
        spec = draft_spec(form, text)
    except DraftInvalid as problem:
        return Setup(str(problem), (), (), recent_ones)
    waited = {
        name: title
        for name, title in db.session.execute(
            select(ApprovalStep.name, func.max(ApprovalStep.title))
            .join(Submission, Submission.id == ApprovalStep.submission_id)
            .where(
                Submission.form_id == form.id,
                ApprovalStep.started_at.is_not(None),
                ApprovalStep.finished_at > ApprovalStep.started_at,
            )
            .group_by(ApprovalStep.name)
        )
    }
    steps = tuple(
        DraftStep(step.name, step.title, step.name in waited, step.policy_text)
        for step in spec.approval.steps
    )
    return Setup(None, steps, tuple(sorted(waited.items(), key=lambda i: i[1])), recent_ones)
