"""Step value of the crafted travel history (tests/fixtures/insight.py), worked by hand.

Visits people decided in March 2026, by amount band (cut at 1,000, 10,000, 25,000, 100,000):
- manager: R1 4h, R3 sent back 6h then approved 2h, R4 1h (all below 1,000); R2 24h (5,000).
- finance: R7 72h (finished 2 Mar), R1 24h, R3 rejected 24h (below 1,000); R2 72h (5,000).
- CFO: R2 6h (5,000). R4's finance is still open and R5 was withdrawn: neither counts.
"""

from __future__ import annotations

import pytest

from portal.domain import step_value
from portal.services import access, insight
from tests.fixtures.insight import HOUR, MARCH, NOW, TravelHistory


@pytest.fixture
def value(app, make_user, publish):
    history = TravelHistory(make_user, publish).build()
    found = insight.compute(history.form, MARCH, access.Scope(None, approvers=True), now=NOW)
    return {step.name: step for step in found.value}


def cells(step):
    return {
        cell.label: (cell.decided, cell.approved, cell.rejected, cell.sent_back, cell.tasks)
        for cell in step.cells
        if cell.decided
    }


def test_each_step_counts_its_decisions_by_band(value):
    assert list(value) == ["manager", "finance", "cfo"]
    assert cells(value["manager"]) == {
        "< 1,000": (4, 3, 0, 1, 4),
        "1,000 – 10,000": (1, 1, 0, 0, 1),
    }
    assert cells(value["finance"]) == {
        "< 1,000": (3, 2, 1, 0, 3),
        "1,000 – 10,000": (1, 1, 0, 0, 1),
    }
    assert cells(value["cfo"]) == {"1,000 – 10,000": (1, 1, 0, 0, 1)}
    assert (value["finance"].total.decided, value["finance"].total.rejected) == (4, 1)


def test_waits_are_the_medians_and_90th_percentiles_of_each_band(value):
    low = value["manager"].cells[0]
    assert low.median == pytest.approx(3 * HOUR)  # 1, 2, 4, 6 hours
    assert low.p90 == pytest.approx(5.4 * HOUR)
    finance = value["finance"].cells[0]
    assert finance.median == pytest.approx(24 * HOUR)  # 24, 24, 72 hours
    assert finance.p90 == pytest.approx(62.4 * HOUR)


def test_no_sentence_below_the_volume_threshold(value):
    assert all(step.sentence == "" for step in value.values())


def test_the_sentence_once_the_volume_is_enough(monkeypatch, app, make_user, publish):
    monkeypatch.setattr(step_value, "ENOUGH_VOLUME", 1)
    history = TravelHistory(make_user, publish).build()
    found = insight.compute(history.form, MARCH, access.Scope(None, approvers=True), now=NOW)
    said = {step.name: step.sentence for step in found.value}
    assert said["manager"] == (
        "Manager approval approved all 1 request between EUR 1,000 and 10,000 between 1 Mar "
        "and 31 Mar 2026, adding a median 1 day; it sent back 1 of 4 below EUR 1,000."
    )
    assert said["cfo"].startswith("CFO approval approved all 1 request between EUR 1,000")
