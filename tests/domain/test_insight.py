"""Process insight's pure rules: percentiles, periods and buckets, the bottleneck, the words,
and where the charts put things."""

from __future__ import annotations

import datetime as dt
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.domain.insight import (
    MAX_DAYS,
    Distribution,
    Period,
    PeriodInvalid,
    StepWaiting,
    Trend,
    bucket_unit,
    buckets,
    count_words,
    duration_short,
    duration_words,
    find_bottleneck,
    parse_period,
    percent,
    percentile,
    previous_words,
    rate,
    shares,
)

TODAY = dt.date(2026, 3, 31)
HOUR, DAY = 3600, 86400

# -- percentiles ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [
        ([5], 0.5, 5),
        ([5], 0.9, 5),
        ([1, 2, 3, 4], 0.5, 2.5),  # h = 1.5: halfway between 2 and 3
        ([1, 2, 3, 4, 5], 0.5, 3),  # h = 2: exactly the middle value
        ([24, 24, 72, 72], 0.9, 72),  # h = 2.7: between 72 and 72
        ([1, 2, 4, 6, 24], 0.9, 16.8),  # h = 3.6: 6 + 0.6 * (24 - 6)
        ([28, 50, 96, 102], 0.9, 100.2),  # h = 2.7: 96 + 0.7 * (102 - 96)
        ([10, 20], 0.0, 10),
        ([10, 20], 1.0, 20),
        ([30, 10, 20], 0.5, 20),  # order does not matter
    ],
)
def test_percentile_interpolates_between_the_nearest_ranks(values, fraction, expected):
    assert percentile(values, fraction) == pytest.approx(expected)


def test_percentile_of_nothing_is_none_and_fractions_are_checked():
    assert percentile([], 0.5) is None
    with pytest.raises(ValueError):
        percentile([1, 2], 1.5)


@given(st.lists(st.floats(0, 1e7, allow_nan=False), min_size=2, max_size=60))
def test_percentile_matches_pythons_inclusive_quantiles(values):
    """statistics.quantiles(method='inclusive') is Excel's PERCENTILE.INC, as ours is."""
    deciles = statistics.quantiles(values, n=10, method="inclusive")
    assert percentile(values, 0.9) == pytest.approx(deciles[8], rel=1e-9, abs=1e-6)
    assert percentile(values, 0.5) == pytest.approx(statistics.median(values), abs=1e-6)


@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=40))
def test_the_median_never_exceeds_the_90th_percentile(values):
    found = Distribution.of(values)
    assert min(values) <= found.median <= found.p90 <= found.longest == max(values)
    assert found.count == len(values) and found.total == pytest.approx(sum(values))


def test_rate_of_nothing_is_none_not_zero():
    assert rate(1, 4) == 0.25 and rate(0, 4) == 0 and rate(0, 0) is None


# -- the bottleneck ---------------------------------------------------------------------------


def test_the_bottleneck_is_the_step_with_most_waiting_time():
    steps = [
        StepWaiting("manager", "Manager approval", 40 * HOUR, 4 * HOUR),
        StepWaiting("finance", "Finance approval", 516 * HOUR, 48 * HOUR),
        StepWaiting("cfo", "CFO approval", 6 * HOUR, 6 * HOUR),
    ]
    found = find_bottleneck(steps)
    assert (found.name, found.share) == ("finance", pytest.approx(516 / 562))
    assert found.sentence == "Finance approval holds 92% of all waiting time; median wait 2 days."
    assert shares(steps) == {
        "manager": pytest.approx(40 / 562),
        "finance": pytest.approx(516 / 562),
        "cfo": pytest.approx(6 / 562),
    }


def test_the_example_sentence_of_the_issue():
    # 61% of 100 hours, median 2.3 days (55.2 hours).
    steps = [
        StepWaiting("finance", "Finance approval", 61 * HOUR, 2.3 * DAY),
        StepWaiting("manager", "Manager approval", 39 * HOUR, 3 * HOUR),
    ]
    assert find_bottleneck(steps).sentence == (
        "Finance approval holds 61% of all waiting time; median wait 2.3 days."
    )


def test_a_tie_goes_to_the_earlier_step_and_no_waiting_means_no_bottleneck():
    tied = [StepWaiting("a", "A", 10, 5), StepWaiting("b", "B", 10, 5)]
    assert find_bottleneck(tied).name == "a"
    assert find_bottleneck([StepWaiting("a", "A", 0, None)]) is None
    assert find_bottleneck([]) is None and shares([]) == {}


def test_a_bottleneck_with_nothing_decided_yet_says_so():
    found = find_bottleneck([StepWaiting("legal", "Legal review", 50 * HOUR, None)])
    assert found.sentence == (
        "Legal review holds 100% of all waiting time; "
        "nothing waiting there was decided in this period yet."
    )


# -- words ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "words", "short"),
    [
        (None, "–", "–"),
        (30, "under a minute", "<1 min"),
        (60, "1 minute", "1 min"),
        (45 * 60, "45 minutes", "45 min"),
        (59 * 60 + 29, "59 minutes", "59 min"),
        (HOUR, "1 hour", "1 h"),
        (5.1 * HOUR, "5.1 hours", "5.1 h"),
        (23.94 * HOUR, "23.9 hours", "23.9 h"),
        (DAY, "1 day", "1 d"),
        (48 * HOUR, "2 days", "2 d"),
        (2.25 * DAY, "2.3 days", "2.3 d"),  # half up, not to even
        (362 * HOUR, "15.1 days", "15.1 d"),
    ],
)
def test_durations_in_words(seconds, words, short):
    assert duration_words(seconds) == words
    assert duration_short(seconds) == short


@pytest.mark.parametrize(
    ("fraction", "text"),
    [
        (None, "–"),
        (0, "0%"),
        (0.6149, "61%"),
        (0.615, "62%"),
        (0.004, "0.4%"),
        (0.0000001, "<0.1%"),
        (0.996, "99.6%"),
        (0.9999999, ">99.9%"),
        (1, "100%"),
        (1.8077, "181%"),
    ],
)
def test_percent(fraction, text):
    assert percent(fraction) == text


def test_counts_in_words():
    assert count_words(1, "request") == "1 request"
    assert count_words(1204, "request") == "1,204 requests"
    assert count_words(2, "person", "people") == "2 people"


@pytest.mark.parametrize(
    ("current", "previous", "direction", "words"),
    [
        (73 * HOUR, 26 * HOUR, "slower", "up 181% from 1.1 days in the previous 31 days"),
        (3 * DAY, 4 * DAY, "faster", "down 25% from 4 days in the previous 31 days"),
        (100, 98, "steady", "about the same as in the previous 31 days (2 minutes)"),
        (
            5 * HOUR,
            None,
            "unknown",
            "nothing was decided in the previous 31 days to compare with",
        ),
        (None, 5 * HOUR, "unknown", ""),
    ],
)
def test_trend_words(current, previous, direction, words):
    trend = Trend(current, previous)
    assert trend.direction == direction
    assert trend.words("the previous 31 days") == words


# -- periods ----------------------------------------------------------------------------------


def test_the_default_period_is_the_last_90_days_including_today():
    period = parse_period({}, TODAY)
    assert (period.first_day, period.last_day, period.days) == (dt.date(2026, 1, 1), TODAY, 90)
    assert period.label == "Last 90 days" and period.query() == {"period": "90d"}
    assert period.dates == "1 Jan – 31 Mar 2026"


@pytest.mark.parametrize(
    ("preset", "first"),
    [("30d", dt.date(2026, 3, 2)), ("90d", dt.date(2026, 1, 1)), ("12m", dt.date(2025, 4, 1))],
)
def test_preset_periods(preset, first):
    assert parse_period({"period": preset}, TODAY).first_day == first


def test_twelve_months_from_the_29th_of_february():
    period = parse_period({"period": "12m"}, dt.date(2028, 2, 29))
    assert period.first_day == dt.date(2027, 3, 1)


def test_dates_given_by_hand():
    period = parse_period({"from": "2026-03-01", "to": "2026-03-31", "period": "30d"}, TODAY)
    assert (period.first_day, period.last_day, period.preset) == (
        dt.date(2026, 3, 1),
        TODAY,
        None,
    )
    assert period.label == "1 Mar – 31 Mar 2026"
    assert period.query() == {"from": "2026-03-01", "to": "2026-03-31"}
    assert Period(dt.date(2025, 12, 1), dt.date(2026, 1, 31)).dates == "1 Dec 2025 – 31 Jan 2026"
    assert Period(TODAY, TODAY).dates == "31 Mar 2026"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"from": "2026-03-01"}, "Give both a first and a last day"),
        ({"to": "2026-03-01"}, "Give both a first and a last day"),
        ({"from": "yesterday", "to": "2026-03-01"}, "The first day, “yesterday”, is not a date"),
        ({"from": "2026-03-01", "to": "2026-13-01"}, "The last day, “2026-13-01”, is not a date"),
        ({"from": "2026-03-02", "to": "2026-03-01"}, "is after the last day (1 Mar 2026). Swap"),
        ({"from": "2026-03-01", "to": "2026-04-01"}, "choose 31 Mar 2026 or earlier"),
        ({"from": "2023-01-01", "to": "2026-03-31"}, "choose at most 1,098 days"),
        ({"period": "5y"}, "“5y” is not a period Baton knows: use “30d”, “90d”, “12m”"),
    ],
)
def test_a_bad_period_says_what_to_change(args, message):
    with pytest.raises(PeriodInvalid) as refused:
        parse_period(args, TODAY)
    assert message in str(refused.value)


def test_the_longest_period_allowed():
    last = TODAY
    first = last - dt.timedelta(days=MAX_DAYS - 1)
    assert parse_period({"from": first.isoformat(), "to": last.isoformat()}, TODAY).days == 1098


def test_the_previous_period_is_as_long_and_ends_the_day_before():
    march = Period(dt.date(2026, 3, 1), dt.date(2026, 3, 31))
    assert march.previous() == Period(dt.date(2026, 1, 29), dt.date(2026, 2, 28))
    assert previous_words(march) == "the previous 31 days"
    assert previous_words(Period(TODAY, TODAY)) == "the day before"


def test_period_bounds_follow_the_time_zone_and_summer_time():
    march = Period(dt.date(2026, 3, 1), dt.date(2026, 3, 31))
    start, end = march.bounds("Europe/Berlin")
    assert start == dt.datetime(2026, 2, 28, 23, 0, tzinfo=dt.UTC)  # CET, UTC+1
    assert end == dt.datetime(2026, 3, 31, 22, 0, tzinfo=dt.UTC)  # CEST from 29 March


# -- buckets ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("days", "unit"), [(1, "day"), (31, "day"), (32, "week"), (184, "month")])
def test_bucket_units(days, unit):
    assert bucket_unit(Period(TODAY - dt.timedelta(days=days - 1), TODAY)) == unit


def test_weeks_run_monday_to_sunday_cut_to_the_period():
    # 1 Jan 2026 is a Thursday; 31 Mar 2026 a Tuesday.
    found = buckets(Period(dt.date(2026, 1, 1), TODAY), "Europe/Berlin")
    assert (found[0].first_day, found[0].last_day) == (dt.date(2026, 1, 1), dt.date(2026, 1, 4))
    assert (found[1].first_day, found[1].last_day) == (dt.date(2026, 1, 5), dt.date(2026, 1, 11))
    assert (found[-1].first_day, found[-1].last_day) == (dt.date(2026, 3, 30), TODAY)
    assert found[1].label == "w/c 5 Jan" and found[1].short_label == "5 Jan"
    assert found[-1].end == dt.datetime(2026, 3, 31, 22, 0, tzinfo=dt.UTC)
    assert all(a.end == b.start for a, b in zip(found, found[1:], strict=False))


def test_months_label_the_year_in_january():
    found = buckets(Period(dt.date(2025, 4, 1), TODAY), "UTC")
    assert len(found) == 12
    assert [b.short_label for b in found[8:11]] == ["Dec", "Jan 2026", "Feb"]
    assert found[0].label == "Apr 2025"
