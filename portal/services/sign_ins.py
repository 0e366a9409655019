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

from sqlalchemy import and_, delete, event, func, or_, select
from sqlalchemy.orm import Session, joinedload

from portal import audit, clock
from portal.domain.chain import TaskState
from portal.extensions import TRANSACTION_CACHE, db, transaction_cache
from portal.models import SignIn, Task, User
from portal.services import catalog

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


#: transaction_cache key of the signed-in person's open task count, as `signed_in` read it.
OPEN_TASKS = "open tasks"


def signed_in(user_id: int, epoch: int, key: str | None, max_age: dt.timedelta) -> User | None:
    """The person a session cookie names, if that session is current; None otherwise.

    One query brings everything every page needs: the person with their groups (the menu and
    the access policy ask), their session, the count of their open tasks (beside Inbox), and
    the head of the admin audit chain, by which portal.services.catalog knows whether the forms
    it keeps are still right.
    """
    if not isinstance(key, str) or not key or len(key) > 100:
        return None
    open_tasks = (
        select(func.count())
        .select_from(Task)
        .where(Task.assignee_id == User.id, Task.state == TaskState.OPEN)
        .scalar_subquery()
    )
    row = (
        db.session.execute(
            select(User, SignIn, open_tasks, audit.admin_head_column())
            .outerjoin(SignIn, and_(SignIn.user_id == User.id, SignIn.key_hash == _digest(key)))
            .where(User.id == user_id)
            .options(joinedload(User.groups))
        )
        .unique()
        .first()
    )
    if row is None:
        return None
    user, found, count, head = row
    catalog.note_key(head)
    transaction_cache()[(OPEN_TASKS, user.id)] = count
    if not user.is_active or user.session_epoch != epoch:
        return None
    if found is None or found.ended_at is not None or clock.now() - found.created_at >= max_age:
        return None
    return user


@event.listens_for(Session, "after_flush")
def _forget_open_task_counts(session: Session, flush_context) -> None:
    # A task opened, decided or moved in this transaction: the count is read again if asked.
    changed = (*session.new, *session.dirty, *session.deleted)
    if any(isinstance(row, Task) for row in changed):
        kept = session.info.get(TRANSACTION_CACHE, {})
        for key in [key for key in kept if isinstance(key, tuple) and key[0] == OPEN_TASKS]:
            del kept[key]


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
