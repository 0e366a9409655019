"""A submission's approval chain as rows: one per step per round, one per task (a person asked)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import Enum, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal import clock
from portal.domain.chain import Decision, StepState, TaskState
from portal.domain.sla import TimerKind
from portal.extensions import db
from portal.models.types import JSONDocument, UTCDateTime
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
    __table_args__ = (
        UniqueConstraint("submission_id", "round", "name"),
        # Process insight picks the visits that started or finished in a period.
        Index("ix_approval_step_started_at", "started_at"),
        Index("ix_approval_step_finished_at", "finished_at"),
    )

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
        # Process insight picks the tasks decided in a period.
        Index("ix_task_decided_at", "decided_at"),
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
    #: web, email, api or agent: where the decision was made.
    channel: Mapped[str | None] = mapped_column(String(16))
    #: What an agent returned with its decision, as the step's `output` declares it.
    output: Mapped[dict | None] = mapped_column(JSONDocument)
    #: An agent's decision that waits for a person's review (the task is then `recommended`).
    recommendation: Mapped[Decision | None] = mapped_column(_enum(Decision))
    closed_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: When the decision is due (from the step's timing), if it has a deadline.
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    #: For a delegate or an escalation target: the person this task stands in for.
    on_behalf_of_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    #: The chain's slot (see portal.domain.chain.Task.slot); empty for an ordinary task.
    slot: Mapped[str] = mapped_column(String(140), default="")
    #: Why this task exists, when not simply because the step asked: escalated, delegated...
    origin: Mapped[str] = mapped_column(Text, default="")

    assignee: Mapped[User] = relationship(foreign_keys=[assignee_id])
    on_behalf_of: Mapped[User | None] = relationship(foreign_keys=[on_behalf_of_id])
    timers: Mapped[list[Timer]] = relationship(
        back_populates="task", cascade="all, delete-orphan", order_by="Timer.fire_at"
    )
    submission: Mapped[Submission] = relationship(viewonly=True)

    @property
    def is_open(self) -> bool:
        return self.state == TaskState.OPEN

    @property
    def is_review(self) -> bool:
        """A person asked to confirm or override an agent's recommendation."""
        return self.origin == "review"


class Timer(db.Model):
    """A moment something must happen to an open task: a reminder, an escalation, a timeout.

    Scheduled in RQ for its time and found again by the every-minute sweep, so a lost RQ job
    delays it by a minute at most. `fired_at` is set in the transaction that does the work,
    so whichever of the two comes first does it, once; a decision cancels what has not fired.
    """

    __tablename__ = "timer"
    __table_args__ = (
        UniqueConstraint("task_id", "kind", "sequence"),
        Index("ix_timer_due", "fired_at", "cancelled_at", "fire_at"),
        # Process insight counts the escalations fired in a period.
        Index("ix_timer_kind_fired", "kind", "fired_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("task.id", ondelete="CASCADE"), index=True)
    kind: Mapped[TimerKind] = mapped_column(_enum(TimerKind))
    sequence: Mapped[int] = mapped_column(default=1)
    fire_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    fired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: What firing did, in words, for the request's page ("reminded bob@example.com").
    outcome: Mapped[str] = mapped_column(Text, default="")

    task: Mapped[Task] = relationship(back_populates="timers")

    @property
    def is_pending(self) -> bool:
        return self.fired_at is None and self.cancelled_at is None


class GroupCursor(db.Model):
    """Whose turn it is in a group that picks round robin: the member picked last."""

    __tablename__ = "group_cursor"

    group_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
