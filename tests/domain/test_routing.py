"""Who is asked: entries found, the submitter left out, the fallback group, stand-ins."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.domain import routing
from portal.domain.routing import ONLY_THE_SUBMITTER, Ask, Found

SUBMITTER = 1
people = st.lists(st.integers(min_value=1, max_value=9), max_size=8)


def test_the_submitter_may_not_decide_and_anyone_else_may():
    assert not routing.may_decide(SUBMITTER, SUBMITTER)
    assert routing.may_decide(2, SUBMITTER)


def test_deciders_keep_order_drop_repeats_and_the_submitter():
    assert routing.deciders([3, SUBMITTER, 2, 3, 4, 2], SUBMITTER) == [3, 2, 4]


def test_everyone_found_is_asked_once_in_order_without_the_fallback_group():
    asked = routing.route([Found((3, 2)), Found((2, 4))], SUBMITTER, fallback=(7, 8))
    assert asked == routing.Routing((3, 2, 4))


def test_an_entry_that_found_nobody_brings_in_the_fallback_group():
    found = [Found((3,)), Found(problem="user x@example.com does not exist or is disabled")]
    asked = routing.route(found, SUBMITTER, fallback=(7, 3, SUBMITTER, 8))
    assert asked.people == (3, 7, 8)
    assert asked.problem == "user x@example.com does not exist or is disabled"
    assert asked.fallback_people == 3  # 7, 3 and 8: the submitter is never added
    assert asked.step_reason("finance") == (
        "user x@example.com does not exist or is disabled; routed to the finance group"
    )


def test_finding_only_the_submitter_is_a_problem_of_its_own():
    asked = routing.route([Found((SUBMITTER,))], SUBMITTER, fallback=(7,))
    assert asked.problem == ONLY_THE_SUBMITTER
    assert asked.people == (7,)


def test_problems_are_joined_in_the_order_of_the_entries():
    found = [Found(problem="first"), Found((SUBMITTER,)), Found(problem="second")]
    asked = routing.route(found, SUBMITTER)
    assert asked.problem == f"first; second; {ONLY_THE_SUBMITTER}"
    assert asked.people == ()


def test_an_empty_fallback_group_leaves_nobody_to_ask():
    asked = routing.route([Found(problem="nobody")], SUBMITTER, fallback=(SUBMITTER,))
    assert asked == routing.Routing((), "nobody", 0)


def test_the_fallback_group_is_looked_up_only_when_an_entry_found_nobody():
    assert not routing.needs_fallback([Found((2,))], SUBMITTER)
    assert routing.needs_fallback([Found((2,)), Found(problem="x")], SUBMITTER)
    assert routing.needs_fallback([Found((SUBMITTER,))], SUBMITTER)


@given(found=st.lists(st.tuples(people, st.booleans()), max_size=4), fallback=people)
def test_the_submitter_is_never_asked_and_nobody_twice(found, fallback):
    entries = [Found(tuple(ids), "" if ok else "missing") for ids, ok in found]
    asked = routing.route(entries, SUBMITTER, fallback)
    assert SUBMITTER not in asked.people
    assert len(set(asked.people)) == len(asked.people)
    assert bool(asked.problem) == routing.needs_fallback(entries, SUBMITTER)
    if not asked.problem:
        assert set(asked.people) == {p for ids, _ in found for p in ids} - {SUBMITTER}


def test_a_group_entry_finds_its_members_but_not_the_submitter():
    assert routing.from_group("finance", [SUBMITTER, 2, 3], SUBMITTER) == Found((2, 3))


def test_a_group_with_only_the_submitter_finds_nobody():
    assert routing.from_group("finance", [SUBMITTER], SUBMITTER) == Found(
        problem="group finance has nobody (other than the submitter) to ask"
    )


@pytest.mark.parametrize(
    ("last", "chosen"),
    [(None, 2), (2, 5), (5, 9), (9, 2), (3, 5), (100, 2)],
)
def test_round_robin_takes_the_next_member_after_the_last_pick(last, chosen):
    assert routing.next_in_turn([5, 2, 9], last) == chosen


def test_the_least_busy_member_is_picked_lowest_id_first_among_equals():
    assert routing.least_busy([4, 2, 3], {2: 3, 3: 1, 4: 1}) == 3
    assert routing.least_busy([4, 2, 3], {}) == 2


def test_someone_away_is_stood_in_for_by_their_delegate():
    asks = routing.stand_ins([2, 3], SUBMITTER, delegates={2: 5})
    assert asks == [Ask(5, on_behalf_of=2), Ask(3)]


@pytest.mark.parametrize(
    ("delegate", "why"),
    [(SUBMITTER, "the delegate is the submitter"), (3, "the delegate is asked already")],
)
def test_someone_away_is_asked_themselves_when_their_delegate_cannot_stand_in(delegate, why):
    assert routing.stand_ins([2, 3], SUBMITTER, delegates={2: delegate}) == [Ask(2), Ask(3)], why
