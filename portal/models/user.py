"""People who sign in, the groups they belong to, and who manages whom."""

from __future__ import annotations

import datetime as dt

from flask_login import UserMixin
from sqlalchemy import Column, Date, ForeignKey, Index, String, Table, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal import clock
from portal.extensions import db
from portal.models.types import UTCDateTime

membership = Table(
    "membership",
    db.metadata,
    Column("user_id", ForeignKey("user.id", ondelete="CASCADE"), primary_key=True),
    Column("group_id", ForeignKey("group.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Group(db.Model):
    """A named set of users (finance, it, compliance, admin, ...): a role and an assignee."""

    __tablename__ = "group"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))

    members: Mapped[list[User]] = relationship(
        secondary=membership, back_populates="groups", order_by="User.name"
    )

    def __repr__(self) -> str:
        return f"<Group {self.name}>"


class User(UserMixin, db.Model):
    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(default=True)
    #: Part of the id in every session cookie: raising it (when the user is disabled or their
    #: password changes) ends every session signed in before.
    session_epoch: Mapped[int] = mapped_column(default=0, server_default="0")
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    #: Out of office: tasks created from `away_from` to `away_until` (dates in the portal's
    #: time zone, both included) go to `delegate`, who acts on this user's behalf.
    away_from: Mapped[dt.date | None] = mapped_column(Date)
    away_until: Mapped[dt.date | None] = mapped_column(Date)
    delegate_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    #: One email a day listing open tasks, instead of one per task and per reminder.
    daily_digest: Mapped[bool] = mapped_column(default=False)
    #: Single sign-on: the identity provider's `sub` for this person, once they have signed in
    #: through it (portal/services/sso.py). Unique through ix_user_sso_subject.
    sso_subject: Mapped[str | None] = mapped_column(String(255))
    #: Signs in with a password even when BATON_PASSWORD_SIGN_IN is off (an admin's way in
    #: when the identity provider is down).
    local: Mapped[bool] = mapped_column(default=False, server_default=false())
    #: "person", or "agent": software that acts through an API token or MCP, never signs in.
    kind: Mapped[str] = mapped_column(String(16), default="person", server_default="person")

    manager: Mapped[User | None] = relationship(remote_side=[id], foreign_keys=[manager_id])
    delegate: Mapped[User | None] = relationship(remote_side=[id], foreign_keys=[delegate_id])
    groups: Mapped[list[Group]] = relationship(
        secondary=membership, back_populates="members", order_by="Group.name"
    )

    __table_args__ = (Index("ix_user_sso_subject", "sso_subject", unique=True),)

    def get_id(self) -> str:
        """What Flask-Login keeps in the session: the id and the session epoch."""
        return f"{self.id}.{self.session_epoch}"

    @property
    def is_agent(self) -> bool:
        return self.kind == "agent"

    @property
    def display_name(self) -> str:
        """The name as pages, emails and PDFs show it: an agent says it is one."""
        return f"{self.name} (agent)" if self.is_agent else self.name

    @property
    def group_names(self) -> set[str]:
        return {group.name for group in self.groups}

    def is_away_on(self, day: dt.date) -> bool:
        """True if the user is out of office on `day` and has named a delegate."""
        return bool(
            self.delegate_id
            and self.away_from
            and self.away_until
            and self.away_from <= day <= self.away_until
        )

    def in_group(self, *names: str) -> bool:
        """True if the user belongs to any of the named groups."""
        return bool(self.group_names.intersection(names))

    def __repr__(self) -> str:
        return f"<User {self.email}>"


class SignIn(db.Model):
    """One signed-in browser session, kept on the server so that signing out ends it there.

    The session cookie carries a random key; only its SHA-256 is stored. Signing out (or the
    absolute lifetime, BATON_SESSION_MAX_HOURS) ends this session only: the same person signed
    in on another device stays signed in there.
    """

    __tablename__ = "sign_in"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
