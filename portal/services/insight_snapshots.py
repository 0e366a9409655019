"""Insight figures for busy periods: computed by a worker, kept in Redis, shown with their age.

Computing a dashboard reads every request of its period: a few milliseconds for a few thousand
requests, seconds for a hundred thousand. A period in which at most
BATON_INSIGHT_LIVE_REQUESTS requests were submitted (default 20,000) is computed as the page
is asked for: live. A busier one is computed by the job `portal.jobs.refresh_insight` and kept
in Redis as a snapshot: the page shows the newest snapshot and the time it was taken, and asks
for a new one once it is older than BATON_INSIGHT_MAX_AGE seconds (default 300). The first
time, the page says the figures are being worked out and fills itself in when they are ready.

A snapshot is kept per form version, period and scope (what the person may see), so nobody is
shown figures beyond their scope. Redis holds only a copy: after a flush, or with Redis
unreachable, the figures are worked out again (by the page itself if Redis is gone).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import pickle
import time
from dataclasses import dataclass

import redis
from flask import current_app
from sqlalchemy import func, select

from portal import clock, queue
from portal.domain.insight import Period
from portal.extensions import db
from portal.models import Form, Submission
from portal.services import insight
from portal.services.insight import Insight, Scope

logger = logging.getLogger(__name__)

#: How long Redis keeps a snapshot nobody asked for again, and a refresh in hand.
KEEP_SECONDS = 24 * 3600
REFRESH_LOCK_SECONDS = 600


@dataclass(frozen=True)
class Figures:
    """What the dashboard shows: the figures, and how old they are."""

    #: None while the first snapshot is being worked out.
    result: Insight | None
    #: When the figures were computed; None for live figures.
    taken_at: dt.datetime | None = None
    #: How long the worker took to compute them.
    seconds: float | None = None
    #: A newer snapshot has been asked for.
    refreshing: bool = False


def figures(form: Form, period: Period, scope: Scope) -> Figures:
    """The figures of `form` for `period` within `scope`: live, or from a snapshot."""
    if not _busy(form, period):
        return Figures(insight.compute(form, period, scope))
    key = _key(form, period, scope)
    try:
        kept = _load(key)
        fresh = _is_fresh(kept)
        if not fresh:
            _ask_for_refresh(key, form, period, scope)
    except redis.RedisError as problem:
        logger.warning("insight snapshots: Redis unavailable (%s); computing live", problem)
        return Figures(insight.compute(form, period, scope))
    if kept is None:
        return Figures(None, refreshing=True)
    return Figures(
        dataclasses.replace(kept["result"], form=form),
        taken_at=kept["taken_at"],
        seconds=kept["seconds"],
        refreshing=not fresh,
    )


def for_download(form: Form, period: Period, scope: Scope) -> Insight:
    """The figures a CSV download writes: a fresh snapshot if the period has one, else computed
    now and kept as the period's snapshot (the dashboard need not compute them again)."""
    if not _busy(form, period):
        return insight.compute(form, period, scope)
    key = _key(form, period, scope)
    try:
        kept = _load(key)
    except redis.RedisError as problem:
        logger.warning("insight snapshots: Redis unavailable (%s); computing live", problem)
        return insight.compute(form, period, scope)
    if not _is_fresh(kept):
        kept = _compute(form, period, scope)
        try:
            _keep(key, kept)
        except redis.RedisError as problem:
            logger.warning("insight snapshots: could not keep the figures (%s)", problem)
    return dataclasses.replace(kept["result"], form=form)


def submitted_in(form: Form, period: Period, limit: int) -> int:
    """How many requests of `form` were submitted in `period`, counting no further than `limit`
    (a bounded index range scan: as quick with a million requests as with a thousand)."""
    start, end = period.bounds(clock.local_zone_name())
    found = (
        select(Submission.id)
        .where(
            Submission.form_id == form.id,
            Submission.submitted_at >= start,
            Submission.submitted_at < end,
        )
        .limit(limit)
        .subquery()
    )
    return db.session.scalar(select(func.count()).select_from(found))


def refresh(form_id: int, period: Period, scope: Scope) -> str:
    """Compute the figures and keep them (the job `portal.jobs.refresh_insight`)."""
    form = db.session.get(Form, form_id)
    if form is None:
        return "the form is gone"
    key = _key(form, period, scope)
    try:
        kept = _compute(form, period, scope)
        _keep(key, kept)
    finally:
        _redis().delete(_lock(key))
    return (
        f"insight of {form.slug}, {period.first_day} to {period.last_day}: {kept['seconds']:.1f} s"
    )


def _busy(form: Form, period: Period) -> bool:
    """More requests were submitted in the period than are computed live."""
    limit = current_app.config["BATON_INSIGHT_LIVE_REQUESTS"]
    return submitted_in(form, period, limit + 1) > limit


def _compute(form: Form, period: Period, scope: Scope) -> dict:
    """The figures as a snapshot: without the form (the reader puts its own back), with the
    moment they describe and how long computing them took."""
    started = time.perf_counter()
    result = insight.compute(form, period, scope)
    return {
        "result": dataclasses.replace(result, form=None),
        "taken_at": result.now,
        "seconds": time.perf_counter() - started,
    }


def _keep(key: str, kept: dict) -> None:
    _redis().set(key, pickle.dumps(kept), ex=KEEP_SECONDS)


def _key(form: Form, period: Period, scope: Scope) -> str:
    steps = "all" if scope.steps is None else ",".join(sorted(scope.steps))
    return (
        f"{current_app.config['RQ_QUEUE']}:insight:{form.id}:{form.current_version_id}:"
        f"{period.first_day}:{period.last_day}:{steps}:{int(scope.approvers)}"
    )


def _lock(key: str) -> str:
    return f"{key}:refreshing"


def _redis() -> redis.Redis:
    return queue.connection()


def _load(key: str) -> dict | None:
    found = _redis().get(key)
    return pickle.loads(found) if found else None  # noqa: S301 - written by refresh, above


def _is_fresh(kept: dict | None) -> bool:
    """A snapshot no older than BATON_INSIGHT_MAX_AGE."""
    if kept is None:
        return False
    age = (clock.now() - kept["taken_at"]).total_seconds()
    return age <= current_app.config["BATON_INSIGHT_MAX_AGE"]


def _ask_for_refresh(key: str, form: Form, period: Period, scope: Scope) -> None:
    """Queue the job that computes a new snapshot, unless one is already in hand (the lock
    lapses after REFRESH_LOCK_SECONDS, should the worker running it die)."""
    if _redis().set(_lock(key), "1", nx=True, ex=REFRESH_LOCK_SECONDS):
        queue.queue().enqueue(
            "portal.jobs.refresh_insight",
            form.id,
            period,
            scope,
            job_timeout=REFRESH_LOCK_SECONDS,
            result_ttl=0,
            failure_ttl=3600,
        )
