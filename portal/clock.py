"""The only clock: every 'now' in Baton comes from here, so tests move time instead of sleeping.

The portal's time zone (BATON_TIMEZONE) is read here and nowhere else: `local_zone` takes it
from the running app, so several apps in one process (as the tests make) each keep their own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from zoneinfo import ZoneInfo

from flask import current_app

_source: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)  # noqa: E731


def now() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return _source()


def local_zone_name() -> str:
    """The portal's time zone by name: the running app's BATON_TIMEZONE (checked at startup)."""
    return current_app.config["BATON_TIMEZONE"]


def local_zone() -> ZoneInfo:
    """The portal's time zone."""
    return ZoneInfo(local_zone_name())


def local_today() -> dt.date:
    """Today's date in the portal's time zone (for form rules such as `max: today`)."""
    return today(local_zone())


def today(zone: str | ZoneInfo) -> dt.date:
    """Today's date in `zone`; the portal's own day is `local_today()`."""
    return now().astimezone(ZoneInfo(zone) if isinstance(zone, str) else zone).date()


@contextmanager
def frozen_at(moment: dt.datetime) -> Iterator[Callable[[dt.timedelta], None]]:
    """Fix the clock at `moment` for the block; the yielded function moves it forward."""
    global _source
    if moment.tzinfo is None:
        raise ValueError("the clock only deals in timezone-aware times")
    current = [moment.astimezone(dt.UTC)]
    previous = _source
    _source = lambda: current[0]  # noqa: E731

    def advance(delta: dt.timedelta) -> None:
        current[0] = current[0] + delta

    try:
        yield advance
    finally:
        _source = previous
