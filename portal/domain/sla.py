"""Due times, business calendar, reminder and escalation times. Pure: times in, times out.

Durations are written `30m`, `48h` (elapsed time), `2d` (calendar days: same local time
two days later) or `3bd` (business days: skipping weekends and the holiday list, in the
portal's time zone). A step's timing says when it is due, when to remind, when to escalate
and what happens on timeout; `plan` turns a timing and a start time into the exact moments,
and is used both to schedule real tasks and to preview a form's timeline.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo

_DURATION = re.compile(r"([1-9][0-9]{0,3})(m|h|d|bd)")
#: A chain reminds at most this many times per task, however short its interval.
MAX_REMINDERS = 20


class DurationError(ValueError):
    """A duration that is not of the form 30m, 48h, 2d or 3bd."""


class TimerKind(StrEnum):
    REMINDER = "reminder"
    ESCALATION = "escalation"
    TIMEOUT = "timeout"


class TimeoutAction(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    SKIP = "skip"


class EscalationMode(StrEnum):
    ADD = "add"  # the target is asked too, on behalf of the late assignee
    MOVE = "move"  # the task is taken from the late assignee and given to the target


@dataclass(frozen=True)
class Duration:
    amount: int
    unit: str  # m, h, d, bd

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"

    @property
    def words(self) -> str:
        names = {"m": "minute", "h": "hour", "d": "day", "bd": "business day"}
        name = names[self.unit]
        return f"{self.amount} {name}{'s' if self.amount != 1 else ''}"


def parse_duration(text: str) -> Duration:
    """'3bd' -> Duration(3, 'bd'); DurationError for anything else."""
    match = _DURATION.fullmatch(text.strip()) if isinstance(text, str) else None
    if not match:
        raise DurationError(f"{text!r} is not a duration like 30m, 48h, 2d or 3bd (more than zero)")
    return Duration(int(match.group(1)), match.group(2))


@dataclass(frozen=True)
class Calendar:
    """Working days in the portal's time zone: Monday to Friday, minus holidays."""

    zone: str = "UTC"
    holidays: frozenset[dt.date] = frozenset()
    weekend: frozenset[int] = frozenset({5, 6})

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    def is_business_day(self, day: dt.date) -> bool:
        return day.weekday() not in self.weekend and day not in self.holidays

    def add(self, start: dt.datetime, duration: Duration) -> dt.datetime:
        """`start` plus `duration`, in UTC. Days keep the local time of day across DST."""
        if start.tzinfo is None:
            raise ValueError("times must be timezone-aware")
        # Elapsed time is added in UTC: Python adds to an aware time's wall clock otherwise.
        if duration.unit == "m":
            return start.astimezone(dt.UTC) + dt.timedelta(minutes=duration.amount)
        if duration.unit == "h":
            return start.astimezone(dt.UTC) + dt.timedelta(hours=duration.amount)
        if not duration.amount:
            # The wall-clock arithmetic below would forget which of a repeated hour's two
            # occurrences `start` is, and could go back an hour.
            return start.astimezone(dt.UTC)
        local = start.astimezone(self.tz)
        wall = local.replace(tzinfo=None)
        if duration.unit == "d":
            wall += dt.timedelta(days=duration.amount)
        else:
            counted = 0
            while counted < duration.amount:
                wall += dt.timedelta(days=1)
                if self.is_business_day(wall.date()):
                    counted += 1
        return wall.replace(tzinfo=self.tz).astimezone(dt.UTC)


@dataclass(frozen=True)
class Reminder:
    every: Duration | None = None  # remind every so often until acted on
    at_percent: int | None = None  # or once, at this share of the time allowed

    def describe(self) -> str:
        if self.every:
            return f"every {self.every.words}"
        return f"at {self.at_percent}% of the time allowed"


@dataclass(frozen=True)
class Escalation:
    #: Who: 'manager' (the late assignee's manager), or a group, or a named user.
    manager: int | None = None
    group: str | None = None
    user: str | None = None
    mode: EscalationMode = EscalationMode.ADD
    after: Duration | None = None  # beyond the due time

    def describe(self) -> str:
        if self.manager:
            who = "the assignee's manager" + ("" if self.manager == 1 else f" ({self.manager} up)")
        elif self.group:
            who = f"group {self.group}"
        else:
            who = self.user or "?"
        verb = "move the task to" if self.mode == EscalationMode.MOVE else "also ask"
        return f"{verb} {who}"


@dataclass(frozen=True)
class Timeout:
    action: TimeoutAction
    after: Duration | None = None  # beyond the due time

    def describe(self) -> str:
        return {
            "approve": "approve automatically",
            "reject": "reject automatically",
            "skip": "skip the step",
        }[self.action.value]


@dataclass(frozen=True)
class Timing:
    """When a step's tasks are due and what happens as time passes. All parts optional."""

    due: Duration | None = None
    remind: Reminder | None = None
    escalate: Escalation | None = None
    on_timeout: Timeout | None = None

    def merged_over(self, defaults: Timing | None) -> Timing:
        """This timing with each missing part taken from the form's defaults."""
        if defaults is None:
            return self
        return Timing(
            due=self.due or defaults.due,
            remind=self.remind or defaults.remind,
            escalate=self.escalate or defaults.escalate,
            on_timeout=self.on_timeout or defaults.on_timeout,
        )

    @property
    def is_empty(self) -> bool:
        return not (self.due or self.remind or self.escalate or self.on_timeout)


@dataclass(frozen=True)
class Timer:
    kind: TimerKind
    at: dt.datetime
    sequence: int = 1


@dataclass(frozen=True)
class Plan:
    due_at: dt.datetime | None
    timers: tuple[Timer, ...]


def plan(timing: Timing, start: dt.datetime, calendar: Calendar, escalate: bool = True) -> Plan:
    """The moments a task opened at `start` is due, reminded, escalated and timed out.

    Reminders stop at the timeout (or at MAX_REMINDERS). A task that is itself the result of
    an escalation passes `escalate=False`: it escalates no further.
    """
    due_at = calendar.add(start, timing.due) if timing.due else None
    timers: list[Timer] = []
    timeout_at = None
    if timing.on_timeout and due_at:
        after = timing.on_timeout.after
        timeout_at = calendar.add(due_at, after) if after else due_at
    if timing.escalate and due_at and escalate:
        after = timing.escalate.after
        timers.append(Timer(TimerKind.ESCALATION, calendar.add(due_at, after) if after else due_at))
    if timing.remind:
        if timing.remind.every:
            moment = start
            for number in range(1, MAX_REMINDERS + 1):
                moment = calendar.add(moment, timing.remind.every)
                if timeout_at and moment >= timeout_at:
                    break
                timers.append(Timer(TimerKind.REMINDER, moment, number))
        elif timing.remind.at_percent and due_at:
            share = (due_at - start) * timing.remind.at_percent / 100
            timers.append(Timer(TimerKind.REMINDER, start.astimezone(dt.UTC) + share, 1))
    if timeout_at:
        timers.append(Timer(TimerKind.TIMEOUT, timeout_at))
    return Plan(due_at, tuple(sorted(timers, key=lambda t: (t.at, t.kind.value))))


def opening_timers(plan: Plan) -> tuple[Timer, ...]:
    """The timers written when a task opens: its escalation, its timeout and its first reminder.

    Each reminder, when it fires, writes the one after it (`next_reminder`): a task decided
    within a day never had the other nineteen written, scheduled and cancelled.
    """
    first = next((t for t in plan.timers if t.kind == TimerKind.REMINDER), None)
    return tuple(t for t in plan.timers if t.kind != TimerKind.REMINDER or t is first)


def next_reminder(plan: Plan, fired: int, now: dt.datetime) -> Timer | None:
    """The reminder that follows reminder number `fired`: the first later one of the plan that
    is still ahead of `now`, so reminders missed while nothing ran are not sent in a burst."""
    return next(
        (
            t
            for t in plan.timers
            if t.kind == TimerKind.REMINDER and t.sequence > fired and t.at > now
        ),
        None,
    )
