"""API tokens: created once (the only time the token is shown), checked by hash, revoked."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select

from portal import audit, clock
from portal.domain.refusal import Refused
from portal.extensions import db
from portal.models import ApiToken, User

#: Every token starts so, which tells a leaked one apart (secret scanners look for prefixes).
TOKEN_PREFIX = "baton_"
NAME_MAX = 100


class TokenRefused(Refused, ValueError):
    """A token cannot be made or changed as asked; the message says why."""


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create(user: User, name: str, actor: audit.Actor) -> tuple[ApiToken, str]:
    """A new token for `user`: the row, and the token itself (never stored, shown once)."""
    name = " ".join(name.split())
    if not name:
        raise TokenRefused("Give the token a name that says what uses it, such as “ERP import”.")
    if len(name) > NAME_MAX:
        raise TokenRefused(f"A token's name can be at most {NAME_MAX} characters.")
    if not user.is_active:
        raise TokenRefused(f"{user.email} is disabled; a token for them would not work.")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user=user, name=name, token_hash=digest(token), prefix=token[:14])
    db.session.add(row)
    db.session.flush()
    audit.record(
        audit.ADMIN_CHAIN,
        "token_created",
        actor,
        {"user": user.email, "token": row.id, "name": name, "prefix": row.prefix},
    )
    return row, token


def authenticate(token: str) -> ApiToken | None:
    """The active token with this value, its last use noted; None for anything else."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = db.session.scalars(select(ApiToken).where(ApiToken.token_hash == digest(token))).first()
    if row is None or not row.is_active:
        return None
    now = clock.now()
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
        row.last_used_at = now  # at most once a minute: not a write per request
    return row


def tokens_of(user: User) -> list[ApiToken]:
    return list(
        db.session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at.desc())
        )
    )


def revoke(user: User, token_id: int) -> ApiToken:
    """Revoke one of the user's own tokens (revoking twice changes nothing)."""
    row = db.session.get(ApiToken, token_id)
    if row is None or row.user_id != user.id:
        raise TokenRefused("There is no such token among yours.")
    if row.revoked_at is None:
        row.revoked_at = clock.now()
        audit.record(
            audit.ADMIN_CHAIN,
            "token_revoked",
            audit.Actor(user),
            {"user": user.email, "token": row.id, "name": row.name, "prefix": row.prefix},
        )
    return row
