"""Creating users, checking passwords, and group membership."""

from __future__ import annotations

import logging
import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select

from portal import audit, clock
from portal.domain.chain import TaskState
from portal.domain.refusal import Refused
from portal.extensions import db
from portal.models import ApiToken, Group, Task, User

logger = logging.getLogger(__name__)
hasher = PasswordHasher()
#: Compared against when the email is unknown, so a wrong email takes as long as a wrong password.
_DUMMY_HASH = hasher.hash("baton: no such user")
MIN_PASSWORD_LENGTH = 8


class UserError(Refused, ValueError):
    """A user could not be created or changed; the message says why."""


def normalise_email(email: str) -> str:
    return email.strip().lower()


def find_user(email: str) -> User | None:
    return db.session.scalars(select(User).where(User.email == normalise_email(email))).first()


def find_user_by_id(user_id: int) -> User | None:
    return db.session.get(User, user_id)


def authenticate(email: str, password: str) -> User | None:
    """The active user with this email and password, or None (in about the same time either way)."""
    user = find_user(email) if email else None
    try:
        hasher.verify(user.password_hash if user else _DUMMY_HASH, password or "")
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.is_active or user.is_agent:
        return None
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    return user


def ensure_group(name: str, title: str | None = None) -> Group:
    """The group called `name`, created if it does not exist yet."""
    name = name.strip().lower()
    group = db.session.scalars(select(Group).where(Group.name == name)).first()
    if group is None:
        group = Group(name=name, title=title or name.replace("-", " ").replace("_", " ").title())
        db.session.add(group)
        db.session.flush()
    return group


def save_user(
    email: str,
    name: str,
    password: str | None,
    groups: list[str] | None = None,
    manager_email: str | None = None,
    actor: audit.Actor | None = None,
    local: bool | None = None,
) -> tuple[User, bool]:
    """Create the user, or update the one with this email; returns (user, created).

    `groups`, when given, replaces the user's groups; `local`, when given, says whether the
    user signs in with a password even when BATON_PASSWORD_SIGN_IN is off. The change is
    written to the admin audit chain.
    """
    email = normalise_email(email)
    if "@" not in email or len(email) > 254:
        raise UserError(f"{email!r} is not an email address")
    if not name.strip():
        raise UserError("a user needs a name")
    user = find_user(email)
    created = user is None
    if user is not None and user.is_agent:
        raise UserError(f"{email} is an agent; agents have no password (see create-agent)")
    if created:
        if not password:
            raise UserError("a new user needs a password")
        user = User(email=email, name=name.strip(), password_hash="")
        db.session.add(user)
    user.name = name.strip()
    if password:
        if len(password) < MIN_PASSWORD_LENGTH:
            raise UserError(f"passwords need at least {MIN_PASSWORD_LENGTH} characters")
        user.password_hash = hasher.hash(password)
        if not created:
            user.session_epoch += 1  # a new password ends the sessions signed in with the old
    if groups is not None:
        user.groups = [ensure_group(group) for group in groups]
    if local is not None:
        user.local = local
    if manager_email:
        manager = find_user(manager_email)
        if manager is None:
            raise UserError(f"no user with email {manager_email!r} to be the manager")
        if manages(user, manager):
            raise UserError(f"{manager.email} cannot manage {email}: that would make a loop")
        user.manager = manager
    db.session.flush()
    audit.record(
        audit.ADMIN_CHAIN,
        "user_created" if created else "user_changed",
        actor or audit.Actor(system="command line", channel="cli"),
        {
            "user": user.email,
            "name": user.name,
            "groups": sorted(user.group_names),
            "manager": user.manager.email if user.manager else None,
            "password_changed": bool(password),
            **({"local": user.local} if local is not None else {}),
        },
    )
    return user, created


#: Agents have no password: this is no argon2 hash, so no password ever matches it.
AGENT_PASSWORD_HASH = "!agent: signs in with an API token only"
AGENT_EMAIL_DOMAIN = "agents.invalid"


class AgentSignIn(Refused):
    """An agent tried the sign-in page; it uses its API token (the API or MCP) instead."""

    status = 403


def create_agent(
    name: str, groups: list[str] | None = None, email: str | None = None, actor=None
) -> User:
    """A new agent: a non-human account that acts through API tokens, never signs in.

    Its email (made from its name under agents.invalid unless given) names it in schemas,
    as `{"user": ...}`, and in the audit trail.
    """
    name = " ".join((name or "").split())
    if not name:
        raise UserError("an agent needs a name, such as “Sanctions bot”")
    if len(name) > 200:
        raise UserError("an agent's name can be at most 200 characters")
    if email is None:
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "agent"
        email = f"{slug}@{AGENT_EMAIL_DOMAIN}"
    email = normalise_email(email)
    if "@" not in email or len(email) > 254:
        raise UserError(f"{email!r} is not an email address")
    if find_user(email) is not None:
        raise UserError(f"{email} already exists; give the agent another name or --email")
    user = User(email=email, name=name, password_hash=AGENT_PASSWORD_HASH, kind="agent")
    user.groups = [ensure_group(group) for group in groups or []]
    db.session.add(user)
    db.session.flush()
    audit.record(
        audit.ADMIN_CHAIN,
        "agent_created",
        actor or audit.Actor(system="command line", channel="cli"),
        {"user": user.email, "name": user.name, "groups": sorted(user.group_names)},
    )
    return user


def refuse_agent_sign_in(email: str) -> None:
    """Raise AgentSignIn if `email` belongs to an agent: the sign-in page says why plainly."""
    user = find_user(email) if email else None
    if user is not None and user.is_agent:
        raise AgentSignIn(
            f"{user.display_name} is an agent: agents cannot sign in to the web. They act "
            "through an API token, with the API or the MCP server."
        )


def people_and_agents() -> tuple[list[User], list[User]]:
    """Everyone, people first then agents, each by name."""
    everyone = db.session.scalars(select(User).order_by(User.name, User.email)).all()
    return [u for u in everyone if not u.is_agent], [u for u in everyone if u.is_agent]


def set_active(email: str, active: bool, actor: audit.Actor | None = None) -> User:
    """Disable (or enable again) the user with this email.

    A disabled user cannot sign in, their open browser sessions end at their next request
    and their API tokens are revoked; both stay ended if they are enabled again (new tokens
    are made deliberately). Their open tasks stay where they are, for an administrator to
    reassign; `open_task_count` says how many.
    """
    user = find_user(email)
    if user is None:
        raise UserError(f"no user with email {normalise_email(email)!r}")
    if user.is_active != active:
        user.is_active = active
        user.session_epoch += 1
        details: dict = {"user": user.email}
        if not active:
            revoked = db.session.scalars(
                select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
            ).all()
            for token in revoked:
                token.revoked_at = clock.now()
            details["tokens_revoked"] = sorted(token.id for token in revoked)
        db.session.flush()
        audit.record(
            audit.ADMIN_CHAIN,
            "user_enabled" if active else "user_disabled",
            actor or audit.Actor(system="command line", channel="cli"),
            details,
        )
    return user


def open_task_count(user: User) -> int:
    """How many open approval tasks wait for this user."""
    return db.session.scalar(
        select(func.count()).where(Task.assignee_id == user.id, Task.state == TaskState.OPEN)
    )


def manages(user: User, candidate: User) -> bool:
    """True if `user` is `candidate` or somewhere above them in the management line."""
    seen = set()
    current: User | None = candidate
    while current is not None and current.id not in seen:
        if current is user:
            return True
        seen.add(current.id)
        current = current.manager
    return False


def count_users() -> int:
    return db.session.scalar(select(func.count()).select_from(User))


def group_members(name: str) -> list[User]:
    """Active members of a group, by id (none if the group does not exist)."""
    return list(
        db.session.scalars(
            select(User)
            .join(Group.members)
            .where(Group.name == name, User.is_active.is_(True))
            .order_by(User.id)
        )
    )
