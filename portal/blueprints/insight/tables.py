"""The dashboard's tables as rows of plain values: what each CSV download holds.

Durations are hours with two decimals and rates are fractions with four, so a spreadsheet can
compute with them; an empty cell means "nothing to measure" (no 0 where there was no data).
The route writes them with portal.domain.spreadsheet, which keeps names from becoming formulas.
"""

from __future__ import annotations

from collections.abc import Callable

from portal.services.insight import Insight

_HOUR = 3600.0


def _hours(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds / _HOUR:.2f}"


def _rate(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def volume(result: Insight) -> tuple[list[str], list[list[str]]]:
    header = ["first_day", "last_day", "submitted", "approved", "rejected", "withdrawn"]
    rows = [
        [
            row.bucket.first_day.isoformat(),
            row.bucket.last_day.isoformat(),
            str(row.submitted),
            str(row.approved),
            str(row.rejected),
            str(row.withdrawn),
        ]
        for row in result.volume
    ]
    return header, rows


def cycle_time(result: Insight) -> tuple[list[str], list[list[str]]]:
    header = ["first_day", "last_day", "decided", "median_hours", "p90_hours", "longest_hours"]
    rows = [
        [
            bucket.first_day.isoformat(),
            bucket.last_day.isoformat(),
            str(found.count),
            _hours(found.median),
            _hours(found.p90),
            _hours(found.longest),
        ]
        for bucket, found in result.cycle.by_bucket
    ]
    return header, rows


def steps(result: Insight) -> tuple[list[str], list[list[str]]]:
    header = [
        "step",
        "title",
        "condition",
        "reached",
        "skipped",
        "approved_by_rule",
        "decided",
        "median_wait_hours",
        "p90_wait_hours",
        "waiting_now",
        "longest_waiting_now_hours",
        "overdue_now",
        "sent_back",
        "send_back_rate",
        "rejected",
        "rejection_rate",
        "with_due_time",
        "breached",
        "sla_breach_rate",
        "escalations",
        "waiting_hours_in_period",
        "share_of_waiting_time",
    ]
    rows = [
        [
            step.name,
            step.title,
            step.condition,
            str(step.reached),
            str(step.skipped),
            str(step.auto_approved),
            str(step.decided.count),
            _hours(step.decided.median),
            _hours(step.decided.p90),
            str(step.waiting_now.count),
            _hours(step.waiting_now.longest),
            str(step.overdue_now),
            str(step.sent_back),
            _rate(step.send_back_rate),
            str(step.rejected),
            _rate(step.rejection_rate),
            str(step.with_due),
            str(step.breached),
            _rate(step.breach_rate),
            str(step.escalations),
            _hours(step.waiting_seconds),
            _rate(step.share),
        ]
        for step in result.visible_steps
    ]
    return header, rows


def approvers(result: Insight) -> tuple[list[str], list[list[str]]]:
    header = [
        "name",
        "email",
        "tasks_decided",
        "median_response_hours",
        "p90_response_hours",
        "open_now",
        "oldest_open_hours",
    ]
    rows = [
        [
            person.name,
            person.email,
            str(person.decided.count),
            _hours(person.decided.median),
            _hours(person.decided.p90),
            str(person.open_now),
            _hours(person.oldest_open_seconds),
        ]
        for person in result.approvers or []
    ]
    return header, rows


#: The tables a dashboard offers as CSV: name in the URL -> (rows, whole form only, admins only).
TABLES: dict[str, tuple[Callable, bool, bool]] = {
    "volume": (volume, True, False),
    "cycle-time": (cycle_time, True, False),
    "steps": (steps, False, False),
    "approvers": (approvers, True, True),
}
