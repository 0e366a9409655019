"""What an identity provider's claims say about a person: their Baton groups and manager.

Pure rules for single sign-on (OpenID Connect): how BATON_OIDC_GROUP_MAP reads, which of the
provider's groups become which Baton groups, and what a sign-in changes. The service that
applies them is portal/services/sso.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

#: A Baton group name: what `flask baton create-user --group` and chains use.
GROUP_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")

GroupMap = Mapping[str, tuple[str, ...]]


class GroupMapInvalid(ValueError):
    """BATON_OIDC_GROUP_MAP could not be read; the message says where."""


def parse_group_map(text: str | None) -> dict[str, tuple[str, ...]] | None:
    """'ap-approvers:finance,cfo-office:cfo' -> {'ap-approvers': ('finance',), ...}.

    None when unset (the provider's groups then come by name). A provider group may be named
    twice to give several Baton groups. Provider group names keep their case (some providers
    send ids); Baton group names are lower case.
    """
    if text is None or not text.strip():
        return None
    mapping: dict[str, tuple[str, ...]] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        provider, colon, baton = (s.strip() for s in part.rpartition(":"))
        if not colon or not provider or not baton:
            raise GroupMapInvalid(
                f"BATON_OIDC_GROUP_MAP: {part!r} is not 'provider-group:baton-group'"
            )
        baton = baton.lower()
        if not GROUP_NAME.match(baton):
            raise GroupMapInvalid(
                f"BATON_OIDC_GROUP_MAP: {baton!r} is not a Baton group name "
                "(lower-case letters, digits, '.', '-' and '_', at most 64)"
            )
        if baton not in mapping.get(provider, ()):
            mapping[provider] = (*mapping.get(provider, ()), baton)
    return mapping


def claimed_groups(value: object) -> list[str] | None:
    """The provider's group names in a claim's value: a list, or one string of names separated
    by commas or spaces. None when the claim is absent or not something that names groups."""
    if isinstance(value, str):
        return [name for name in re.split(r"[,\s]+", value) if name]
    if isinstance(value, list | tuple):
        return [item for item in value if isinstance(item, str) and item]
    return None


def baton_groups(provider_groups: list[str], group_map: GroupMap | None) -> set[str]:
    """The Baton groups a person's provider groups give them.

    With a map, only mapped groups count and everything else is ignored. Without one, each
    provider group is the Baton group of the same (lower-case) name, when that is a valid name.
    """
    if group_map is not None:
        return {baton for name in provider_groups for baton in group_map.get(name, ())}
    return {name.lower() for name in provider_groups if GROUP_NAME.match(name.lower())}


@dataclass(frozen=True)
class Change:
    """What one sign-in changes on a person's account (empty when nothing does)."""

    name: tuple[str, str] | None = None
    email: tuple[str, str] | None = None
    groups_added: tuple[str, ...] = ()
    groups_removed: tuple[str, ...] = ()
    manager: tuple[str | None, str | None] | None = None

    def __bool__(self) -> bool:
        return bool(
            self.name or self.email or self.groups_added or self.groups_removed or self.manager
        )

    def as_details(self) -> dict:
        """The change as an audit event's details: only what changed, old and new."""
        details: dict = {}
        if self.name:
            details["name"] = {"from": self.name[0], "to": self.name[1]}
        if self.email:
            details["email"] = {"from": self.email[0], "to": self.email[1]}
        if self.groups_added:
            details["groups_added"] = list(self.groups_added)
        if self.groups_removed:
            details["groups_removed"] = list(self.groups_removed)
        if self.manager:
            details["manager"] = {"from": self.manager[0], "to": self.manager[1]}
        return details


def change(
    *,
    name: tuple[str, str],
    email: tuple[str, str],
    groups: tuple[set[str], set[str]] | None,
    manager: tuple[str | None, str | None] | None,
) -> Change:
    """Compare (old, new) pairs: name, email, groups (None: not claimed) and manager's email
    (None: not claimed)."""
    added = removed = ()
    if groups is not None:
        added = tuple(sorted(groups[1] - groups[0]))
        removed = tuple(sorted(groups[0] - groups[1]))
    return Change(
        name=name if name[0] != name[1] else None,
        email=email if email[0] != email[1] else None,
        groups_added=added,
        groups_removed=removed,
        manager=manager if manager is not None and manager[0] != manager[1] else None,
    )
