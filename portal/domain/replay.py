"""What if: a form's past requests replayed through a draft of its approval chain. Pure.

Each request is run through the draft's chain with the engine itself (portal.domain.chain),
answering each step that asks people with what really happened:

- A step the request went through **keeps its recorded decisions and their times**: every
  person's answer is fed to the engine in the order they were given, so a changed policy
  (all to any, say) finishes the step at the answer that now decides it. A step that the
  request went through in another round (it was sent back) lends that round's answers.
- A step the request **never went through** (new, or it now applies where it was skipped or
  approved by a rule) waits a time drawn from that step's recorded waits (or those of the
  similar step the admin names), chosen by a fixed seed so a replay always gives the same
  figures; its answer is "approved" unless the admin assumes otherwise.
- A recorded timeout times the step out the same way; a step still open at the moment of the
  replay leaves the request in review; a withdrawal withdraws it.

Cycle time after the change is the recorded cycle time with each round's step waits replaced
by the replay's, less the rounds the replay no longer needs (and the time the submitter spent
on them). Times are whole milliseconds since the epoch, so a replay of the unchanged chain
gives back the recorded figures exactly.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property

from portal.domain import chain as engine
from portal.domain.chain import ChainSpec, ChainState, Decision, StepState
from portal.domain.expressions import Expression, is_true, parse
from portal.domain.insight import percentile

#: A step with fewer recorded waits than this gets a caveat: its drawn waits are guesses.
MIN_HISTORY = 20
#: The minutes a person spends on one task (reading a request and deciding), unless stated.
MINUTES_PER_TASK = 10
#: The seed that picks drawn waits; fixed, so the same replay gives the same figures.
SEED = 23
#: Requests listed by name in the report (route changes, risks); the counts cover all of them.
LIST_LIMIT = 500

_SUBMITTER = 0
_CONSTANT = {True: parse("true"), False: parse("false")}
_FINAL = (ChainState.APPROVED, ChainState.REJECTED)
_NEGATIVE = (StepState.REJECTED, StepState.CHANGES_REQUESTED)
_TIMEOUT_ACTION = {
    StepState.APPROVED: "approve",
    StepState.REJECTED: "reject",
    StepState.SKIPPED: "skip",
}


# -- what was recorded ------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedDecision:
    """One person's answer in a step: the seat it filled, what they said, when (ms)."""

    seat: str
    decision: Decision
    at: int


@dataclass(frozen=True)
class RecordedVisit:
    """One step in one round of one request, as its row says."""

    round: int
    step: str
    state: StepState
    started_at: int | None = None
    finished_at: int | None = None
    #: Every seat that was asked (decided or not), in the order they were asked.
    seats: tuple[str, ...] = ()
    #: The answers given, in the order they were given (sorted so, if they were not).
    decisions: tuple[RecordedDecision, ...] = ()

    def __post_init__(self):
        ats = [decision.at for decision in self.decisions]
        if ats != sorted(ats):
            object.__setattr__(self, "decisions", tuple(sorted(self.decisions, key=lambda d: d.at)))

    @property
    def instant(self) -> bool:
        """Settled the moment it was reached: skipped by its condition or approved by its rule."""
        return self.started_at is not None and self.finished_at == self.started_at

    @property
    def waited(self) -> bool:
        """It asked people (or still does)."""
        return self.started_at is not None and not self.instant

    @property
    def wait(self) -> int | None:
        """How long it waited, if it was settled."""
        if self.waited and self.finished_at is not None and self.state != StepState.CANCELLED:
            return self.finished_at - self.started_at
        return None

    @property
    def is_open(self) -> bool:
        return self.waited and self.finished_at is None


@dataclass(frozen=True)
class RequestHistory:
    """One submitted request and everything its chain recorded, oldest round first."""

    id: int
    values: Mapping[str, object]
    submitted_at: int
    status: str  # the submission's status: in_review, approved, rejected, withdrawn, ...
    finished_at: int | None = None
    visits: tuple[RecordedVisit, ...] = ()
    amount: float | None = None
    #: Step -> (its `when`, its `auto_approve_if`) in the version the request was made with.
    #: Where the draft keeps both, the replay takes what they decided in each round from the
    #: record instead of deciding them again on the data as it was last submitted.
    conditions: Mapping[str, tuple[str | None, str | None]] | None = None

    @property
    def cycle(self) -> int | None:
        """Submission to outcome, for an approved or rejected request."""
        if self.status in _FINAL and self.finished_at is not None:
            return self.finished_at - self.submitted_at
        return None

    @property
    def rounds(self) -> list[int]:
        return sorted({visit.round for visit in self.visits})


# -- what the admin asks ----------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """The draft chain and the assumptions the replay makes where history is silent."""

    spec: ChainSpec
    #: Step -> the answer a step gives where it never asked before (approve unless said).
    assume: Mapping[str, Decision] = field(default_factory=dict)
    #: Step -> the recorded step whose waits a new step borrows ("similar to").
    similar: Mapping[str, str] = field(default_factory=dict)
    minutes_per_task: int = MINUTES_PER_TASK
    seed: int = SEED

    @cached_property
    def sources(self) -> dict[str, tuple[str | None, str | None]]:
        """Step -> the source of its `when` and of its `auto_approve_if` in the draft."""
        return {
            step.name: (_source(step.when), _source(step.auto_approve_if))
            for step in self.spec.steps
        }

    def variant(self, overrides: tuple) -> ChainSpec:
        """The draft with some steps' conditions replaced by what the record says they gave."""
        if not overrides:
            return self.spec
        cache = self.__dict__.setdefault("_variants", {})
        found = cache.get(overrides)
        if found is None:
            fixed = {name: (when, auto) for name, when, auto in overrides}
            steps = tuple(
                replace(
                    step,
                    when=_CONSTANT[fixed[step.name][0]]
                    if fixed.get(step.name, (None,))[0] is not None
                    else step.when,
                    auto_approve_if=_CONSTANT[fixed[step.name][1]]
                    if fixed.get(step.name, (None, None))[1] is not None
                    else step.auto_approve_if,
                )
                for step in self.spec.steps
            )
            found = cache[overrides] = replace(self.spec, steps=steps)
        return found

    @cached_property
    def expressions(self) -> tuple[Expression, ...]:
        """Every condition and rule of the draft, in step order."""
        return tuple(
            expression
            for step in self.spec.steps
            for expression in (step.when, step.auto_approve_if)
            if expression is not None
        )

    @cached_property
    def uses_today(self) -> bool:
        """True if a condition or rule reads today's date (then the day shapes the path)."""
        return any(
            expression is not None and "today" in expression.source
            for step in self.spec.steps
            for expression in (step.when, step.auto_approve_if)
        )


@dataclass(frozen=True)
class Waits:
    """Every recorded wait (ms) of each step, sorted, and how many people each visit asked."""

    by_step: Mapping[str, tuple[int, ...]]
    seats: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, histories: Iterable[RequestHistory]) -> Waits:
        """The waits recorded in `histories` (the service reads them with one query instead)."""
        found: dict[str, list[int]] = {}
        seats: dict[str, list[int]] = {}
        for history in histories:
            for visit in history.visits:
                if visit.wait is not None:
                    found.setdefault(visit.step, []).append(visit.wait)
                    seats.setdefault(visit.step, []).append(len(visit.seats) or 1)
        return cls(
            {step: tuple(sorted(waits)) for step, waits in found.items()},
            {step: int(percentile(counts, 0.5)) for step, counts in seats.items()},
        )

    def source(self, plan: Plan, step: str) -> str:
        """The step whose waits stand in for `step`'s."""
        return plan.similar.get(step) or step

    def draw(self, plan: Plan, step: str, request_id: int) -> int:
        """A recorded wait of the step (or its similar step), the same one every time."""
        waits = self.by_step.get(self.source(plan, step)) or self.everything
        if not waits:
            return 0
        pick = zlib.crc32(f"{plan.seed}:{request_id}:{step}".encode())
        return waits[pick % len(waits)]

    @property
    def everything(self) -> tuple[int, ...]:
        """All steps' waits together: the last resort for a step with no history at all."""
        if not hasattr(self, "_everything"):
            merged = tuple(sorted(w for waits in self.by_step.values() for w in waits))
            object.__setattr__(self, "_everything", merged)
        return self._everything


# -- one request ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Risk:
    """A step that in fact rejected or sent a request back, and that the change lets it past."""

    step: str
    recorded: StepState  # rejected or changes_requested
    replayed: str  # what the replay did at the step instead, in words


@dataclass
class Replayed:
    """One request, as it went and as it would have gone."""

    id: int
    route_before: tuple
    route_after: tuple
    outcome_before: str
    outcome_after: str
    tasks_before: Counter
    tasks_after: Counter
    cycle_before: int | None
    cycle_after: int | None
    risks: list[Risk] = field(default_factory=list)
    #: Steps whose wait was drawn from history (no recorded answer of this request).
    drawn: list[str] = field(default_factory=list)
    #: Answers the replay had to assume for a recorded step (a stricter policy than recorded).
    assumed: int = 0
    #: The replay used a step's answers from another round than the one it replays.
    borrowed: bool = False
    #: The request was sent back in fact, in a round the replay does not reach.
    lost_rounds: int = 0
    #: The run of its shape it shares with other requests, if any.
    trace: object = field(default=None, repr=False, compare=False)

    @property
    def route_changed(self) -> bool:
        return self.route_before != self.route_after


def recorded_route(history: RequestHistory) -> tuple:
    """Per round, each step that was reached (not skipped or withdrawn) and how it ended:
    ((round, step, mark), ...) where the mark is the step's state, "auto" for a step approved
    by its rule, or "kept" for one a resumed round kept from an earlier round."""
    return tuple(
        (visit.round, visit.step, _recorded_mark(visit))
        for visit in history.visits
        if visit.state not in _OFF_ROUTE
    )


def _recorded_mark(visit: RecordedVisit) -> str:
    if visit.started_at is None and visit.state in engine.DONE_STEPS:
        return _KEPT
    if visit.instant and visit.state == StepState.APPROVED:
        return _AUTO
    return _settled(visit.state)


def _settled(state: StepState) -> str:
    # Blocked (nobody found) and active are both "waiting for someone" for a route.
    return str(StepState.ACTIVE if state == StepState.BLOCKED else state)


_KEPT, _AUTO = "kept", "auto"
#: Not part of a route: steps never reached, skipped, or cancelled by a withdrawal.
_OFF_ROUTE = (StepState.WAITING, StepState.SKIPPED, StepState.CANCELLED)


def _source(expression: Expression | None) -> str | None:
    return None if expression is None else expression.source


def _overrides(plan: Plan, history: RequestHistory, number: int) -> tuple:
    """(step, when, auto) for the steps whose conditions the draft keeps as they were, with
    what they gave in round `number` as recorded (None where the record does not say)."""
    if not history.conditions:
        return ()
    found = []
    for name, (when, auto) in plan.sources.items():
        if (when is None and auto is None) or history.conditions.get(name) != (when, auto):
            continue
        visit = next((v for v in history.visits if v.round == number and v.step == name), None)
        if visit is None or visit.started_at is None:
            continue  # not reached in that round, or kept from an earlier one
        if visit.instant and visit.state == StepState.SKIPPED:
            found.append((name, False if when else None, None))
        elif visit.instant and visit.state == StepState.APPROVED:
            found.append((name, True if when else None, True if auto else None))
        elif visit.waited:
            found.append((name, True if when else None, False if auto else None))
    return tuple(found)


class _Run:
    """The replay of one request: the engine's chain, and what it costs as it goes."""

    def __init__(self, plan: Plan, waits: Waits, history: RequestHistory):
        self.plan, self.waits, self.history = plan, waits, history
        self.values = history.values
        self.today = dt.datetime.fromtimestamp(history.submitted_at / 1000, dt.UTC).date()
        self.recorded: dict[tuple[int, str], RecordedVisit] = {
            (visit.round, visit.step): visit for visit in history.visits
        }
        self.position = {id(visit): index for index, visit in enumerate(history.visits)}
        self.latest: dict[str, RecordedVisit] = {}
        for visit in history.visits:
            if visit.waited:
                self.latest[visit.step] = visit  # visits come oldest round first
        self.tasks: Counter = Counter()
        #: The replay's waits, as (round, term): a term names where a wait comes from (see
        #: _amount), so one run serves every request of the same shape.
        self.terms: list[tuple[int, tuple]] = []
        self.route: list[tuple] = []
        self.drawn: list[str] = []
        self.assumed = 0
        self.borrowed = False
        self.how: dict[str, str] = {}  # step -> what the replay did there, in words

    def run(self) -> ChainState | str:
        rounds = self.history.rounds or [1]
        chain = engine.Chain(submitter=_SUBMITTER)
        index = 0
        while True:
            number = rounds[index]
            self.spec = self.plan.variant(_overrides(self.plan, self.history, number))
            started = engine.start(self.spec, chain, self.values, self.today)
            kept = _kept(self.spec, started.actions)
            chain = self._answer(started.chain, number)
            for step in chain.steps:
                if step.state in _OFF_ROUTE:
                    continue
                if step.name in kept:
                    mark = _KEPT
                elif step.state == StepState.APPROVED and step.reason.startswith("approved by"):
                    mark = _AUTO
                else:
                    mark = _settled(step.state)
                self.route.append((number, step.name, mark))
            self._note_skips(chain)
            self.last_round = number
            if chain.state != ChainState.CHANGES_REQUESTED:
                return chain.state
            if index + 1 >= len(rounds):
                # Sent back where in fact it never was: what happened next is unknown.
                if self.history.status == "withdrawn":
                    return ChainState.WITHDRAWN
                return ChainState.CHANGES_REQUESTED
            index += 1

    def _note_skips(self, chain: engine.Chain) -> None:
        for step in chain.steps:
            if step.state == StepState.SKIPPED:
                self.how.setdefault(step.name, "skipped it (its condition was not true)")
            elif step.state == StepState.APPROVED and step.reason.startswith("approved by rule"):
                self.how.setdefault(step.name, "approved it by rule")

    def _answer(self, chain: engine.Chain, number: int) -> engine.Chain:
        """Answer every step that asks people in this round, until the round ends or stalls."""
        while chain.state == ChainState.IN_REVIEW:
            active = chain.active_step
            if active is None:
                return chain
            visit = self.recorded.get((number, active.name))
            if visit is None or not visit.waited:
                visit = self.latest.get(active.name)
                if visit is not None:
                    self.borrowed = True
            if visit is None:
                chain = self._drawn(chain, number, active.name)
            else:
                chain, stalled = self._recorded(chain, number, active.name, visit)
                if stalled:
                    return chain
        return chain

    def _recorded(self, chain, number, name, visit: RecordedVisit):
        """Feed the recorded answers of `visit`; (chain, stalled) where stalled means the
        request stops here as it stands (open, or withdrawn)."""
        spec = self.spec
        step_spec = spec.step(name)
        seats = list(dict.fromkeys(visit.seats + tuple(d.seat for d in visit.decisions)))
        if step_spec.policy == "quorum":
            while len(seats) < step_spec.quorum:
                seats.append(f"assumed-{len(seats)}")
        if not seats:
            seats = ["assumed-0"]
        user_of = {seat: index + 1 for index, seat in enumerate(seats)}
        chain = engine.assignees_found(spec, chain, name, list(user_of.values())).chain
        key_of = {seat: f"{chain.round}.{name}.{user}" for seat, user in user_of.items()}
        used = 0
        last_at = None
        here = self.position[id(visit)]
        for rank, answer in enumerate(visit.decisions):
            if chain.step(name).state != StepState.ACTIVE:
                break
            key = key_of[answer.seat]
            chain = engine.decide(
                spec, chain, key, answer.decision, "recorded", self.values, self.today
            ).chain
            used += 1
            last_at = ("answer", here, rank)
        self.tasks[name] += used
        state = chain.step(name).state
        if state == StepState.ACTIVE:
            if visit.is_open:
                return chain, True
            if visit.state == StepState.CANCELLED:
                return engine.withdraw(chain).chain, True
            if not used and visit.state in _TIMEOUT_ACTION:
                chain = engine.time_out(
                    spec,
                    chain,
                    name,
                    _TIMEOUT_ACTION[visit.state],
                    "recorded timeout",
                    self.values,
                    self.today,
                ).chain
                self._wait(number, ("wait", here))
                return chain, False
            # A stricter policy than the one recorded: the people never asked to answer are
            # assumed to approve, at the moment the step was in fact settled.
            for open_task in chain.open_tasks(name):
                if chain.step(name).state != StepState.ACTIVE:
                    break
                chain = engine.decide(
                    spec, chain, open_task.key, Decision.APPROVE, "", self.values, self.today
                ).chain
                self.tasks[name] += 1
                self.assumed += 1
            last_at = ("finish", here) if visit.finished_at is not None else last_at
            state = chain.step(name).state
        if state == StepState.APPROVED and visit.state in _NEGATIVE:
            self.how.setdefault(name, f"approved it ({step_spec.policy_text})")
        exact = (
            visit.round == number
            and used == len(visit.decisions)
            and state == visit.state
            and visit.wait is not None
        )
        if exact:
            self._wait(number, ("wait", here))
        elif last_at is not None and visit.started_at is not None:
            self._wait(number, last_at)
        return chain, False

    def _drawn(self, chain, number, name) -> engine.Chain:
        """A step this request never went through: a drawn wait and the assumed answer."""
        spec = self.spec
        step_spec = spec.step(name)
        decision = self.plan.assume.get(name, Decision.APPROVE)
        if step_spec.policy == "quorum":
            people = step_spec.quorum
        elif step_spec.policy == "all":
            people = self.waits.seats.get(self.waits.source(self.plan, name), 1)
        else:
            people = 1
        chain = engine.assignees_found(spec, chain, name, list(range(1, people + 1))).chain
        for task in chain.open_tasks(name):
            if chain.step(name).state != StepState.ACTIVE:
                break
            chain = engine.decide(
                spec, chain, task.key, decision, "assumed", self.values, self.today
            ).chain
            self.tasks[name] += 1
        self._wait(number, ("drawn", name))
        self.drawn.append(name)
        return chain

    def _wait(self, number: int, term: tuple) -> None:
        self.terms.append((number, term))


def _amount(term: tuple, history: RequestHistory, plan: Plan, waits: Waits) -> int:
    """The milliseconds a wait term stands for in `history`."""
    kind = term[0]
    if kind == "drawn":
        return waits.draw(plan, term[1], history.id)
    visit = history.visits[term[1]]
    if kind == "wait":
        return visit.wait or 0
    if kind == "finish":
        return visit.finished_at - visit.started_at
    return visit.decisions[term[2]].at - visit.started_at


def _kept(spec: ChainSpec, actions) -> set[str]:
    """The steps a resumed round keeps from the round before (those before where it resumes)."""
    resumed_at = next((a.resumed_at for a in actions if isinstance(a, engine.RoundStarted)), None)
    if resumed_at is None:
        return set()
    names = [step.name for step in spec.steps]
    return set(names[: names.index(resumed_at)]) if resumed_at in names else set()


@dataclass(frozen=True)
class _Trace:
    """What a replay found that depends only on a request's shape, not on its times."""

    route_before: tuple
    route_after: tuple
    outcome: str
    tasks_before: Counter
    tasks_after: Counter
    terms: tuple[tuple[int, tuple], ...]
    last_round: int
    rounds: tuple[int, ...]
    drawn: tuple[str, ...]
    assumed: int
    borrowed: bool
    risks: tuple[Risk, ...]

    @property
    def lost_rounds(self) -> int:
        return sum(1 for number in self.rounds if number > self.last_round)


def _trace(plan: Plan, waits: Waits, history: RequestHistory) -> _Trace:
    run = _Run(plan, waits, history)
    outcome = run.run()
    tasks_before: Counter = Counter()
    for visit in history.visits:
        tasks_before[visit.step] += len(visit.decisions)
    return _Trace(
        recorded_route(history),
        tuple(run.route),
        str(outcome),
        tasks_before,
        run.tasks,
        tuple(run.terms),
        run.last_round,
        tuple(history.rounds),
        tuple(run.drawn),
        run.assumed,
        run.borrowed,
        tuple(_risks(history, run, outcome, plan)),
    )


def shape(plan: Plan, history: RequestHistory) -> tuple:
    """Everything about `history` that the engine's path through `plan` depends on: which of
    the draft's conditions and rules hold, the recorded steps' states, and who answered what
    in which order; not the times. Requests of one shape share one run of the engine."""
    today = None
    if plan.uses_today:
        today = dt.datetime.fromtimestamp(history.submitted_at / 1000, dt.UTC).date()
    values = history.values
    holds = tuple(is_true(e.evaluate(values, today=today)) for e in plan.expressions)
    visits = []
    for visit in history.visits:
        decisions = visit.decisions
        seats = visit.seats
        if decisions:
            if any(d.seat not in seats for d in decisions):
                seats = tuple(dict.fromkeys(seats + tuple(d.seat for d in decisions)))
            answered = tuple((seats.index(d.seat), d.decision) for d in decisions)
        else:
            answered = ()
        started, finished = visit.started_at, visit.finished_at
        visits.append(
            (
                visit.round,
                visit.step,
                visit.state,
                started is None,
                finished is None,
                started is not None and started == finished,
                len(seats),
                answered,
            )
        )
    same = tuple(
        bool(history.conditions) and history.conditions.get(name) == sources
        for name, sources in plan.sources.items()
    )
    return (holds, same, today, history.status, tuple(visits))


def _replayed(trace: _Trace, plan: Plan, waits: Waits, history: RequestHistory) -> Replayed:
    """The request's own figures (its cycle times) from the trace of its shape."""
    cycle_before = history.cycle
    cycle_after = None
    if cycle_before is not None and trace.outcome in _FINAL:
        last, rounds = trace.last_round, trace.rounds
        if rounds and last != rounds[-1]:
            ends = [v.finished_at for v in history.visits if v.round == last and v.finished_at]
            base = max(ends) - history.submitted_at
        else:
            base = cycle_before
        for visit in history.visits:
            if visit.round <= last:
                base -= visit.wait or 0
        for number, term in trace.terms:
            if number <= last:
                base += _amount(term, history, plan, waits)
        cycle_after = base
    return Replayed(
        history.id,
        trace.route_before,
        trace.route_after,
        history.status,
        trace.outcome,
        trace.tasks_before,
        trace.tasks_after,
        cycle_before,
        cycle_after,
        risks=list(trace.risks),
        drawn=list(trace.drawn),
        assumed=trace.assumed,
        borrowed=trace.borrowed,
        lost_rounds=trace.lost_rounds,
        trace=trace,
    )


def replay(
    plan: Plan, waits: Waits, history: RequestHistory, traces: dict | None = None
) -> Replayed:
    """`history` replayed through `plan`'s chain; `traces` keeps one engine run per shape."""
    if traces is None:
        return _replayed(_trace(plan, waits, history), plan, waits, history)
    key = shape(plan, history)
    trace = traces.get(key)
    if trace is None:
        trace = traces[key] = _trace(plan, waits, history)
    return _replayed(trace, plan, waits, history)


def _risks(history: RequestHistory, run: _Run, outcome, plan: Plan) -> list[Risk]:
    """The steps that rejected or sent back in fact and that the replay let the request past."""
    if outcome == ChainState.REJECTED:
        return []
    stopped = {name for _, name, state in run.route if state in _NEGATIVE}
    found = {}
    names = {step.name for step in plan.spec.steps}
    for visit in history.visits:
        if visit.state not in _NEGATIVE or visit.step in stopped or visit.step in found:
            continue
        if visit.step not in names:
            did = "no longer has the step"
        else:
            did = run.how.get(visit.step, "never reached the step")
        found[visit.step] = Risk(visit.step, visit.state, did)
    return list(found.values())


# -- the whole replay -------------------------------------------------------------------------


@dataclass
class StepCount:
    name: str
    title: str
    before: int = 0
    after: int = 0
    recorded_waits: int = 0
    in_draft: bool = True

    @property
    def change(self) -> int:
        return self.after - self.before


@dataclass(frozen=True)
class Listed:
    """A request named in the report: its id and the route before and after, in words."""

    id: int
    before: str
    after: str
    risks: tuple[Risk, ...] = ()


@dataclass
class Report:
    """Everything the what-if page, the CLI and the JSON say, accumulated request by request."""

    plan: Plan
    titles: Mapping[str, str]
    steps: dict[str, StepCount] = field(default_factory=dict)
    requests: int = 0
    route_changes: int = 0
    changed: list[Listed] = field(default_factory=list)
    risky: int = 0
    risks: list[Listed] = field(default_factory=list)
    cycles_before: list[int] = field(default_factory=list)
    cycles_after: list[int] = field(default_factory=list)
    outcomes_before: Counter = field(default_factory=Counter)
    outcomes_after: Counter = field(default_factory=Counter)
    drawn: Counter = field(default_factory=Counter)
    assumed: int = 0
    borrowed: int = 0
    lost_rounds: int = 0
    left_open: int = 0
    recorded_waits: Mapping[str, int] = field(default_factory=dict)
    _pending: dict = field(default_factory=dict, repr=False)

    def add(self, found: Replayed) -> None:
        """Count one replayed request. What its shape decides is counted once per shape (at
        `_fold`); only its own figures, its cycle times and its place in the lists, each time."""
        self.requests += 1
        if found.trace is None:
            self._count(found, 1)
        else:
            entry = self._pending.get(id(found.trace))
            if entry is None:
                self._pending[id(found.trace)] = [found, 1]
            else:
                entry[1] += 1
        if found.route_before != found.route_after and len(self.changed) < LIST_LIMIT:
            self.changed.append(self._listed(found))
        if found.risks and len(self.risks) < LIST_LIMIT:
            self.risks.append(self._listed(found))
        if found.cycle_before is not None:
            self.cycles_before.append(found.cycle_before)
        if found.cycle_after is not None:
            self.cycles_after.append(found.cycle_after)

    def _count(self, found: Replayed, times: int) -> None:
        for name, count in found.tasks_before.items():
            self._step(name).before += count * times
        for name, count in found.tasks_after.items():
            self._step(name).after += count * times
        if found.route_changed:
            self.route_changes += times
        if found.risks:
            self.risky += times
        self.outcomes_before[found.outcome_before] += times
        self.outcomes_after[found.outcome_after] += times
        for name in found.drawn:
            self.drawn[name] += times
        self.assumed += found.assumed * times
        self.borrowed += found.borrowed * times
        self.lost_rounds += bool(found.lost_rounds) * times
        if (
            found.outcome_after == ChainState.CHANGES_REQUESTED
            and found.outcome_before != ChainState.CHANGES_REQUESTED
        ):
            self.left_open += times

    def _fold(self) -> None:
        """Count the shapes seen since the last fold, each as often as it came."""
        for found, times in self._pending.values():
            self._count(found, times)
        self._pending.clear()

    def _step(self, name: str) -> StepCount:
        if name not in self.steps:
            self.steps[name] = StepCount(name, self.titles.get(name, name))
        return self.steps[name]

    def _listed(self, found: Replayed) -> Listed:
        return Listed(
            found.id,
            self.route_words(found.route_before, found.outcome_before),
            self.route_words(found.route_after, found.outcome_after),
            tuple(found.risks),
        )

    def route_words(self, route: tuple, outcome: str) -> str:
        """'Manager approval ✓ → Finance approval ✕ → rejected' (rounds split by '↩')."""
        parts = []
        current = None
        for number, name, mark in route:
            if mark in (_KEPT, StepState.CANCELLED):
                continue
            if current is not None and number != current:
                parts.append("resubmitted")
            current = number
            parts.append(f"{self.titles.get(name, name)} {_MARK.get(mark, '…')}")
        parts.append(_OUTCOME_WORDS.get(outcome, outcome.replace("_", " ")))
        return " → ".join(parts)

    # -- the figures --------------------------------------------------------------------------

    def ordered_steps(self) -> list[StepCount]:
        """The draft's steps in its order, then steps it no longer has."""
        self._fold()
        order = [step.name for step in self.plan.spec.steps]
        for name in order:
            self._step(name)
        for name, step in self.steps.items():
            step.in_draft = name in order
            step.recorded_waits = len(self.recorded_waits.get(name, ()))
        return sorted(
            self.steps.values(),
            key=lambda s: order.index(s.name) if s.name in order else len(order),
        )

    @property
    def tasks_before(self) -> int:
        return sum(step.before for step in self.steps.values())

    @property
    def tasks_after(self) -> int:
        return sum(step.after for step in self.steps.values())

    @property
    def hours_saved(self) -> float:
        """People's hours the change saves (negative: costs) at the stated minutes per task."""
        return (self.tasks_before - self.tasks_after) * self.plan.minutes_per_task / 60

    def cycle(self, which: str) -> tuple[float | None, float | None]:
        """(median, 90th percentile) of the cycle time before or after, in seconds."""
        values = self.cycles_before if which == "before" else self.cycles_after
        median, p90 = percentile(values, 0.5), percentile(values, 0.9)
        return (
            None if median is None else median / 1000,
            None if p90 is None else p90 / 1000,
        )

    def caveats(self) -> list[str]:
        """What the figures cannot know, in words."""
        self._fold()
        said = []
        if self.lost_rounds:
            said.append(
                f"{self.lost_rounds:,} {_requests(self.lost_rounds)} went back to the submitter "
                "in fact, in a round the replay never reaches: what the submitter changed then "
                "is not known, so the replay uses the data as it was finally submitted."
            )
        if self.left_open:
            said.append(
                f"{self.left_open:,} {_requests(self.left_open)} would have been sent back at a "
                "moment they in fact were not; what would have happened next is not known, so "
                "they count in neither cycle time."
            )
        if self.borrowed:
            said.append(
                f"{self.borrowed:,} {_requests(self.borrowed)} reach a step in another round "
                "than they did in fact; the replay uses the answers given in that other round."
            )
        if self.assumed:
            said.append(
                f"{self.assumed:,} answers were never given in fact (the step was settled "
                "before everyone answered); the replay assumes they approve."
            )
        for name, count in self.drawn.items():
            source = self.plan.similar.get(name) or name
            kept = len(self.recorded_waits.get(source, ()))
            who = self.titles.get(name, name)
            like = f" (waits of {self.titles.get(source, source)})" if source != name else ""
            answer = self.plan.assume.get(name, Decision.APPROVE).label.lower()
            said.append(
                f"{who} has no answer on record for {count:,} {_requests(count)}: each waits a "
                f"time drawn from {kept:,} recorded waits{like} and is {answer}."
            )
            if kept < MIN_HISTORY:
                said.append(
                    f"{who}: only {kept:,} recorded waits{like} (fewer than {MIN_HISTORY}), "
                    "so its drawn waits say little."
                    if kept
                    else f"{who}: no recorded waits{like}; its waits are drawn from all steps'."
                )
        return said

    def as_dict(self) -> dict:
        """The report as JSON-ready data (the CLI's --json; the same figures as the page)."""
        self._fold()
        median_before, p90_before = self.cycle("before")
        median_after, p90_after = self.cycle("after")
        return {
            "requests": self.requests,
            "minutes_per_task": self.plan.minutes_per_task,
            "steps": [
                {
                    "step": step.name,
                    "title": step.title,
                    "in_draft": step.in_draft,
                    "tasks_before": step.before,
                    "tasks_after": step.after,
                }
                for step in self.ordered_steps()
            ],
            "tasks_before": self.tasks_before,
            "tasks_after": self.tasks_after,
            "hours_saved": round(self.hours_saved, 1),
            "cycle_time_seconds": {
                "before": {"median": median_before, "p90": p90_before},
                "after": {"median": median_after, "p90": p90_after},
                "decided_before": len(self.cycles_before),
                "decided_after": len(self.cycles_after),
            },
            "outcomes_before": dict(sorted(self.outcomes_before.items())),
            "outcomes_after": dict(sorted(self.outcomes_after.items())),
            "routes_changed": self.route_changes,
            "risky": self.risky,
            "risks": [
                {
                    "request": item.id,
                    "steps": [
                        {
                            "step": r.step,
                            "title": self.titles.get(r.step, r.step),
                            "in_fact": str(r.recorded),
                            "replay": r.replayed,
                        }
                        for r in item.risks
                    ],
                }
                for item in self.risks
            ],
            "changed": [
                {"request": item.id, "before": item.before, "after": item.after}
                for item in self.changed
            ],
            "caveats": self.caveats(),
        }


_MARK = {
    StepState.APPROVED: "✓",
    _AUTO: "✓ by rule",
    StepState.REJECTED: "✕ rejected",
    StepState.CHANGES_REQUESTED: "↩ sent back",
    StepState.ACTIVE: "(waiting)",
}
_OUTCOME_WORDS = {
    "approved": "approved",
    "rejected": "rejected",
    "in_review": "still in review",
    "withdrawn": "withdrawn",
    "changes_requested": "sent back",
}


def _requests(count: int) -> str:
    return "request" if count == 1 else "requests"


def run(
    plan: Plan,
    waits: Waits,
    histories: Iterable[RequestHistory],
    titles: Mapping[str, str],
    progress=None,
    every: int = 5000,
) -> Report:
    """Replay every history through `plan`; `progress(done)` is called every `every` requests."""
    report = Report(plan, titles, recorded_waits=waits.by_step)
    traces: dict = {}
    for done, history in enumerate(histories, 1):
        report.add(replay(plan, waits, history, traces))
        if progress is not None and done % every == 0:
            progress(done)
    report._fold()
    return report
