"""The outbox jobs done in one transaction: the runner commits their work with the row's end."""

from __future__ import annotations

import logging

from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.jobs import Claim
from portal.models import Submission, User
from portal.services import approvals, records, webhooks

logger = logging.getLogger(__name__)


def start_chain(claim: Claim, submission_id: int) -> None:
    """The start_chain job: ask the first step of a submitted request's chain."""
    approvals.start_chain(submission_id)


def render_pdf(claim: Claim, submission_id: int, user_id: int | None = None) -> None:
    """The render_pdf job: a request's audit-trail PDF, for the person who asked for it."""
    submission = db.session.get(Submission, submission_id)
    user = db.session.get(User, user_id) if user_id else None
    if submission is None:
        return
    try:
        records.render(submission, user)
        db.session.flush()
    except IntegrityError:
        db.session.rollback()  # another job rendered this same state first: theirs stands


def deliver_webhook(claim: Claim, delivery_id: int) -> None:
    """The deliver_webhook job: one attempt, recorded (a failed one queues the next)."""
    outcome = webhooks.send(delivery_id)
    logger.info("webhook delivery %s: %s", delivery_id, outcome)
