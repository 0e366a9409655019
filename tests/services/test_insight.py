"""Every insight figure of the crafted travel history, against values worked out by hand.

The timeline is in tests/fixtures/insight.py. All times are UTC; the period is March 2026 in
Europe/Berlin (28 Feb 23:00 UTC to 31 Mar 22:00 UTC) and "now" is 31 Mar 12:00 UTC, so waiting
inside the period counts up to now. Percentiles interpolate between ranks: for n sorted values
and fraction p, h = (n - 1) * p, value = v[floor h] + frac(h) * (v[floor h + 1] - v[floor h]).
"""

from __future__ import annotations

import datetime as dt

import pytest

from portal.domain.insight import Period, previous_words
from portal.services import access, insight
from tests.fixtures.insight import HOUR, MARCH, NOW, TravelHistory

FEBRUARY = Period(dt.date(2026, 2, 1), dt.date(2026, 2, 28))


@pytest.fixture
def history(app, make_user, publish):
    return TravelHistory(make_user, publish).build()


@pytest.fixture
def march(history):
    return insight.compute(history.form, MARCH, access.Scope(None, approvers=True), now=NOW)


def hours(value):
    return pytest.approx(value * HOUR, abs=0.01)


def test_volume_counts_submissions_and_outcomes_on_the_day_they_happened(march):
    by_day = {
        row.bucket.first_day.day: (row.submitted, row.approved, row.rejected, row.withdrawn)
        for row in march.volume
        if row.submitted or row.finished
    }
    # Submitted: R1 2 Mar, R2 3 Mar, R3 9 Mar (its resubmission on 10 Mar is not a new request),
    # R4 16 Mar, R5 20 Mar. Outcomes: R7 approved 2 Mar, R1 3 Mar, R2 7 Mar; R3 rejected 11 Mar;
    # R5 withdrawn 20 Mar. R6 (February) is not in March at all.
    assert by_day == {
        2: (1, 1, 0, 0),
        3: (1, 1, 0, 0),
        7: (0, 1, 0, 0),
        9: (1, 0, 0, 0),
        11: (0, 0, 1, 0),
        16: (1, 0, 0, 0),
        20: (1, 0, 0, 1),
    }
    assert len(march.volume) == 31  # a bar per day: March is 31 days
    assert [march.total(what) for what in ("submitted", "approved", "rejected", "withdrawn")] == [
        5,
        3,
        1,
        1,
    ]


def test_cycle_time_median_p90_and_trend(march):
    cycle = march.cycle
    # Decided in March: R1 28 h, R3 50 h, R7 96 h, R2 102 h (R5 was withdrawn: left out).
    assert cycle.current.count == 4
    # median: h = 3 * 0.5 = 1.5 -> 50 + 0.5 * (96 - 50) = 73 h
    assert cycle.current.median == hours(73)
    # p90: h = 3 * 0.9 = 2.7 -> 96 + 0.7 * (102 - 96) = 100.2 h
    assert cycle.current.p90 == hours(100.2)
    assert cycle.current.longest == hours(102)
    # The 31 days before March (29 Jan to 28 Feb): R6 alone, 26 h.
    assert (cycle.previous.count, cycle.previous.median) == (1, hours(26))
    # (73 - 26) / 26 = 1.8077: up 181%; 26 h is 1.08 days.
    assert cycle.median_trend.direction == "slower"
    assert cycle.median_trend.words(previous_words(MARCH)) == (
        "up 181% from 1.1 days in the previous 31 days"
    )
    per_day = {b.first_day.day: d.median for b, d in cycle.by_bucket if d.count}
    assert per_day == {2: hours(96), 3: hours(28), 7: hours(102), 11: hours(50)}


def steps_by_name(result):
    return {step.name: step for step in result.steps}


def test_manager_step_figures(march):
    manager = steps_by_name(march)["manager"]
    # Decided in March: R4 1 h, R3 2 h (second round), R1 4 h, R3 6 h (changes), R2 24 h.
    # R7's manager decided in February; R5's visit was cancelled by the withdrawal.
    assert manager.decided.count == 5
    assert manager.decided.median == hours(4)  # h = 4 * 0.5 = 2 -> the third value
    assert manager.decided.p90 == hours(16.8)  # h = 3.6 -> 6 + 0.6 * (24 - 6)
    assert (manager.sent_back, manager.rejected) == (1, 0)
    assert manager.send_back_rate == pytest.approx(1 / 5)
    assert (manager.with_due, manager.breach_rate, manager.escalations) == (0, None, 0)
    assert manager.waiting_now.count == 0
    # Reached in March: R1, R2, R3 twice, R4, R5.
    assert (manager.reached, manager.skipped) == (6, 0)
    # Waiting inside March: 4 + 24 + 6 + 2 + 1 + 3 (R5, until withdrawn) = 40 h.
    assert manager.waiting_seconds == hours(40)


def test_finance_step_figures(march):
    finance = steps_by_name(march)["finance"]
    # Decided in March: R1 24 h, R3 24 h (rejected), R7 72 h, R2 72 h.
    assert finance.decided.count == 4
    assert finance.decided.median == hours(48)  # h = 1.5 -> (24 + 72) / 2
    assert finance.decided.p90 == hours(72)  # h = 2.7, between 72 and 72
    assert (finance.sent_back, finance.rejected) == (0, 1)
    assert finance.rejection_rate == pytest.approx(0.25)
    # Due 2 days after it asked: R7 (due 1 Mar 09:00, decided 2 Mar) and R2 (due 6 Mar 10:00,
    # decided 7 Mar) were late; R1 and R3 were decided within a day.
    assert (finance.with_due, finance.breached) == (4, 2)
    assert finance.breach_rate == pytest.approx(0.5)
    # Escalation timers fired in March: R7 1 Mar, R2 6 Mar, R4 18 Mar (one per visit).
    assert finance.escalations == 3
    # R4 waits since 16 Mar 10:00: 15 days and 2 hours to 31 Mar 12:00 = 362 h; past due.
    assert (finance.waiting_now.count, finance.overdue_now) == (1, 1)
    assert finance.waiting_now.longest == hours(362)
    # Reached in March: R1, R2, R3, R4 (R7's finance step began on 27 Feb).
    assert finance.reached == 4
    # Waiting inside March: R7 from 28 Feb 23:00 to 2 Mar 09:00 = 34 h, R1 24, R2 72, R3 24,
    # R4 362 (to now) = 516 h.
    assert finance.waiting_seconds == hours(516)


def test_a_conditional_step_counts_how_often_it_was_taken(march):
    cfo = steps_by_name(march)["cfo"]
    # Reached in March: R7 (400, skipped), R1 (500, skipped), R2 (5000, taken). R3 was rejected
    # before reaching it; R4 has not reached it yet.
    assert (cfo.reached, cfo.skipped, cfo.taken) == (3, 2, 1)
    assert cfo.taken_rate == pytest.approx(1 / 3)
    assert cfo.is_conditional and cfo.condition == "amount > 1000"
    assert cfo.decided.count == 1 and cfo.decided.median == hours(6)
    assert cfo.waiting_seconds == hours(6)


def test_the_bottleneck_is_the_largest_share_of_waiting_time(march):
    # All waiting in March: manager 40 h + finance 516 h + CFO 6 h = 562 h.
    shares = {step.name: step.share for step in march.steps}
    assert shares == {
        "manager": pytest.approx(40 / 562),
        "finance": pytest.approx(516 / 562),
        "cfo": pytest.approx(6 / 562),
    }
    # 516 / 562 = 91.8% -> 92%; finance's median wait is 48 h = 2 days.
    assert march.bottleneck.name == "finance"
    assert march.bottleneck.sentence == (
        "Finance approval holds 92% of all waiting time; median wait 2 days."
    )
    assert march.waiting_now == 1 and march.longest_wait_now == hours(362)


def test_waiting_counts_only_the_part_inside_the_period(history):
    result = insight.compute(history.form, FEBRUARY, access.Scope(None), now=NOW)
    steps = steps_by_name(result)
    # February ends at 28 Feb 23:00 UTC (midnight in Berlin). Manager: R6 2 h + R7 24 h = 26 h.
    # Finance: R6 24 h + R7 from 27 Feb 09:00 to the period's end, 38 h = 62 h.
    assert steps["manager"].waiting_seconds == hours(26)
    assert steps["finance"].waiting_seconds == hours(62)
    # 62 / 88 = 70.5% -> 70%; the only finance visit decided in February took 24 h.
    assert result.bottleneck.sentence == (
        "Finance approval holds 70% of all waiting time; median wait 1 day."
    )
    assert result.cycle.current.count == 1 and result.cycle.previous.count == 0
    assert result.cycle.median_trend.words(previous_words(FEBRUARY)) == (
        "nothing was decided in the previous 28 days to compare with"
    )
    assert result.approvers is None  # this scope does not include the approvers


def test_approver_figures(march, history):
    people = {person.email: person for person in march.approvers}
    mia, fiona = people["mia@example.com"], people["fiona@example.com"]
    # Mia decided the five manager visits above: median 4 h.
    assert (mia.decided.count, mia.decided.median, mia.open_now) == (5, hours(4), 0)
    # Fiona decided R7 (asked 27 Feb 09:00, 72 h), R1 24 h and R3 24 h: median 24 h,
    # p90: h = 2 * 0.9 = 1.8 -> 24 + 0.8 * (72 - 24) = 62.4 h. R4 is open with her for 362 h.
    assert (fiona.decided.count, fiona.decided.median) == (3, hours(24))
    assert fiona.decided.p90 == hours(62.4)
    assert (fiona.open_now, fiona.oldest_open_seconds) == (1, hours(362))
    # Frank decided R2 (72 h); Carol R2's CFO step (6 h) and was added to R4 by its escalation
    # on 18 Mar 10:00: open for 314 h. The escalation tasks that were cancelled count nowhere.
    assert (people["frank@example.com"].decided.count, people["frank@example.com"].open_now) == (
        1,
        1,
    )
    carol = people["carol@example.com"]
    assert (carol.decided.count, carol.decided.median) == (1, hours(6))
    assert (carol.open_now, carol.oldest_open_seconds) == (1, hours(314))
    # Most decisions first; equal counts by how many are open, then by name.
    assert [person.name for person in march.approvers] == [
        "Mia Manager",
        "Fiona Walsh",
        "Carol Chen",
        "Frank Meyer",
    ]


def test_who_may_see_what(history):
    people, form = history.people, history.form
    assert access.insight_scope(people["ada"], form) == access.Scope(None, approvers=True)
    assert access.insight_scope(people["cora"], form) == access.Scope(None, approvers=False)
    assert access.insight_scope(people["fiona"], form) == access.Scope(frozenset({"finance"}))
    assert access.insight_scope(people["carol"], form) == access.Scope(frozenset({"cfo"}))
    # The manager step asks a person, not a group: managers see no figures through it.
    for nobody in ("alice", "mia", "ivan"):
        assert access.insight_scope(people[nobody], form) is None
    assert insight.may_see_any(people["fiona"]) and not insight.may_see_any(people["alice"])


def test_a_step_group_gets_its_own_step_and_nothing_form_wide(history):
    scope = access.insight_scope(history.people["fiona"], history.form)
    result = insight.compute(history.form, MARCH, scope, now=NOW)
    assert [step.name for step in result.visible_steps] == ["finance"]
    assert [step.name for step in result.steps] == ["finance"]
    assert result.steps[0].decided.median == hours(48)
    assert (result.volume, result.cycle, result.bottleneck, result.approvers) == (
        [],
        None,
        None,
        None,
    )


def test_a_period_with_nothing_in_it_still_shows_what_waits_now(history):
    quiet = Period(dt.date(2025, 6, 1), dt.date(2025, 6, 30))
    result = insight.compute(history.form, quiet, access.Scope(None, True), now=NOW)
    assert sum(row.submitted + row.finished for row in result.volume) == 0
    assert result.bottleneck is None  # nothing waited in June 2025
    assert result.cycle.current.median is None
    # "Waiting now" is about now, whatever the period: R4 still waits for finance.
    assert result.has_activity and result.waiting_now == 1
    assert {person.name for person in result.approvers if person.decided.count} == set()


def test_the_menu_answer_follows_each_newly_published_chain(history, publish):
    """may_see_any keeps the groups the chains ask per set of current versions: it must give
    visible_forms' answer for everyone, and change the moment a new version is published."""
    import copy

    from tests.fixtures.insight import TRAVEL

    for person in history.people.values():
        assert insight.may_see_any(person) == bool(insight.visible_forms(person)), person.email
    assert insight.may_see_any(history.people["fiona"])

    without_finance = copy.deepcopy(TRAVEL)
    without_finance["approval"]["steps"] = [
        step for step in without_finance["approval"]["steps"] if step["name"] != "finance"
    ]
    publish("travel_request", without_finance)
    assert not insight.may_see_any(history.people["fiona"])
    assert insight.may_see_any(history.people["carol"])  # the CFO step still asks for her
    for person in history.people.values():
        assert insight.may_see_any(person) == bool(insight.visible_forms(person)), person.email
