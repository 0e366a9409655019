"""A person's own settings: out of office with a delegate, and the daily digest."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from portal import audit
from portal.domain.refusal import Refused
from portal.extensions import db
from portal.models import User


class SettingsRefused(Refused, ValueError):
    """The settings cannot be saved as given; the message says why."""


def save_settings(
    user: User,
    away_from: dt.date | None,
    away_until: dt.date | None,
    delegate_id: int | None,
    daily_digest: bool,
) -> None:
    """Out-of-office dates and delegate (all three or none), and the digest choice."""
    given = [away_from is not None, away_until is not None, bool(delegate_id)]
    if any(given) and not all(given):
        raise SettingsRefused(
            "To be out of office, give the first day, the last day and a delegate "
            "(or clear all three)."
        )
    delegate = None
    if delegate_id:
        delegate = db.session.get(User, delegate_id)
        if delegate is None or not delegate.is_active:
            raise SettingsRefused("Choose an active person as your delegate.")
        if delegate.id == user.id:
            raise SettingsRefused("You cannot be your own delegate.")
        if away_until < away_from:
            raise SettingsRefused("The last day cannot be before the first day.")
    user.away_from, user.away_until = away_from, away_until
    user.delegate = delegate
    user.daily_digest = daily_digest
    db.session.flush()
    audit.record(
        audit.ADMIN_CHAIN,
        "settings_changed",
        audit.Actor(user),
        {
            "user": user.email,
            "away_from": away_from.isoformat() if away_from else None,
            "away_until": away_until.isoformat() if away_until else None,
            "delegate": delegate.email if delegate else None,
            "daily_digest": daily_digest,
        },
    )


def colleagues(user: User) -> list[User]:
    """Everyone else who is active, by name: the people who may stand in."""
    return list(
        db.session.scalars(
            select(User).where(User.is_active.is_(True), User.id != user.id).order_by(User.name)
        )
    )
