"""Process insight: how a form's requests really run, from SQL aggregates, and who may see it.

Every figure is computed by the database (GROUP BY, window functions), over indexed columns and
only the rows the period needs, never by loading rows into Python. The definitions are in
portal.domain.insight and docs/insight.md; in short:

- A **step visit** is one step in one round of one request. It *waited* if the step asked
  people: it became active and was not settled the moment it was reached (a step skipped by
  its condition, or approved by its rule, waits no time and is left out).
- A visit's **waiting time** runs from the moment its step asked people until it was decided
  (approved, rejected, changes requested, or by a timeout); for a visit still open, until now.
- **Decided in the period**: visits whose step was decided between the period's first and last
  day. Their medians, send-back, rejection and SLA figures describe the period.
- The **share of waiting time** counts every visit's waiting that fell inside the period,
  finished or not, so a request stuck since before the period counts for the days it waited
  in it.
- **End-to-end cycle time** runs from a request's first submission to its outcome (approved or
  rejected), for requests decided in the period; time spent with the submitter after a request
  for changes is included, withdrawn requests are not.

Percentiles are PostgreSQL's percentile_cont; on SQLite, which lacks it, ROW_NUMBER and COUNT
over a window and linear interpolation between the two nearest ranks. Both give the figure
portal.domain.insight.percentile defines.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from sqlalchemy import String, and_, case, cast, func, literal, or_, select, union_all
from sqlalchemy.orm import aliased, contains_eager, selectinload
from sqlalchemy.sql.expression import ColumnElement

from portal import clock
from portal.domain import insight as rules
from portal.domain import step_value
from portal.domain.chain import ChainSpec, StepState, TaskState
from portal.domain.insight import (
    Bottleneck,
    Bucket,
    Distribution,
    Period,
    StepWaiting,
    Trend,
    rate,
)
from portal.domain.sla import TimerKind
from portal.extensions import db
from portal.models import (
    ApprovalStep,
    Form,
    FormVersion,
    Submission,
    SubmissionStatus,
    Task,
    Timer,
    User,
)
from portal.models.sql_functions import epoch, greatest, least
from portal.services import access, catalog
from portal.services.access import Scope

logger = logging.getLogger(__name__)

DECIDED_STATUSES = (SubmissionStatus.APPROVED, SubmissionStatus.REJECTED)
OPEN_STEP_STATES = (StepState.ACTIVE, StepState.BLOCKED)


def today() -> dt.date:
    """Today in the portal's time zone: where the preset periods end."""
    return clock.local_today()


# -- who sees what ----------------------------------------------------------------------------


def visible_forms(user: User) -> list[tuple[Form, Scope]]:
    """The published forms whose insight `user` may see, by title, each with its scope."""
    forms = db.session.scalars(
        select(Form)
        .where(Form.current_version_id.is_not(None))
        .order_by(Form.title)
        .options(selectinload(Form.current_version))  # every page asks, for the menu
    ).all()
    found = []
    for form in forms:
        scope = access.insight_scope(user, form)
        if scope is not None:
            found.append((form, scope))
    return found


def may_see_any(user: User) -> bool:
    """True if `user` may see the insight of at least one form (the menu shows Insight).

    Every page asks, so this costs no query: the groups that published chains ask are worked
    out once per state of the forms and kept per process (portal.services.catalog). The same
    answer as `bool(visible_forms(user))`, without reading every form's schema on every page.
    """
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.in_group(*access.WHOLE_INSIGHT_GROUPS):
        return True
    return bool(user.group_names & _groups_asked_by_chains())


def _groups_asked_by_chains() -> frozenset[str]:
    return catalog.kept("insight groups", _groups_named_by_chains)


def _groups_named_by_chains() -> frozenset[str]:
    # A current version's form is the form that names it: one query, forms included.
    versions = db.session.scalars(
        select(FormVersion)
        .join(Form, Form.current_version_id == FormVersion.id)
        .options(contains_eager(FormVersion.form))
    )
    return frozenset(
        group
        for version in versions
        for step in access.step_groups(version.spec.approval).values()
        for group in step
    )


# -- SQL building blocks ----------------------------------------------------------------------


def _seconds(later, earlier) -> ColumnElement:
    return epoch(later) - epoch(earlier)


def _flag(condition) -> ColumnElement:
    return case((condition, 1), else_=0)


def _bucket_of(column, buckets: list[Bucket]) -> ColumnElement:
    """The index of the bucket `column` falls in (the caller keeps it inside the period).

    Bucket edges are local midnights converted to UTC in Python, so months and weeks follow
    the portal's time zone (and its daylight saving) on either database.
    """
    if len(buckets) == 1:
        return literal(0)
    return case(
        *[(column < bucket.end, index) for index, bucket in enumerate(buckets[:-1])],
        else_=len(buckets) - 1,
    )


def _distributions(source, extras: tuple[str, ...] = ()) -> dict:
    """key -> (Distribution, {extra: sum}) for a select of (key, seconds, *extras).

    Percentiles by linear interpolation between ranks (portal.domain.insight.percentile).
    PostgreSQL has it built in as the ordered-set aggregate percentile_cont, one sort per group;
    SQLite has no such aggregate, so there the rows are ranked with window functions: for n
    values and a percentile of P per cent, h = (n - 1) * P / 100, and the rows ranked
    floor(h) + 1 and floor(h) + 2 are weighted by 1 - frac(h) and frac(h) (integer arithmetic
    keeps floor() and frac() exact). The tests run both against the same hand-worked figures.
    """
    rows = source.subquery()
    if db.session.get_bind().dialect.name == "postgresql":
        columns = [rows.c.key, func.count(), func.max(rows.c.seconds), func.sum(rows.c.seconds)]
        columns += [
            func.percentile_cont(fraction).within_group(rows.c.seconds)
            for fraction in (rules.MEDIAN, rules.P90)
        ]
        columns += [func.sum(rows.c[name]) for name in extras]
        query = select(*columns).group_by(rows.c.key)
    else:
        query = _ranked_percentiles(rows, extras)
    found = {}
    for key, count, longest, total, median, p90, *sums in db.session.execute(query):
        # SQLite's julianday() is exact to about 10 microseconds: keep whole milliseconds.
        found[key] = (
            Distribution(
                int(count),
                round(float(median), 3),
                round(float(p90), 3),
                round(float(longest), 3),
                round(float(total), 3),
            ),
            dict(zip(extras, (int(value or 0) for value in sums), strict=True)),
        )
    return found


def _ranked_percentiles(rows, extras: tuple[str, ...]):
    """The select _distributions runs where the database has no percentile_cont (SQLite)."""
    ranked = select(
        rows.c.key,
        rows.c.seconds,
        *[rows.c[name] for name in extras],
        func.row_number().over(partition_by=rows.c.key, order_by=rows.c.seconds).label("rank"),
        func.count().over(partition_by=rows.c.key).label("n"),
    ).subquery()
    columns = [ranked.c.key, func.max(ranked.c.n), func.max(ranked.c.seconds)]
    columns.append(func.sum(ranked.c.seconds))
    for share in (50, 90):
        scaled = (ranked.c.n - 1) * share
        lower = scaled // 100
        weight = (scaled % 100) / 100.0
        columns.append(
            func.sum(
                case(
                    (ranked.c.rank == lower + 1, ranked.c.seconds * (1 - weight)),
                    (ranked.c.rank == lower + 2, ranked.c.seconds * weight),
                    else_=0.0,
                )
            )
        )
    columns += [func.sum(ranked.c[name]) for name in extras]
    return select(*columns).group_by(ranked.c.key)


# -- what the page shows ----------------------------------------------------------------------


@dataclass
class VolumeRow:
    bucket: Bucket
    submitted: int = 0
    approved: int = 0
    rejected: int = 0
    withdrawn: int = 0

    @property
    def finished(self) -> int:
        return self.approved + self.rejected + self.withdrawn


@dataclass
class CycleTime:
    """End-to-end cycle time of requests decided in the period, and in the period before."""

    current: Distribution
    previous: Distribution
    by_bucket: list[tuple[Bucket, Distribution]]

    @property
    def median_trend(self) -> Trend:
        return Trend(self.current.median, self.previous.median)

    @property
    def p90_trend(self) -> Trend:
        return Trend(self.current.p90, self.previous.p90)


@dataclass
class StepFigures:
    """One step of the chain over the period. Durations in seconds."""

    name: str
    title: str
    position: int
    #: False for a step found in the history but no longer in the form's chain.
    in_chain: bool = True
    condition: str = ""
    auto_rule: str = ""
    groups: tuple[str, ...] = ()
    #: Waiting time of the visits decided in the period.
    decided: Distribution = field(default_factory=Distribution)
    sent_back: int = 0
    rejected: int = 0
    #: Decided visits that had a due time, and those decided after it.
    with_due: int = 0
    breached: int = 0
    escalations: int = 0
    #: Visits open now, and how long they have waited so far.
    waiting_now: Distribution = field(default_factory=Distribution)
    overdue_now: int = 0
    #: Waiting time that fell inside the period, and its share of all steps'.
    waiting_seconds: float = 0.0
    share: float | None = None
    #: Times a request reached the step in the period; skipped by its condition; by its rule.
    reached: int = 0
    skipped: int = 0
    auto_approved: int = 0

    @property
    def send_back_rate(self) -> float | None:
        return rate(self.sent_back, self.decided.count)

    @property
    def rejection_rate(self) -> float | None:
        return rate(self.rejected, self.decided.count)

    @property
    def breach_rate(self) -> float | None:
        return rate(self.breached, self.with_due)

    @property
    def taken(self) -> int:
        return self.reached - self.skipped

    @property
    def taken_rate(self) -> float | None:
        return rate(self.taken, self.reached)

    @property
    def auto_rate(self) -> float | None:
        return rate(self.auto_approved, self.reached)

    @property
    def is_conditional(self) -> bool:
        return bool(self.condition)

    @property
    def has_figures(self) -> bool:
        return bool(
            self.decided.count or self.waiting_now.count or self.reached or self.waiting_seconds
        )


@dataclass
class ApproverFigures:
    user_id: int
    name: str
    email: str
    decided: Distribution = field(default_factory=Distribution)
    open_now: int = 0
    oldest_open_seconds: float | None = None


@dataclass
class AgentFigures:
    """Agents beside people in the period: who decided, and how often reviewers agreed."""

    #: Decisions (and recommendations) made by agents, and decisions made by people.
    by_agents: int = 0
    by_people: int = 0
    #: Agents' recommendations made, reviewed by a person, and confirmed by the reviewer.
    recommended: int = 0
    reviewed: int = 0
    agreed: int = 0

    @property
    def agreement_rate(self) -> float | None:
        """The share of reviewed recommendations the reviewer confirmed."""
        return rules.rate(self.agreed, self.reviewed)

    @property
    def any(self) -> bool:
        return bool(self.by_agents or self.recommended)


@dataclass
class Insight:
    form: Form
    period: Period
    scope: Scope
    now: dt.datetime
    buckets: list[Bucket]
    volume: list[VolumeRow]
    cycle: CycleTime | None
    steps: list[StepFigures]
    bottleneck: Bottleneck | None
    approvers: list[ApproverFigures] | None
    #: Agents' and people's decisions compared (None when the scope is not the whole form).
    agents: AgentFigures | None = None
    #: Step value: what each step decided, by amount band (portal.domain.step_value).
    value: list[step_value.StepValue] | None = None

    def total(self, what: str) -> int:
        """Submitted, approved, rejected or withdrawn in the whole period."""
        return sum(getattr(row, what) for row in self.volume)

    @property
    def waiting_now(self) -> int:
        return sum(step.waiting_now.count for step in self.steps)

    @property
    def longest_wait_now(self) -> float | None:
        found = [s.waiting_now.longest for s in self.steps if s.waiting_now.longest is not None]
        return max(found) if found else None

    @property
    def has_activity(self) -> bool:
        """False when nothing happened in the period and nothing is waiting: the page says so
        instead of drawing empty charts."""
        return any(row.submitted or row.finished for row in self.volume) or any(
            step.has_figures for step in self.steps
        )

    @property
    def visible_steps(self) -> list[StepFigures]:
        if self.scope.whole_form:
            return self.steps
        return [step for step in self.steps if step.name in self.scope.steps]


# -- computing it -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Window:
    form_id: int
    start: dt.datetime
    end: dt.datetime
    now: dt.datetime

    @property
    def until(self) -> dt.datetime:
        """Where waiting stops counting: the period's end, or now if the period runs to today."""
        return min(self.end, self.now)

    def overlapping(self):
        """Requests of the form that may have had something going on in the period: submitted
        before it ended and not finished before it began (both conditions are indexed)."""
        return and_(
            Submission.form_id == self.form_id,
            Submission.submitted_at < self.end,
            or_(Submission.finished_at.is_(None), Submission.finished_at >= self.start),
        )


def compute(form: Form, period: Period, scope: Scope, now: dt.datetime | None = None) -> Insight:
    """Every figure of `form`'s insight for `period` that `scope` may see."""
    zone = clock.local_zone_name()
    now = now or clock.now()
    start, end = period.bounds(zone)
    window = _Window(form.id, start, end, now)
    buckets = rules.buckets(period, zone)
    spec = form.current_version.spec.approval if form.current_version else None
    steps = _steps(window, spec, scope)
    if scope.whole_form:
        volume = _volume(window, buckets)
        cycle = _cycle_time(window, buckets, period)
        waiting = [StepWaiting(s.name, s.title, s.waiting_seconds, s.decided.median) for s in steps]
        bottleneck = rules.find_bottleneck(waiting)
        for step, share in rules.shares(waiting).items():
            next(s for s in steps if s.name == step).share = share
    else:
        volume, cycle, bottleneck = [], None, None
    approvers = _approvers(window) if scope.approvers else None
    agents = _agents(window) if scope.whole_form else None
    value = _step_value(window, form, period, scope, steps)
    return Insight(
        form,
        period,
        scope,
        now,
        buckets,
        volume,
        cycle,
        steps,
        bottleneck,
        approvers,
        agents=agents,
        value=value,
    )


def _agents(window: _Window) -> AgentFigures:
    """Tasks decided in the period by agents and by people, and the reviews of agents'
    recommendations: how many confirmed what the agent recommended."""
    in_period = and_(
        window.overlapping(), Task.decided_at >= window.start, Task.decided_at < window.end
    )
    figures = AgentFigures()
    counts = db.session.execute(
        select(User.kind, Task.state == TaskState.RECOMMENDED, func.count())
        .select_from(Task)
        .join(Submission, Submission.id == Task.submission_id)
        .join(User, User.id == Task.assignee_id)
        .where(in_period)
        .group_by(User.kind, Task.state == TaskState.RECOMMENDED)
    )
    for kind, recommended, count in counts:
        if kind == "agent":
            figures.by_agents += count
            figures.recommended += count if recommended else 0
        else:
            figures.by_people += count
    if not figures.recommended:
        return figures
    agent_task = aliased(Task)
    reviews = db.session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(_flag(Task.decision == agent_task.recommendation)), 0),
        )
        .select_from(Task)
        .join(Submission, Submission.id == Task.submission_id)
        .join(
            agent_task,
            and_(
                agent_task.submission_id == Task.submission_id,
                agent_task.round == Task.round,
                agent_task.state == TaskState.RECOMMENDED,
                func.coalesce(func.nullif(agent_task.slot, ""), agent_task.key) == Task.slot,
            ),
        )
        .where(in_period, Task.origin == "review", Task.decision.is_not(None))
    ).one()
    figures.reviewed, figures.agreed = reviews[0], int(reviews[1])
    return figures


def _volume(window: _Window, buckets: list[Bucket]) -> list[VolumeRow]:
    rows = [VolumeRow(bucket) for bucket in buckets]
    submitted = select(_bucket_of(Submission.submitted_at, buckets).label("bucket")).where(
        Submission.form_id == window.form_id,
        Submission.submitted_at >= window.start,
        Submission.submitted_at < window.end,
    )
    submitted = submitted.subquery()
    for index, count in db.session.execute(
        select(submitted.c.bucket, func.count()).group_by(submitted.c.bucket)
    ):
        rows[index].submitted = count
    finished = select(
        _bucket_of(Submission.finished_at, buckets).label("bucket"),
        Submission.status.label("status"),
    ).where(
        Submission.form_id == window.form_id,
        Submission.finished_at >= window.start,
        Submission.finished_at < window.end,
    )
    finished = finished.subquery()
    for index, status, count in db.session.execute(
        select(finished.c.bucket, finished.c.status, func.count()).group_by(
            finished.c.bucket, finished.c.status
        )
    ):
        setattr(rows[index], SubmissionStatus(status).value, count)
    return rows


_CURRENT, _PREVIOUS = -1, -2


def _cycle_time(window: _Window, buckets: list[Bucket], period: Period) -> CycleTime:
    previous_start = period.previous().bounds(clock.local_zone_name())[0]
    seconds = _seconds(Submission.finished_at, Submission.submitted_at).label("seconds")
    # Only a finished request has finished_at, so "not withdrawn" leaves approved and rejected;
    # said this way the planner reads the (form_id, finished_at) index, not (form_id, status).
    decided = and_(
        Submission.form_id == window.form_id, Submission.status != SubmissionStatus.WITHDRAWN
    )
    whole = select(
        case((Submission.finished_at < window.start, _PREVIOUS), else_=_CURRENT).label("key"),
        seconds,
    ).where(decided, Submission.finished_at >= previous_start, Submission.finished_at < window.end)
    by_bucket = select(_bucket_of(Submission.finished_at, buckets).label("key"), seconds).where(
        decided, Submission.finished_at >= window.start, Submission.finished_at < window.end
    )
    found = _distributions(union_all(whole, by_bucket))
    empty = (Distribution(), {})
    return CycleTime(
        current=found.get(_CURRENT, empty)[0],
        previous=found.get(_PREVIOUS, empty)[0],
        by_bucket=[(bucket, found.get(i, empty)[0]) for i, bucket in enumerate(buckets)],
    )


def _visits(window: _Window, scope: Scope, *conditions):
    """A select over step visits of the form's requests that may touch the period."""
    query = (
        select()
        .select_from(ApprovalStep)
        .join(Submission, Submission.id == ApprovalStep.submission_id)
        .where(window.overlapping(), *conditions)
    )
    if not scope.whole_form:
        query = query.where(ApprovalStep.name.in_(sorted(scope.steps)))
    return query


def _waited():
    """The visit asked people: it started, and was not settled the moment it was reached."""
    return and_(
        ApprovalStep.started_at.is_not(None),
        or_(ApprovalStep.finished_at.is_(None), ApprovalStep.finished_at > ApprovalStep.started_at),
    )


def _visit_due(*conditions):
    """Each visit's due time, the earliest of the tasks it opened, for the requests that
    `conditions` pick: (submission_id, round, step, due_at), to join to the visits.

    Grouped once and hash-joined, rather than looked up visit by visit."""
    return (
        select(
            Task.submission_id,
            Task.round,
            Task.step,
            func.min(Task.due_at).label("due_at"),
        )
        .join(Submission, Submission.id == Task.submission_id)
        .where(Task.due_at.is_not(None), *conditions)
        .group_by(Task.submission_id, Task.round, Task.step)
        .subquery()
    )


def _with_due(query, due):
    return query.outerjoin(
        due,
        and_(
            due.c.submission_id == ApprovalStep.submission_id,
            due.c.round == ApprovalStep.round,
            due.c.step == ApprovalStep.name,
        ),
    )


def _steps(window: _Window, spec: ChainSpec | None, scope: Scope) -> list[StepFigures]:
    figures: dict[str, StepFigures] = {}
    groups = access.step_groups(spec)
    for position, step in enumerate(spec.steps if spec else ()):
        if scope.whole_form or step.name in scope.steps:
            figures[step.name] = StepFigures(
                step.name,
                step.title,
                position,
                condition=str(step.when) if step.when is not None else "",
                auto_rule=str(step.auto_approve_if) if step.auto_approve_if is not None else "",
                groups=tuple(sorted(groups.get(step.name, ()))),
            )

    def figure(name: str) -> StepFigures:
        if name not in figures:  # a step of an earlier version of the form
            figures[name] = StepFigures(name, name, 1000 + len(figures), in_chain=False)
        return figures[name]

    # Visits decided in the period: waiting time, outcomes, due times. A visit's due time is
    # the earliest of its tasks', joined for these visits only.
    visits = (
        _visits(
            window,
            scope,
            _waited(),
            ApprovalStep.finished_at >= window.start,
            ApprovalStep.finished_at < window.end,
            ApprovalStep.state != StepState.CANCELLED,
        )
        .outerjoin(
            Task,
            and_(
                Task.submission_id == ApprovalStep.submission_id,
                Task.round == ApprovalStep.round,
                Task.step == ApprovalStep.name,
            ),
        )
        .add_columns(
            ApprovalStep.name.label("key"),
            _seconds(ApprovalStep.finished_at, ApprovalStep.started_at).label("seconds"),
            _flag(ApprovalStep.state == StepState.CHANGES_REQUESTED).label("sent_back"),
            _flag(ApprovalStep.state == StepState.REJECTED).label("rejected"),
            ApprovalStep.finished_at.label("finished_at"),
            func.min(Task.due_at).label("due_at"),
        )
        .group_by(ApprovalStep.id)
        .subquery()
    )
    decided = select(
        visits.c.key,
        visits.c.seconds,
        visits.c.sent_back,
        visits.c.rejected,
        _flag(visits.c.due_at.is_not(None)).label("with_due"),
        _flag(visits.c.finished_at > visits.c.due_at).label("breached"),
    )
    extras = ("sent_back", "rejected", "with_due", "breached")
    for name, (distribution, sums) in _distributions(decided, extras).items():
        step = figure(name)
        step.decided = distribution
        step.sent_back, step.rejected = sums["sent_back"], sums["rejected"]
        step.with_due, step.breached = sums["with_due"], sums["breached"]

    # Visits open now: how many, for how long, how many past their due time.
    in_review = and_(
        Submission.form_id == window.form_id, Submission.status == SubmissionStatus.IN_REVIEW
    )
    due = _visit_due(in_review)
    open_now = _with_due(
        select(
            ApprovalStep.name.label("key"),
            (literal(window.now.timestamp()) - epoch(ApprovalStep.started_at)).label("seconds"),
            _flag(due.c.due_at < window.now).label("overdue"),
        )
        .select_from(ApprovalStep)
        .join(Submission, Submission.id == ApprovalStep.submission_id),
        due,
    ).where(
        in_review,
        ApprovalStep.state.in_(OPEN_STEP_STATES),
        ApprovalStep.started_at.is_not(None),
    )
    if not scope.whole_form:
        open_now = open_now.where(ApprovalStep.name.in_(sorted(scope.steps)))
    for name, (distribution, sums) in _distributions(open_now, ("overdue",)).items():
        step = figure(name)
        step.waiting_now, step.overdue_now = distribution, sums["overdue"]

    # Waiting that fell inside the period, finished or not: each step's share of the total.
    start_s, until_s = window.start.timestamp(), window.until.timestamp()
    waited_until = least(
        func.coalesce(epoch(ApprovalStep.finished_at), literal(window.now.timestamp())),
        literal(until_s),
    )
    inside = greatest(waited_until - greatest(epoch(ApprovalStep.started_at), literal(start_s)), 0)
    share = _visits(
        window,
        scope,
        _waited(),
        ApprovalStep.started_at < window.until,
        or_(ApprovalStep.finished_at.is_(None), ApprovalStep.finished_at > window.start),
    ).add_columns(ApprovalStep.name.label("key"), inside.label("seconds"))
    share = share.subquery()
    for name, seconds in db.session.execute(
        select(share.c.key, func.sum(share.c.seconds)).group_by(share.c.key)
    ):
        figure(name).waiting_seconds = round(float(seconds or 0), 3)

    # How often a request reached each step, and how often it was skipped or auto-approved.
    instantly = ApprovalStep.finished_at == ApprovalStep.started_at
    reached = (
        _visits(
            window,
            scope,
            ApprovalStep.started_at >= window.start,
            ApprovalStep.started_at < window.end,
        )
        .add_columns(
            ApprovalStep.name,
            func.count(),
            func.sum(_flag(and_(ApprovalStep.state == StepState.SKIPPED, instantly))),
            func.sum(_flag(and_(ApprovalStep.state == StepState.APPROVED, instantly))),
        )
        .group_by(ApprovalStep.name)
    )
    for name, count, skipped, auto in db.session.execute(reached):
        step = figure(name)
        step.reached, step.skipped, step.auto_approved = count, skipped or 0, auto or 0

    # Visits escalated in the period: once per visit, however many of its tasks escalated.
    escalated = (
        select(Task.step.label("step"))
        .select_from(Timer)
        .join(Task, Task.id == Timer.task_id)
        .join(Submission, Submission.id == Task.submission_id)
        .where(
            Timer.kind == TimerKind.ESCALATION,
            Timer.fired_at >= window.start,
            Timer.fired_at < window.end,
            window.overlapping(),
            Task.created_at < window.end,
        )
        .group_by(Task.submission_id, Task.round, Task.step)
    )
    if not scope.whole_form:
        escalated = escalated.where(Task.step.in_(sorted(scope.steps)))
    escalated = escalated.subquery()
    for name, count in db.session.execute(
        select(escalated.c.step, func.count()).group_by(escalated.c.step)
    ):
        figure(name).escalations = count

    retired = [step for step in figures.values() if not step.in_chain]
    if retired:
        _name_retired_steps(window.form_id, retired)
    return sorted(figures.values(), key=lambda step: step.position)


def period_words(period: Period) -> str:
    """How a sentence names the period: 'in the last 90 days', 'between 1 Sep and 28 Nov 2026'."""
    if period.preset:
        return f"in the {period.label[0].lower()}{period.label[1:]}"
    if period.first_day == period.last_day:
        return f"on {rules.day_label(period.first_day, year=True)}"
    first = rules.day_label(period.first_day, year=period.first_day.year != period.last_day.year)
    return f"between {first} and {rules.day_label(period.last_day, year=True)}"


def _step_value(
    window: _Window, form: Form, period: Period, scope: Scope, steps: list[StepFigures]
) -> list[step_value.StepValue]:
    """Step value (portal.domain.step_value): the visits people decided in the period, by
    step and amount band, counted and their waits' percentiles taken by the database."""
    spec = form.current_version.spec if form.current_version else None
    amount_field = spec.amount_field if spec else None
    edges = step_value.DEFAULT_EDGES + step_value.chain_edges(
        spec.approval if spec else None, amount_field
    )
    band_list = step_value.bands(edges)
    cut = [band.high for band in band_list[:-1]]
    amount = Submission.amount
    band = case(
        (amount.is_(None), -1),
        *[(amount < edge, index) for index, edge in enumerate(cut)],
        else_=len(cut),
    )
    answered = (
        select(func.count())
        .where(
            Task.submission_id == ApprovalStep.submission_id,
            Task.round == ApprovalStep.round,
            Task.step == ApprovalStep.name,
            Task.decided_at.is_not(None),
        )
        .scalar_subquery()
    )
    visits = _visits(
        window,
        scope,
        _waited(),
        ApprovalStep.finished_at >= window.start,
        ApprovalStep.finished_at < window.end,
        ApprovalStep.state.in_(
            (StepState.APPROVED, StepState.REJECTED, StepState.CHANGES_REQUESTED)
        ),
    ).add_columns(
        ApprovalStep.name.label("step"),
        band.label("band"),
        _seconds(ApprovalStep.finished_at, ApprovalStep.started_at).label("seconds"),
        _flag(ApprovalStep.state == StepState.APPROVED).label("approved"),
        _flag(ApprovalStep.state == StepState.REJECTED).label("rejected"),
        _flag(ApprovalStep.state == StepState.CHANGES_REQUESTED).label("sent_back"),
        answered.label("tasks"),
    )
    visits = visits.subquery()
    extras = ("approved", "rejected", "sent_back", "tasks")
    columns = [visits.c.seconds, *[visits.c[name] for name in extras]]
    by_band = select(
        (visits.c.step + literal(":") + cast(visits.c.band, String)).label("key"), *columns
    )

    def cell(band_of, distribution, sums) -> step_value.Cell:
        return step_value.Cell(
            band_of,
            decided=distribution.count,
            approved=sums["approved"],
            rejected=sums["rejected"],
            sent_back=sums["sent_back"],
            median=distribution.median,
            p90=distribution.p90,
            tasks=sums["tasks"],
        )

    cells = {}
    for key, (distribution, sums) in _distributions(by_band, extras).items():
        name, _, index = key.rpartition(":")
        number = int(index) if int(index) >= 0 else None
        band_of = band_list[number] if number is not None else None
        cells[(name, number)] = cell(band_of, distribution, sums)
    whole = select(visits.c.step.label("key"), *columns)
    totals = {
        name: cell(None, distribution, sums)
        for name, (distribution, sums) in _distributions(whole, extras).items()
    }
    currency = ""
    if spec and amount_field and spec.field(amount_field) is not None:
        currency = spec.field(amount_field).currency or ""
    named = [(step.name, step.title) for step in steps if step.in_chain or step.name in totals]
    return step_value.assemble(named, band_list, cells, totals, currency, period_words(period))


def _name_retired_steps(form_id: int, steps: list[StepFigures]) -> None:
    """Steps no longer in the chain take the title they had in the newest version that had them."""
    for step in steps:
        title = db.session.scalar(
            select(ApprovalStep.title)
            .join(Submission, Submission.id == ApprovalStep.submission_id)
            .where(Submission.form_id == form_id, ApprovalStep.name == step.name)
            .order_by(ApprovalStep.id.desc())
            .limit(1)
        )
        step.title = title or step.name


def _approvers(window: _Window) -> list[ApproverFigures]:
    """Per person asked: tasks decided in the period, their median response time, open now."""
    decided = (
        select(
            Task.assignee_id.label("key"),
            _seconds(Task.decided_at, Task.created_at).label("seconds"),
        )
        .join(Submission, Submission.id == Task.submission_id)
        .where(
            window.overlapping(),
            Task.decided_at >= window.start,
            Task.decided_at < window.end,
        )
    )
    people: dict[int, ApproverFigures] = {}
    for user_id, (distribution, _) in _distributions(decided).items():
        people[user_id] = ApproverFigures(user_id, "", "", decided=distribution)
    open_now = (
        select(Task.assignee_id, func.count(), func.min(Task.created_at))
        .join(Submission, Submission.id == Task.submission_id)
        .where(
            Submission.form_id == window.form_id,
            Submission.status == SubmissionStatus.IN_REVIEW,
            Task.state == TaskState.OPEN,
        )
        .group_by(Task.assignee_id)
    )
    for user_id, count, oldest in db.session.execute(open_now):
        person = people.setdefault(user_id, ApproverFigures(user_id, "", ""))
        person.open_now = count
        person.oldest_open_seconds = (window.now - oldest).total_seconds() if oldest else None
    if people:
        for user_id, name, email, kind in db.session.execute(
            select(User.id, User.name, User.email, User.kind).where(User.id.in_(list(people)))
        ):
            shown = f"{name} (agent)" if kind == "agent" else name
            people[user_id].name, people[user_id].email = shown, email
    return sorted(people.values(), key=lambda p: (-p.decided.count, -p.open_now, p.name))


# -- the list of forms ------------------------------------------------------------------------


@dataclass
class FormSummary:
    form: Form
    scope: Scope
    submitted: int = 0
    in_review: int = 0


def summaries(user: User, period: Period) -> list[FormSummary]:
    """The forms `user` may see, with what was submitted in `period` and what is in review now
    (the whole-form figures only where they may see them)."""
    found = [FormSummary(form, scope) for form, scope in visible_forms(user)]
    whole = {item.form.id: item for item in found if item.scope.whole_form}
    if whole:
        start, end = period.bounds(clock.local_zone_name())
        in_period = and_(Submission.submitted_at >= start, Submission.submitted_at < end)
        rows = db.session.execute(
            select(
                Submission.form_id,
                func.sum(_flag(in_period)),
                func.sum(_flag(Submission.status == SubmissionStatus.IN_REVIEW)),
            )
            .where(
                Submission.form_id.in_(list(whole)),
                or_(in_period, Submission.status == SubmissionStatus.IN_REVIEW),
            )
            .group_by(Submission.form_id)
        )
        for form_id, submitted, in_review in rows:
            whole[form_id].submitted, whole[form_id].in_review = submitted or 0, in_review or 0
    return found


def find_form(slug: str) -> Form | None:
    """The published form with this slug (archived ones too: their history still counts)."""
    return db.session.scalars(
        select(Form)
        .join(FormVersion, FormVersion.id == Form.current_version_id)
        .where(Form.slug == slug)
    ).first()
