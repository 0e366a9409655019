"""Emails about requests: written as rows in the transaction that causes them, sent by a job.

Each email has a unique key (one per task assignment, one per outcome of a round), so the
same event can never queue a message twice, and the sending job records every step before
and after talking to the mail server, so a repeated or retried job finds the message sent.
"""

from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import aliased

from portal import clock, display, mail, outbox
from portal.extensions import db, hold, transaction_cache
from portal.jobs.registry import JobKind
from portal.models import (
    EmailMessage,
    EmailState,
    Submission,
    SubmissionStatus,
    Task,
    User,
)
from portal.services import catalog, chain_rows

logger = logging.getLogger(__name__)


def task_assigned(
    submission: Submission, task: Task, assignee: User, urgent: bool = False, new: bool = False
) -> EmailMessage | None:
    """Tell an assignee that a request waits for their decision (or leave it to their digest).

    An escalated task is urgent: its email goes out at once, daily digest or not. `new`: the
    task was written in this transaction, so no email about it can exist yet (none is looked
    for), and the email's job is added by `queue_jobs` once the email has its id.
    """
    if assignee.daily_digest and not urgent:
        return None
    return _queue(
        key=f"task:{task.id}:assigned",
        kind="task_assigned",
        submission=submission,
        recipient=assignee,
        task=task,
        context={"urgent": urgent},
        new=new,
    )


def reminder(submission: Submission, task: Task, assignee: User, timer) -> EmailMessage | None:
    """Remind an assignee of a task still open (one email per reminder timer)."""
    return _queue(
        key=f"timer:{timer.id}:reminder",
        kind="reminder",
        submission=submission,
        recipient=assignee,
        task=task,
        context={"number": timer.sequence},
    )


def escalation_notice(
    submission: Submission, task: Task, targets: list[User], mode
) -> EmailMessage | None:
    """Tell the late assignee that their task was escalated (the targets get their own email)."""
    return _queue(
        key=f"task:{task.id}:escalated",
        kind="escalation_notice",
        submission=submission,
        recipient=task.assignee,
        task=task,
        context={"targets": [t.name for t in targets], "moved": mode.value == "move"},
    )


def digest_sent(user: User, day) -> bool:
    return (
        db.session.scalar(
            select(EmailMessage.id).where(EmailMessage.key == f"digest:{user.id}:{day.isoformat()}")
        )
        is not None
    )


def digest(user: User, day) -> EmailMessage | None:
    """Today's list of the user's open tasks, once a day."""
    key = f"digest:{user.id}:{day.isoformat()}"
    if digest_sent(user, day):
        return None
    message = EmailMessage(
        key=key,
        kind="digest",
        recipient_id=user.id,
        to_address=user.email,
        context={"day": day.isoformat()},
        state=EmailState.PENDING,
        created_at=clock.now(),
    )
    db.session.add(message)
    db.session.flush()
    outbox.add(JobKind.SEND_EMAIL, email_id=message.id)
    return message


def outcome(submission: Submission, status: SubmissionStatus, comment: str) -> EmailMessage | None:
    """Tell the submitter how their request ended (or that changes are wanted)."""
    return _queue(
        key=f"submission:{submission.id}:{submission.submit_count}:{status.value}",
        kind="outcome",
        submission=submission,
        recipient=submission.submitter,
        context={"status": status.value, "comment": comment},
    )


#: transaction_cache key of emails written with `new`, waiting for their outbox jobs.
_WAITING = "emails without jobs"


def _queue(
    key, kind, submission, recipient, task=None, context=None, new=False
) -> EmailMessage | None:
    if recipient.is_agent:
        return None  # agents read their tasks through the API, webhooks or MCP, not email
    if not new:
        existing = db.session.scalars(select(EmailMessage).where(EmailMessage.key == key)).first()
        if existing is not None:
            return None
    message = EmailMessage(
        key=key,
        kind=kind,
        submission_id=submission.id,
        task_id=task.id if task is not None else None,
        recipient_id=recipient.id,
        to_address=recipient.email,
        context=context or {},
        state=EmailState.PENDING,
        created_at=clock.now(),
    )
    db.session.add(message)
    if new:
        transaction_cache().setdefault(_WAITING, []).append(message)
        return message
    db.session.flush()
    outbox.add(JobKind.SEND_EMAIL, email_id=message.id)
    return message


def queue_jobs() -> None:
    """The outbox jobs of the emails written with `new`: flushed together first, in one
    multi-row INSERT, for their ids."""
    waiting = transaction_cache().pop(_WAITING, [])
    if waiting:
        db.session.flush()
    for message in waiting:
        outbox.add(JobKind.SEND_EMAIL, email_id=message.id)


# -- what an email says (the send_email job, portal.jobs.email, sends it) ---------------------


def lock_for_sending(email_id: int) -> EmailMessage | None:
    """The email row, locked for the transaction and read afresh, with what `compose` reads
    of it loaded by the same query: its recipient, its request (and submitter, and form
    version: kept per process) and its task."""
    recipient, submitter = aliased(User), aliased(User)
    row = db.session.execute(
        select(EmailMessage, recipient, Submission, submitter, Task)
        .outerjoin(recipient, recipient.id == EmailMessage.recipient_id)
        .outerjoin(Submission, Submission.id == EmailMessage.submission_id)
        .outerjoin(submitter, submitter.id == Submission.submitter_id)
        .outerjoin(Task, Task.id == EmailMessage.task_id)
        .where(EmailMessage.id == email_id)
        .with_for_update(of=EmailMessage)
        .execution_options(populate_existing=True)
    ).first()
    if row is None:
        return None
    email, *related = row
    hold(*(found for found in related if found is not None))
    if related[1] is not None:
        catalog.version(related[1].form_version_id)
    return email


def compose(email: EmailMessage) -> tuple[mail.Composed, str]:
    """The message an email row stands for, and its recipient's name."""
    recipient = db.session.get(User, email.recipient_id)
    if email.kind == "digest":
        return _compose_digest(email, recipient), recipient.name
    submission = db.session.get(Submission, email.submission_id)
    spec = submission.form_version.spec
    amount = (
        display.amount(submission.amount, submission.currency)
        if submission.amount is not None
        else ""
    )
    common = {
        "submission": submission,
        "spec": spec,
        "recipient": recipient,
        "amount": amount,
        "submission_url": mail.external_url("staff.submission", submission_id=submission.id),
    }
    title = f"{spec.title} {submission.reference}" + (
        f" · {submission.summary}" if submission.summary else ""
    )
    if email.kind in ("task_assigned", "reminder"):
        task = db.session.get(Task, email.task_id)
        token = mail.action_token(task.id, task.assignee_id)
        action_url = mail.external_url("approvals.act", token=token)
        step = spec.approval.step(task.step)
        if email.kind == "reminder":
            subject = f"Reminder: your decision is needed on {title}"
        elif email.context.get("urgent"):
            subject = f"Escalated to you: {title}" + (f" · {amount}" if amount else "")
        else:
            subject = f"Approval needed: {title}" + (f" · {amount}" if amount else "")
        composed = mail.compose(
            "task_assigned",
            subject,
            reminder=email.kind == "reminder",
            urgent=email.context.get("urgent", False),
            secrets=(action_url, token),
            task=task,
            step=step,
            action_url=action_url,
            inbox_url=mail.external_url("approvals.inbox"),
            link_days=current_app.config["ACTION_LINK_MAX_AGE"] // 86400,
            **common,
        )
        return composed, recipient.name
    if email.kind == "escalation_notice":
        task = db.session.get(Task, email.task_id)
        composed = mail.compose(
            "escalation_notice",
            f"Escalated: {title}",
            task=task,
            step=spec.approval.step(task.step),
            targets=email.context.get("targets", []),
            moved=email.context.get("moved", False),
            **common,
        )
        return composed, recipient.name
    status = SubmissionStatus(email.context["status"])
    headline = {
        SubmissionStatus.APPROVED: "approved",
        SubmissionStatus.REJECTED: "rejected",
        SubmissionStatus.CHANGES_REQUESTED: "sent back for changes",
    }[status]
    composed = mail.compose(
        "outcome",
        f"Your request was {headline}: {title}",
        status=status,
        headline=headline,
        comment=email.context.get("comment", ""),
        edit_url=mail.external_url("staff.edit_submission", submission_id=submission.id),
        **common,
    )
    return composed, recipient.name


def _compose_digest(email: EmailMessage, recipient: User) -> mail.Composed:
    tasks = chain_rows.open_tasks_for(recipient)
    items = []
    for task in tasks:
        submission = task.submission
        spec = submission.form_version.spec
        items.append(
            {
                "title": f"{spec.title} {submission.reference}",
                "summary": submission.summary,
                "amount": display.amount(submission.amount, submission.currency)
                if submission.amount is not None
                else "",
                "step": spec.approval.step(task.step).title,
                "due_at": task.due_at,
                "overdue": task.due_at is not None and task.due_at < clock.now(),
                "url": mail.external_url("approvals.task", task_id=task.id),
            }
        )
    count = len(items)
    return mail.compose(
        "digest",
        f"{count} request{'s' if count != 1 else ''} waiting for your decision",
        recipient=recipient,
        items=items,
        inbox_url=mail.external_url("approvals.inbox"),
        settings_url=mail.external_url("account.settings"),
    )
