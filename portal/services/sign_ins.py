"""Signed-in browser sessions, kept on the server: started at sign-in, ended at sign-out.

A session ends when its person signs out, when BATON_SESSION_MAX_HOURS have passed since
sign-in however busy it was, or (for every session of a person at once) when the person is
disabled or gets a new password (their session epoch moves on). Idle sessions end by the
cookie's own signed time (BATON_SESSION_IDLE_MINUTES).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import delete, or_, select

from portal import clock
from portal.extensions import db
from portal.models import SignIn, User

#: Where the session cookie keeps this session's key.
COOKIE_KEY = "sign_in"


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _find(key: str | None) -> SignIn | None:
    """The session a cookie's key names (anything that is not one of ours names none)."""
    if not isinstance(key, str) or not key or len(key) > 100:
        return None
    return db.session.scalars(select(SignIn).where(SignIn.key_hash == _digest(key))).first()


def start(user: User, max_age: dt.timedelta) -> str:
    """A new session for `user`: the key for the cookie (only its hash is stored).

    The user's sessions that have ended are deleted here, so the table holds about one row
    per device a person uses."""
    now = clock.now()
    db.session.execute(
        delete(SignIn).where(
            SignIn.user_id == user.id,
            or_(SignIn.ended_at.is_not(None), SignIn.created_at <= now - max_age),
        )
    )
    key = secrets.token_urlsafe(32)
    db.session.add(SignIn(user_id=user.id, key_hash=_digest(key), created_at=now))
    db.session.flush()
    return key


def is_current(user: User, key: str | None, max_age: dt.timedelta) -> bool:
    """True if `key` names a session of `user` that has not ended and is younger than max_age."""
    found = _find(key)
    return (
        found is not None
        and found.user_id == user.id
        and found.ended_at is None
        and clock.now() - found.created_at < max_age
    )


def end(key: str | None) -> None:
    """End the session `key` names (signing out); an unknown or ended one changes nothing."""
    found = _find(key)
    if found is not None and found.ended_at is None:
        found.ended_at = clock.now()
        db.session.flush()
