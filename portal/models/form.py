"""Forms and their published versions; a submission keeps the version it was made with."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal import clock
from portal.domain import schema
from portal.domain.schema import FormSpec
from portal.extensions import db
from portal.models.types import UTCDateTime

if TYPE_CHECKING:
    from portal.models.user import User


class Form(db.Model):
    __tablename__ = "form"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    current_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("form_version.id", use_alter=True, name="fk_form_current_version_id")
    )
    archived_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)

    current_version: Mapped[FormVersion | None] = relationship(
        foreign_keys=[current_version_id], post_update=True
    )
    versions: Mapped[list[FormVersion]] = relationship(
        back_populates="form", foreign_keys="FormVersion.form_id", order_by="FormVersion.number"
    )

    @property
    def is_open(self) -> bool:
        """True if people may start new submissions of this form."""
        return self.archived_at is None and self.current_version is not None


class FormVersion(db.Model):
    """One published schema of a form. Never changed after it is written."""

    __tablename__ = "form_version"
    __table_args__ = (UniqueConstraint("form_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    form_id: Mapped[int] = mapped_column(ForeignKey("form.id"), index=True)
    number: Mapped[int]
    title: Mapped[str] = mapped_column(String(200))
    #: The schema exactly as published (the admin's layout), for display and diffs.
    schema_text: Mapped[str] = mapped_column(Text)
    #: SHA-256 of the schema's canonical JSON: equal content, equal hash.
    schema_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    source: Mapped[str] = mapped_column(String(200), default="")

    form: Mapped[Form] = relationship(back_populates="versions", foreign_keys=[form_id])
    created_by: Mapped[User | None] = relationship()

    @property
    def spec(self) -> FormSpec:
        """The parsed schema (parsed once per process per version)."""
        return _parse(self.form.slug, self.schema_hash, self.schema_text)

    @property
    def label(self) -> str:
        return f"version {self.number}"


@lru_cache(maxsize=512)
def _parse(slug: str, schema_hash: str, text: str) -> FormSpec:
    return schema.load_text(text, slug)
