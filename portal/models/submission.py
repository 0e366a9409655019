"""A person's filled-in form: a draft while they work on it, then a request under review."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Enum,
    FetchedValue,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal import clock
from portal.extensions import db
from portal.models.approval import ApprovalStep, Task
from portal.models.form import Form, FormVersion
from portal.models.types import JSONDocument, UTCDateTime
from portal.models.user import User


class SubmissionStatus(StrEnum):
    """Where a submission stands. The API and the pages use these same words."""

    DRAFT = "draft"
    IN_REVIEW = "in_review"
    CHANGES_REQUESTED = "changes_requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()

    @property
    def is_final(self) -> bool:
        """True for an outcome the request can no longer leave: approved, rejected, withdrawn."""
        return self in (
            SubmissionStatus.APPROVED,
            SubmissionStatus.REJECTED,
            SubmissionStatus.WITHDRAWN,
        )


#: What the database keeps for the records search beside the models: SQLite's FTS5 table (and
#: the shadow tables FTS5 makes) and PostgreSQL's trigram index. Autogenerate leaves them be.
KEPT_BY_DATABASE = ("submission_fts", "ix_submission_search_text")


def kept_by_database(name: str | None) -> bool:
    """True for a table or index the search migration made that no model describes."""
    return bool(name) and name.startswith(KEPT_BY_DATABASE)


#: Statuses in which the submitter may still edit the data.
EDITABLE = frozenset({SubmissionStatus.DRAFT, SubmissionStatus.CHANGES_REQUESTED})


class Submission(db.Model):
    __tablename__ = "submission"
    #: The database writes search_text itself; the ORM neither sends it nor reads it back
    #: after a write (it is expired, and loaded only if someone asks).
    __mapper_args__ = {"eager_defaults": False}
    __table_args__ = (
        UniqueConstraint("submitter_id", "client_token"),
        Index("ix_submission_submitter_updated", "submitter_id", "updated_at"),
        # My submissions counts a person's requests by status from the index alone.
        Index("ix_submission_submitter_status", "submitter_id", "status"),
        # The compliance search by form and status, newest first: read in index order and
        # counted from the index (amount and id ride along on PostgreSQL).
        Index(
            "ix_submission_form_status_submitted",
            "form_id",
            "status",
            "submitted_at",
            postgresql_include=["amount", "id"],
        ),
        # Process insight reads a form's requests by when they were submitted and finished.
        Index("ix_submission_form_submitted", "form_id", "submitted_at"),
        Index("ix_submission_form_finished", "form_id", "finished_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    form_id: Mapped[int] = mapped_column(ForeignKey("form.id"))
    form_version_id: Mapped[int] = mapped_column(ForeignKey("form_version.id"), index=True)
    submitter_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    status: Mapped[SubmissionStatus] = mapped_column(
        Enum(
            SubmissionStatus,
            native_enum=False,
            length=32,
            values_callable=lambda statuses: [status.value for status in statuses],
        ),
        default=SubmissionStatus.DRAFT,
        index=True,
    )
    #: Validated, typed values (see portal.domain.values); empty until first submitted.
    data: Mapped[dict | None] = mapped_column(JSONDocument)
    #: What the person had typed when they last saved a draft, valid or not.
    draft: Mapped[dict | None] = mapped_column(JSONDocument)
    #: The form's amount_field, copied out for sorting and searching.
    amount: Mapped[Decimal | None] = mapped_column(Numeric(20, 4), index=True)
    currency: Mapped[str | None] = mapped_column(String(3))
    summary: Mapped[str] = mapped_column(String(300), default="")
    #: How many times it has been submitted: the chain round it should be in.
    submit_count: Mapped[int] = mapped_column(default=0)
    #: SHA-256 of the submitted data: what an approver saw must be what they decide on.
    data_hash: Mapped[str | None] = mapped_column(String(64))
    #: Every string value of `data`, for the records search. Written by the database's own
    #: trigger (migration e19b0c0d0e01), never by Baton, so every writer keeps it true.
    search_text: Mapped[str | None] = mapped_column(
        Text, deferred=True, server_default=FetchedValue(), server_onupdate=FetchedValue()
    )
    #: Set by the page that started this submission, so a double-clicked Submit makes one.
    client_token: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    #: When it reached its outcome (approved, rejected or withdrawn); empty until then.
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    form: Mapped[Form] = relationship()
    form_version: Mapped[FormVersion] = relationship()
    submitter: Mapped[User] = relationship()
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="submission", cascade="all, delete-orphan", order_by="Attachment.id"
    )
    steps: Mapped[list[ApprovalStep]] = relationship(
        cascade="all, delete-orphan",
        order_by="(ApprovalStep.round, ApprovalStep.position)",
        viewonly=False,
    )
    tasks: Mapped[list[Task]] = relationship(cascade="all, delete-orphan", order_by="Task.id")

    @property
    def is_editable(self) -> bool:
        return self.status in EDITABLE

    @property
    def reference(self) -> str:
        return f"#{self.id}"


class Attachment(db.Model):
    """A file attached to a submission's field; its bytes live in StoredFile by hash."""

    __tablename__ = "attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(
        ForeignKey("submission.id", ondelete="CASCADE"), index=True
    )
    field: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(ForeignKey("stored_file.sha256"), index=True)

    submission: Mapped[Submission] = relationship(back_populates="attachments")
