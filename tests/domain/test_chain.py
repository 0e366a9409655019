"""The approval chain engine: every event, every policy, and invariants over random histories."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.domain.chain import (
    DONE_STEPS,
    AssigneesNeeded,
    AssigneeSpec,
    Chain,
    ChainFinished,
    ChainSpec,
    ChainState,
    Decision,
    DecisionRefused,
    RoundStarted,
    Step,
    StepAutoApproved,
    StepBlocked,
    StepFinished,
    StepSkipped,
    StepSpec,
    StepState,
    Task,
    TaskCancelled,
    TaskDecided,
    TaskOpened,
    TaskState,
    Transition,
    assignees_found,
    decide,
    sent_back_by,
    start,
    state_of,
    withdraw,
)
from portal.domain.expressions import parse

SUBMITTER = 1
COMMENT = "The cost centre is wrong."
VALUES = {"total": Decimal("1200"), "budgeted": True, "urgent": False}

A, R, C = Decision.APPROVE, Decision.REJECT, Decision.REQUEST_CHANGES
TASK_STATE = {A: TaskState.APPROVED, R: TaskState.REJECTED, C: TaskState.CHANGES_REQUESTED}


def step(
    name: str,
    *,
    policy: str = "any",
    quorum: int = 1,
    when: str | None = None,
    auto: str | None = None,
) -> StepSpec:
    """A step asking group `g`, with its conditions parsed from source."""
    return StepSpec(
        name=name,
        title=name.title(),
        assignees=(AssigneeSpec(group="g"),),
        policy=policy,
        quorum=quorum,
        when=parse(when) if when else None,
        auto_approve_if=parse(auto) if auto else None,
    )


def chain_spec(*steps: StepSpec, resume: bool = False) -> ChainSpec:
    return ChainSpec(steps=steps, fallback_group="fallback", resume_after_changes=resume)


TWO_STEPS = chain_spec(step("manager"), step("finance"))
THREE_STEPS = chain_spec(step("manager"), step("finance"), step("cfo"))


def key(step_name: str, user: int, round_: int = 1) -> str:
    return f"{round_}.{step_name}.{user}"


def begin(spec: ChainSpec, values=VALUES) -> Chain:
    """The chain after its first round started."""
    return start(spec, Chain(submitter=SUBMITTER), values).chain


def ask(spec: ChainSpec, chain: Chain, *users: int) -> Chain:
    """The chain after `users` were found for its active step."""
    return assignees_found(spec, chain, chain.active_step.name, list(users)).chain


def begin_asking(spec: ChainSpec, *users: int, values=VALUES) -> Chain:
    return ask(spec, begin(spec, values), *users)


def states(chain: Chain) -> list[StepState]:
    return [s.state for s in chain.steps]


def approve(spec: ChainSpec, chain: Chain, user: int = 2) -> Chain:
    """The chain after `user` approved the active step."""
    task = key(chain.active_step.name, user, chain.round)
    return decide(spec, chain, task, A, "", VALUES).chain


def sent_back(spec: ChainSpec, at: str) -> Chain:
    """The chain after step `at`, reached by approving the steps before it, asked for changes."""
    chain = begin_asking(spec, 2)
    while chain.active_step.name != at:
        chain = ask(spec, approve(spec, chain), 2)
    return decide(spec, chain, key(at, 2, chain.round), C, COMMENT, VALUES).chain


# -- start ------------------------------------------------------------------------------------


def test_first_round_starts_at_the_first_step():
    result = start(TWO_STEPS, Chain(submitter=SUBMITTER), VALUES)
    assert result.actions == (RoundStarted(1, None), AssigneesNeeded("manager"))
    assert result.chain == Chain(
        submitter=SUBMITTER,
        state=ChainState.IN_REVIEW,
        round=1,
        steps=(Step("manager", StepState.ACTIVE), Step("finance", StepState.WAITING)),
    )


@pytest.mark.parametrize(
    "when",
    ["total > 5000", "urgent", "not budgeted", "missing == 'x'", "total > missing"],
)
def test_step_whose_when_is_not_true_is_skipped_naming_the_expression(when):
    spec = chain_spec(step("manager", when=when), step("finance"))
    result = start(spec, Chain(submitter=SUBMITTER), VALUES)
    reason = f"not needed: “{when}” is not true"
    assert result.actions == (
        RoundStarted(1, None),
        StepSkipped("manager", reason),
        AssigneesNeeded("finance"),
    )
    assert result.chain.steps == (
        Step("manager", StepState.SKIPPED, reason),
        Step("finance", StepState.ACTIVE),
    )


@pytest.mark.parametrize("when", ["total > 1000", "budgeted", "not urgent"])
def test_step_whose_when_is_true_asks_people(when):
    spec = chain_spec(step("manager", when=when), step("finance"))
    result = start(spec, Chain(submitter=SUBMITTER), VALUES)
    assert result.actions == (RoundStarted(1, None), AssigneesNeeded("manager"))


@pytest.mark.parametrize("rule", ["total < 5000", "budgeted and not urgent"])
def test_step_whose_auto_approve_if_is_true_is_approved_naming_the_rule(rule):
    spec = chain_spec(step("manager", auto=rule), step("finance"))
    result = start(spec, Chain(submitter=SUBMITTER), VALUES)
    assert result.actions == (
        RoundStarted(1, None),
        StepAutoApproved("manager", rule),
        AssigneesNeeded("finance"),
    )
    assert result.chain.step("manager") == Step(
        "manager", StepState.APPROVED, f"approved by rule “{rule}”"
    )


@pytest.mark.parametrize("rule", ["total < 100", "urgent", "missing > 1"])
def test_step_whose_auto_approve_if_is_not_true_asks_people(rule):
    spec = chain_spec(step("manager", auto=rule))
    result = start(spec, Chain(submitter=SUBMITTER), VALUES)
    assert result.actions == (RoundStarted(1, None), AssigneesNeeded("manager"))


def test_when_is_checked_before_auto_approve_if():
    spec = chain_spec(step("manager", when="urgent", auto="budgeted"), step("finance"))
    result = start(spec, Chain(submitter=SUBMITTER), VALUES)
    assert result.chain.step("manager").state == StepState.SKIPPED
    assert not any(isinstance(action, StepAutoApproved) for action in result.actions)


def test_conditions_see_the_date_given_as_today():
    spec = chain_spec(step("manager", when="today() > due"))
    values = {"due": dt.date(2026, 3, 1)}
    before = start(spec, Chain(submitter=SUBMITTER), values, today=dt.date(2026, 2, 1))
    after = start(spec, Chain(submitter=SUBMITTER), values, today=dt.date(2026, 4, 1))
    assert before.chain.step("manager").state == StepState.SKIPPED
    assert after.chain.step("manager").state == StepState.ACTIVE


def test_chain_of_skipped_and_auto_approved_steps_is_approved_at_once():
    spec = chain_spec(step("manager", auto="total < 5000"), step("cfo", when="total > 5000"))
    result = start(spec, Chain(submitter=SUBMITTER), VALUES)
    assert result.actions == (
        RoundStarted(1, None),
        StepAutoApproved("manager", "total < 5000"),
        StepSkipped("cfo", "not needed: “total > 5000” is not true"),
        ChainFinished(ChainState.APPROVED),
    )
    assert result.chain.state == ChainState.APPROVED
    assert result.chain.tasks == ()
    assert state_of(result.chain.steps) == ChainState.APPROVED


def test_first_step_that_needs_people_is_the_one_asked():
    spec = chain_spec(
        step("manager", auto="total < 5000"),
        step("budget", when="not budgeted"),
        step("finance"),
        step("cfo"),
    )
    result = start(spec, Chain(submitter=SUBMITTER), VALUES)
    assert result.actions[-1] == AssigneesNeeded("finance")
    assert states(result.chain) == [
        StepState.APPROVED,
        StepState.SKIPPED,
        StepState.ACTIVE,
        StepState.WAITING,
    ]
    assert result.chain.active_step.name == "finance"


def _running():
    return begin_asking(TWO_STEPS, 2, 3)


def _blocked():
    return begin_asking(TWO_STEPS)


def _approved():
    return approve(TWO_STEPS, ask(TWO_STEPS, approve(TWO_STEPS, _running()), 2))


def _rejected():
    return decide(TWO_STEPS, _running(), key("manager", 2), R, COMMENT, VALUES).chain


def _withdrawn():
    return withdraw(_running()).chain


def _withdrawn_before_starting():
    return withdraw(Chain(submitter=SUBMITTER)).chain


NOTHING_TO_START = {
    "a round is running": _running,
    "a step is blocked": _blocked,
    "the round waits for assignees": lambda: begin(TWO_STEPS),
    "approved": _approved,
    "rejected": _rejected,
    "withdrawn": _withdrawn,
    "withdrawn before it started": _withdrawn_before_starting,
}


@pytest.mark.parametrize("make", NOTHING_TO_START.values(), ids=NOTHING_TO_START.keys())
def test_start_changes_nothing_unless_a_round_is_due(make):
    chain = make()
    result = start(TWO_STEPS, chain, VALUES)
    assert result.chain is chain
    assert result.actions == ()


def test_restart_after_changes_begins_again_at_the_first_step():
    chain = sent_back(THREE_STEPS, "finance")
    result = start(THREE_STEPS, chain, VALUES)
    assert result.actions == (RoundStarted(2, None), AssigneesNeeded("manager"))
    assert result.chain == Chain(
        submitter=SUBMITTER,
        round=2,
        steps=(
            Step("manager", StepState.ACTIVE),
            Step("finance", StepState.WAITING),
            Step("cfo", StepState.WAITING),
        ),
    )


def test_resume_after_changes_begins_at_the_step_that_asked():
    spec = chain_spec(step("manager"), step("finance"), step("cfo"), resume=True)
    chain = sent_back(spec, "finance")
    result = start(spec, chain, VALUES)
    assert result.actions == (RoundStarted(2, "finance"), AssigneesNeeded("finance"))
    assert result.chain.steps == (
        Step("manager", StepState.APPROVED, "decided in an earlier round"),
        Step("finance", StepState.ACTIVE),
        Step("cfo", StepState.WAITING),
    )
    assert result.chain.tasks == ()
    assert result.chain.sent_back_by is None
    assert result.chain.state == ChainState.IN_REVIEW


def test_resumed_round_keeps_the_reasons_of_earlier_skips_and_rules():
    spec = chain_spec(
        step("manager", auto="total < 5000"),
        step("budget", when="not budgeted"),
        step("finance"),
        resume=True,
    )
    chain = sent_back(spec, "finance")
    result = start(spec, chain, VALUES)
    assert result.chain.steps[:2] == (
        Step("manager", StepState.APPROVED, "approved by rule “total < 5000”"),
        Step("budget", StepState.SKIPPED, "not needed: “not budgeted” is not true"),
    )
    assert result.actions == (RoundStarted(2, "finance"), AssigneesNeeded("finance"))


def test_resume_at_the_first_step_is_a_full_round():
    spec = chain_spec(step("manager"), step("finance"), resume=True)
    result = start(spec, sent_back(spec, "manager"), VALUES)
    assert result.actions == (RoundStarted(2, "manager"), AssigneesNeeded("manager"))
    assert states(result.chain) == [StepState.ACTIVE, StepState.WAITING]


def test_resumed_round_checks_the_conditions_again_from_the_step_that_asked():
    spec = chain_spec(step("manager"), step("finance", auto="total < 1000"), resume=True)
    chain = sent_back(spec, "finance")
    result = start(spec, chain, {**VALUES, "total": Decimal("900")})
    assert result.actions == (
        RoundStarted(2, "finance"),
        StepAutoApproved("finance", "total < 1000"),
        ChainFinished(ChainState.APPROVED),
    )
    assert result.chain.state == ChainState.APPROVED


def test_restarted_round_checks_every_condition_again():
    spec = chain_spec(step("manager", auto="total < 1000"), step("finance"))
    chain = sent_back(spec, "finance")
    result = start(spec, chain, {**VALUES, "total": Decimal("900")})
    assert result.actions == (
        RoundStarted(2, None),
        StepAutoApproved("manager", "total < 1000"),
        AssigneesNeeded("finance"),
    )


@pytest.mark.parametrize("resume", [False, True], ids=["restart", "resume"])
def test_round_numbers_and_task_keys_count_up_with_each_resubmission(resume):
    spec = chain_spec(step("manager"), step("finance"), resume=resume)
    chain = begin_asking(spec, 2)
    for round_ in (1, 2, 3):
        assert chain.round == round_
        assert [task.key for task in chain.tasks] == [f"{round_}.manager.2"]
        chain = decide(spec, chain, f"{round_}.manager.2", C, COMMENT, VALUES).chain
        assert chain.state == ChainState.CHANGES_REQUESTED
        chain = ask(spec, start(spec, chain, VALUES).chain, 2)


def test_task_from_an_earlier_round_is_not_part_of_the_request():
    chain = sent_back(TWO_STEPS, "manager")
    chain = ask(TWO_STEPS, start(TWO_STEPS, chain, VALUES).chain, 2)
    with pytest.raises(DecisionRefused, match="not part of the request as it stands now"):
        decide(TWO_STEPS, chain, key("manager", 2, 1), A, "", VALUES)


# -- assignees_found --------------------------------------------------------------------------


def test_assignees_found_opens_one_task_per_person():
    chain = begin(TWO_STEPS)
    result = assignees_found(TWO_STEPS, chain, "manager", [4, 2, 3])
    opened = (
        Task("1.manager.4", "manager", 4),
        Task("1.manager.2", "manager", 2),
        Task("1.manager.3", "manager", 3),
    )
    assert result.actions == tuple(TaskOpened(task) for task in opened)
    assert result.chain.tasks == opened
    assert all(task.state == TaskState.OPEN for task in opened)
    assert result.chain.steps == chain.steps


@pytest.mark.parametrize(
    ("users", "asked"),
    [
        ([SUBMITTER, 2], [2]),
        ([2, SUBMITTER, 3], [2, 3]),
        ([2, 3, 2], [2, 3]),
        ([3, 3, 3], [3]),
        ([SUBMITTER, 2, SUBMITTER, 2], [2]),
    ],
    ids=["submitter", "submitter among others", "duplicate", "one person thrice", "both"],
)
def test_assignees_found_asks_each_person_once_and_never_the_submitter(users, asked):
    result = assignees_found(TWO_STEPS, begin(TWO_STEPS), "manager", users)
    assert [task.assignee for task in result.chain.tasks] == asked
    assert [action.task.assignee for action in result.actions] == asked


@pytest.mark.parametrize("users", [[], [SUBMITTER], [SUBMITTER, SUBMITTER]])
def test_step_with_nobody_to_ask_is_blocked(users):
    result = assignees_found(TWO_STEPS, begin(TWO_STEPS), "manager", users)
    reason = "nobody could be found to decide this step"
    assert result.actions == (StepBlocked("manager", reason),)
    assert result.chain.step("manager") == Step("manager", StepState.BLOCKED, reason)
    assert result.chain.tasks == ()
    assert result.chain.state == ChainState.IN_REVIEW
    assert result.chain.active_step.name == "manager"
    assert state_of(result.chain.steps) == ChainState.IN_REVIEW


@pytest.mark.parametrize(
    ("quorum", "users", "found"),
    [(2, [2], 1), (3, [2, 3], 2), (3, [2, 3, SUBMITTER], 2), (3, [2, 3, 3, 2], 2)],
)
def test_quorum_step_without_enough_people_is_blocked(quorum, users, found):
    spec = chain_spec(step("panel", policy="quorum", quorum=quorum))
    result = assignees_found(spec, begin(spec), "panel", users)
    reason = f"{quorum} approvals are needed but only {found} people can decide"
    assert result.actions == (StepBlocked("panel", reason),)
    assert result.chain.step("panel") == Step("panel", StepState.BLOCKED, reason)
    assert result.chain.tasks == ()


def test_quorum_step_with_exactly_enough_people_asks_them():
    spec = chain_spec(step("panel", policy="quorum", quorum=2))
    result = assignees_found(spec, begin(spec), "panel", [2, SUBMITTER, 3])
    assert [task.key for task in result.chain.tasks] == ["1.panel.2", "1.panel.3"]
    assert result.chain.step("panel").state == StepState.ACTIVE


REPEATS = {
    "after tasks were opened": (lambda: begin_asking(TWO_STEPS, 2), "manager"),
    "after the step was blocked": (lambda: begin_asking(TWO_STEPS), "manager"),
    "for a step not reached yet": (lambda: begin_asking(TWO_STEPS, 2), "finance"),
    "for a step already approved": (
        lambda: ask(TWO_STEPS, approve(TWO_STEPS, begin_asking(TWO_STEPS, 2)), 3),
        "manager",
    ),
    "for a skipped step": (
        lambda: begin(chain_spec(step("manager", when="urgent"), step("finance"))),
        "manager",
    ),
    "after the chain was approved": (_approved, "finance"),
    "after the chain was rejected": (_rejected, "manager"),
    "after changes were requested": (lambda: sent_back(TWO_STEPS, "manager"), "manager"),
    "after the chain was withdrawn": (_withdrawn, "manager"),
}


@pytest.mark.parametrize(("make", "name"), REPEATS.values(), ids=REPEATS.keys())
def test_assignees_found_changes_nothing_unless_the_step_waits_for_people(make, name):
    chain = make()
    result = assignees_found(TWO_STEPS, chain, name, [2, 3, 4])
    assert result.chain is chain
    assert result.actions == ()


# -- decide -----------------------------------------------------------------------------------

POLICIES = [
    # policy, quorum, people asked, decisions in order (by users 2, 3, ...), the step's outcome
    ("any", 1, 1, [A], StepState.APPROVED),
    ("any", 1, 3, [A], StepState.APPROVED),
    ("any", 1, 3, [R], StepState.REJECTED),
    ("any", 1, 3, [C], StepState.CHANGES_REQUESTED),
    ("all", 1, 1, [A], StepState.APPROVED),
    ("all", 1, 3, [A], None),
    ("all", 1, 3, [A, A], None),
    ("all", 1, 3, [A, A, A], StepState.APPROVED),
    ("all", 1, 3, [R], StepState.REJECTED),
    ("all", 1, 3, [A, A, R], StepState.REJECTED),
    ("all", 1, 3, [A, C], StepState.CHANGES_REQUESTED),
    ("quorum", 1, 3, [A], StepState.APPROVED),
    ("quorum", 1, 3, [R, R], None),
    ("quorum", 1, 3, [R, R, R], StepState.REJECTED),
    ("quorum", 1, 3, [R, A], StepState.APPROVED),
    ("quorum", 2, 3, [A], None),
    ("quorum", 2, 3, [R], None),
    ("quorum", 2, 3, [A, A], StepState.APPROVED),
    ("quorum", 2, 3, [R, A], None),
    ("quorum", 2, 3, [A, R], None),
    ("quorum", 2, 3, [R, A, A], StepState.APPROVED),
    ("quorum", 2, 3, [A, R, R], StepState.REJECTED),
    ("quorum", 2, 3, [R, R], StepState.REJECTED),
    ("quorum", 2, 3, [A, C], StepState.CHANGES_REQUESTED),
    ("quorum", 2, 3, [R, C], StepState.CHANGES_REQUESTED),
    ("quorum", 3, 3, [A, A], None),
    ("quorum", 3, 3, [A, A, A], StepState.APPROVED),
    ("quorum", 3, 3, [R], StepState.REJECTED),
    ("quorum", 3, 3, [A, A, R], StepState.REJECTED),
    ("quorum", 3, 4, [R], None),
    ("quorum", 3, 4, [R, R], StepState.REJECTED),
    ("quorum", 3, 4, [A, R, A, A], StepState.APPROVED),
]

CHAIN_OUTCOME = {
    StepState.APPROVED: ChainState.APPROVED,
    StepState.REJECTED: ChainState.REJECTED,
    StepState.CHANGES_REQUESTED: ChainState.CHANGES_REQUESTED,
}
CANCEL_REASON = {
    StepState.APPROVED: "the step was approved",
    StepState.REJECTED: "the step was rejected",
    StepState.CHANGES_REQUESTED: "changes were requested",
}


def _policy_id(case) -> str:
    policy, quorum, people, decisions, _ = case
    name = f"quorum {quorum}" if policy == "quorum" else policy
    return f"{name} of {people}: " + " ".join(d.value for d in decisions)


@pytest.mark.parametrize(
    ("policy", "quorum", "people", "decisions", "outcome"),
    POLICIES,
    ids=[_policy_id(case) for case in POLICIES],
)
def test_policy_decides_the_step_as_soon_as_its_answers_say_enough(
    policy, quorum, people, decisions, outcome
):
    spec = chain_spec(step("panel", policy=policy, quorum=quorum))
    users = list(range(2, 2 + people))
    chain = begin_asking(spec, *users)
    for user, decision in zip(users, decisions, strict=False):
        assert chain.step("panel").state == StepState.ACTIVE  # nothing decided it earlier
        result = decide(spec, chain, key("panel", user), decision, COMMENT, VALUES)
        chain = result.chain
    last, undecided = users[len(decisions) - 1], users[len(decisions) :]
    decided = TaskDecided(
        Task(key("panel", last), "panel", last, TASK_STATE[decisions[-1]]), decisions[-1], COMMENT
    )
    if outcome is None:
        assert chain.step("panel").state == StepState.ACTIVE
        assert chain.state == ChainState.IN_REVIEW
        assert [task.assignee for task in chain.open_tasks()] == undecided
        assert result.actions == (decided,)
        return
    assert chain.step("panel").state == outcome
    assert chain.state == CHAIN_OUTCOME[outcome]
    assert chain.open_tasks() == []
    assert result.actions == (
        decided,
        *(
            TaskCancelled(
                Task(key("panel", user), "panel", user, TaskState.CANCELLED),
                CANCEL_REASON[outcome],
            )
            for user in undecided
        ),
        StepFinished("panel", outcome),
        ChainFinished(CHAIN_OUTCOME[outcome]),
    )


def test_approved_step_activates_the_next_and_cancels_its_other_tasks():
    chain = begin_asking(TWO_STEPS, 2, 3)
    result = decide(TWO_STEPS, chain, "1.manager.3", A, "  fine  ", VALUES)
    assert result.actions == (
        TaskDecided(Task("1.manager.3", "manager", 3, TaskState.APPROVED), A, "fine"),
        TaskCancelled(
            Task("1.manager.2", "manager", 2, TaskState.CANCELLED), "the step was approved"
        ),
        StepFinished("manager", StepState.APPROVED),
        AssigneesNeeded("finance"),
    )
    assert states(result.chain) == [StepState.APPROVED, StepState.ACTIVE]
    assert result.chain.state == ChainState.IN_REVIEW
    assert result.chain.open_tasks() == []


def test_approval_skips_and_auto_approves_the_steps_after_it():
    spec = chain_spec(
        step("manager"), step("budget", when="not budgeted"), step("cfo", auto="total < 5000")
    )
    result = decide(spec, begin_asking(spec, 2), "1.manager.2", A, "", VALUES)
    assert result.actions[-4:] == (
        StepFinished("manager", StepState.APPROVED),
        StepSkipped("budget", "not needed: “not budgeted” is not true"),
        StepAutoApproved("cfo", "total < 5000"),
        ChainFinished(ChainState.APPROVED),
    )
    assert result.chain.state == ChainState.APPROVED
    assert states(result.chain) == [StepState.APPROVED, StepState.SKIPPED, StepState.APPROVED]


def test_conditions_after_an_approval_see_the_values_given_to_decide():
    spec = chain_spec(step("manager"), step("cfo", when="total > 5000"))
    chain = begin_asking(spec, 2)
    small = decide(spec, chain, "1.manager.2", A, "", VALUES).chain
    large = decide(spec, chain, "1.manager.2", A, "", {**VALUES, "total": Decimal(9000)}).chain
    assert small.state == ChainState.APPROVED
    assert large.step("cfo").state == StepState.ACTIVE


def test_last_step_approved_approves_the_chain():
    chain = _approved()
    assert chain.state == ChainState.APPROVED
    assert states(chain) == [StepState.APPROVED, StepState.APPROVED]
    assert chain.active_step is None


@pytest.mark.parametrize("policy", ["any", "all", "quorum"])
def test_request_changes_by_anyone_sends_the_chain_back(policy):
    spec = chain_spec(step("manager"), step("panel", policy=policy, quorum=2), step("cfo"))
    chain = ask(spec, approve(spec, begin_asking(spec, 2)), 2, 3, 4)
    chain = decide(spec, chain, "1.panel.2", A, "", VALUES).chain if policy != "any" else chain
    result = decide(spec, chain, "1.panel.3", C, COMMENT, VALUES)
    assert result.chain.state == ChainState.CHANGES_REQUESTED
    assert result.chain.sent_back_by == "panel"
    assert sent_back_by(result.chain.steps) == "panel"
    assert states(result.chain) == [
        StepState.APPROVED,
        StepState.CHANGES_REQUESTED,
        StepState.WAITING,
    ]
    assert result.actions[-2:] == (
        StepFinished("panel", StepState.CHANGES_REQUESTED),
        ChainFinished(ChainState.CHANGES_REQUESTED),
    )
    assert (
        TaskCancelled(Task("1.panel.4", "panel", 4, TaskState.CANCELLED), "changes were requested")
        in result.actions
    )
    assert result.chain.open_tasks() == []


def test_rejection_ends_the_chain_and_leaves_later_steps_waiting():
    result = decide(THREE_STEPS, begin_asking(THREE_STEPS, 2), "1.manager.2", R, COMMENT, VALUES)
    assert result.chain.state == ChainState.REJECTED
    assert states(result.chain) == [StepState.REJECTED, StepState.WAITING, StepState.WAITING]
    assert result.chain.sent_back_by is None
    assert result.actions[-1] == ChainFinished(ChainState.REJECTED)


@pytest.mark.parametrize("decision", [R, C])
@pytest.mark.parametrize("comment", ["", "   \n ", None])
def test_rejecting_or_requesting_changes_needs_a_comment(decision, comment):
    chain = begin_asking(TWO_STEPS, 2)
    what = "why you reject it" if decision == R else "what needs to change"
    with pytest.raises(DecisionRefused) as info:
        decide(TWO_STEPS, chain, "1.manager.2", decision, comment, VALUES)
    assert str(info.value) == f"Add a comment that says {what}."


@pytest.mark.parametrize("comment", ["", None, "  Looks right.  "])
def test_approving_needs_no_comment_and_the_comment_is_trimmed(comment):
    result = decide(TWO_STEPS, begin_asking(TWO_STEPS, 2), "1.manager.2", A, comment, VALUES)
    assert result.actions[0].comment == ("Looks right." if comment else "")


def _decided():
    return ask(TWO_STEPS, approve(TWO_STEPS, _running()), 4)


def _cancelled():
    return approve(TWO_STEPS, begin_asking(TWO_STEPS, 2, 3))


def _own_task():
    # Never produced by the engine; the check stands on its own should a task row say so.
    chain = begin(TWO_STEPS)
    return Chain(
        submitter=SUBMITTER,
        round=1,
        steps=chain.steps,
        tasks=(Task("1.manager.1", "manager", SUBMITTER),),
    )


REFUSED = {
    "a task already decided": (_decided, "1.manager.2", "This task has already been decided."),
    "a task closed when the step was decided": (
        _cancelled,
        "1.manager.3",
        "This task was closed: the step was decided without it.",
    ),
    "an unknown task": (
        lambda: begin_asking(TWO_STEPS, 2),
        "1.manager.9",
        "This task is not part of the request as it stands now.",
    ),
    "a task of a step not reached": (
        lambda: begin_asking(TWO_STEPS, 2),
        "1.finance.2",
        "This task is not part of the request as it stands now.",
    ),
    "the submitter's own task": (
        _own_task,
        "1.manager.1",
        "You cannot decide on your own request.",
    ),
    "after approval": (
        _approved,
        "1.finance.2",
        "This request is no longer in review; it is approved.",
    ),
    "after rejection, its deciding task": (
        _rejected,
        "1.manager.2",
        "This request is no longer in review; it is rejected.",
    ),
    "after rejection, a closed task": (
        _rejected,
        "1.manager.3",
        "This request is no longer in review; it is rejected.",
    ),
    "after changes were requested": (
        lambda: sent_back(TWO_STEPS, "manager"),
        "1.manager.2",
        "This request is no longer in review; it is changes requested.",
    ),
    "after withdrawal": (
        _withdrawn,
        "1.manager.2",
        "This request is no longer in review; it is withdrawn.",
    ),
}


@pytest.mark.parametrize("decision", list(Decision))
@pytest.mark.parametrize(("make", "task", "message"), REFUSED.values(), ids=REFUSED.keys())
def test_decision_that_cannot_be_taken_is_refused(make, task, message, decision):
    with pytest.raises(DecisionRefused) as info:
        decide(TWO_STEPS, make(), task, decision, COMMENT, VALUES)
    assert str(info.value) == message


def test_second_answer_in_an_open_step_is_refused_for_the_same_person():
    spec = chain_spec(step("panel", policy="all"))
    once = decide(spec, begin_asking(spec, 2, 3), "1.panel.2", A, "", VALUES).chain
    assert once.step("panel").state == StepState.ACTIVE
    with pytest.raises(DecisionRefused, match="This task has already been decided."):
        decide(spec, once, "1.panel.2", R, COMMENT, VALUES)


# -- withdraw ---------------------------------------------------------------------------------


def test_withdraw_in_review_cancels_open_tasks_and_pending_steps():
    spec = chain_spec(step("manager", auto="total < 5000"), step("finance"), step("cfo"))
    chain = begin_asking(spec, 2, 3)
    result = withdraw(chain)
    reason = "the request was withdrawn"
    assert result.actions == (
        TaskCancelled(Task("1.finance.2", "finance", 2, TaskState.CANCELLED), reason),
        TaskCancelled(Task("1.finance.3", "finance", 3, TaskState.CANCELLED), reason),
        ChainFinished(ChainState.WITHDRAWN),
    )
    assert result.chain.state == ChainState.WITHDRAWN
    assert states(result.chain) == [StepState.APPROVED, StepState.CANCELLED, StepState.CANCELLED]
    assert result.chain.step("manager").reason == "approved by rule “total < 5000”"
    assert result.chain.open_tasks() == []
    assert state_of(result.chain.steps) == ChainState.WITHDRAWN


def test_withdraw_keeps_decided_tasks_as_they_were():
    spec = chain_spec(step("panel", policy="all"))
    chain = decide(spec, begin_asking(spec, 2, 3), "1.panel.2", A, "", VALUES).chain
    result = withdraw(chain)
    assert result.chain.task("1.panel.2").state == TaskState.APPROVED
    assert result.chain.task("1.panel.3").state == TaskState.CANCELLED


def test_withdraw_a_blocked_step_cancels_it():
    result = withdraw(_blocked())
    assert result.actions == (ChainFinished(ChainState.WITHDRAWN),)
    assert states(result.chain) == [StepState.CANCELLED, StepState.CANCELLED]
    assert result.chain.state == ChainState.WITHDRAWN


def test_withdraw_after_changes_were_requested():
    chain = sent_back(THREE_STEPS, "finance")
    result = withdraw(chain)
    assert result.actions == (ChainFinished(ChainState.WITHDRAWN),)
    assert result.chain.state == ChainState.WITHDRAWN
    assert states(result.chain) == [
        StepState.APPROVED,
        StepState.CHANGES_REQUESTED,
        StepState.CANCELLED,
    ]
    # The round's steps say it was withdrawn, so a chain read back from them cannot restart.
    assert state_of(result.chain.steps) == ChainState.WITHDRAWN
    assert start(THREE_STEPS, result.chain, VALUES).chain is result.chain


def test_withdraw_before_the_first_round_means_none_starts():
    chain = withdraw(Chain(submitter=SUBMITTER)).chain
    assert chain.state == ChainState.WITHDRAWN
    assert start(TWO_STEPS, chain, VALUES).actions == ()


@pytest.mark.parametrize(
    ("make", "words"),
    [(_approved, "approved"), (_rejected, "rejected"), (_withdrawn, "withdrawn")],
)
def test_withdraw_is_refused_once_the_chain_is_final(make, words):
    chain = make()
    with pytest.raises(DecisionRefused) as info:
        withdraw(chain)
    assert str(info.value) == f"A request that is {words} cannot be withdrawn."


# -- reading a round back from its steps ------------------------------------------------------

W, ACT, BL = StepState.WAITING, StepState.ACTIVE, StepState.BLOCKED
OK, SK, REJ, CR, CAN = (
    StepState.APPROVED,
    StepState.SKIPPED,
    StepState.REJECTED,
    StepState.CHANGES_REQUESTED,
    StepState.CANCELLED,
)

ROUNDS = [
    ((), ChainState.IN_REVIEW, None),
    ((W,), ChainState.IN_REVIEW, None),
    ((ACT, W), ChainState.IN_REVIEW, None),
    ((BL, W), ChainState.IN_REVIEW, None),
    ((OK, ACT, W), ChainState.IN_REVIEW, None),
    ((SK, OK, BL), ChainState.IN_REVIEW, None),
    ((OK,), ChainState.APPROVED, None),
    ((SK,), ChainState.APPROVED, None),
    ((OK, SK, OK), ChainState.APPROVED, None),
    ((SK, SK), ChainState.APPROVED, None),
    ((REJ, W), ChainState.REJECTED, None),
    ((OK, SK, REJ), ChainState.REJECTED, None),
    ((CR, W, W), ChainState.CHANGES_REQUESTED, "s0"),
    ((OK, CR), ChainState.CHANGES_REQUESTED, "s1"),
    ((SK, CR, W), ChainState.CHANGES_REQUESTED, "s1"),
    ((CAN, CAN), ChainState.WITHDRAWN, None),
    ((OK, CAN, CAN), ChainState.WITHDRAWN, None),
    ((OK, SK, CAN), ChainState.WITHDRAWN, None),
    ((OK, CR, CAN), ChainState.WITHDRAWN, "s1"),
]


@pytest.mark.parametrize(
    ("step_states", "state", "asked"),
    ROUNDS,
    ids=["-".join(s.value for s in case[0]) or "no steps" for case in ROUNDS],
)
def test_round_state_and_who_sent_it_back_are_read_off_its_steps(step_states, state, asked):
    steps = tuple(Step(f"s{i}", s) for i, s in enumerate(step_states))
    assert state_of(steps) == state
    assert state_of(list(steps)) == state
    assert sent_back_by(steps) == asked


def test_done_steps_are_approved_and_skipped():
    assert DONE_STEPS == {StepState.APPROVED, StepState.SKIPPED}


@pytest.mark.parametrize(
    ("decision", "label"),
    [(A, "Approved"), (R, "Rejected"), (C, "Changes requested")],
)
def test_decision_labels(decision, label):
    assert decision.label == label


@pytest.mark.parametrize(
    ("policy", "quorum", "text"),
    [
        ("any", 1, "the first answer decides"),
        ("all", 1, "everyone must approve"),
        ("quorum", 3, "3 approvals needed"),
    ],
)
def test_policy_text(policy, quorum, text):
    assert step("s", policy=policy, quorum=quorum).policy_text == text


# -- invariants over random histories ---------------------------------------------------------

CONDITIONS = [
    "total > 100",
    "total >= 1000",
    "budgeted",
    "not budgeted",
    "urgent",
    "urgent or total > 1000",
    "missing == 'x'",
]
POLICY_NAMES = ["any", "all", "quorum"]
#: Who a step's assignees resolve to; the submitter among them now and then, or alone.
PEOPLE = st.lists(st.integers(SUBMITTER, 8), min_size=1, max_size=6)
FORM_VALUES = st.fixed_dictionaries(
    {
        "total": st.sampled_from([Decimal(40), Decimal(400), Decimal(4000)]),
        "budgeted": st.booleans(),
        "urgent": st.booleans(),
    }
)


@st.composite
def chain_specs(draw) -> ChainSpec:
    steps = []
    for index in range(draw(st.integers(1, 4))):
        policy = draw(st.sampled_from(POLICY_NAMES))
        steps.append(
            step(
                f"s{index}",
                policy=policy,
                quorum=draw(st.integers(1, 3)) if policy == "quorum" else 1,
                when=draw(st.sampled_from([None] * 7 + CONDITIONS)),
                auto=draw(st.sampled_from([None] * 10 + CONDITIONS)),
            )
        )
    return chain_spec(*steps, resume=draw(st.booleans()))


def _policy_outcome(spec: StepSpec, tasks: list[Task], decision: Decision) -> StepState | None:
    """What the module docstring says the step becomes after `decision`, from first principles."""
    if decision == C:
        return StepState.CHANGES_REQUESTED
    approvals = sum(task.state == TaskState.APPROVED for task in tasks)
    still_open = sum(task.state == TaskState.OPEN for task in tasks)
    if spec.policy == "any":  # the first answer decides
        return StepState.APPROVED if decision == A else StepState.REJECTED
    if spec.policy == "all":  # everyone must approve; one rejection rejects
        if decision == R:
            return StepState.REJECTED
        return StepState.APPROVED if still_open == 0 else None
    if approvals >= spec.quorum:
        return StepState.APPROVED
    return StepState.REJECTED if approvals + still_open < spec.quorum else None


def check_chain(spec: ChainSpec, chain: Chain, closed: dict[str, Task]) -> None:
    """Everything that must hold of any chain the engine hands out."""
    if chain.round == 0:
        assert chain.steps == () and chain.tasks == ()
        assert chain.state in (ChainState.IN_REVIEW, ChainState.WITHDRAWN)
        return
    assert [s.name for s in chain.steps] == [s.name for s in spec.steps]
    # One outcome at most: never rejected and sent back, never twice either.
    assert (
        sum(s.state in (StepState.REJECTED, StepState.CHANGES_REQUESTED) for s in chain.steps) <= 1
    )
    assert state_of(chain.steps) == chain.state or (
        # Withdrawn after the last step asked for changes: no pending step was left to cancel.
        chain.state == ChainState.WITHDRAWN and chain.steps[-1].state == StepState.CHANGES_REQUESTED
    )
    if chain.state != ChainState.IN_REVIEW:
        assert chain.open_tasks() == []
    if chain.state == ChainState.CHANGES_REQUESTED:
        assert chain.sent_back_by == sent_back_by(chain.steps) is not None
    current = [s for s in chain.steps if s.state in (StepState.ACTIVE, StepState.BLOCKED)]
    assert len(current) == (1 if chain.state == ChainState.IN_REVIEW else 0)
    if current:
        position = chain.steps.index(current[0])
        assert all(s.state in DONE_STEPS for s in chain.steps[:position])
        assert all(s.state == StepState.WAITING for s in chain.steps[position + 1 :])
        if current[0].state == StepState.BLOCKED:
            assert current[0].reason
    for task in chain.open_tasks():
        assert chain.step(task.step).state == StepState.ACTIVE
    keys = [task.key for task in chain.tasks]
    assert len(keys) == len(set(keys))
    for task in chain.tasks:
        assert task.key == f"{chain.round}.{task.step}.{task.assignee}"
        assert task.assignee != chain.submitter
        if task.key in closed:
            assert task == closed[task.key]  # decided or cancelled once, never again
        elif task.state != TaskState.OPEN:
            closed[task.key] = task


def check_actions(spec: ChainSpec, before: Chain, after: Chain, actions: tuple) -> None:
    """The actions describe exactly what changed between `before` and `after`."""
    kinds = [type(action) for action in actions]
    new_round = after.round != before.round
    if new_round:
        assert after.round == before.round + 1
        assert actions[0] == RoundStarted(after.round, actions[0].resumed_at)
        assert kinds.count(RoundStarted) == 1
    else:
        assert RoundStarted not in kinds
    ended = after.state != ChainState.IN_REVIEW and (after.state != before.state or new_round)
    assert kinds.count(ChainFinished) == (1 if ended else 0)
    if ended:
        assert actions[-1] == ChainFinished(after.state)

    old_tasks = {} if new_round else {task.key: task for task in before.tasks}
    new_tasks = {task.key: task for task in after.tasks}
    assert set(old_tasks) <= set(new_tasks)  # a task never disappears within its round
    opened = [action.task for action in actions if isinstance(action, TaskOpened)]
    assert [task.key for task in opened] == [k for k in new_tasks if k not in old_tasks]
    assert all(new_tasks[task.key] == task and task.state == TaskState.OPEN for task in opened)
    decided = {a.task.key: a for a in actions if isinstance(a, TaskDecided)}
    cancelled = {a.task.key: a for a in actions if isinstance(a, TaskCancelled)}
    changed = {k for k in old_tasks if new_tasks[k] != old_tasks[k]}
    assert changed == set(decided) | set(cancelled)
    assert not set(decided) & set(cancelled)
    assert len(decided) <= 1
    for task_key, action in decided.items():
        assert old_tasks[task_key].state == TaskState.OPEN
        assert action.task == new_tasks[task_key]
        assert action.task.state == TASK_STATE[action.decision]
    for task_key, action in cancelled.items():
        assert old_tasks[task_key].state == TaskState.OPEN
        assert action.task == new_tasks[task_key]
        assert action.task.state == TaskState.CANCELLED
        assert action.reason

    # Each step whose state changed has one action saying so; a step that did not, none.
    if new_round:
        resumed_at = actions[0].resumed_at
        names = [s.name for s in spec.steps]
        kept = names[: names.index(resumed_at)] if resumed_at else []
        baseline = {
            name: before.step(name).state if name in kept else StepState.WAITING for name in names
        }
    else:
        baseline = {s.name: s.state for s in before.steps}
    about: dict[str, list] = {}
    for action in actions:
        if isinstance(
            action, StepSkipped | StepAutoApproved | AssigneesNeeded | StepBlocked | StepFinished
        ):
            about.setdefault(action.step, []).append(action)
    for s in after.steps:
        told = about.get(s.name, [])
        if s.state == baseline[s.name]:
            assert told == []
        elif s.state == StepState.CANCELLED:
            assert ChainFinished(ChainState.WITHDRAWN) in actions
            assert told == []
        elif s.state == StepState.APPROVED:
            assert told in (
                [StepFinished(s.name, StepState.APPROVED)],
                [StepAutoApproved(s.name, str(spec.step(s.name).auto_approve_if))],
            )
            if isinstance(told[0], StepAutoApproved):
                assert s.reason == f"approved by rule “{told[0].rule}”"
        else:
            assert told == [
                {
                    StepState.ACTIVE: AssigneesNeeded(s.name),
                    StepState.BLOCKED: StepBlocked(s.name, s.reason),
                    StepState.SKIPPED: StepSkipped(s.name, s.reason),
                    StepState.REJECTED: StepFinished(s.name, StepState.REJECTED),
                    StepState.CHANGES_REQUESTED: StepFinished(s.name, StepState.CHANGES_REQUESTED),
                }[s.state]
            ]
    if AssigneesNeeded in kinds:
        assert actions[-1] == AssigneesNeeded(after.active_step.name)
        assert after.open_tasks() == []


def _no_change(chain: Chain) -> Transition:
    return Transition(chain)


def _start(spec: ChainSpec, chain: Chain, values: dict, data) -> Transition:
    result = start(spec, chain, values)
    due = chain.state == ChainState.CHANGES_REQUESTED or (
        chain.round == 0 and chain.state == ChainState.IN_REVIEW
    )
    if not due:
        assert result.chain is chain and result.actions == ()
        return result
    assert result.chain.round == chain.round + 1
    assert result.chain.tasks == ()
    resumed_at = result.actions[0].resumed_at
    if spec.resume_after_changes and chain.round:
        assert resumed_at == chain.sent_back_by
        names = [s.name for s in spec.steps]
        for name in names[: names.index(resumed_at)]:  # earlier steps keep their outcome
            assert result.chain.step(name).state == chain.step(name).state
    else:
        assert resumed_at is None
    return result


def _found(spec: ChainSpec, chain: Chain, values: dict, data) -> Transition:
    if chain.round == 0:
        return _no_change(chain)  # no step exists to answer for before the first round
    active = chain.active_step
    if active and data.draw(st.sampled_from([True, True, False])):
        name = active.name
    else:
        name = data.draw(st.sampled_from([s.name for s in spec.steps]))
    users = data.draw(PEOPLE) if data.draw(st.integers(0, 19)) else []
    result = assignees_found(spec, chain, name, users)
    waiting = (
        chain.state == ChainState.IN_REVIEW
        and chain.step(name).state == StepState.ACTIVE
        and not chain.open_tasks(name)
    )
    if not waiting:
        assert result.chain is chain and result.actions == ()
        return result
    people = list(dict.fromkeys(user for user in users if user != SUBMITTER))
    step_spec = spec.step(name)
    if len(people) >= (step_spec.quorum if step_spec.policy == "quorum" else 1):
        assert [action.task.assignee for action in result.actions] == people
        assert result.chain.step(name).state == StepState.ACTIVE
    else:
        assert result.chain.step(name).state == StepState.BLOCKED
        assert [type(action) for action in result.actions] == [StepBlocked]
    return result


def _decide(spec: ChainSpec, chain: Chain, values: dict, data) -> Transition:
    # Mostly an open task, as people do; now and then a closed one or one that never existed.
    pick = data.draw(st.sampled_from(["open"] * 6 + ["any", "unknown"]))
    candidates = chain.open_tasks() if pick == "open" else list(chain.tasks)
    if candidates and pick != "unknown":
        task = data.draw(st.sampled_from(candidates))
        task_key = task.key
    else:
        task, task_key = None, f"{chain.round}.{spec.steps[0].name}.99"
    decision = data.draw(st.sampled_from([A, A, A, R, R, C]))
    comment = data.draw(st.sampled_from([COMMENT, COMMENT, COMMENT, "", "  "]))
    refused = (
        task is None
        or chain.state != ChainState.IN_REVIEW
        or task.state != TaskState.OPEN
        or (decision != A and not comment.strip())
    )
    try:
        result = decide(spec, chain, task_key, decision, comment, values)
    except DecisionRefused:
        assert refused
        return _no_change(chain)
    assert not refused
    decided = replace(task, state=TASK_STATE[decision])
    assert result.chain.task(task_key) == decided
    assert result.actions[0] == TaskDecided(decided, decision, comment.strip())
    answers = [decided if t.key == task_key else t for t in chain.tasks if t.step == task.step]
    outcome = _policy_outcome(spec.step(task.step), answers, decision)
    if outcome is None:
        assert result.chain.step(task.step).state == StepState.ACTIVE
        assert len(result.actions) == 1
    else:
        assert result.chain.step(task.step).state == outcome
        assert StepFinished(task.step, outcome) in result.actions
        assert result.chain.open_tasks(task.step) == []
    return result


def _withdraw(spec: ChainSpec, chain: Chain, values: dict, data) -> Transition:
    allowed = chain.state in (ChainState.IN_REVIEW, ChainState.CHANGES_REQUESTED)
    try:
        result = withdraw(chain)
    except DecisionRefused:
        assert not allowed
        return _no_change(chain)
    assert allowed
    assert result.chain.state == ChainState.WITHDRAWN
    assert result.chain.open_tasks() == []
    assert not any(
        s.state in (StepState.WAITING, StepState.ACTIVE, StepState.BLOCKED)
        for s in result.chain.steps
    )
    return result


EVENTS = {"start": _start, "found": _found, "decide": _decide, "withdraw": _withdraw}


def _likely_event(chain: Chain) -> list[str]:
    """Events weighted by what usually comes next, with the others kept possible."""
    active = chain.active_step
    if chain.round == 0 or chain.state == ChainState.CHANGES_REQUESTED:
        usual = ["start"] * 10  # (re)submission
    elif active and active.state == StepState.ACTIVE and not chain.open_tasks():
        usual = ["found"] * 10  # the service answers AssigneesNeeded
    elif chain.open_tasks():
        usual = ["decide"] * 30
    else:
        usual = []  # blocked or final: only repeats, refusals and withdrawals are left
    return [*usual, "decide", "found", "start", "withdraw"]


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(spec=chain_specs(), values=FORM_VALUES, data=st.data())
def test_every_history_keeps_the_chain_consistent(spec, values, data):
    chain = Chain(submitter=SUBMITTER)
    closed: dict[str, Task] = {}
    after_the_end = 0
    for _ in range(60):  # a history ends a few events after the chain does
        kind = data.draw(st.sampled_from(_likely_event(chain)))
        if kind == "start" and chain.round and data.draw(st.booleans()):
            values = data.draw(FORM_VALUES)  # resubmitted with other answers
        result = EVENTS[kind](spec, chain, values, data)
        if result.chain is not chain:
            check_actions(spec, chain, result.chain, result.actions)
        else:
            assert result.actions == ()
        chain = result.chain
        check_chain(spec, chain, closed)
        after_the_end += chain.is_final
        if after_the_end > 3:  # a few refusals and repeats after the end are enough
            break
