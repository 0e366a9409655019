"""Durations, the business calendar, the timers a step's timing plans, and timing in schemas."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.domain.schema import load, load_text, meta_schema
from portal.domain.sla import (
    MAX_REMINDERS,
    Calendar,
    Duration,
    DurationError,
    Escalation,
    EscalationMode,
    Plan,
    Reminder,
    Timeout,
    TimeoutAction,
    Timer,
    TimerKind,
    Timing,
    next_reminder,
    opening_timers,
    parse_duration,
    plan,
)
from tests.fixtures.schemas import faults

SHIPPED = Path(__file__).resolve().parents[2] / "form_schemas"

UTC_CALENDAR = Calendar()
BERLIN = Calendar("Europe/Berlin")
#: Christmas 2026: Thursday 24th, Friday 25th and Saturday 26th.
CHRISTMAS = frozenset({dt.date(2026, 12, 24), dt.date(2026, 12, 25), dt.date(2026, 12, 26)})
#: A Monday morning.
START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)

REMINDER, ESCALATION, TIMEOUT = TimerKind.REMINDER, TimerKind.ESCALATION, TimerKind.TIMEOUT


def d(text: str) -> Duration:
    return parse_duration(text)


def local(zone: str, *parts: int) -> dt.datetime:
    """A wall-clock time in `zone`."""
    return dt.datetime(*parts, tzinfo=ZoneInfo(zone))


def hours(count: float, start: dt.datetime = START) -> dt.datetime:
    return start + dt.timedelta(hours=count)


# -- durations --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "amount", "unit"),
    [
        ("30m", 30, "m"),
        ("1m", 1, "m"),
        ("48h", 48, "h"),
        ("2d", 2, "d"),
        ("3bd", 3, "bd"),
        ("9999bd", 9999, "bd"),
        (" 3bd\n", 3, "bd"),
    ],
)
def test_parse_duration_reads_every_unit(text, amount, unit):
    assert parse_duration(text) == Duration(amount, unit)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "3",
        "bd",
        "3x",
        "3w",
        "3 bd",
        "3BD",
        "3H",
        "-1d",
        "+1d",
        "1.5h",
        "10000m",
        "0d",
        "007h",
        "3bdd",
        "3db",
        "d3",
        "3h30m",
        "３d",  # fullwidth digit
        "٣bd",  # Arabic-Indic digit
        None,
        3,
        3.0,
    ],
)
def test_parse_duration_refuses_anything_else_naming_it(text):
    with pytest.raises(DurationError) as info:
        parse_duration(text)
    assert (
        str(info.value) == f"{text!r} is not a duration like 30m, 48h, 2d or 3bd (more than zero)"
    )


def test_duration_error_is_a_value_error():
    assert issubclass(DurationError, ValueError)


@pytest.mark.parametrize(
    ("duration", "text", "words"),
    [
        (Duration(30, "m"), "30m", "30 minutes"),
        (Duration(1, "m"), "1m", "1 minute"),
        (Duration(1, "h"), "1h", "1 hour"),
        (Duration(48, "h"), "48h", "48 hours"),
        (Duration(1, "d"), "1d", "1 day"),
        (Duration(2, "d"), "2d", "2 days"),
        (Duration(1, "bd"), "1bd", "1 business day"),
        (Duration(3, "bd"), "3bd", "3 business days"),
    ],
)
def test_duration_reads_back_as_written_and_in_words(duration, text, words):
    assert str(duration) == text
    assert parse_duration(text) == duration
    assert duration.words == words


# -- the calendar -----------------------------------------------------------------------------

ELAPSED = [
    # calendar, start, duration, elapsed
    (UTC_CALENDAR, START, "30m", dt.timedelta(minutes=30)),
    (UTC_CALENDAR, START, "48h", dt.timedelta(hours=48)),
    # Hours run through the weekend: they are elapsed time, not working time.
    (UTC_CALENDAR, local("UTC", 2026, 3, 6, 20), "48h", dt.timedelta(hours=48)),
    (BERLIN, local("UTC", 2026, 3, 6, 20), "9999m", dt.timedelta(minutes=9999)),
    # Across the change to summer time, 24h ends an hour later on the wall clock.
    (BERLIN, local("Europe/Berlin", 2026, 3, 28, 12), "24h", dt.timedelta(hours=24)),
    (BERLIN, local("Europe/Berlin", 2026, 10, 24, 12), "24h", dt.timedelta(hours=24)),
]


@pytest.mark.parametrize(("calendar", "start", "duration", "elapsed"), ELAPSED)
def test_minutes_and_hours_are_elapsed_time(calendar, start, duration, elapsed):
    result = calendar.add(start, d(duration))
    assert result.astimezone(dt.UTC) - start.astimezone(dt.UTC) == elapsed


def test_hours_across_the_change_to_summer_time_move_the_wall_clock():
    result = BERLIN.add(local("Europe/Berlin", 2026, 3, 28, 12), d("24h"))
    assert result == local("Europe/Berlin", 2026, 3, 29, 13)


CALENDAR_DAYS = [
    # start (Berlin wall clock), duration, end (Berlin wall clock), hours elapsed
    ((2026, 3, 28, 12), "1d", (2026, 3, 29, 12), 23),  # summer time begins that night
    ((2026, 3, 27, 9), "3d", (2026, 3, 30, 9), 71),
    ((2026, 3, 29, 1, 30), "1d", (2026, 3, 30, 1, 30), 23),
    ((2026, 10, 24, 12), "1d", (2026, 10, 25, 12), 25),  # summer time ends that night
    ((2026, 10, 23, 9), "7d", (2026, 10, 30, 9), 169),
    ((2026, 3, 6, 15), "1d", (2026, 3, 7, 15), 24),  # days do not skip the weekend
    ((2026, 12, 23, 10), "2d", (2026, 12, 25, 10), 48),  # nor holidays
]


@pytest.mark.parametrize(("start", "duration", "end", "elapsed"), CALENDAR_DAYS)
def test_days_keep_the_local_time_of_day_across_daylight_saving_changes(
    start, duration, end, elapsed
):
    calendar = Calendar("Europe/Berlin", holidays=CHRISTMAS)
    begin = local("Europe/Berlin", *start)
    result = calendar.add(begin, d(duration))
    assert result == local("Europe/Berlin", *end)
    assert result.astimezone(dt.UTC) - begin.astimezone(dt.UTC) == dt.timedelta(hours=elapsed)


BUSINESS_DAYS = [
    # start, duration, end: all wall-clock times in Berlin
    ((2026, 3, 6, 15), "1bd", (2026, 3, 9, 15)),  # Friday -> Monday
    ((2026, 3, 7, 10), "1bd", (2026, 3, 9, 10)),  # Saturday -> Monday
    ((2026, 3, 8, 23, 59), "1bd", (2026, 3, 9, 23, 59)),  # Sunday -> Monday
    ((2026, 3, 2, 9), "5bd", (2026, 3, 9, 9)),  # Monday -> next Monday
    ((2026, 3, 5, 9), "2bd", (2026, 3, 9, 9)),  # Thursday -> Monday
    ((2026, 3, 2, 9), "10bd", (2026, 3, 16, 9)),
    ((2026, 3, 27, 15), "1bd", (2026, 3, 30, 15)),  # over the change to summer time
    ((2026, 10, 23, 15), "1bd", (2026, 10, 26, 15)),  # and back
    ((2026, 12, 23, 10), "1bd", (2026, 12, 28, 10)),  # Christmas Eve and Day are holidays
    ((2026, 12, 22, 10), "2bd", (2026, 12, 28, 10)),
    ((2026, 12, 25, 10), "1bd", (2026, 12, 28, 10)),  # from a holiday
    ((2026, 12, 23, 10), "2bd", (2026, 12, 29, 10)),  # a holiday on a Saturday costs nothing
    ((2026, 12, 21, 10), "3bd", (2026, 12, 28, 10)),
]


@pytest.mark.parametrize(("start", "duration", "end"), BUSINESS_DAYS)
def test_business_days_skip_weekends_and_holidays(start, duration, end):
    calendar = Calendar("Europe/Berlin", holidays=CHRISTMAS)
    result = calendar.add(local("Europe/Berlin", *start), d(duration))
    assert result == local("Europe/Berlin", *end)


def test_without_the_holidays_christmas_eve_is_a_business_day():
    assert BERLIN.add(local("Europe/Berlin", 2026, 12, 23, 10), d("1bd")) == local(
        "Europe/Berlin", 2026, 12, 24, 10
    )


def test_business_days_are_counted_in_the_calendars_zone_not_in_utc():
    friday_night = local("UTC", 2026, 3, 6, 20)  # already Saturday 05:00 in Tokyo
    tokyo = Calendar("Asia/Tokyo")
    assert tokyo.add(friday_night, d("1bd")) == local("Asia/Tokyo", 2026, 3, 9, 5)
    assert tokyo.add(friday_night, d("1bd")) == local("UTC", 2026, 3, 8, 20)  # Sunday in UTC
    assert UTC_CALENDAR.add(friday_night, d("1bd")) == local("UTC", 2026, 3, 9, 20)


def test_holidays_are_dates_in_the_calendars_zone():
    friday_night = local("UTC", 2026, 3, 6, 20)  # Saturday in Tokyo
    monday = frozenset({dt.date(2026, 3, 9)})
    tokyo = Calendar("Asia/Tokyo", holidays=monday)
    assert tokyo.add(friday_night, d("1bd")) == local("Asia/Tokyo", 2026, 3, 10, 5)


def test_a_friday_and_saturday_weekend_is_honoured():
    riyadh = Calendar("Asia/Riyadh", weekend=frozenset({4, 5}))
    thursday = local("Asia/Riyadh", 2026, 3, 5, 9)
    assert riyadh.add(thursday, d("1bd")) == local("Asia/Riyadh", 2026, 3, 8, 9)  # Sunday


@pytest.mark.parametrize("unit", ["m", "h", "d", "bd"])
def test_naive_times_are_refused(unit):
    with pytest.raises(ValueError, match="times must be timezone-aware"):
        BERLIN.add(dt.datetime(2026, 3, 2, 9), Duration(1, unit))


@pytest.mark.parametrize("unit", ["m", "h", "d", "bd"])
@pytest.mark.parametrize("calendar", [UTC_CALENDAR, BERLIN], ids=["utc", "berlin"])
def test_results_are_in_utc_whatever_the_zone_of_the_start(calendar, unit):
    result = calendar.add(local("America/New_York", 2026, 3, 2, 9), Duration(2, unit))
    assert result.tzinfo is dt.UTC


@pytest.mark.parametrize("unit", ["m", "h", "d", "bd"])
@pytest.mark.parametrize(
    "start",
    [
        START,
        local("UTC", 2026, 10, 25, 0, 30),  # 02:30 summer time in Berlin, the first time round
        local("UTC", 2026, 10, 25, 1, 30),  # 02:30 winter time in Berlin, the second time round
        local("UTC", 2026, 3, 7, 12),  # a Saturday
    ],
    ids=["monday", "first 02:30", "second 02:30", "saturday"],
)
def test_a_zero_duration_adds_nothing(start, unit):
    assert BERLIN.add(start, Duration(0, unit)) == start


# -- calendar properties ----------------------------------------------------------------------

#: Zones whose clocks change on Sundays, so no business day has an hour that does not exist.
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney"]
STARTS = st.datetimes(
    min_value=dt.datetime(2026, 1, 1),
    max_value=dt.datetime(2026, 12, 31),
    timezones=st.just(dt.UTC),
)
CALENDARS = st.builds(
    Calendar,
    zone=st.sampled_from(ZONES),
    holidays=st.frozensets(st.dates(dt.date(2026, 1, 1), dt.date(2027, 6, 30)), max_size=40),
)


@settings(max_examples=200, deadline=None)
@given(calendar=CALENDARS, start=STARTS, count=st.integers(1, 60))
def test_business_days_land_on_a_business_day_at_the_same_time_of_day(calendar, start, count):
    result = calendar.add(start, Duration(count, "bd"))
    begin, end = start.astimezone(calendar.tz), result.astimezone(calendar.tz)
    assert result > start
    assert calendar.is_business_day(end.date())
    assert end.time() == begin.time()
    between = (end.date() - begin.date()).days
    days = (begin.date() + dt.timedelta(days=n) for n in range(1, between + 1))
    assert sum(calendar.is_business_day(day) for day in days) == count


@settings(max_examples=200, deadline=None)
@given(
    calendar=CALENDARS,
    start=STARTS,
    first=st.integers(0, 30),
    then=st.integers(0, 30),
    unit=st.sampled_from(["m", "h", "bd"]),
)
def test_adding_in_two_goes_equals_adding_at_once(calendar, start, first, then, unit):
    # Not for `d`: a day can land on an hour that does not exist (moved on to the next), and
    # the second step then keeps that later hour.
    in_two = calendar.add(calendar.add(start, Duration(first, unit)), Duration(then, unit))
    assert in_two == calendar.add(start, Duration(first + then, unit))


# -- plan -------------------------------------------------------------------------------------


def reminders(every: dt.timedelta, count: int, start: dt.datetime = START) -> list[Timer]:
    return [Timer(REMINDER, start + every * number, number) for number in range(1, count + 1)]


def test_empty_timing_plans_nothing():
    assert plan(Timing(), START, UTC_CALENDAR) == Plan(None, ())


@pytest.mark.parametrize(
    ("due", "due_at"),
    [
        ("30m", hours(0.5)),
        ("48h", hours(48)),
        ("2d", hours(48)),
        ("3bd", hours(72)),
        ("5bd", hours(7 * 24)),
    ],
)
def test_due_alone_sets_the_due_time_and_no_timers(due, due_at):
    assert plan(Timing(due=d(due)), START, UTC_CALENDAR) == Plan(due_at, ())


def test_due_follows_the_calendar():
    friday = local("Europe/Berlin", 2026, 3, 27, 15)
    result = plan(Timing(due=d("1bd")), friday, BERLIN)
    assert result.due_at == local("Europe/Berlin", 2026, 3, 30, 15)


def test_reminders_without_a_due_time_stop_at_max_reminders():
    result = plan(Timing(remind=Reminder(every=d("4h"))), START, UTC_CALENDAR)
    assert result == Plan(None, tuple(reminders(dt.timedelta(hours=4), MAX_REMINDERS)))


def test_a_task_opens_with_its_first_reminder_escalation_and_timeout_only():
    timing = Timing(
        due=d("1d"),
        remind=Reminder(every=d("8h")),
        escalate=Escalation(manager=1),
        on_timeout=Timeout(TimeoutAction.REJECT, d("1d")),
    )
    full = plan(timing, START, UTC_CALENDAR)
    assert [t.kind for t in full.timers].count(REMINDER) == 5
    assert opening_timers(full) == (
        Timer(REMINDER, hours(8), 1),
        Timer(TimerKind.ESCALATION, hours(24)),
        Timer(TIMEOUT, hours(48)),
    )


def test_without_reminders_every_timer_is_written_when_the_task_opens():
    timing = Timing(due=d("1d"), on_timeout=Timeout(TimeoutAction.APPROVE))
    full = plan(timing, START, UTC_CALENDAR)
    assert opening_timers(full) == full.timers


def test_the_next_reminder_follows_the_plan_and_skips_those_already_past():
    full = plan(Timing(remind=Reminder(every=d("4h"))), START, UTC_CALENDAR)
    assert next_reminder(full, 1, hours(4)) == Timer(REMINDER, hours(8), 2)
    # fired late, at 13:30: the 8 h one is past; the next is at 12 h
    assert next_reminder(full, 1, hours(12) - dt.timedelta(minutes=30)) == Timer(
        REMINDER, hours(12), 3
    )
    assert next_reminder(full, MAX_REMINDERS, hours(4 * MAX_REMINDERS)) is None


def test_reminders_go_on_past_the_due_time_when_nothing_times_out():
    timing = Timing(due=d("1d"), remind=Reminder(every=d("8h")))
    result = plan(timing, START, UTC_CALENDAR)
    assert result == Plan(hours(24), tuple(reminders(dt.timedelta(hours=8), MAX_REMINDERS)))


@pytest.mark.parametrize(
    ("every", "due", "after", "count", "timeout_at"),
    [
        ("8h", "1d", "1d", 5, hours(48)),  # the sixth would fall on the timeout itself
        ("12h", "1d", None, 1, hours(24)),
        ("1d", "1d", None, 0, hours(24)),
        ("2d", "1d", None, 0, hours(24)),
        ("5h", "1d", "1d", 9, hours(48)),
        ("30m", "2bd", None, MAX_REMINDERS, hours(48)),  # 95 would fit; 20 is the most
    ],
)
def test_reminders_stop_before_the_timeout(every, due, after, count, timeout_at):
    timeout = Timeout(TimeoutAction.REJECT, d(after) if after else None)
    timing = Timing(due=d(due), remind=Reminder(every=d(every)), on_timeout=timeout)
    result = plan(timing, START, UTC_CALENDAR)
    step = UTC_CALENDAR.add(START, d(every)) - START
    assert result.timers == (*reminders(step, count), Timer(TIMEOUT, timeout_at))


def test_reminders_every_business_day_skip_the_weekend():
    friday = local("UTC", 2026, 3, 6, 9)
    result = plan(Timing(remind=Reminder(every=d("1bd"))), friday, UTC_CALENDAR)
    assert [timer.at for timer in result.timers[:3]] == [
        local("UTC", 2026, 3, 9, 9),
        local("UTC", 2026, 3, 10, 9),
        local("UTC", 2026, 3, 11, 9),
    ]


@pytest.mark.parametrize(
    ("start", "percent", "due", "moment"),
    [
        (START, 50, "2d", hours(24)),
        (START, 10, "30m", hours(0.05)),
        (START, 99, "100h", hours(99)),
        (START, 1, "100h", hours(1)),
        # A share of the elapsed time until due, weekend included: Friday 09:00 + 3bd is
        # Wednesday 09:00, 120 hours later; a quarter of that is Saturday 15:00.
        (local("UTC", 2026, 3, 6, 9), 25, "3bd", local("UTC", 2026, 3, 7, 15)),
    ],
)
def test_reminder_at_a_percentage_lands_at_that_share_of_the_time_until_due(
    start, percent, due, moment
):
    timing = Timing(due=d(due), remind=Reminder(at_percent=percent))
    result = plan(timing, start, UTC_CALENDAR)
    assert result.timers == (Timer(REMINDER, moment, 1),)


def test_a_plan_from_local_time_is_the_plan_from_that_instant_in_utc():
    saturday = local("Europe/Berlin", 2026, 3, 28, 12)  # summer time begins that night
    timing = Timing(
        due=d("2d"),
        remind=Reminder(at_percent=50),
        on_timeout=Timeout(TimeoutAction.SKIP, d("1h")),
    )
    result = plan(timing, saturday, BERLIN)
    assert result == plan(timing, saturday.astimezone(dt.UTC), BERLIN)
    assert result == Plan(
        local("UTC", 2026, 3, 30, 10),  # Monday 12:00 in Berlin, 47 hours later
        (
            Timer(REMINDER, local("UTC", 2026, 3, 29, 10, 30), 1),
            Timer(TIMEOUT, local("UTC", 2026, 3, 30, 11)),
        ),
    )
    assert all(timer.at.tzinfo is dt.UTC for timer in result.timers)


@pytest.mark.parametrize(
    ("after", "moment"),
    [
        (None, hours(48)),  # Monday + 2bd: Wednesday
        ("4h", hours(52)),
        ("1bd", hours(72)),
        ("3bd", hours(7 * 24)),  # Wednesday + 3bd: next Monday
    ],
)
def test_escalation_comes_at_the_due_time_or_after_it(after, moment):
    rule = Escalation(manager=1, after=d(after) if after else None)
    result = plan(Timing(due=d("2bd"), escalate=rule), START, UTC_CALENDAR)
    assert result == Plan(hours(48), (Timer(ESCALATION, moment),))


@pytest.mark.parametrize(
    ("after", "moment"),
    [
        (None, hours(72)),  # Monday + 3bd: Thursday
        ("30m", hours(72.5)),
        ("2bd", hours(7 * 24)),  # Thursday + 2bd: next Monday
        ("2d", hours(5 * 24)),  # Thursday + 2d: Saturday
    ],
)
def test_timeout_comes_at_the_due_time_or_after_it(after, moment):
    rule = Timeout(TimeoutAction.APPROVE, d(after) if after else None)
    result = plan(Timing(due=d("3bd"), on_timeout=rule), START, UTC_CALENDAR)
    assert result == Plan(hours(72), (Timer(TIMEOUT, moment),))


FULL = Timing(
    due=d("2bd"),
    remind=Reminder(every=d("1d")),
    escalate=Escalation(group="cfo", after=d("1d")),
    on_timeout=Timeout(TimeoutAction.SKIP, after=d("2bd")),
)


def test_every_part_together_comes_out_in_time_order():
    result = plan(FULL, START, UTC_CALENDAR)
    assert result == Plan(
        hours(48),  # Wednesday
        (
            Timer(REMINDER, hours(24), 1),  # Tuesday
            Timer(REMINDER, hours(48), 2),  # Wednesday
            Timer(ESCALATION, hours(72)),  # Thursday, the escalation before the reminder
            Timer(REMINDER, hours(72), 3),
            Timer(TIMEOUT, hours(96)),  # Friday: no fourth reminder
        ),
    )


def test_a_task_that_is_itself_an_escalation_escalates_no_further():
    full = plan(FULL, START, UTC_CALENDAR)
    result = plan(FULL, START, UTC_CALENDAR, escalate=False)
    assert result.due_at == full.due_at
    assert result.timers == tuple(timer for timer in full.timers if timer.kind != ESCALATION)


def test_without_a_due_time_nothing_escalates_or_times_out():
    timing = Timing(
        remind=Reminder(at_percent=50),
        escalate=Escalation(manager=1),
        on_timeout=Timeout(TimeoutAction.APPROVE),
    )
    assert plan(timing, START, UTC_CALENDAR) == Plan(None, ())


def test_without_a_due_time_interval_reminders_still_run():
    timing = Timing(
        remind=Reminder(every=d("1d")),
        escalate=Escalation(manager=1),
        on_timeout=Timeout(TimeoutAction.APPROVE),
    )
    result = plan(timing, START, UTC_CALENDAR)
    assert result == Plan(None, tuple(reminders(dt.timedelta(days=1), MAX_REMINDERS)))


DURATIONS = st.builds(Duration, st.integers(1, 50), st.sampled_from(["m", "h", "d", "bd"]))
TIMINGS = st.builds(
    Timing,
    due=st.none() | DURATIONS,
    remind=st.none()
    | st.builds(Reminder, every=DURATIONS)
    | st.builds(Reminder, at_percent=st.integers(1, 99)),
    escalate=st.none() | st.builds(Escalation, manager=st.just(1), after=st.none() | DURATIONS),
    on_timeout=st.none()
    | st.builds(Timeout, st.sampled_from(TimeoutAction), after=st.none() | DURATIONS),
)


@settings(max_examples=200, deadline=None)
@given(timing=TIMINGS, start=STARTS, calendar=CALENDARS, escalate=st.booleans())
def test_every_plan_is_ordered_and_bounded(timing, start, calendar, escalate):
    result = plan(timing, start, calendar, escalate=escalate)
    moments = [timer.at for timer in result.timers]
    assert moments == sorted(moments)
    assert all(moment > start for moment in moments)
    kinds = [timer.kind for timer in result.timers]
    assert (result.due_at is not None) == (timing.due is not None)
    assert kinds.count(ESCALATION) == (1 if timing.due and timing.escalate and escalate else 0)
    assert kinds.count(TIMEOUT) == (1 if timing.due and timing.on_timeout else 0)
    sent = [timer for timer in result.timers if timer.kind == REMINDER]
    assert [timer.sequence for timer in sent] == list(range(1, len(sent) + 1))
    assert len(sent) <= MAX_REMINDERS
    for timeout in (timer for timer in result.timers if timer.kind == TIMEOUT):
        assert all(timer.at < timeout.at for timer in sent)


# -- timing parts -----------------------------------------------------------------------------

OWN = {
    "due": d("1d"),
    "remind": Reminder(every=d("4h")),
    "escalate": Escalation(group="cfo"),
    "on_timeout": Timeout(TimeoutAction.SKIP),
}
DEFAULTS = {
    "due": d("3bd"),
    "remind": Reminder(at_percent=50),
    "escalate": Escalation(manager=1, mode=EscalationMode.MOVE),
    "on_timeout": Timeout(TimeoutAction.APPROVE, d("1bd")),
}


@pytest.mark.parametrize("part", OWN)
def test_merged_over_keeps_a_part_of_its_own_and_takes_the_rest_from_the_defaults(part):
    merged = Timing(**{part: OWN[part]}).merged_over(Timing(**DEFAULTS))
    assert merged == Timing(**{**DEFAULTS, part: OWN[part]})


@pytest.mark.parametrize("part", OWN)
def test_merged_over_takes_a_missing_part_from_the_defaults(part):
    own = {key: value for key, value in OWN.items() if key != part}
    merged = Timing(**own).merged_over(Timing(**DEFAULTS))
    assert merged == Timing(**{**own, part: DEFAULTS[part]})


def test_merged_over_leaves_missing_what_the_defaults_lack_too():
    merged = Timing(due=d("1d")).merged_over(Timing(remind=Reminder(every=d("4h"))))
    assert merged == Timing(due=d("1d"), remind=Reminder(every=d("4h")))


def test_merged_over_no_defaults_is_the_timing_itself():
    timing = Timing(**OWN)
    assert timing.merged_over(None) is timing
    assert Timing().merged_over(Timing(**DEFAULTS)) == Timing(**DEFAULTS)
    assert timing.merged_over(Timing(**DEFAULTS)) == timing


def test_a_timing_is_empty_only_without_any_part():
    assert Timing().is_empty
    assert all(not Timing(**{part: value}).is_empty for part, value in OWN.items())


@pytest.mark.parametrize(
    ("part", "text"),
    [
        (Reminder(every=d("4h")), "every 4 hours"),
        (Reminder(every=d("1bd")), "every 1 business day"),
        (Reminder(at_percent=50), "at 50% of the time allowed"),
        (Escalation(manager=1), "also ask the assignee's manager"),
        (
            Escalation(manager=2, mode=EscalationMode.MOVE),
            "move the task to the assignee's manager (2 up)",
        ),
        (Escalation(group="cfo"), "also ask group cfo"),
        (Escalation(group="cfo", mode=EscalationMode.MOVE), "move the task to group cfo"),
        (Escalation(user="ann@example.com"), "also ask ann@example.com"),
        (Timeout(TimeoutAction.APPROVE), "approve automatically"),
        (Timeout(TimeoutAction.REJECT, d("2bd")), "reject automatically"),
        (Timeout(TimeoutAction.SKIP), "skip the step"),
    ],
)
def test_timing_parts_describe_themselves(part, text):
    assert part.describe() == text


# -- timing in form schemas -------------------------------------------------------------------

DURATION_RULE = "must be a duration such as 30m, 48h, 2d or 3bd (business days)"
SHARE_RULE = "must be a share of the time allowed, such as 50%"
ONE_REMINDER = "a reminder says either 'every' (an interval) or 'at' (a share such as 50%)"
ONE_TARGET = "escalate 'to' names exactly one of 'manager', 'group' or 'user'"
EMAIL = "'^[^@\\\\s]+@[^@\\\\s]+$'"
NAME_RULE = "must be lower-case letters, digits and underscores, starting with a letter"
NEEDS_DUE_ESCALATE = "escalation happens after the due time, so the step needs 'due'"
NEEDS_DUE_TIMEOUT = "a timeout counts from the due time, so the step needs 'due'"
NEEDS_DUE_SHARE = "a reminder at a share of the time allowed needs 'due'"
TO_MANAGER = {"to": {"manager": 1}}


def step(name: str = "manager", **timing) -> dict:
    return {"name": name, "title": name.title(), "assignees": [{"group": "finance"}], **timing}


def form(*steps: dict, **approval) -> dict:
    """A form whose approval section has these steps and top-level keys (such as `defaults`)."""
    section = {"fallback_group": "finance", "steps": list(steps) or [step()], **approval}
    return {
        "title": "Test form",
        "fields": [{"type": "text", "name": "a", "label": "A"}],
        "approval": section,
    }


def timings(document: dict) -> list[Timing]:
    """Each step's timing, for a form that must load."""
    return [s.timing for s in load(document, "test").approval.steps]


META_FAULTS = {
    "due that is no duration": (
        form(step(due="3x")),
        [f"approval.steps[0].due: '3x' {DURATION_RULE}"],
    ),
    "due in weeks": (form(step(due="2w")), [f"approval.steps[0].due: '2w' {DURATION_RULE}"]),
    "due in capitals": (form(step(due="3BD")), [f"approval.steps[0].due: '3BD' {DURATION_RULE}"]),
    "due with a space": (
        form(step(due="3 bd")),
        [f"approval.steps[0].due: '3 bd' {DURATION_RULE}"],
    ),
    "due with a line break": (
        form(step(due="3bd\n")),
        [f"approval.steps[0].due: '3bd\\n' {DURATION_RULE}"],
    ),
    "due of five digits": (
        form(step(due="10000m")),
        [f"approval.steps[0].due: '10000m' {DURATION_RULE}"],
    ),
    "due as a number": (form(step(due=3)), ["approval.steps[0].due: 3 is not of type 'string'"]),
    "reminder with every and at": (
        form(step(due="1d", remind={"every": "4h", "at": "50%"})),
        [f"approval.steps[0].remind: {ONE_REMINDER}"],
    ),
    "reminder with neither": (
        form(step(due="1d", remind={})),
        [f"approval.steps[0].remind: {ONE_REMINDER}"],
    ),
    "reminder interval that is no duration": (
        form(step(remind={"every": "4"})),
        [f"approval.steps[0].remind.every: '4' {DURATION_RULE}"],
    ),
    "reminder at 0%": (
        form(step(due="1d", remind={"at": "0%"})),
        [f"approval.steps[0].remind.at: '0%' {SHARE_RULE}"],
    ),
    "reminder at 100%": (
        form(step(due="1d", remind={"at": "100%"})),
        [f"approval.steps[0].remind.at: '100%' {SHARE_RULE}"],
    ),
    "reminder at a share without %": (
        form(step(due="1d", remind={"at": "50"})),
        [f"approval.steps[0].remind.at: '50' {SHARE_RULE}"],
    ),
    "reminder at a number": (
        form(step(due="1d", remind={"at": 50})),
        ["approval.steps[0].remind.at: 50 is not of type 'string'"],
    ),
    "unknown reminder key": (
        form(step(due="1d", remind={"every": "4h", "until": "due"})),
        ["approval.steps[0].remind: unknown key 'until'"],
    ),
    "escalation to two targets": (
        form(step(due="1d", escalate={"to": {"manager": 1, "group": "cfo"}})),
        [f"approval.steps[0].escalate.to: {ONE_TARGET}"],
    ),
    "escalation to three targets": (
        form(step(due="1d", escalate={"to": {"manager": 1, "group": "cfo", "user": "a@b.c"}})),
        [f"approval.steps[0].escalate.to: {ONE_TARGET}"],
    ),
    "escalation to nobody": (
        form(step(due="1d", escalate={"to": {}})),
        [f"approval.steps[0].escalate.to: {ONE_TARGET}"],
    ),
    "escalation without to": (
        form(step(due="1d", escalate={"mode": "add"})),
        ["approval.steps[0].escalate: 'to' is a required property"],
    ),
    "escalation as a word": (
        form(step(due="1d", escalate="manager")),
        ["approval.steps[0].escalate: 'manager' is not of type 'object'"],
    ),
    "unknown escalation mode": (
        form(step(due="1d", escalate={**TO_MANAGER, "mode": "swap"})),
        ["approval.steps[0].escalate.mode: 'swap' is not one of ['add', 'move']"],
    ),
    "escalation after that is no duration": (
        form(step(due="1d", escalate={**TO_MANAGER, "after": "1 day"})),
        [f"approval.steps[0].escalate.after: '1 day' {DURATION_RULE}"],
    ),
    "unknown escalation key": (
        form(step(due="1d", escalate={**TO_MANAGER, "when": "late"})),
        ["approval.steps[0].escalate: unknown key 'when'"],
    ),
    "unknown escalation target beside a known one": (
        form(step(due="1d", escalate={"to": {"manager": 1, "role": "cfo"}})),
        ["approval.steps[0].escalate.to: unknown key 'role'"],
    ),
    "escalation to manager level 0": (
        form(step(due="1d", escalate={"to": {"manager": 0}})),
        ["approval.steps[0].escalate.to.manager: 0 is less than the minimum of 1"],
    ),
    "escalation to manager level 6": (
        form(step(due="1d", escalate={"to": {"manager": 6}})),
        ["approval.steps[0].escalate.to.manager: 6 is greater than the maximum of 5"],
    ),
    "escalation to a user who is no email": (
        form(step(due="1d", escalate={"to": {"user": "ann"}})),
        [f"approval.steps[0].escalate.to.user: 'ann' does not match {EMAIL}"],
    ),
    "escalation to a group that is no name": (
        form(step(due="1d", escalate={"to": {"group": "CFO"}})),
        [f"approval.steps[0].escalate.to.group: 'CFO' {NAME_RULE}"],
    ),
    "unknown timeout action": (
        form(step(due="1d", on_timeout={"action": "escalate"})),
        [
            "approval.steps[0].on_timeout.action: 'escalate' is not one of "
            "['approve', 'reject', 'skip']"
        ],
    ),
    "timeout without action": (
        form(step(due="1d", on_timeout={"after": "1d"})),
        ["approval.steps[0].on_timeout: 'action' is a required property"],
    ),
    "timeout as a word": (
        form(step(due="1d", on_timeout="approve")),
        ["approval.steps[0].on_timeout: 'approve' is not of type 'object'"],
    ),
    "timeout after that is no duration": (
        form(step(due="1d", on_timeout={"action": "approve", "after": "1x"})),
        [f"approval.steps[0].on_timeout.after: '1x' {DURATION_RULE}"],
    ),
    "unknown timeout key": (
        form(step(due="1d", on_timeout={"action": "approve", "notify": True})),
        ["approval.steps[0].on_timeout: unknown key 'notify'"],
    ),
    "misspelt timing key in a step": (
        form(step(deu="1d")),
        ["approval.steps[0]: unknown key 'deu'"],
    ),
    "defaults that are no object": (
        form(defaults="3bd"),
        ["approval.defaults: '3bd' is not of type 'object'"],
    ),
    "defaults with a key a step has but defaults do not": (
        form(defaults={"policy": "all"}),
        ["approval.defaults: unknown key 'policy'"],
    ),
    "defaults with a bad due": (
        form(defaults={"due": "3x"}),
        [f"approval.defaults.due: '3x' {DURATION_RULE}"],
    ),
    "defaults with a reminder of both kinds": (
        form(defaults={"due": "1d", "remind": {"every": "4h", "at": "50%"}}),
        [f"approval.defaults.remind: {ONE_REMINDER}"],
    ),
    "defaults escalating to two targets": (
        form(defaults={"due": "1d", "escalate": {"to": {"user": "a@b.c", "group": "cfo"}}}),
        [f"approval.defaults.escalate.to: {ONE_TARGET}"],
    ),
    "faults in two steps": (
        form(step("a", due="3x"), step("b", on_timeout={"action": "wait"})),
        [
            f"approval.steps[0].due: '3x' {DURATION_RULE}",
            "approval.steps[1].on_timeout.action: 'wait' is not one of "
            "['approve', 'reject', 'skip']",
        ],
    ),
}


@pytest.mark.parametrize(("document", "expected"), META_FAULTS.values(), ids=META_FAULTS.keys())
def test_meta_schema_fault_in_timing_is_reported_at_its_path(document, expected):
    assert faults(document) == expected


SEMANTIC_FAULTS = {
    "escalation without due": (
        form(step(escalate=TO_MANAGER)),
        [f"approval.steps[0].escalate: {NEEDS_DUE_ESCALATE}"],
    ),
    "timeout without due": (
        form(step(on_timeout={"action": "approve", "after": "1bd"})),
        [f"approval.steps[0].on_timeout: {NEEDS_DUE_TIMEOUT}"],
    ),
    "reminder at a share without due": (
        form(step(remind={"at": "50%"})),
        [f"approval.steps[0].remind.at: {NEEDS_DUE_SHARE}"],
    ),
    "all three without due": (
        form(step(escalate=TO_MANAGER, on_timeout={"action": "skip"}, remind={"at": "50%"})),
        [
            f"approval.steps[0].escalate: {NEEDS_DUE_ESCALATE}",
            f"approval.steps[0].on_timeout: {NEEDS_DUE_TIMEOUT}",
            f"approval.steps[0].remind.at: {NEEDS_DUE_SHARE}",
        ],
    ),
    "only the step without due": (
        form(step("a", due="1d", escalate=TO_MANAGER), step("b", escalate=TO_MANAGER)),
        [f"approval.steps[1].escalate: {NEEDS_DUE_ESCALATE}"],
    ),
    "defaults escalate but give no due": (
        form(step("a"), step("b", due="2bd"), step("c"), defaults={"escalate": TO_MANAGER}),
        [
            f"approval.steps[0].escalate: {NEEDS_DUE_ESCALATE}",
            f"approval.steps[2].escalate: {NEEDS_DUE_ESCALATE}",
        ],
    ),
    "defaults time out but give no due": (
        form(step(), defaults={"on_timeout": {"action": "reject"}}),
        [f"approval.steps[0].on_timeout: {NEEDS_DUE_TIMEOUT}"],
    ),
    "defaults remind at a share but give no due": (
        form(step(), defaults={"remind": {"at": "75%"}}),
        [f"approval.steps[0].remind.at: {NEEDS_DUE_SHARE}"],
    ),
}


@pytest.mark.parametrize(
    ("document", "expected"), SEMANTIC_FAULTS.values(), ids=SEMANTIC_FAULTS.keys()
)
def test_timing_that_needs_a_due_time_without_one_is_a_fault(document, expected):
    assert faults(document) == expected


SATISFIED = {
    "escalation with the defaults' due": (
        form(step(escalate=TO_MANAGER), defaults={"due": "2bd"}),
        Timing(due=Duration(2, "bd"), escalate=Escalation(manager=1)),
    ),
    "timeout with the defaults' due": (
        form(step(on_timeout={"action": "skip"}), defaults={"due": "2bd"}),
        Timing(due=Duration(2, "bd"), on_timeout=Timeout(TimeoutAction.SKIP)),
    ),
    "share with the defaults' due": (
        form(step(remind={"at": "50%"}), defaults={"due": "2bd"}),
        Timing(due=Duration(2, "bd"), remind=Reminder(at_percent=50)),
    ),
    "the defaults' escalation and timeout with the step's due": (
        form(step(due="1d"), defaults={"escalate": TO_MANAGER, "on_timeout": {"action": "skip"}}),
        Timing(
            due=Duration(1, "d"),
            escalate=Escalation(manager=1),
            on_timeout=Timeout(TimeoutAction.SKIP),
        ),
    ),
    "interval reminders need no due": (
        form(step(remind={"every": "4h"})),
        Timing(remind=Reminder(every=Duration(4, "h"))),
    ),
}


@pytest.mark.parametrize(("document", "built"), SATISFIED.values(), ids=SATISFIED.keys())
def test_a_due_time_from_either_place_satisfies_the_timing(document, built):
    assert timings(document) == [built]


def test_every_timing_key_of_a_step_is_built():
    document = form(
        step(
            due="3bd",
            remind={"every": "4h"},
            escalate={"to": {"user": "CFO@Example.com"}, "mode": "move", "after": "1d"},
            on_timeout={"action": "reject", "after": "2bd"},
        )
    )
    assert timings(document) == [
        Timing(
            due=Duration(3, "bd"),
            remind=Reminder(every=Duration(4, "h")),
            escalate=Escalation(
                user="cfo@example.com", mode=EscalationMode.MOVE, after=Duration(1, "d")
            ),
            on_timeout=Timeout(TimeoutAction.REJECT, Duration(2, "bd")),
        )
    ]


@pytest.mark.parametrize(
    ("escalate", "built"),
    [
        (TO_MANAGER, Escalation(manager=1)),
        ({"to": {"manager": 3}, "mode": "add"}, Escalation(manager=3)),
        (
            {"to": {"group": "cfo"}, "mode": "move"},
            Escalation(group="cfo", mode=EscalationMode.MOVE),
        ),
        (
            {"to": {"user": "ann@example.com"}, "after": "30m"},
            Escalation(user="ann@example.com", after=Duration(30, "m")),
        ),
    ],
)
def test_escalation_is_built_with_add_as_the_default_mode(escalate, built):
    assert timings(form(step(due="1d", escalate=escalate)))[0].escalate == built


@pytest.mark.parametrize(("share", "percent"), [("1%", 1), ("50%", 50), ("99%", 99)])
def test_reminder_at_a_share_is_built_as_a_percentage(share, percent):
    assert timings(form(step(due="1d", remind={"at": share})))[0].remind == Reminder(
        at_percent=percent
    )


@pytest.mark.parametrize("action", list(TimeoutAction))
def test_every_timeout_action_is_built(action):
    built = timings(form(step(due="1d", on_timeout={"action": action.value})))[0].on_timeout
    assert built == Timeout(action)


def test_step_without_timing_has_an_empty_timing():
    assert timings(form(step())) == [Timing()]
    assert timings(form(step(), defaults={})) == [Timing()]


def test_defaults_are_merged_into_each_step_part_by_part():
    document = form(
        step("plain"),
        step("own_due", due="1d"),
        step("own_reminder", remind={"every": "4h"}),
        step("escalating", escalate={"to": {"group": "cfo"}}),
        defaults={"due": "3bd", "remind": {"at": "50%"}},
    )
    base = Timing(due=Duration(3, "bd"), remind=Reminder(at_percent=50))
    assert timings(document) == [
        base,
        Timing(due=Duration(1, "d"), remind=Reminder(at_percent=50)),
        Timing(due=Duration(3, "bd"), remind=Reminder(every=Duration(4, "h"))),
        Timing(
            due=Duration(3, "bd"), remind=Reminder(at_percent=50), escalate=Escalation(group="cfo")
        ),
    ]


def test_meta_schema_timing_keys_match_the_engine():
    defs = meta_schema()["$defs"]
    assert defs["escalation"]["properties"]["mode"]["enum"] == [m.value for m in EscalationMode]
    assert defs["timeout"]["properties"]["action"]["enum"] == [a.value for a in TimeoutAction]
    assert set(defs["timing"]["properties"]) == set(Timing.__dataclass_fields__)
    assert set(defs["timing"]["properties"]) <= set(defs["step"]["properties"])


# -- the shipped schemas ----------------------------------------------------------------------

EVERY_4H = Reminder(every=Duration(4, "h"))
EVERY_24H = Reminder(every=Duration(24, "h"))
AT_HALF = Reminder(at_percent=50)

SHIPPED_TIMINGS = {
    "access_request": {
        "manager": Timing(due=Duration(1, "bd"), remind=EVERY_4H),
        "system_owner": Timing(due=Duration(1, "bd"), remind=EVERY_4H),
        "security_review": Timing(
            due=Duration(1, "bd"),
            remind=EVERY_4H,
            on_timeout=Timeout(TimeoutAction.REJECT, Duration(2, "bd")),
        ),
        "provisioning": Timing(due=Duration(1, "bd"), remind=EVERY_4H),
    },
    "expense_claim": {
        "manager": Timing(
            due=Duration(5, "bd"),
            remind=Reminder(every=Duration(2, "d")),
            on_timeout=Timeout(TimeoutAction.APPROVE, Duration(5, "bd")),
        ),
        "reimbursement": Timing(due=Duration(3, "bd"), remind=EVERY_24H),
    },
    "purchase_request": {
        "manager": Timing(
            due=Duration(3, "bd"),
            remind=AT_HALF,
            escalate=Escalation(manager=1, mode=EscalationMode.MOVE),
        ),
        "budget_check": Timing(due=Duration(3, "bd"), remind=AT_HALF),
        "cfo": Timing(due=Duration(3, "bd"), remind=AT_HALF),
    },
    "vendor_invoice": {
        "cost_centre_owner": Timing(
            due=Duration(2, "bd"), remind=EVERY_24H, escalate=Escalation(manager=1)
        ),
        "new_vendor_check": Timing(due=Duration(2, "bd"), remind=EVERY_24H),
        "finance": Timing(
            due=Duration(3, "bd"),
            remind=EVERY_24H,
            escalate=Escalation(group="cfo", after=Duration(1, "bd")),
        ),
        "cfo": Timing(due=Duration(2, "bd"), remind=EVERY_24H),
    },
}


@pytest.mark.parametrize(("name", "expected"), SHIPPED_TIMINGS.items(), ids=SHIPPED_TIMINGS.keys())
def test_shipped_schemas_load_with_the_timings_they_declare(name, expected):
    path = SHIPPED / f"{name}.json"
    spec = load_text(path.read_text("utf-8"), name, source=str(path)).approval
    assert {s.name: s.timing for s in spec.steps} == expected


def test_every_shipped_schema_is_covered():
    assert sorted(path.stem for path in SHIPPED.glob("*.json")) == sorted(SHIPPED_TIMINGS)
