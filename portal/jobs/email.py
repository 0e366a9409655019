"""The send_email job: claim an email, send it, record it, committing as it goes.

A message already sent is not sent again. A message another job is sending right now is left
to it. A message is marked sent in the same moment the server gets its final dot: the record
is prepared before the dot and its COMMIT goes out right after it (see mail.send), so a worker
that dies at any point either sent nothing (and a later job sends it once) or sent it with the
record committed. What follows the server's "250" (the audit event, committed with the outbox
row's end: Claim.finish) is repeated by the next job if this one dies before it.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import select, update

from portal import audit, clock, mail
from portal.extensions import db
from portal.jobs import Claim, Postponed
from portal.models import AuditEvent, EmailMessage, EmailState
from portal.services import notifications

logger = logging.getLogger(__name__)
#: A message claimed by a job longer ago than this, and still not sent, may be claimed again:
#: longer than RQ lets a job run (JOB_TIMEOUT, 5 minutes), so a slow job is dead before another
#: may take its message over.
SENDING_LEASE = dt.timedelta(minutes=6)


def send_email(claim: Claim, email_id: int) -> None:
    """Send one queued email once; Postponed if another job has it or the server failed."""
    email = notifications.lock_for_sending(email_id)
    if email is None:
        return
    if email.state == EmailState.SENT:
        # A job that died after the send: the runner finishes its work, unless that job got
        # as far as the audit event.
        if not _sent_event_recorded(email):
            _record_sent(_Sent.of(email))
        return
    now = clock.now()
    if (
        email.state == EmailState.SENDING
        and email.claimed_at
        and now - email.claimed_at < SENDING_LEASE
    ):
        # The outbox row waits for the sweep, in case that job dies.
        raise Postponed(f"email {email_id}: another job is sending it")
    # Composed before the claim is written: its reads would flush a half-written claim first,
    # and the claim would take two UPDATEs instead of one.
    composed, recipient_name = notifications.compose(email)
    email.state, email.claimed_at, email.attempts = EmailState.SENDING, now, email.attempts + 1
    email.message_id = (
        email.message_id or f"<baton-{email.id}-{email.key.replace(':', '-')}@baton.local>"
    )
    email.subject, email.body = composed.subject, composed.record
    to_address, message_id = email.to_address, email.message_id  # not read back after the commit
    sent = _Sent.of(email)
    db.session.commit()  # the claim is on record before anything leaves this process

    stage = "sending"

    def commit_at_the_dot() -> None:
        nonlocal stage
        db.session.commit()
        stage = "dot"

    def accepted() -> None:
        nonlocal stage
        stage = "accepted"
        # This job claimed the message and nobody sent it before (or the state would have
        # been "sent" when it began), so no event of its sending can exist yet.
        _record_sent(sent)
        # Now, not when this job returns: the connection is kept for the next message after
        # this, and a worker that dies doing so must leave nothing for a later job to do.
        claim.finish()

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
        raise Postponed(f"email {email_id} failed: {exc}") from None


def _mark_sent(email_id: int) -> None:
    """Everything but the COMMIT of "this message is sent": runs before the final dot, so that
    what is left for the moment after it is one short message to the database. (One UPDATE:
    it locks the row as it changes it.)"""
    db.session.execute(
        update(EmailMessage)
        .where(EmailMessage.id == email_id)
        .values(state=EmailState.SENT, sent_at=clock.now()),
        execution_options={"synchronize_session": False},  # the commit expires it anyway
    )


@dataclass(frozen=True)
class _Sent:
    """What the audit event of a sent email says, taken before the commits expire the row."""

    id: int
    submission_id: int | None
    kind: str
    to_address: str
    subject: str

    @classmethod
    def of(cls, email: EmailMessage) -> _Sent:
        return cls(email.id, email.submission_id, email.kind, email.to_address, email.subject)


def _record_sent(email: _Sent) -> None:
    """After the server's "250": the audit event (flushed: committed with the outbox row's
    end)."""
    if email.submission_id is not None:
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


def _sent_event_recorded(email: EmailMessage) -> bool:
    if email.submission_id is None:
        return True  # nothing to record
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
