"""Signing in through the identity provider: the person the verified claims name, created or
brought up to date (name, email, groups, manager), with an audit event saying what changed.

The claims reach this module already verified (portal/oidc.py). The rules for groups and
what counts as a change are portal/domain/identity.py's.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import select

from portal import audit
from portal.domain import identity
from portal.domain.chain import TaskState
from portal.domain.refusal import Conflict, Forbidden, Refused
from portal.extensions import db
from portal.models import AuditEvent, Task, User
from portal.services import chain_rows, users

logger = logging.getLogger(__name__)

#: The audit events' channel for what a sign-in through the provider changes.
CHANNEL = "oidc"


@dataclass(frozen=True)
class Settings:
    """What BATON_OIDC_* say about reading claims."""

    issuer: str
    groups_claim: str = "groups"
    group_map: identity.GroupMap | None = None
    manager_claim: str | None = None

    @classmethod
    def from_config(cls, config) -> Settings:
        return cls(
            issuer=config["OIDC_ISSUER"],
            groups_claim=config["OIDC_GROUPS_CLAIM"],
            group_map=config["OIDC_GROUP_MAP"],
            manager_claim=config["OIDC_MANAGER_CLAIM"],
        )


class SignInRefused(Refused):
    """The provider vouched for this person, but Baton will not sign them in."""


def _verified_email(claims: dict) -> str:
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email or len(email) > 254:
        raise SignInRefused(
            "The provider did not send your email address, and Baton needs it. Ask an "
            "administrator to let Baton read it (the 'email' scope)."
        )
    # Some providers send the flag as a string ("false").
    if str(claims.get("email_verified", True)).strip().lower() in {"false", "0", "no"}:
        raise SignInRefused(
            "The provider says your email address is not verified yet. Verify it there, "
            "then sign in again."
        )
    return users.normalise_email(email)


def _name(claims: dict, email: str) -> str:
    for candidate in (
        claims.get("name"),
        " ".join(part for part in (claims.get("given_name"), claims.get("family_name")) if part),
    ):
        if isinstance(candidate, str) and candidate.strip():
            return candidate.strip()[:200]
    return email.partition("@")[0]


def _find(subject: str, email: str) -> User | None:
    """The account this provider account signs in to: by subject, else by email (linked then)."""
    user = db.session.scalars(select(User).where(User.sso_subject == subject)).first()
    if user is not None:
        return user
    user = users.find_user(email)
    if user is not None and user.sso_subject is not None:
        # The email now belongs to another account at the provider (reissued, or a second
        # account): taking over the first person's Baton account is not this sign-in's to do.
        raise Conflict(
            f"The Baton account for {email} is linked to another account at the provider. "
            "Ask an administrator."
        )
    return user


def sign_in(claims: dict, settings: Settings) -> User:
    """The active user the verified `claims` name, created at the first sign-in and updated
    from the claims at every one; refused (nothing changed) for a disabled account or an
    email the provider has not verified."""
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > 255:
        raise SignInRefused("The provider did not say who you are.")
    email = _verified_email(claims)
    user = _find(subject, email)
    if user is not None and not user.is_active:
        raise Forbidden(
            "Your Baton account is disabled, so you cannot sign in. Ask an administrator."
        )
    if user is not None and user.email != email and users.find_user(email) is not None:
        raise Conflict(
            f"The provider now gives your email as {email}, which another Baton account has. "
            "Ask an administrator."
        )
    created = user is None
    if created:
        # No password: this person signs in through the provider only.
        user = User(email=email, name="", password_hash="", sso_subject=subject)
        db.session.add(user)

    old_groups = set() if created else user.group_names
    old_manager = None if created else (user.manager.email if user.manager else None)
    before = ("" if created else user.name, "" if created else user.email)

    user.sso_subject = subject
    user.name = _name(claims, email)
    user.email = email
    groups = _groups(claims, settings)
    if groups is not None:
        user.groups = [users.ensure_group(name) for name in sorted(groups)]
    manager, manager_note = _manager(user, claims, settings)
    if manager is not False:
        user.manager = manager
    db.session.flush()

    change = identity.change(
        name=(before[0], user.name),
        email=(before[1], user.email),
        groups=None if groups is None else (old_groups, groups),
        manager=(None if manager is False else (old_manager, manager.email if manager else None)),
    )
    if created or change or manager_note:
        _record(user, created, change, manager_note, settings)
    return user


def _groups(claims: dict, settings: Settings) -> set[str] | None:
    """The Baton groups the claims give, or None when the provider sent no groups claim (the
    person's groups then stay as they are: a provider not set up to send groups must not
    empty everyone's)."""
    provider_groups = identity.claimed_groups(claims.get(settings.groups_claim))
    if provider_groups is None:
        return None
    return identity.baton_groups(provider_groups, settings.group_map)


def _manager(user: User, claims: dict, settings: Settings) -> tuple[User | None | bool, dict]:
    """(the manager the claims name, None for none, False to leave as is; a note for the audit
    event when the named manager could not be taken)."""
    if not settings.manager_claim or settings.manager_claim not in claims:
        return False, {}
    value = claims.get(settings.manager_claim)
    if not isinstance(value, str) or not value.strip():
        return None, {}
    manager = users.find_user(value)
    if manager is None:
        # They have not signed in yet: the manager is kept as it was until they have.
        return False, {"manager_not_found": users.normalise_email(value)}
    if users.manages(user, manager):
        return False, {"manager_refused": f"{manager.email} would manage themselves"}
    return manager, {}


def _record(
    user: User, created: bool, change: identity.Change, note: dict, settings: Settings
) -> None:
    """The audit event: what the sign-in changed, and the open tasks of a person who lost a
    group (they stay with them, for an administrator to reassign)."""
    details: dict = {"user": user.email, "provider": settings.issuer}
    if created:
        details.update(
            name=user.name,
            groups=sorted(user.group_names),
            manager=user.manager.email if user.manager else None,
        )
    else:
        details.update(change.as_details())
    details.update(note)
    if change.groups_removed:
        tasks = chain_rows.open_tasks_for(user)
        if tasks:
            details["open_tasks"] = [task.id for task in tasks]
            logger.info(
                "%s left %s at sign-in and keeps %d open task(s)",
                user.email,
                ", ".join(change.groups_removed),
                len(tasks),
            )
    audit.record(
        audit.ADMIN_CHAIN,
        "user_created" if created else "user_changed",
        audit.Actor(user=user, channel=CHANNEL),
        details,
    )


#: How far back the administrators' list looks: the newest sign-in changes, by count.
RECENT_CHANGES = 500


@dataclass(frozen=True)
class LeftGroup:
    """A person who lost groups at a sign-in and still has open tasks from before."""

    user: User
    groups_removed: tuple[str, ...]
    occurred_at: dt.datetime
    tasks: tuple[Task, ...]


def left_groups_with_open_tasks() -> list[LeftGroup]:
    """People whose provider removed them from a group while tasks waited for them, with the
    tasks still open and still theirs, newest first (for an administrator to reassign)."""
    events = db.session.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.chain == audit.ADMIN_CHAIN,
            AuditEvent.action == "user_changed",
            AuditEvent.channel == CHANNEL,
        )
        .order_by(AuditEvent.seq.desc())
        .limit(RECENT_CHANGES)
    ).all()
    listed = [event for event in events if event.details.get("open_tasks")]
    task_ids = {task_id for event in listed for task_id in event.details["open_tasks"]}
    tasks = {
        task.id: task
        for task in db.session.scalars(
            select(Task).where(Task.id.in_(task_ids), Task.state == TaskState.OPEN)
        )
    }
    seen: set[int] = set()
    found = []
    for event in listed:
        open_tasks = tuple(
            tasks[task_id]
            for task_id in event.details["open_tasks"]
            if task_id in tasks
            and task_id not in seen
            and tasks[task_id].assignee_id == event.actor_id
        )
        seen.update(task.id for task in open_tasks)
        if open_tasks:
            found.append(
                LeftGroup(
                    user=open_tasks[0].assignee,
                    groups_removed=tuple(event.details.get("groups_removed", ())),
                    occurred_at=event.occurred_at,
                    tasks=open_tasks,
                )
            )
    return found
