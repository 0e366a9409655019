"""The approval chain: state plus event in, new state plus actions out. No I/O of any kind.

A form's `approval` section becomes a ChainSpec: steps in order, each with who is asked, how
their answers combine (the policy), and when the step applies at all. A submission's progress
is a ChainState. Each event (start, assignees found, a decision, withdraw) is a function here
that returns a Transition: the next state and the actions that describe what changed, which
the service persists, audits and turns into emails.

The rules:
- Steps run one after another. A step whose `when` is not true is skipped; a step whose
  `auto_approve_if` is true is approved by the system, naming the rule.
- A step asks its assignees in parallel. `any`: the first answer decides. `all`: everyone must
  approve; one rejection rejects. `quorum` N: N approvals approve; the step is rejected as soon
  as N can no longer be reached.
- A rejection ends the chain as rejected. Request changes sends it back to the submitter; when
  they resubmit, the chain restarts from the first step or resumes at the step that asked,
  as the form says.
- The submitter is never an assignee and can never decide (segregation of duties): see
  portal.domain.routing, which also says who is asked.
- Only open tasks of a running chain can be decided; everything else is refused, so a decision
  repeated (a double click, a retried job) changes nothing.
- A task can be reassigned (escalation, a delegate taking over, an admin): the new task stands
  in the same slot, so the step still needs one decision for it, from whichever of them acts.
- A step that runs out of time is approved, rejected or skipped by the system if the form
  says so, naming the rule; a decision made in time leaves the timeout nothing to do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum

import jsonschema

from portal.domain.expressions import Expression, is_true
from portal.domain.refusal import Refused
from portal.domain.routing import Ask, may_decide
from portal.domain.sla import Timing


class Decision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    REQUEST_CHANGES = "request_changes"

    @property
    def label(self) -> str:
        return {
            "approve": "Approved",
            "reject": "Rejected",
            "request_changes": "Changes requested",
        }[self.value]


class TaskState(StrEnum):
    OPEN = "open"
    APPROVED = "approved"
    REJECTED = "rejected"
    CHANGES_REQUESTED = "changes_requested"
    CANCELLED = "cancelled"
    #: An agent's decision that a person must confirm or override (the step's `review`).
    RECOMMENDED = "recommended"


class StepState(StrEnum):
    WAITING = "waiting"  # not reached yet
    ACTIVE = "active"  # its tasks are open
    BLOCKED = "blocked"  # nobody can act on it; an admin must assign someone
    APPROVED = "approved"
    REJECTED = "rejected"
    CHANGES_REQUESTED = "changes_requested"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


#: The chain's own states use the same words as a submission's status.
class ChainState(StrEnum):
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    CHANGES_REQUESTED = "changes_requested"
    WITHDRAWN = "withdrawn"


class PickKind(StrEnum):
    """Who in a group is asked."""

    ALL = "all"
    ROUND_ROBIN = "round_robin"
    FEWEST_OPEN = "fewest_open"


_DECIDED = {
    Decision.APPROVE: TaskState.APPROVED,
    Decision.REJECT: TaskState.REJECTED,
    Decision.REQUEST_CHANGES: TaskState.CHANGES_REQUESTED,
}
DONE_STEPS = frozenset({StepState.APPROVED, StepState.SKIPPED})


class DecisionRefused(Refused):
    """The decision cannot be taken; the message is for the person who tried."""


class OutputRefused(DecisionRefused):
    """An agent's output does not match what the step declares; `errors` by JSON path."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        first = next(iter(errors.items()))
        super().__init__(
            f"The output does not match what the step asks for: {first[0]}: {first[1][0]}"
        )


# -- the definition ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AssigneeSpec:
    """Exactly one way of finding people: a user, a group, a manager level, a field, a lookup."""

    user: str | None = None
    group: str | None = None
    pick: PickKind = PickKind.ALL
    manager: int | None = None
    field: str | None = None
    lookup_field: str | None = None
    lookup: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        if self.user:
            return self.user
        if self.group:
            how = {
                "all": "everyone in",
                "round_robin": "one of (in turn)",
                "fewest_open": "the least busy of",
            }
            return f"{how[self.pick]} group {self.group}"
        if self.manager:
            return "the submitter's manager" + (
                "" if self.manager == 1 else f" ({self.manager} levels up)"
            )
        if self.field:
            return f"the person named in “{self.field}”"
        return f"the owner of the chosen “{self.lookup_field}”"


@dataclass(frozen=True)
class OutputKey:
    """One key of a step's output: its JSON type and limits, and what it means."""

    name: str
    type: str  # boolean, number, integer or string
    required: bool = True
    description: str = ""
    minimum: object = None
    maximum: object = None
    choices: tuple[str, ...] = ()
    max_length: int | None = None

    def describe(self) -> str:
        """The key in words, for a model or a person: 'score: a number from 0 to 100'."""
        kind = {
            "boolean": "true or false",
            "number": "a number",
            "integer": "a whole number",
            "string": "a text",
        }[self.type]
        if self.choices:
            kind = "one of " + ", ".join(repr(choice) for choice in self.choices)
        if self.minimum is not None and self.maximum is not None:
            kind += f" from {self.minimum} to {self.maximum}"
        elif self.minimum is not None:
            kind += f" of at least {self.minimum}"
        elif self.maximum is not None:
            kind += f" of at most {self.maximum}"
        if self.max_length is not None:
            kind += f" (at most {self.max_length} characters)"
        text = f"{self.name}: {kind}" + ("" if self.required else " (optional)")
        return f"{text}; {self.description}" if self.description else text


@dataclass(frozen=True)
class OutputSpec:
    """What an agent returns with its decision on a step, as a JSON Schema it is checked by."""

    keys: tuple[OutputKey, ...]

    def key(self, name: str) -> OutputKey | None:
        return next((key for key in self.keys if key.name == name), None)

    def json_schema(self) -> dict:
        """The output as JSON Schema (2020-12): what the API documents and checks against."""
        properties = {}
        for key in self.keys:
            schema: dict = {"type": key.type}
            if key.description:
                schema["description"] = key.description
            if key.choices:
                schema["enum"] = list(key.choices)
            if key.minimum is not None:
                schema["minimum"] = key.minimum
            if key.maximum is not None:
                schema["maximum"] = key.maximum
            if key.max_length is not None:
                schema["maxLength"] = key.max_length
            properties[key.name] = schema
        return {
            "type": "object",
            "properties": properties,
            "required": [key.name for key in self.keys if key.required],
            "additionalProperties": False,
        }

    def errors(self, output: object) -> dict[str, list[str]]:
        """What is wrong with an agent's `output`, by JSON path (`output.score`); {} if right."""
        if output is None:
            return {"output": ["the step asks for an output; send it with the decision"]}
        if not isinstance(output, Mapping):
            return {"output": ["must be a JSON object"]}
        found: dict[str, list[str]] = {}
        validator = jsonschema.Draft202012Validator(self.json_schema())
        for error in validator.iter_errors(_plain(output)):
            path = "output" + "".join(
                f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.absolute_path
            )
            if error.validator == "required":
                missing = error.message.split("'")[1]
                found.setdefault(f"{path}.{missing}", []).append("is required")
            elif error.validator == "additionalProperties":
                for extra in sorted(set(output) - {key.name for key in self.keys}):
                    found.setdefault(f"{path}.{extra}", []).append("is not part of this output")
            else:
                found.setdefault(path, []).append(_output_message(error))
        return found


def _plain(output: Mapping) -> dict:
    """Decimals as JSON numbers, so that JSON Schema sees the types the agent sent."""
    return {
        key: (int(value) if value == value.to_integral_value() else float(value))
        if isinstance(value, Decimal)
        else value
        for key, value in output.items()
    }


def _output_message(error: jsonschema.ValidationError) -> str:
    if error.validator == "type":
        wanted = {"boolean": "true or false", "integer": "a whole number"}.get(
            error.validator_value, f"a {error.validator_value}"
        )
        return f"{error.instance!r} is not {wanted}"
    if error.validator == "enum":
        return f"{error.instance!r} is not one of {', '.join(map(repr, error.validator_value))}"
    if error.validator in ("minimum", "maximum"):
        word = "less" if error.validator == "minimum" else "more"
        return f"{error.instance} is {word} than {error.validator_value} allows"
    if error.validator == "maxLength":
        return f"is longer than {error.validator_value} characters"
    return error.message


@dataclass(frozen=True)
class StepSpec:
    name: str
    title: str
    assignees: tuple[AssigneeSpec, ...]
    policy: str = "any"  # any, all, or quorum
    quorum: int = 1
    when: Expression | None = None
    auto_approve_if: Expression | None = None
    signature: bool = False
    sign_as: str = ""
    #: Due time, reminders, escalation and timeout, the form's defaults filled in.
    timing: Timing = field(default_factory=Timing)
    path: str = ""
    #: What an agent must return with its decision (None: nothing).
    output: OutputSpec | None = None
    #: The group whose people confirm or override an agent's decision (the evaluation loop).
    review_group: str | None = None
    #: While true, an agent decides the step itself; otherwise it may only recommend.
    agent_limit: Expression | None = None

    def agent_recommends(self, values: Mapping[str, object], today=None) -> bool:
        """Whether an agent's decision here is only a recommendation that a person reviews."""
        if not self.review_group:
            return False
        if self.agent_limit is None:
            return True
        return not is_true(self.agent_limit.evaluate(values, today=today))

    def meaning(self, decision: Decision) -> str:
        """What a signed decision means: 'Approved as Finance'."""
        return f"{decision.label} as {self.sign_as or self.title}"

    @property
    def policy_text(self) -> str:
        if self.policy == "quorum":
            return f"{self.quorum} approvals needed"
        return "everyone must approve" if self.policy == "all" else "the first answer decides"


@dataclass(frozen=True)
class ChainSpec:
    steps: tuple[StepSpec, ...]
    fallback_group: str
    resume_after_changes: bool = False

    def step(self, name: str) -> StepSpec:
        return next(step for step in self.steps if step.name == name)


# -- the state --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    key: str
    step: str
    assignee: int
    state: TaskState = TaskState.OPEN
    #: The person this task acts for (a delegate, or an escalation target), if not the assignee.
    on_behalf_of: int | None = None
    #: Tasks that stand for the same person's decision share a slot (a moved or escalated task
    #: keeps the slot of the one it replaces); a step's policy counts slots, not tasks.
    slot: str = ""
    #: For a person asked to review an agent's recommendation: the seat of that agent's task.
    reviews: str = ""

    @property
    def seat(self) -> str:
        return self.slot or self.key


@dataclass(frozen=True)
class Step:
    name: str
    state: StepState = StepState.WAITING
    reason: str = ""


@dataclass(frozen=True)
class Chain:
    """Where a submission's chain stands in its current round."""

    submitter: int
    state: ChainState = ChainState.IN_REVIEW
    round: int = 0
    steps: tuple[Step, ...] = ()
    tasks: tuple[Task, ...] = ()
    #: The step that asked for changes (where a resumed round starts).
    sent_back_by: str | None = None
    #: What agents returned with their decisions, by step: read as `steps.<step>.output.<key>`.
    outputs: Mapping[str, Mapping[str, object]] = field(default_factory=dict)

    def step(self, name: str) -> Step:
        return next(step for step in self.steps if step.name == name)

    def task(self, key: str) -> Task | None:
        return next((task for task in self.tasks if task.key == key), None)

    def open_tasks(self, step: str | None = None) -> list[Task]:
        return [t for t in self.tasks if t.state == TaskState.OPEN and step in (None, t.step)]

    @property
    def active_step(self) -> Step | None:
        return next(
            (s for s in self.steps if s.state in (StepState.ACTIVE, StepState.BLOCKED)), None
        )

    @property
    def is_final(self) -> bool:
        return self.state in (ChainState.APPROVED, ChainState.REJECTED, ChainState.WITHDRAWN)


def state_of(steps: tuple[Step, ...] | list[Step]) -> ChainState:
    """A round's chain state, read off its steps (so it need not be stored twice)."""
    states = {step.state for step in steps}
    # Only a withdrawal cancels steps, and it may follow a request for changes.
    if StepState.CANCELLED in states:
        return ChainState.WITHDRAWN
    if StepState.CHANGES_REQUESTED in states:
        return ChainState.CHANGES_REQUESTED
    if StepState.REJECTED in states:
        return ChainState.REJECTED
    if steps and states <= DONE_STEPS:
        return ChainState.APPROVED
    return ChainState.IN_REVIEW


def sent_back_by(steps: tuple[Step, ...] | list[Step]) -> str | None:
    """The step that asked for changes in this round, if one did."""
    return next((s.name for s in steps if s.state == StepState.CHANGES_REQUESTED), None)


# -- actions: what changed, for the service to persist, audit and announce ----------------------


@dataclass(frozen=True)
class RoundStarted:
    round: int
    resumed_at: str | None


@dataclass(frozen=True)
class StepSkipped:
    step: str
    reason: str


@dataclass(frozen=True)
class StepAutoApproved:
    step: str
    rule: str


@dataclass(frozen=True)
class AssigneesNeeded:
    """The service must find the step's assignees and answer with `assignees_found`."""

    step: str


@dataclass(frozen=True)
class StepBlocked:
    step: str
    reason: str


@dataclass(frozen=True)
class TaskOpened:
    task: Task


@dataclass(frozen=True)
class TaskDecided:
    task: Task
    decision: Decision
    comment: str


@dataclass(frozen=True)
class TaskRecommended:
    """An agent decided a step that asks for review: its decision waits for a person."""

    task: Task
    decision: Decision
    comment: str


@dataclass(frozen=True)
class ReviewersNeeded:
    """The service must find the step's reviewers and answer with `reviewers_found`."""

    step: str
    task: str  # the recommending agent's task key


@dataclass(frozen=True)
class TaskCancelled:
    task: Task
    reason: str


@dataclass(frozen=True)
class StepTimedOut:
    step: str
    action: str  # approve, reject or skip
    rule: str


@dataclass(frozen=True)
class StepFinished:
    step: str
    state: StepState


@dataclass(frozen=True)
class ChainFinished:
    state: ChainState  # approved, rejected, changes_requested or withdrawn


Action = (
    RoundStarted
    | StepSkipped
    | StepAutoApproved
    | AssigneesNeeded
    | StepBlocked
    | TaskOpened
    | TaskDecided
    | TaskRecommended
    | ReviewersNeeded
    | TaskCancelled
    | StepTimedOut
    | StepFinished
    | ChainFinished
)


@dataclass(frozen=True)
class Transition:
    chain: Chain
    actions: tuple[Action, ...] = field(default_factory=tuple)


# -- events -----------------------------------------------------------------------------------


def start(spec: ChainSpec, chain: Chain, values: Mapping[str, object], today=None) -> Transition:
    """Begin the next round: the first after submitting, or again after a resubmission.

    A first round, or a restart, begins at the first step. If the form says `resume`, a round
    after changes were requested begins at the step that asked for them; the steps before it
    keep their outcome.
    """
    if chain.is_final or (chain.round and chain.state != ChainState.CHANGES_REQUESTED):
        return Transition(chain)  # a round is running or the chain has ended: nothing to start
    resume_at = chain.sent_back_by if spec.resume_after_changes and chain.round else None
    kept = {step.name: step for step in chain.steps}
    steps = []
    reached = resume_at is None
    for step_spec in spec.steps:
        reached = reached or step_spec.name == resume_at
        if not reached and kept.get(step_spec.name, Step("")).state in DONE_STEPS:
            previous = kept[step_spec.name]
            steps.append(replace(previous, reason=previous.reason or "decided in an earlier round"))
        else:
            steps.append(Step(step_spec.name))
    fresh = Chain(
        submitter=chain.submitter,
        state=ChainState.IN_REVIEW,
        round=chain.round + 1,
        steps=tuple(steps),
        tasks=(),
        sent_back_by=None,
    )
    actions: list[Action] = [RoundStarted(fresh.round, resume_at)]
    return _advance(spec, fresh, values, today, actions)


def assignees_found(
    spec: ChainSpec, chain: Chain, step_name: str, asks: list[Ask | int]
) -> Transition:
    """Open one task per person found for the active step (never for the submitter)."""
    if chain.state != ChainState.IN_REVIEW or not chain.round:
        return Transition(chain)
    step = chain.step(step_name)
    if step.state != StepState.ACTIVE or chain.open_tasks(step_name):
        return Transition(chain)  # already answered: a repeat changes nothing
    step_spec = spec.step(step_name)
    people: dict[int, Ask] = {}
    for ask in asks:
        ask = ask if isinstance(ask, Ask) else Ask(ask)
        if may_decide(ask.user, chain.submitter) and ask.user not in people:
            people[ask.user] = ask
    if not people:
        return _block(chain, step_name, "nobody could be found to decide this step")
    if step_spec.policy == "quorum" and len(people) < step_spec.quorum:
        return _block(
            chain,
            step_name,
            f"{step_spec.quorum} approvals are needed but only {len(people)} people can decide",
        )
    tasks = tuple(
        Task(
            f"{chain.round}.{step_name}.{ask.user}",
            step_name,
            ask.user,
            on_behalf_of=ask.on_behalf_of,
        )
        for ask in people.values()
    )
    chain = replace(chain, tasks=chain.tasks + tasks)
    return Transition(chain, tuple(TaskOpened(task) for task in tasks))


def reassign(chain: Chain, task_key: str, user: int, *, keep: bool, reason: str) -> Transition:
    """Give an open task's decision to `user` too (keep=True) or instead (keep=False).

    Used for escalation (add or move), handing over to a delegate and an admin's reassignment.
    The new task takes the old one's slot, so the step still counts one decision for it.
    """
    task = chain.task(task_key)
    if chain.state != ChainState.IN_REVIEW or task is None or task.state != TaskState.OPEN:
        raise DecisionRefused("Only an open task of a request in review can be reassigned.")
    if not may_decide(user, chain.submitter):
        raise DecisionRefused("The person who submitted the request cannot decide it.")
    if user == task.assignee:
        raise DecisionRefused("The task is already with that person.")
    holder = next((t for t in chain.open_tasks(task.step) if t.assignee == user), None)
    if holder is not None:
        raise DecisionRefused("That person already has an open task on this step.")
    if any(
        t.assignee == user
        and t.step == task.step
        and t.state not in (TaskState.OPEN, TaskState.CANCELLED)
        for t in chain.tasks
    ):
        # Under all or a quorum, one person must not count twice.
        raise DecisionRefused("That person has already decided this step.")
    actions: list[Action] = []
    if not keep:
        cancelled = replace(task, state=TaskState.CANCELLED)
        chain = _replace_task(chain, cancelled)
        actions.append(TaskCancelled(cancelled, reason))
    number = sum(1 for t in chain.tasks if t.step == task.step and t.assignee == user)
    key = f"{chain.round}.{task.step}.{user}" + (f".{number + 1}" if number else "")
    # Given back to the person it stood in for, the task is simply theirs again.
    principal = task.on_behalf_of or task.assignee
    added = Task(
        key,
        task.step,
        user,
        on_behalf_of=principal if principal != user else None,
        slot=task.seat,
        reviews=task.reviews,
    )
    chain = replace(chain, tasks=chain.tasks + (added,))
    actions.append(TaskOpened(added))
    return Transition(chain, tuple(actions))


def time_out(
    spec: ChainSpec,
    chain: Chain,
    step_name: str,
    action: str,
    rule: str,
    values: Mapping[str, object],
    today=None,
) -> Transition:
    """The step ran out of time: approve, reject or skip it as the system, naming the rule."""
    if chain.state != ChainState.IN_REVIEW or not chain.round:
        return Transition(chain)
    step = chain.step(step_name)
    if step.state not in (StepState.ACTIVE, StepState.BLOCKED):
        return Transition(chain)  # decided in time: the timeout has nothing to do
    outcome = {
        "approve": StepState.APPROVED,
        "reject": StepState.REJECTED,
        "skip": StepState.SKIPPED,
    }[action]
    actions: list[Action] = [StepTimedOut(step_name, action, rule)]
    chain = _cancel_open(chain, step_name, f"the step timed out ({rule})", actions)
    reason = f"timed out: {rule}"
    chain = _set_step(chain, step_name, outcome, reason)
    actions.append(StepFinished(step_name, outcome))
    if outcome == StepState.REJECTED:
        chain = replace(chain, state=ChainState.REJECTED)
        actions.append(ChainFinished(ChainState.REJECTED))
        return Transition(chain, tuple(actions))
    return _advance(spec, chain, values, today, actions)


def decide(
    spec: ChainSpec,
    chain: Chain,
    task_key: str,
    decision: Decision,
    comment: str,
    values: Mapping[str, object],
    today=None,
    *,
    agent: bool = False,
    output: Mapping[str, object] | None = None,
) -> Transition:
    """Record one decision and move the chain on; refuse what cannot be decided.

    An `agent` must give the `output` its step declares, and a rationale (`comment`); on a
    step with `review`, beyond its `agent_limit` if it has one, its decision becomes a
    recommendation that a person of the review group confirms or overrides.
    """
    task = chain.task(task_key)
    if task is None:
        raise DecisionRefused("This task is not part of the request as it stands now.")
    if not may_decide(task.assignee, chain.submitter):
        raise DecisionRefused("You cannot decide on your own request.")
    if chain.state != ChainState.IN_REVIEW:
        raise DecisionRefused(f"This request is no longer in review; it is {_words(chain.state)}.")
    if task.state != TaskState.OPEN:
        raise DecisionRefused(
            "This task has already been decided."
            if task.state != TaskState.CANCELLED
            else "This task was closed: the step was decided without it."
        )
    comment = (comment or "").strip()
    step_spec = spec.step(task.step)
    outputs = chain.outputs
    if agent:
        if not comment:
            raise DecisionRefused("Add a rationale that says why the agent decided so.")
        if step_spec.output is not None:
            errors = step_spec.output.errors(output)
            if errors:
                raise OutputRefused(errors)
            outputs = {**chain.outputs, task.step: dict(output or {})}
        elif output:
            raise OutputRefused({"output": ["this step asks for no output; send none"]})
    if decision in (Decision.REJECT, Decision.REQUEST_CHANGES) and not comment:
        what = "why you reject it" if decision == Decision.REJECT else "what needs to change"
        raise DecisionRefused(f"Add a comment that says {what}.")
    chain = replace(chain, outputs=outputs)
    if agent and step_spec.agent_recommends(scope(values, outputs), today):
        recommended = replace(task, state=TaskState.RECOMMENDED)
        chain = _replace_task(chain, recommended)
        return Transition(
            chain,
            (
                TaskRecommended(recommended, decision, comment),
                ReviewersNeeded(task.step, task.key),
            ),
        )
    decided = replace(task, state=_DECIDED[decision])
    chain = _replace_task(chain, decided)
    actions: list[Action] = [TaskDecided(decided, decision, comment)]
    for partner in chain.open_tasks(task.step):
        if partner.seat == decided.seat:  # the other person asked for the same decision
            closed = replace(partner, state=TaskState.CANCELLED)
            chain = _replace_task(chain, closed)
            actions.append(TaskCancelled(closed, "decided by the other person asked for it"))
    outcome = _step_outcome(spec.step(task.step), chain.tasks, task.step)
    if outcome is None:
        return Transition(chain, tuple(actions))
    return _finish_step(spec, chain, task.step, outcome, values, today, actions)


def reviewers_found(
    spec: ChainSpec, chain: Chain, task_key: str, asks: list[Ask | int]
) -> Transition:
    """Open one review task per person found for an agent's recommendation, in its slot."""
    recommended = chain.task(task_key)
    if (
        chain.state != ChainState.IN_REVIEW
        or recommended is None
        or recommended.state != TaskState.RECOMMENDED
        or any(t.reviews == recommended.seat and t.state == TaskState.OPEN for t in chain.tasks)
    ):
        return Transition(chain)
    step_spec = spec.step(recommended.step)
    people: dict[int, Ask] = {}
    for ask in asks:
        ask = ask if isinstance(ask, Ask) else Ask(ask)
        if (
            may_decide(ask.user, chain.submitter)
            and ask.user != recommended.assignee
            and ask.user not in people
        ):
            people[ask.user] = ask
    if not people:
        return _block(
            chain,
            recommended.step,
            f"nobody in group {step_spec.review_group} can review the agent's recommendation",
        )
    tasks = tuple(
        Task(
            f"{task_key}.review.{ask.user}",
            recommended.step,
            ask.user,
            on_behalf_of=ask.on_behalf_of,
            slot=recommended.seat,
            reviews=recommended.seat,
        )
        for ask in people.values()
    )
    chain = replace(chain, tasks=chain.tasks + tasks)
    return Transition(chain, tuple(TaskOpened(task) for task in tasks))


def scope(values: Mapping[str, object], outputs: Mapping[str, Mapping[str, object]]) -> dict:
    """The names a chain's `when`, `auto_approve_if` and `agent_limit` read: the form's values
    and, as `steps.<step>.output.<key>`, what agents returned (numbers as Decimal)."""
    if "steps" in values:  # a field called `steps` keeps its name; the schema says so
        return dict(values)
    return {
        **values,
        "steps": {
            name: {"output": {key: _typed(value) for key, value in output.items()}}
            for name, output in outputs.items()
        },
    }


def _typed(value: object) -> object:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return Decimal(str(value))
    return value


def withdraw(chain: Chain) -> Transition:
    """The submitter takes the request back while it is in review or sent back for changes."""
    if chain.state not in (ChainState.IN_REVIEW, ChainState.CHANGES_REQUESTED):
        raise DecisionRefused(f"A request that is {_words(chain.state)} cannot be withdrawn.")
    actions: list[Action] = []
    chain = _cancel_open(chain, None, "the request was withdrawn", actions)
    steps = tuple(
        replace(s, state=StepState.CANCELLED)
        if s.state in (StepState.ACTIVE, StepState.BLOCKED, StepState.WAITING)
        else s
        for s in chain.steps
    )
    chain = replace(chain, state=ChainState.WITHDRAWN, steps=steps)
    actions.append(ChainFinished(ChainState.WITHDRAWN))
    return Transition(chain, tuple(actions))


# -- internals --------------------------------------------------------------------------------


def _advance(spec, chain: Chain, values, today, actions: list[Action]) -> Transition:
    """Move to the next step that needs people, skipping and auto-approving on the way."""
    for step_spec in spec.steps:
        step = chain.step(step_spec.name)
        if step.state in DONE_STEPS:
            continue
        if step.state != StepState.WAITING:
            return Transition(chain, tuple(actions))  # something is active or blocked
        values = scope(values, chain.outputs)
        if step_spec.when is not None and not is_true(step_spec.when.evaluate(values, today=today)):
            reason = f"not needed: “{step_spec.when}” is not true"
            chain = _set_step(chain, step_spec.name, StepState.SKIPPED, reason)
            actions.append(StepSkipped(step_spec.name, reason))
            continue
        if step_spec.auto_approve_if is not None and is_true(
            step_spec.auto_approve_if.evaluate(values, today=today)
        ):
            rule = str(step_spec.auto_approve_if)
            chain = _set_step(
                chain, step_spec.name, StepState.APPROVED, f"approved by rule “{rule}”"
            )
            actions.append(StepAutoApproved(step_spec.name, rule))
            continue
        chain = _set_step(chain, step_spec.name, StepState.ACTIVE)
        actions.append(AssigneesNeeded(step_spec.name))
        return Transition(chain, tuple(actions))
    chain = replace(chain, state=ChainState.APPROVED)
    actions.append(ChainFinished(ChainState.APPROVED))
    return Transition(chain, tuple(actions))


def _step_outcome(step: StepSpec, tasks: tuple[Task, ...], name: str) -> StepState | None:
    """The step's result once its tasks say enough, or None while it is still open."""
    seats: dict[str, list[TaskState]] = {}
    for task in tasks:
        if task.step == name:
            seats.setdefault(task.seat, []).append(task.state)
    states = [_seat_state(found) for found in seats.values()]
    states = [state for state in states if state != TaskState.CANCELLED]
    if TaskState.CHANGES_REQUESTED in states:
        return StepState.CHANGES_REQUESTED
    approvals = states.count(TaskState.APPROVED)
    still_open = states.count(TaskState.OPEN)
    if step.policy == "any":
        if approvals:
            return StepState.APPROVED
        if TaskState.REJECTED in states:
            return StepState.REJECTED
        return None
    needed = len(states) if step.policy == "all" else step.quorum
    if approvals >= needed:
        return StepState.APPROVED
    if approvals + still_open < needed:
        return StepState.REJECTED
    return None


def _seat_state(states: list[TaskState]) -> TaskState:
    """A slot's state: the decision made in it, else open while anyone in it may decide."""
    for state in states:
        if state in (TaskState.APPROVED, TaskState.REJECTED, TaskState.CHANGES_REQUESTED):
            return state
    if TaskState.OPEN in states or TaskState.RECOMMENDED in states:
        return TaskState.OPEN  # a recommendation waits for its review
    return TaskState.CANCELLED


def _finish_step(spec, chain, name, outcome, values, today, actions: list[Action]) -> Transition:
    reasons = {
        StepState.APPROVED: "the step was approved",
        StepState.REJECTED: "the step was rejected",
        StepState.CHANGES_REQUESTED: "changes were requested",
    }
    chain = _cancel_open(chain, name, reasons[outcome], actions)
    chain = _set_step(chain, name, outcome)
    actions.append(StepFinished(name, outcome))
    if outcome == StepState.APPROVED:
        return _advance(spec, chain, values, today, actions)
    if outcome == StepState.REJECTED:
        chain = replace(chain, state=ChainState.REJECTED)
        actions.append(ChainFinished(ChainState.REJECTED))
    else:
        chain = replace(chain, state=ChainState.CHANGES_REQUESTED, sent_back_by=name)
        actions.append(ChainFinished(ChainState.CHANGES_REQUESTED))
    return Transition(chain, tuple(actions))


def _block(chain: Chain, name: str, reason: str) -> Transition:
    chain = _set_step(chain, name, StepState.BLOCKED, reason)
    return Transition(chain, (StepBlocked(name, reason),))


def _cancel_open(chain: Chain, step: str | None, reason: str, actions: list[Action]) -> Chain:
    for task in chain.open_tasks(step):
        cancelled = replace(task, state=TaskState.CANCELLED)
        chain = _replace_task(chain, cancelled)
        actions.append(TaskCancelled(cancelled, reason))
    return chain


def _replace_task(chain: Chain, task: Task) -> Chain:
    return replace(chain, tasks=tuple(task if t.key == task.key else t for t in chain.tasks))


def _set_step(chain: Chain, name: str, state: StepState, reason: str = "") -> Chain:
    steps = tuple(
        replace(step, state=state, reason=reason) if step.name == name else step
        for step in chain.steps
    )
    return replace(chain, steps=steps)


def _words(state: ChainState) -> str:
    return state.value.replace("_", " ")
