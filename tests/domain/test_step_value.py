"""Step value: bands, the "approved all" sentence and its threshold, worked by hand."""

from __future__ import annotations

from decimal import Decimal

import pytest

from portal.domain import schema, step_value
from portal.domain.step_value import ENOUGH_VOLUME, Band, Cell

DAY = 86400.0


def test_bands_cut_at_the_default_edges_and_the_chains_thresholds():
    document = {
        "title": "Invoice",
        "amount_field": "amount",
        "fields": [{"type": "money", "name": "amount", "label": "Amount", "currency": "EUR"}],
        "approval": {
            "fallback_group": "finance",
            "steps": [
                {
                    "name": "cfo",
                    "title": "CFO approval",
                    "when": "amount > 5000 and 20000 >= amount",
                    "auto_approve_if": "amount < 300",
                    "assignees": [{"group": "cfo"}],
                }
            ],
        },
    }
    spec = schema.load(document, "invoice").approval
    assert step_value.chain_edges(spec, "amount") == (Decimal(300), Decimal(5000), Decimal(20000))
    cut = step_value.bands(step_value.DEFAULT_EDGES + step_value.chain_edges(spec, "amount"))
    assert [band.label for band in cut] == [
        "< 300",
        "300 – 1,000",
        "1,000 – 5,000",
        "5,000 – 10,000",
        "10,000 – 20,000",
        "20,000 – 25,000",
        "25,000 – 100,000",
        "≥ 100,000",
    ]
    assert cut[0].words("EUR") == "below EUR 300"
    assert cut[3].words("EUR") == "between EUR 5,000 and 10,000"
    assert cut[-1].words("EUR") == "from EUR 100,000"


def _value(*cells):
    return step_value.StepValue("cfo", "CFO approval", list(cells))


def test_the_sentence_names_the_band_approved_throughout_and_the_rejections_elsewhere():
    quiet = Cell(Band(None, Decimal(10000)), decided=5, approved=5, median=DAY)
    clean = Cell(Band(Decimal(10000), Decimal(25000)), decided=212, approved=212, median=1.3 * DAY)
    busy = Cell(Band(Decimal(25000), None), decided=41, approved=38, rejected=3, median=2 * DAY)
    said = step_value.sentence(_value(quiet, clean, busy), "EUR", "in the last 12 months")
    assert said == (
        "CFO approval approved all 212 requests between EUR 10,000 and 25,000 in the last "
        "12 months, adding a median 1.3 days; it rejected 3 of 41 from EUR 25,000."
    )


@pytest.mark.parametrize(
    ("decided", "rejected", "sent_back", "said"),
    [
        (ENOUGH_VOLUME - 1, 0, 0, False),  # too few to say "all"
        (ENOUGH_VOLUME, 0, 0, True),
        (ENOUGH_VOLUME, 1, 0, False),
        (ENOUGH_VOLUME, 0, 1, False),
    ],
)
def test_approved_all_needs_enough_volume_and_no_change(decided, rejected, sent_back, said):
    cell = Cell(
        Band(None, None),
        decided=decided,
        approved=decided - rejected - sent_back,
        rejected=rejected,
        sent_back=sent_back,
        median=3600.0,
    )
    assert cell.approved_all is said
    assert bool(step_value.sentence(_value(cell), "", "in March")) is said


def test_several_clean_bands_are_named_each_with_its_median():
    low = Cell(Band(None, Decimal(1000)), decided=40, approved=40, median=7200.0)
    mid = Cell(Band(Decimal(1000), None), decided=31, approved=31, median=DAY)
    assert step_value.sentence(_value(low, mid), "EUR", "in March") == (
        "CFO approval approved all 40 requests below EUR 1,000 (median wait 2 hours) and all "
        "31 requests from EUR 1,000 (median wait 1 day) in March."
    )


def test_the_thresholds_are_stated_in_words():
    words = step_value.thresholds_words()
    assert f"at least {ENOUGH_VOLUME} requests" in words
    assert "1,000, 10,000, 25,000, 100,000" in words
