"""Emails about requests: written as rows in the transaction that causes them, sent by a job.

Each email has a unique key (one per task assignment, one per outcome of a round), so the
same event can never queue a message twice, and the sending job records every step before
and after talking to the mail server, so a repeated or retried job finds the message sent.
"""

from __future__ import annotations

import datetime as dt
import logging

from flask import current_app
from sqlalchemy import delete, inspect, select

from portal import audit, clock, display, mail, outbox
from portal.extensions import db
from portal.models import (
    AuditEvent,
    EmailMessage,
    EmailState,
    OutboxMessage,
    Submission,
    SubmissionStatus,
    Task,
    User,
)
from portal.services import chain_rows

logger = logging.getLogger(__name__)
#: A message claimed by a job longer ago than this, and still not sent, may be claimed again:
#: longer than RQ lets a job run (JOB_TIMEOUT, 5 minutes), so a slow job is dead before another
#: may take its message over.
SENDING_LEASE = dt.timedelta(minutes=6)


def task_assigned(
    submission: Submission, task: Task, assignee: User, urgent: bool = False
) -> EmailMessage | None:
    """Tell an assignee that a request waits for their decision (or leave it to their digest).

    An escalated task is urgent: its email goes out at once, daily digest or not.
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
    outbox.add("send_email", email_id=message.id)
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


def _queue(key, kind, submission, recipient, task=None, context=None) -> EmailMessage | None:
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
    db.session.flush()
    outbox.add("send_email", email_id=message.id)
    return message


# -- sending (the send_email job) -------------------------------------------------------------


def deliver(message_row: OutboxMessage, email_id: int) -> None:
    """Send one queued email: claim it, send it, record it. Commits as it goes.

    A message already sent is not sent again. A message another job is sending right now is
    left to it. A message is marked sent in the same moment the server gets its final dot:
    the record is prepared before the dot and its COMMIT goes out right after it (see
    mail.send), so a worker that dies at any point either sent nothing (and a later job sends
    it once) or sent it with the record committed. What follows the server's "250" (the audit
    event, the outbox row done) is repeated by the next job if this one dies before it.
    """
    email = _lock(email_id)
    if email is None:
        _finish(message_row)
        return
    if email.state == EmailState.SENT:
        _record_sent(email, message_row)  # a job that died after the send: finish its work
        return
    now = clock.now()
    if (
        email.state == EmailState.SENDING
        and email.claimed_at
        and now - email.claimed_at < SENDING_LEASE
    ):
        db.session.rollback()
        return  # another job is on it; the outbox row waits for the sweep if that job dies
    # Composed before the claim is written: its reads would flush a half-written claim first,
    # and the claim would take two UPDATEs instead of one.
    composed, recipient_name = _compose(email)
    email.state, email.claimed_at, email.attempts = EmailState.SENDING, now, email.attempts + 1
    email.message_id = (
        email.message_id or f"<baton-{email.id}-{email.key.replace(':', '-')}@baton.local>"
    )
    email.subject, email.body = composed.subject, composed.record
    to_address, message_id = email.to_address, email.message_id  # not read back after the commit
    db.session.commit()  # the claim is on record before anything leaves this process

    stage = "sending"

    def commit_at_the_dot() -> None:
        nonlocal stage
        db.session.commit()
        stage = "dot"

    def accepted() -> None:
        nonlocal stage
        stage = "accepted"
        _record_sent(_lock(email_id), message_row)

    try:
        mail.send(
            to_address,
            recipient_name,
            composed,
            message_id,
            before_final_dot=lambda: _mark_sent(email_id),
            after_final_dot=commit_at_the_dot,
            on_accepted=accepted,
        )
    except Exception as exc:  # noqa: BLE001 - any SMTP or network failure: record, retry later
        if stage == "accepted":
            raise  # the server has it and it is on record; the next job finishes the rest
        # Before the dot nothing was committed or sent. After it, the server refused the
        # message, or its answer never came (mail.FINAL_REPLY_TIMEOUT): back to failed, and
        # the outbox row, still there, has a later job try again.
        db.session.rollback()
        email = _lock(email_id)
        email.state, email.sent_at = EmailState.FAILED, None
        email.last_error = f"{type(exc).__name__}: {exc}"[:1000]
        db.session.commit()
        logger.warning(
            "email %s to %s failed (%s)%s; the sweep will retry",
            email_id,
            email.to_address,
            exc,
            " after its final dot" if stage == "dot" else "",
        )


def _mark_sent(email_id: int) -> None:
    """Everything but the COMMIT of "this message is sent": runs before the final dot, so that
    what is left for the moment after it is one short message to the database."""
    email = _lock(email_id)
    email.state, email.sent_at = EmailState.SENT, clock.now()
    db.session.flush()


def _record_sent(email: EmailMessage, message_row: OutboxMessage) -> None:
    """After the server's "250": the audit event (once, even if a job died before it) and the
    outbox row done."""
    if email.submission_id is not None and not _sent_event_recorded(email):
        audit.record(
            audit.submission_chain(email.submission_id),
            "email_sent",
            audit.Actor(system="send_email job", channel="worker"),
            {
                "kind": email.kind,
                "to": email.to_address,
                "subject": email.subject,
                "email": email.id,
            },
            submission_id=email.submission_id,
        )
    _finish(message_row)


def _sent_event_recorded(email: EmailMessage) -> bool:
    return (
        db.session.scalar(
            select(AuditEvent.id)
            .where(
                AuditEvent.chain == audit.submission_chain(email.submission_id),
                AuditEvent.action == "email_sent",
                AuditEvent.details["email"].as_integer() == email.id,
            )
            .limit(1)
        )
        is not None
    )


def _lock(email_id: int) -> EmailMessage | None:
    return db.session.scalars(
        select(EmailMessage)
        .where(EmailMessage.id == email_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def _finish(message_row: OutboxMessage) -> None:
    # One statement, whether or not another job deleted the row first: no read before it, not
    # even of message_row.id, which an earlier commit has expired (its identity is kept).
    (message_id,) = inspect(message_row).identity
    db.session.execute(
        delete(OutboxMessage).where(OutboxMessage.id == message_id),
        execution_options={"synchronize_session": False},  # the commit expires it anyway
    )
    db.session.commit()


def _compose(email: EmailMessage) -> tuple[mail.Composed, str]:
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
