"""Process insight: the definitions behind every figure, and the words that present them. Pure.

The database computes the figures (portal.services.insight); this module says what they mean,
so the SQL, the pages, the CSVs, the tests and docs/insight.md all use one definition:

- A **period** is whole days in the portal's time zone, first and last day included.
- A **percentile** is interpolated linearly between the two nearest ranks, as PostgreSQL's
  `percentile_cont`, Excel's `PERCENTILE.INC` and NumPy's default do: for n sorted values
  v[0] … v[n-1] and a fraction p, take h = (n - 1) · p; the percentile is
  v[⌊h⌋] + (h - ⌊h⌋) · (v[⌊h⌋ + 1] - v[⌊h⌋]). The median is the 50th percentile, so an even
  count gives the mean of the two middle values.
- Durations are elapsed (calendar) time, not business time, and are shown in the largest unit
  that reads well: "45 minutes", "5.1 hours", "2.3 days".
- The **bottleneck** is the step holding the largest share of all waiting time in the period.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from portal.domain.refusal import Refused

#: The preset periods: query value -> label.
PRESETS = {
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "12m": "Last 12 months",
}
DEFAULT_PRESET = "90d"
#: The longest period anyone may ask for; longer ones are refused (they would only be slow).
MAX_DAYS = 3 * 366
#: Percentiles reported, as fractions.
MEDIAN, P90 = 0.5, 0.9
#: A change of less than this (either way) is "about the same".
STEADY = 0.05

_MINUTE, _HOUR, _DAY = 60, 3600, 86400


class PeriodInvalid(Refused, ValueError):
    """The period asked for cannot be shown; the message says why, for the person who asked."""


# -- periods and buckets ----------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Whole days, first and last included, in the portal's time zone."""

    first_day: dt.date
    last_day: dt.date
    #: The preset it came from ("90d"), or None for dates given by hand.
    preset: str | None = None

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    @property
    def label(self) -> str:
        """'Last 90 days', or for dates given by hand '1 Sep – 28 Nov 2026'."""
        return PRESETS[self.preset] if self.preset else self.dates

    @property
    def dates(self) -> str:
        """'1 Sep – 28 Nov 2026' (the year once when both days share it)."""
        first, last = self.first_day, self.last_day
        if first == last:
            return day_label(first, year=True)
        return f"{day_label(first, year=first.year != last.year)} – {day_label(last, year=True)}"

    def previous(self) -> Period:
        """The period of the same length that ends the day before this one starts."""
        last = self.first_day - dt.timedelta(days=1)
        return Period(last - dt.timedelta(days=self.days - 1), last)

    def bounds(self, zone: str) -> tuple[dt.datetime, dt.datetime]:
        """[start, end) in UTC: local midnight of the first day to local midnight after the last."""
        return _midnight(self.first_day, zone), _midnight(
            self.last_day + dt.timedelta(days=1), zone
        )

    def query(self) -> dict[str, str]:
        """The URL parameters that ask for this period again."""
        if self.preset:
            return {"period": self.preset}
        return {"from": self.first_day.isoformat(), "to": self.last_day.isoformat()}


def parse_period(args: Mapping[str, str], today: dt.date) -> Period:
    """The period a request asks for (`period=30d|90d|12m`, or `from` and `to` as YYYY-MM-DD).

    Nothing given means the default, the last 90 days. Raises PeriodInvalid with a message
    that says what to change.
    """
    first_text = (args.get("from") or "").strip()
    last_text = (args.get("to") or "").strip()
    if first_text or last_text:
        if not (first_text and last_text):
            raise PeriodInvalid(
                "Give both a first and a last day (YYYY-MM-DD), or choose one of the periods."
            )
        first, last = _date(first_text, "first day"), _date(last_text, "last day")
        if first > last:
            raise PeriodInvalid(
                f"The first day ({day_label(first, year=True)}) is after the last day "
                f"({day_label(last, year=True)}). Swap them."
            )
        if last > today:
            raise PeriodInvalid(
                f"The last day ({day_label(last, year=True)}) is in the future; "
                f"choose {day_label(today, year=True)} or earlier."
            )
        if (last - first).days + 1 > MAX_DAYS:
            raise PeriodInvalid(
                f"That period is {(last - first).days + 1:,} days long; "
                f"choose at most {MAX_DAYS:,} days (three years)."
            )
        return Period(first, last)
    preset = (args.get("period") or DEFAULT_PRESET).strip()
    if preset not in PRESETS:
        names = ", ".join(f"“{key}”" for key in PRESETS)
        raise PeriodInvalid(
            f"“{preset[:40]}” is not a period Baton knows: use {names}, or give a first and a "
            "last day."
        )
    return Period(_preset_start(preset, today), today, preset)


def _preset_start(preset: str, today: dt.date) -> dt.date:
    if preset == "12m":
        try:
            year_ago = today.replace(year=today.year - 1)
        except ValueError:  # 29 February: a year earlier has no such day
            year_ago = today.replace(year=today.year - 1, day=28)
        return year_ago + dt.timedelta(days=1)
    return today - dt.timedelta(days=int(preset[:-1]) - 1)


def _date(text: str, what: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise PeriodInvalid(
            f"The {what}, “{text[:40]}”, is not a date: write it as YYYY-MM-DD, such as 2026-03-31."
        ) from None


def _midnight(day: dt.date, zone: str) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), ZoneInfo(zone)).astimezone(dt.UTC)


def day_label(day: dt.date, year: bool = False) -> str:
    """'3 Nov' or '3 Nov 2026'."""
    return f"{day.day} {day:%b}" + (f" {day.year}" if year else "")


@dataclass(frozen=True)
class Bucket:
    """One bar or point of a chart over time: a day, a week (Monday to Sunday) or a month,
    cut to the period at either end."""

    first_day: dt.date
    last_day: dt.date
    unit: str  # day, week or month
    start: dt.datetime  # UTC, included
    end: dt.datetime  # UTC, excluded

    @property
    def label(self) -> str:
        """How the chart's axis names it: '3 Nov', 'w/c 3 Nov' (week commencing), 'Nov 2026'."""
        if self.unit == "month":
            return f"{self.first_day:%b %Y}"
        if self.unit == "week":
            return f"w/c {day_label(self.first_day)}"
        return day_label(self.first_day)

    @property
    def short_label(self) -> str:
        """The axis tick: '3 Nov' or 'Nov' (with the year in January)."""
        if self.unit == "month":
            return (
                f"{self.first_day:%b %Y}" if self.first_day.month == 1 else f"{self.first_day:%b}"
            )
        return day_label(self.first_day)


def bucket_unit(period: Period) -> str:
    """Days up to a month, weeks up to half a year, months beyond: 7 to 36 bars either way."""
    if period.days <= 31:
        return "day"
    if period.days <= 183:
        return "week"
    return "month"


def buckets(period: Period, zone: str) -> list[Bucket]:
    """The period cut into days, weeks or months (see bucket_unit), in order."""
    unit = bucket_unit(period)
    found = []
    first = period.first_day
    while first <= period.last_day:
        if unit == "day":
            following = first + dt.timedelta(days=1)
        elif unit == "week":
            following = first + dt.timedelta(days=7 - first.weekday())
        else:
            following = (first.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
        last = min(following - dt.timedelta(days=1), period.last_day)
        found.append(Bucket(first, last, unit, _midnight(first, zone), _midnight(following, zone)))
        first = following
    # The last bucket ends where the period does, even when its week or month goes on.
    if found:
        tail = found[-1]
        found[-1] = Bucket(tail.first_day, tail.last_day, unit, tail.start, period.bounds(zone)[1])
    return found


# -- distributions ----------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The `fraction` percentile of `values` (linear interpolation; see the module docstring)."""
    if not values:
        return None
    if not 0 <= fraction <= 1:
        raise ValueError("a percentile is a fraction from 0 to 1")
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    lower = math.floor(position)
    weight = position - lower
    if lower + 1 >= len(ordered):
        return float(ordered[lower])
    return ordered[lower] + weight * (ordered[lower + 1] - ordered[lower])


@dataclass(frozen=True)
class Distribution:
    """How long a set of things took, in seconds: how many, the median, the 90th percentile,
    the longest and the total."""

    count: int = 0
    median: float | None = None
    p90: float | None = None
    longest: float | None = None
    total: float = 0.0

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Distribution:
        """The reference computation, which the database's must match."""
        if not seconds:
            return cls()
        return cls(
            len(seconds),
            percentile(seconds, MEDIAN),
            percentile(seconds, P90),
            float(max(seconds)),
            float(sum(seconds)),
        )


def rate(part: int, whole: int) -> float | None:
    """part / whole, or None when there is nothing to divide by (shown as a dash, not 0%)."""
    return part / whole if whole else None


# -- the bottleneck ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StepWaiting:
    """What the bottleneck is chosen from: a step, its waiting time, and its median wait."""

    name: str
    title: str
    waiting_seconds: float
    median_seconds: float | None


@dataclass(frozen=True)
class Bottleneck:
    name: str
    title: str
    share: float
    median_seconds: float | None

    @property
    def sentence(self) -> str:
        """'Finance approval holds 61% of all waiting time; median wait 2.3 days.'"""
        held = f"{self.title} holds {percent(self.share)} of all waiting time"
        if self.median_seconds is None:
            return f"{held}; nothing waiting there was decided in this period yet."
        return f"{held}; median wait {duration_words(self.median_seconds)}."


def find_bottleneck(steps: Sequence[StepWaiting]) -> Bottleneck | None:
    """The step with the largest share of all waiting time (the earlier step on a tie), or None
    if nothing waited at all."""
    total = sum(step.waiting_seconds for step in steps)
    if total <= 0:
        return None
    top = max(steps, key=lambda step: step.waiting_seconds)  # max keeps the first of equals
    return Bottleneck(top.name, top.title, top.waiting_seconds / total, top.median_seconds)


def shares(steps: Sequence[StepWaiting]) -> dict[str, float]:
    """Each step's share of all waiting time (0 to 1); empty if nothing waited."""
    total = sum(step.waiting_seconds for step in steps)
    return {step.name: step.waiting_seconds / total for step in steps} if total > 0 else {}


# -- trends -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trend:
    """A figure now against the same figure in the previous period (lower is better here)."""

    current: float | None
    previous: float | None

    @property
    def change(self) -> float | None:
        """(current - previous) / previous, or None when either is missing or previous is 0."""
        if self.current is None or not self.previous:
            return None
        return (self.current - self.previous) / self.previous

    @property
    def direction(self) -> str:
        """faster, slower, steady, or unknown (nothing to compare)."""
        change = self.change
        if change is None:
            return "unknown"
        if change <= -STEADY:
            return "faster"
        if change >= STEADY:
            return "slower"
        return "steady"

    def words(self, before: str) -> str:
        """'down 22% from 4.1 days in the previous 90 days', in words for the page."""
        if self.current is None:
            return ""
        if self.previous is None:
            return f"nothing was decided in {before} to compare with"
        was = duration_words(self.previous)
        if self.direction == "steady":
            return f"about the same as in {before} ({was})"
        way = "down" if self.direction == "faster" else "up"
        return f"{way} {percent(abs(self.change))} from {was} in {before}"


def previous_words(period: Period) -> str:
    """How the page names the period compared with: 'the previous 90 days'."""
    return f"the previous {period.days:,} days" if period.days != 1 else "the day before"


# -- words and numbers ------------------------------------------------------------------------


def _half_up(value: float, places: int = 0) -> Decimal:
    return Decimal(repr(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _unit(value: Decimal, singular: str) -> str:
    text = f"{value:f}".removesuffix(".0")
    return f"{text} {singular}" + ("" if text == "1" else "s")


def duration_words(seconds: float | None) -> str:
    """'under a minute', '45 minutes', '5.1 hours', '2.3 days' (a dash when unknown)."""
    if seconds is None:
        return "–"
    if seconds < _MINUTE:
        return "under a minute"
    minutes = _half_up(seconds / _MINUTE)
    if minutes < 60:
        return _unit(minutes, "minute")
    hours = _half_up(seconds / _HOUR, 1)
    if hours < 24:
        return _unit(hours, "hour")
    return _unit(_half_up(seconds / _DAY, 1), "day")


def duration_short(seconds: float | None) -> str:
    """The same in a chart's few characters: '<1 min', '45 min', '5.1 h', '2.3 d'."""
    if seconds is None:
        return "–"
    if seconds < _MINUTE:
        return "<1 min"
    minutes = _half_up(seconds / _MINUTE)
    if minutes < 60:
        return f"{minutes} min"
    hours = _half_up(seconds / _HOUR, 1)
    if hours < 24:
        return f"{hours:f} h".replace(".0 ", " ")
    return f"{_half_up(seconds / _DAY, 1):f} d".replace(".0 ", " ")


def percent(fraction: float | None) -> str:
    """0.6149 -> '61%'; below 1% and above 99% with one decimal ('0.4%', '99.6%'); None -> '–'."""
    if fraction is None:
        return "–"
    value = fraction * 100
    if 0 < value < 1:
        shown = _half_up(value, 1)
        return f"{shown:f}%" if shown > 0 else "<0.1%"
    if 99 < value < 100:
        shown = _half_up(value, 1)
        return f"{shown:f}%" if shown < 100 else ">99.9%"
    return f"{_half_up(value):f}%"


def count_words(count: int, singular: str, plural: str | None = None) -> str:
    """'1 request', '1,204 requests'."""
    return f"{count:,} {singular if count == 1 else (plural or singular + 's')}"
