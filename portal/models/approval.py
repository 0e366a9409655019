"""A submission's approval chain as rows: one per step per round, one per task (a person asked)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import Enum, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal import clock
from portal.domain.chain import Decision, StepState, TaskState
from portal.extensions import db
from portal.models.types import UTCDateTime
from portal.models.user import User

if TYPE_CHECKING:
    from portal.models.submission import Submission


def _enum(kind):
    return Enum(
        kind,
        native_enum=False,
        length=32,
        values_callable=lambda members: [m.value for m in members],
    )


class ApprovalStep(db.Model):
    __tablename__ = "approval_step"
    __table_args__ = (UniqueConstraint("submission_id", "round", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submission.id", ondelete="CASCADE"))
    round: Mapped[int]
    #: Position in the chain, so steps list in the order the form defines them.
    position: Mapped[int]
    name: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    state: Mapped[StepState] = mapped_column(_enum(StepState), default=StepState.WAITING)
    reason: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Task(db.Model):
    """One person asked to decide one step. Decided once; never reopened."""

    __tablename__ = "task"
    __table_args__ = (
        UniqueConstraint("submission_id", "key"),
        Index("ix_task_assignee_state", "assignee_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(
        ForeignKey("submission.id", ondelete="CASCADE"), index=True
    )
    #: The chain's own name for the task: round.step.assignee.
    key: Mapped[str] = mapped_column(String(120))
    round: Mapped[int]
    step: Mapped[str] = mapped_column(String(64))
    assignee_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    state: Mapped[TaskState] = mapped_column(_enum(TaskState), default=TaskState.OPEN)
    decision: Mapped[Decision | None] = mapped_column(_enum(Decision))
    comment: Mapped[str] = mapped_column(Text, default="")
    #: For a signed decision, what the signature means ("Approved as Finance").
    signature_meaning: Mapped[str | None] = mapped_column(String(300))
    #: web, email or api: where the decision was made.
    channel: Mapped[str | None] = mapped_column(String(16))
    closed_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    assignee: Mapped[User] = relationship()
    submission: Mapped[Submission] = relationship(viewonly=True)

    @property
    def is_open(self) -> bool:
        return self.state == TaskState.OPEN


class GroupCursor(db.Model):
    """Whose turn it is in a group that picks round robin: the member picked last."""

    __tablename__ = "group_cursor"

    group_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
