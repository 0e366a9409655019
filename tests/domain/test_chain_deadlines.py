"""The chain's deadline events: stand-ins (Ask), reassignment, slots, timeouts, and invariants."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.domain.chain import (
    DONE_STEPS,
    Ask,
    AssigneesNeeded,
    AssigneeSpec,
    Chain,
    ChainFinished,
    ChainSpec,
    ChainState,
    Decision,
    DecisionRefused,
    StepFinished,
    StepSkipped,
    StepSpec,
    StepState,
    StepTimedOut,
    Task,
    TaskCancelled,
    TaskDecided,
    TaskOpened,
    TaskState,
    Transition,
    assignees_found,
    decide,
    reassign,
    start,
    state_of,
    time_out,
    withdraw,
)
from portal.domain.expressions import parse

SUBMITTER = 1
COMMENT = "The cost centre is wrong."
VALUES = {"total": Decimal("1200"), "urgent": False}
RULE = "on_timeout: approve after 2bd"
BY_THE_OTHER = "decided by the other person asked for it"
NOT_OPEN = "Only an open task of a request in review can be reassigned."

A, R, C = Decision.APPROVE, Decision.REJECT, Decision.REQUEST_CHANGES
TASK_STATE = {A: TaskState.APPROVED, R: TaskState.REJECTED, C: TaskState.CHANGES_REQUESTED}
TIMED_OUT = {"approve": StepState.APPROVED, "reject": StepState.REJECTED, "skip": StepState.SKIPPED}


def step(name: str, *, policy: str = "any", quorum: int = 1, when: str | None = None) -> StepSpec:
    return StepSpec(
        name=name,
        title=name.title(),
        assignees=(AssigneeSpec(group="g"),),
        policy=policy,
        quorum=quorum,
        when=parse(when) if when else None,
    )


def chain_spec(*steps: StepSpec) -> ChainSpec:
    return ChainSpec(steps=steps, fallback_group="fallback")


TWO_STEPS = chain_spec(step("manager"), step("finance"))


def panel(policy: str, quorum: int = 1) -> ChainSpec:
    return chain_spec(step("panel", policy=policy, quorum=quorum))


def begin_asking(spec: ChainSpec, *asks: Ask | int) -> Chain:
    """The chain after its first round started and `asks` were found for the first step."""
    chain = start(spec, Chain(submitter=SUBMITTER), VALUES).chain
    return assignees_found(spec, chain, chain.active_step.name, list(asks)).chain


def key(step_name: str, user: int, round_: int = 1) -> str:
    return f"{round_}.{step_name}.{user}"


def decided(spec: ChainSpec, chain: Chain, task_key: str, decision: Decision = A) -> Transition:
    return decide(spec, chain, task_key, decision, COMMENT, VALUES)


def reassigned(chain: Chain, task_key: str, user: int, keep: bool = True) -> Chain:
    """The chain after `task_key` was given to `user` too (keep) or instead."""
    return reassign(chain, task_key, user, keep=keep, reason="overdue").chain


# -- assignees_found with stand-ins -----------------------------------------------------------


def test_an_ask_records_whom_the_person_stands_in_for():
    chain = start(TWO_STEPS, Chain(submitter=SUBMITTER), VALUES).chain
    result = assignees_found(TWO_STEPS, chain, "manager", [Ask(5, on_behalf_of=2), 3, Ask(4)])
    opened = (
        Task("1.manager.5", "manager", 5, on_behalf_of=2),
        Task("1.manager.3", "manager", 3),
        Task("1.manager.4", "manager", 4),
    )
    assert result.chain.tasks == opened
    assert result.actions == tuple(TaskOpened(task) for task in opened)


@pytest.mark.parametrize(
    ("asks", "expected"),
    [
        ([2, Ask(2, on_behalf_of=3)], [(2, None)]),
        ([Ask(2, on_behalf_of=3), 2], [(2, 3)]),
        ([Ask(SUBMITTER, on_behalf_of=2), Ask(4, on_behalf_of=5)], [(4, 5)]),
        ([Ask(3), 3, Ask(3, on_behalf_of=6)], [(3, None)]),
    ],
    ids=["int first", "ask first", "the submitter as a stand-in", "one person thrice"],
)
def test_each_person_is_asked_once_the_first_way_they_were_found(asks, expected):
    chain = begin_asking(TWO_STEPS, *asks)
    assert [(task.assignee, task.on_behalf_of) for task in chain.tasks] == expected


def test_only_the_submitter_as_a_stand_in_leaves_the_step_blocked():
    chain = begin_asking(TWO_STEPS, Ask(SUBMITTER, on_behalf_of=2))
    assert chain.step("manager").state == StepState.BLOCKED
    assert chain.tasks == ()


# -- reassign ---------------------------------------------------------------------------------


def test_reassign_keeping_the_task_asks_the_new_person_in_the_same_slot():
    chain = begin_asking(TWO_STEPS, 2, 3)
    result = reassign(chain, "1.manager.2", 5, keep=True, reason="overdue")
    added = Task("1.manager.5", "manager", 5, on_behalf_of=2, slot="1.manager.2")
    assert result.actions == (TaskOpened(added),)
    assert result.chain.tasks == (*chain.tasks, added)
    assert added.seat == chain.task("1.manager.2").seat
    assert result.chain.steps == chain.steps
    assert result.chain.state == ChainState.IN_REVIEW


def test_reassign_moving_the_task_cancels_the_original_with_the_reason():
    chain = begin_asking(TWO_STEPS, 2, 3)
    result = reassign(chain, "1.manager.2", 5, keep=False, reason="handed over (out of office)")
    cancelled = Task("1.manager.2", "manager", 2, TaskState.CANCELLED)
    added = Task("1.manager.5", "manager", 5, on_behalf_of=2, slot="1.manager.2")
    assert result.actions == (
        TaskCancelled(cancelled, "handed over (out of office)"),
        TaskOpened(added),
    )
    assert result.chain.tasks == (cancelled, Task("1.manager.3", "manager", 3), added)
    assert result.chain.steps == chain.steps


@pytest.mark.parametrize("keep", [True, False])
def test_a_reassigned_task_passed_on_keeps_its_slot_and_whom_it_stands_in_for(keep):
    chain = reassigned(begin_asking(TWO_STEPS, 2), "1.manager.2", 5, keep=False)
    result = reassign(chain, "1.manager.5", 6, keep=keep, reason="overdue again")
    assert result.chain.tasks[-1] == Task(
        "1.manager.6", "manager", 6, on_behalf_of=2, slot="1.manager.2"
    )


def test_a_stand_ins_task_keeps_whom_it_stands_in_for_when_reassigned():
    chain = begin_asking(TWO_STEPS, Ask(5, on_behalf_of=2))
    result = reassign(chain, "1.manager.5", 7, keep=True, reason="overdue")
    assert result.chain.tasks[-1] == Task(
        "1.manager.7", "manager", 7, on_behalf_of=2, slot="1.manager.5"
    )


def test_a_task_given_back_to_the_person_it_stands_in_for_is_theirs_again():
    chain = reassigned(begin_asking(TWO_STEPS, 2), "1.manager.2", 5, keep=False)
    result = reassign(chain, "1.manager.5", 2, keep=False, reason="back from leave")
    # 1.manager.2 was theirs before and is cancelled, so the new task needs a key of its own.
    assert result.chain.tasks[-1] == Task("1.manager.2.2", "manager", 2, slot="1.manager.2")
    assert len({task.key for task in result.chain.tasks}) == len(result.chain.tasks)


def test_a_moved_task_can_be_decided_by_its_new_holder_only():
    chain = reassigned(begin_asking(TWO_STEPS, 2), "1.manager.2", 5, keep=False)
    with pytest.raises(DecisionRefused, match="the step was decided without it"):
        decided(TWO_STEPS, chain, "1.manager.2")
    result = decided(TWO_STEPS, chain, "1.manager.5")
    assert result.chain.step("manager").state == StepState.APPROVED


def _rejected():
    return decided(TWO_STEPS, begin_asking(TWO_STEPS, 2, 3), "1.manager.2", R).chain


def _withdrawn():
    return withdraw(begin_asking(TWO_STEPS, 2, 3)).chain


def _sent_back():
    return decided(TWO_STEPS, begin_asking(TWO_STEPS, 2, 3), "1.manager.2", C).chain


def _approved_step():
    """A step under `all` that one of its two people approved."""
    return decided(panel("all"), begin_asking(panel("all"), 2, 3), "1.panel.2").chain


def _approved():
    chain = decided(TWO_STEPS, begin_asking(TWO_STEPS, 2), "1.manager.2").chain
    chain = assignees_found(TWO_STEPS, chain, "finance", [3]).chain
    return decided(TWO_STEPS, chain, "1.finance.3").chain


REFUSALS = {
    "a decided task": (_approved_step, "1.panel.2", 5, NOT_OPEN),
    "a cancelled task": (
        lambda: reassigned(begin_asking(TWO_STEPS, 2), "1.manager.2", 5, keep=False),
        "1.manager.2",
        6,
        NOT_OPEN,
    ),
    "an unknown task": (lambda: begin_asking(TWO_STEPS, 2), "1.manager.9", 5, NOT_OPEN),
    "a task of the round before": (
        lambda: start(TWO_STEPS, _sent_back(), VALUES).chain,
        "1.manager.3",
        5,
        NOT_OPEN,
    ),
    "a rejected request": (_rejected, "1.manager.3", 5, NOT_OPEN),
    "a withdrawn request": (_withdrawn, "1.manager.3", 5, NOT_OPEN),
    "a request sent back for changes": (_sent_back, "1.manager.3", 5, NOT_OPEN),
    "to the submitter": (
        lambda: begin_asking(TWO_STEPS, 2),
        "1.manager.2",
        SUBMITTER,
        "The person who submitted the request cannot decide it.",
    ),
    "to the same person": (
        lambda: begin_asking(TWO_STEPS, 2),
        "1.manager.2",
        2,
        "The task is already with that person.",
    ),
    "to someone asked on the step": (
        lambda: begin_asking(TWO_STEPS, 2, 3),
        "1.manager.2",
        3,
        "That person already has an open task on this step.",
    ),
    "to someone already asked for the same slot": (
        lambda: reassigned(begin_asking(TWO_STEPS, 2), "1.manager.2", 5),
        "1.manager.2",
        5,
        "That person already has an open task on this step.",
    ),
    "back to the one escalated from": (
        lambda: reassigned(begin_asking(TWO_STEPS, 2), "1.manager.2", 5),
        "1.manager.5",
        2,
        "That person already has an open task on this step.",
    ),
}


@pytest.mark.parametrize(
    ("make", "task_key", "user", "message"), REFUSALS.values(), ids=REFUSALS.keys()
)
@pytest.mark.parametrize("keep", [True, False])
def test_reassign_refuses_what_cannot_be_reassigned(make, task_key, user, message, keep):
    chain = make()
    with pytest.raises(DecisionRefused) as info:
        reassign(chain, task_key, user, keep=keep, reason="overdue")
    assert str(info.value) == message


def test_reassign_to_someone_who_already_decided_the_step_is_refused():
    """Under all or a quorum one person must not count twice, so they cannot take a second slot."""
    spec = panel("all")
    chain = decided(spec, begin_asking(spec, 2, 3), "1.panel.2").chain
    with pytest.raises(DecisionRefused, match="That person has already decided this step."):
        reassign(chain, "1.panel.3", 2, keep=False, reason="overdue")


# -- slots ------------------------------------------------------------------------------------


def test_under_all_an_escalated_slot_needs_one_decision_from_either_person():
    spec = panel("all")
    chain = reassigned(begin_asking(spec, 2, 3), "1.panel.2", 5)
    result = decided(spec, chain, "1.panel.5")
    assert result.actions == (
        TaskDecided(
            Task("1.panel.5", "panel", 5, TaskState.APPROVED, on_behalf_of=2, slot="1.panel.2"),
            A,
            COMMENT,
        ),
        TaskCancelled(Task("1.panel.2", "panel", 2, TaskState.CANCELLED), BY_THE_OTHER),
    )
    assert result.chain.step("panel").state == StepState.ACTIVE
    assert [task.key for task in result.chain.open_tasks()] == ["1.panel.3"]
    final = decided(spec, result.chain, "1.panel.3")
    assert final.chain.step("panel").state == StepState.APPROVED
    assert final.chain.state == ChainState.APPROVED


def test_under_all_the_original_assignee_may_still_decide_an_escalated_slot():
    spec = panel("all")
    chain = reassigned(begin_asking(spec, 2, 3), "1.panel.2", 5)
    chain = decided(spec, chain, "1.panel.3").chain
    result = decided(spec, chain, "1.panel.2")
    assert result.actions == (
        TaskDecided(Task("1.panel.2", "panel", 2, TaskState.APPROVED), A, COMMENT),
        TaskCancelled(
            Task("1.panel.5", "panel", 5, TaskState.CANCELLED, on_behalf_of=2, slot="1.panel.2"),
            BY_THE_OTHER,
        ),
        StepFinished("panel", StepState.APPROVED),
        ChainFinished(ChainState.APPROVED),
    )


def test_under_all_the_other_slots_still_need_their_decision():
    spec = panel("all")
    chain = reassigned(begin_asking(spec, 2, 3, 4), "1.panel.2", 5)
    chain = decided(spec, chain, "1.panel.3").chain
    chain = decided(spec, chain, "1.panel.4").chain
    assert chain.step("panel").state == StepState.ACTIVE  # slot 2 has not decided yet
    assert {task.key for task in chain.open_tasks()} == {"1.panel.2", "1.panel.5"}


def test_under_all_a_rejection_in_a_slot_rejects():
    spec = panel("all")
    chain = reassigned(begin_asking(spec, 2, 3), "1.panel.2", 5)
    result = decided(spec, chain, "1.panel.5", R)
    assert result.chain.step("panel").state == StepState.REJECTED
    assert result.chain.state == ChainState.REJECTED
    assert result.chain.open_tasks() == []


def test_under_quorum_a_slot_counts_once_towards_what_can_still_be_reached():
    spec = panel("quorum", quorum=2)
    chain = reassigned(begin_asking(spec, 2, 3), "1.panel.2", 5)
    # Three open tasks, but two slots: one rejection leaves one slot, so 2 approvals are out of
    # reach.
    result = decided(spec, chain, "1.panel.3", R)
    assert result.actions == (
        TaskDecided(Task("1.panel.3", "panel", 3, TaskState.REJECTED), R, COMMENT),
        TaskCancelled(Task("1.panel.2", "panel", 2, TaskState.CANCELLED), "the step was rejected"),
        TaskCancelled(
            Task("1.panel.5", "panel", 5, TaskState.CANCELLED, on_behalf_of=2, slot="1.panel.2"),
            "the step was rejected",
        ),
        StepFinished("panel", StepState.REJECTED),
        ChainFinished(ChainState.REJECTED),
    )


def test_under_quorum_both_people_of_one_slot_cannot_make_two_approvals():
    spec = panel("quorum", quorum=2)
    chain = reassigned(begin_asking(spec, 2, 3, 4), "1.panel.2", 5)
    chain = decided(spec, chain, "1.panel.5").chain
    assert chain.step("panel").state == StepState.ACTIVE
    with pytest.raises(DecisionRefused, match="the step was decided without it"):
        decided(spec, chain, "1.panel.2")
    result = decided(spec, chain, "1.panel.4")
    assert result.chain.step("panel").state == StepState.APPROVED
    assert result.chain.task("1.panel.3").state == TaskState.CANCELLED


def test_under_quorum_a_moved_slot_still_counts():
    spec = panel("quorum", quorum=2)
    chain = reassigned(begin_asking(spec, 2, 3), "1.panel.2", 5, keep=False)
    chain = decided(spec, chain, "1.panel.3").chain
    assert chain.step("panel").state == StepState.ACTIVE
    result = decided(spec, chain, "1.panel.5")
    assert result.chain.step("panel").state == StepState.APPROVED


def test_under_any_a_rejection_in_a_slot_rejects():
    spec = panel("any")
    chain = reassigned(begin_asking(spec, 2, 3), "1.panel.2", 5)
    result = decided(spec, chain, "1.panel.5", R)
    assert result.actions == (
        TaskDecided(
            Task("1.panel.5", "panel", 5, TaskState.REJECTED, on_behalf_of=2, slot="1.panel.2"),
            R,
            COMMENT,
        ),
        TaskCancelled(Task("1.panel.2", "panel", 2, TaskState.CANCELLED), BY_THE_OTHER),
        TaskCancelled(Task("1.panel.3", "panel", 3, TaskState.CANCELLED), "the step was rejected"),
        StepFinished("panel", StepState.REJECTED),
        ChainFinished(ChainState.REJECTED),
    )


def test_changes_requested_in_a_slot_send_the_request_back():
    spec = panel("all")
    chain = reassigned(begin_asking(spec, 2, 3), "1.panel.2", 5)
    result = decided(spec, chain, "1.panel.5", C)
    assert result.chain.state == ChainState.CHANGES_REQUESTED
    assert result.chain.sent_back_by == "panel"
    assert result.chain.open_tasks() == []


def test_every_person_asked_for_one_slot_is_closed_by_its_decision():
    spec = panel("all")
    chain = reassigned(begin_asking(spec, 2, 3), "1.panel.2", 5)
    chain = reassigned(chain, "1.panel.5", 6)
    result = decided(spec, chain, "1.panel.6")
    cancelled = [(a.task.key, a.reason) for a in result.actions if isinstance(a, TaskCancelled)]
    assert cancelled == [("1.panel.2", BY_THE_OTHER), ("1.panel.5", BY_THE_OTHER)]
    assert result.chain.step("panel").state == StepState.ACTIVE


# -- time_out ---------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["approve", "skip"])
def test_timeout_that_approves_or_skips_moves_the_chain_on(action):
    chain = begin_asking(TWO_STEPS, 2, 3)
    result = time_out(TWO_STEPS, chain, "manager", action, RULE, VALUES)
    reason = f"the step timed out ({RULE})"
    assert result.actions == (
        StepTimedOut("manager", action, RULE),
        TaskCancelled(Task("1.manager.2", "manager", 2, TaskState.CANCELLED), reason),
        TaskCancelled(Task("1.manager.3", "manager", 3, TaskState.CANCELLED), reason),
        StepFinished("manager", TIMED_OUT[action]),
        AssigneesNeeded("finance"),
    )
    assert result.chain.step("manager").state == TIMED_OUT[action]
    assert result.chain.step("manager").reason == f"timed out: {RULE}"
    assert result.chain.step("finance").state == StepState.ACTIVE
    assert result.chain.state == ChainState.IN_REVIEW
    assert result.chain.open_tasks() == []


def test_timeout_that_rejects_ends_the_chain():
    chain = begin_asking(TWO_STEPS, 2)
    result = time_out(TWO_STEPS, chain, "manager", "reject", RULE, VALUES)
    assert result.actions == (
        StepTimedOut("manager", "reject", RULE),
        TaskCancelled(
            Task("1.manager.2", "manager", 2, TaskState.CANCELLED), f"the step timed out ({RULE})"
        ),
        StepFinished("manager", StepState.REJECTED),
        ChainFinished(ChainState.REJECTED),
    )
    assert result.chain.state == ChainState.REJECTED
    assert [s.state for s in result.chain.steps] == [StepState.REJECTED, StepState.WAITING]
    assert state_of(result.chain.steps) == ChainState.REJECTED


@pytest.mark.parametrize("action", ["approve", "skip"])
def test_timeout_of_the_last_step_that_approves_or_skips_approves_the_chain(action):
    chain = decided(TWO_STEPS, begin_asking(TWO_STEPS, 2), "1.manager.2").chain
    chain = assignees_found(TWO_STEPS, chain, "finance", [3]).chain
    result = time_out(TWO_STEPS, chain, "finance", action, RULE, VALUES)
    assert result.actions[-2:] == (
        StepFinished("finance", TIMED_OUT[action]),
        ChainFinished(ChainState.APPROVED),
    )
    assert result.chain.state == ChainState.APPROVED
    assert state_of(result.chain.steps) == ChainState.APPROVED


def test_timeout_then_skips_the_steps_whose_condition_is_not_true():
    spec = chain_spec(step("manager"), step("cfo", when="urgent"))
    result = time_out(spec, begin_asking(spec, 2), "manager", "approve", RULE, VALUES)
    assert result.actions[-3:] == (
        StepFinished("manager", StepState.APPROVED),
        StepSkipped("cfo", "not needed: “urgent” is not true"),
        ChainFinished(ChainState.APPROVED),
    )


@pytest.mark.parametrize("action", ["approve", "reject", "skip"])
def test_timeout_decides_a_blocked_step_too(action):
    chain = begin_asking(TWO_STEPS)  # nobody found
    assert chain.step("manager").state == StepState.BLOCKED
    result = time_out(TWO_STEPS, chain, "manager", action, RULE, VALUES)
    assert result.actions[:2] == (
        StepTimedOut("manager", action, RULE),
        StepFinished("manager", TIMED_OUT[action]),
    )
    assert result.chain.step("manager").state == TIMED_OUT[action]


def test_timeout_cancels_every_open_task_of_every_slot():
    spec = panel("all")
    chain = reassigned(begin_asking(spec, 2, 3), "1.panel.2", 5)
    chain = decided(spec, chain, "1.panel.3").chain
    result = time_out(spec, chain, "panel", "approve", RULE, VALUES)
    cancelled = [a.task.key for a in result.actions if isinstance(a, TaskCancelled)]
    assert cancelled == ["1.panel.2", "1.panel.5"]
    assert result.chain.task("1.panel.3").state == TaskState.APPROVED  # a decision stays
    assert result.chain.state == ChainState.APPROVED


def test_a_decision_after_the_timeout_is_refused():
    chain = begin_asking(TWO_STEPS, 2)
    chain = time_out(TWO_STEPS, chain, "manager", "skip", RULE, VALUES).chain
    with pytest.raises(DecisionRefused, match="the step was decided without it"):
        decided(TWO_STEPS, chain, "1.manager.2")


NOTHING_TO_TIME_OUT = {
    "a step decided in time": (
        lambda: decided(TWO_STEPS, begin_asking(TWO_STEPS, 2), "1.manager.2").chain,
        "manager",
    ),
    "a step not reached yet": (lambda: begin_asking(TWO_STEPS, 2), "finance"),
    "a step timed out already": (
        lambda: (
            time_out(TWO_STEPS, begin_asking(TWO_STEPS, 2), "manager", "skip", RULE, VALUES).chain
        ),
        "manager",
    ),
    "a rejected request": (_rejected, "manager"),
    "a withdrawn request": (_withdrawn, "manager"),
    "a request sent back for changes": (_sent_back, "manager"),
    "an approved request": (_approved, "finance"),
    "a round not started": (lambda: Chain(submitter=SUBMITTER), "manager"),
    "a withdrawn request never started": (
        lambda: withdraw(Chain(submitter=SUBMITTER)).chain,
        "manager",
    ),
}


@pytest.mark.parametrize(
    ("make", "name"), NOTHING_TO_TIME_OUT.values(), ids=NOTHING_TO_TIME_OUT.keys()
)
@pytest.mark.parametrize("action", ["approve", "reject", "skip"])
def test_timeout_changes_nothing_unless_the_step_is_still_open(make, name, action):
    chain = make()
    result = time_out(TWO_STEPS, chain, name, action, RULE, VALUES)
    assert result.chain is chain
    assert result.actions == ()


# -- invariants over random histories ---------------------------------------------------------

POLICY_NAMES = ["any", "all", "quorum"]
PEOPLE = st.lists(st.integers(SUBMITTER, 8), min_size=1, max_size=5)
FORM_VALUES = st.fixed_dictionaries(
    {"total": st.sampled_from([Decimal(40), Decimal(4000)]), "urgent": st.booleans()}
)
CONDITIONS = [None, None, None, "urgent", "total > 100", "not urgent"]


@st.composite
def chain_specs(draw) -> ChainSpec:
    steps = []
    for index in range(draw(st.integers(1, 3))):
        policy = draw(st.sampled_from(POLICY_NAMES))
        steps.append(
            step(
                f"s{index}",
                policy=policy,
                quorum=draw(st.integers(1, 3)) if policy == "quorum" else 1,
                when=draw(st.sampled_from(CONDITIONS)),
            )
        )
    return ChainSpec(
        steps=tuple(steps), fallback_group="fallback", resume_after_changes=draw(st.booleans())
    )


def check_chain(spec: ChainSpec, chain: Chain, closed: dict[str, Task]) -> None:
    """Everything that must hold of any chain the engine hands out."""
    if chain.round == 0:
        assert chain.steps == () and chain.tasks == ()
        return
    assert [s.name for s in chain.steps] == [s.name for s in spec.steps]
    # Exactly one state: the one its steps say, and one step at work exactly while in review.
    assert state_of(chain.steps) == chain.state or (
        chain.state == ChainState.WITHDRAWN and chain.steps[-1].state == StepState.CHANGES_REQUESTED
    )
    current = [s for s in chain.steps if s.state in (StepState.ACTIVE, StepState.BLOCKED)]
    assert len(current) == (1 if chain.state == ChainState.IN_REVIEW else 0)
    if current:
        position = chain.steps.index(current[0])
        assert all(s.state in DONE_STEPS for s in chain.steps[:position])
        assert all(s.state == StepState.WAITING for s in chain.steps[position + 1 :])
    if chain.state != ChainState.IN_REVIEW:
        assert chain.open_tasks() == []
    for task in chain.open_tasks():
        assert chain.step(task.step).state == StepState.ACTIVE
    keys = [task.key for task in chain.tasks]
    assert len(keys) == len(set(keys))
    by_key = {task.key: task for task in chain.tasks}
    seats: dict[str, list[Task]] = {}
    for task in chain.tasks:
        assert task.assignee != chain.submitter
        assert task.on_behalf_of != task.assignee
        if task.slot:  # the slot is named after the task that opened it, on the same step
            assert by_key[task.slot].step == task.step and by_key[task.slot].slot == ""
        seats.setdefault(task.seat, []).append(task)
        if task.key in closed:
            assert task == closed[task.key]  # decided or cancelled once, never again
        elif task.state != TaskState.OPEN:
            closed[task.key] = task
    for tasks in seats.values():
        decisions = [t for t in tasks if t.state not in (TaskState.OPEN, TaskState.CANCELLED)]
        assert len(decisions) <= 1  # a slot holds one decision at most
        if decisions:
            assert all(t.state != TaskState.OPEN for t in tasks)
    for s in chain.steps:
        holders = [t.assignee for t in chain.open_tasks(s.name)]
        assert len(holders) == len(set(holders))


def _start(spec, chain, values, data) -> Transition:
    return start(spec, chain, values)


def _found(spec, chain, values, data) -> Transition:
    if chain.round == 0:
        return Transition(chain)
    active = chain.active_step
    name = active.name if active else data.draw(st.sampled_from([s.name for s in spec.steps]))
    asks = [
        Ask(user, on_behalf_of=data.draw(st.sampled_from([None, 9])))
        if data.draw(st.booleans())
        else user
        for user in data.draw(PEOPLE)
    ]
    return assignees_found(spec, chain, name, asks)


def _pick_task(chain: Chain, data) -> tuple[Task | None, str]:
    """Mostly an open task; now and then a closed one or one that never existed."""
    pick = data.draw(st.sampled_from(["open"] * 6 + ["any", "unknown"]))
    candidates = chain.open_tasks() if pick == "open" else list(chain.tasks)
    if candidates and pick != "unknown":
        task = data.draw(st.sampled_from(candidates))
        return task, task.key
    return None, f"{chain.round}.s0.99"


def _decide(spec, chain, values, data) -> Transition:
    task, task_key = _pick_task(chain, data)
    decision = data.draw(st.sampled_from([A, A, A, R, C]))
    comment = data.draw(st.sampled_from([COMMENT, COMMENT, ""]))
    refused = (
        task is None
        or chain.state != ChainState.IN_REVIEW
        or task.state != TaskState.OPEN
        or (decision != A and not comment)
    )
    try:
        result = decide(spec, chain, task_key, decision, comment, values)
    except DecisionRefused:
        assert refused
        return Transition(chain)
    assert not refused
    assert result.chain.task(task_key) == replace(task, state=TASK_STATE[decision])
    partners = [t for t in result.chain.tasks if t.seat == task.seat and t.key != task_key]
    assert all(t.state != TaskState.OPEN for t in partners)
    return result


def _reassign(spec, chain, values, data) -> Transition:
    task, task_key = _pick_task(chain, data)
    # Often someone already involved: to be refused, or to be given a task back.
    involved = sorted({t.on_behalf_of or t.assignee for t in chain.tasks} | {SUBMITTER})
    user = data.draw(st.sampled_from(involved) | st.integers(SUBMITTER, 9))
    keep = data.draw(st.booleans())
    refused = (
        task is None
        or chain.state != ChainState.IN_REVIEW
        or task.state != TaskState.OPEN
        or user == chain.submitter
        or user in {t.assignee for t in chain.open_tasks(task.step)}
        or any(
            t.assignee == user
            and t.step == task.step
            and t.state not in (TaskState.OPEN, TaskState.CANCELLED)
            for t in chain.tasks
        )
    )
    try:
        result = reassign(chain, task_key, user, keep=keep, reason="overdue")
    except DecisionRefused:
        assert refused
        return Transition(chain)
    assert not refused
    added = result.chain.tasks[-1]
    assert (added.step, added.assignee, added.state) == (task.step, user, TaskState.OPEN)
    assert added.seat == task.seat
    stands_in_for = task.on_behalf_of or task.assignee
    assert added.on_behalf_of == (None if stands_in_for == user else stands_in_for)
    expected = TaskState.OPEN if keep else TaskState.CANCELLED
    assert result.chain.task(task_key).state == expected
    assert result.chain.steps == chain.steps
    return result


def _time_out(spec, chain, values, data) -> Transition:
    if chain.round == 0:
        return Transition(chain)
    active = chain.active_step
    if active and data.draw(st.sampled_from([True, True, False])):
        name = active.name
    else:
        name = data.draw(st.sampled_from([s.name for s in spec.steps]))
    action = data.draw(st.sampled_from(["approve", "reject", "skip"]))
    result = time_out(spec, chain, name, action, RULE, values)
    open_step = chain.state == ChainState.IN_REVIEW and chain.step(name).state in (
        StepState.ACTIVE,
        StepState.BLOCKED,
    )
    if not open_step:
        assert result.chain is chain and result.actions == ()
        return result
    assert result.actions[0] == StepTimedOut(name, action, RULE)
    assert StepFinished(name, TIMED_OUT[action]) in result.actions
    assert result.chain.step(name).state == TIMED_OUT[action]
    assert result.chain.open_tasks(name) == []
    assert (result.chain.state == ChainState.REJECTED) == (action == "reject")
    return result


def _withdraw(spec, chain, values, data) -> Transition:
    try:
        return withdraw(chain)
    except DecisionRefused:
        assert chain.state not in (ChainState.IN_REVIEW, ChainState.CHANGES_REQUESTED)
        return Transition(chain)


EVENTS = {
    "start": _start,
    "found": _found,
    "decide": _decide,
    "reassign": _reassign,
    "time_out": _time_out,
    "withdraw": _withdraw,
}


def _likely_event(chain: Chain) -> list[str]:
    """Events weighted by what usually comes next, with the others kept possible."""
    active = chain.active_step
    if chain.round == 0 or chain.state == ChainState.CHANGES_REQUESTED:
        usual = ["start"] * 10
    elif active and active.state == StepState.ACTIVE and not chain.open_tasks():
        usual = ["found"] * 10
    elif chain.open_tasks():
        usual = ["decide"] * 12 + ["reassign"] * 8 + ["time_out"] * 2
    elif active:
        usual = ["time_out"] * 4  # blocked: only the timeout moves it on
    else:
        usual = []
    return [*usual, *EVENTS]


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(spec=chain_specs(), values=FORM_VALUES, data=st.data())
def test_every_history_with_reassignments_and_timeouts_keeps_the_chain_consistent(
    spec, values, data
):
    chain = Chain(submitter=SUBMITTER)
    closed: dict[str, Task] = {}
    after_the_end = 0
    for _ in range(50):
        kind = data.draw(st.sampled_from(_likely_event(chain)))
        result = EVENTS[kind](spec, chain, values, data)
        if result.chain is chain:
            assert result.actions == ()
        chain = result.chain
        check_chain(spec, chain, closed)
        after_the_end += chain.is_final
        if after_the_end > 3:
            break
