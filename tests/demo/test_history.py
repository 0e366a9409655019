"""The demo history generator: N requests, audit chains that verify, same seed same story."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from portal import audit, clock
from portal.demo import history
from portal.extensions import db
from portal.models import (
    ApprovalStep,
    AuditChain,
    AuditEvent,
    Submission,
    SubmissionStatus,
    Task,
    User,
)
from portal.services import insight
from tests.conftest import _empty_tables

MOMENT = dt.datetime(2026, 6, 15, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def demo_users(runner):
    result = runner.invoke(args=["baton", "seed-demo"])
    assert result.exit_code == 0, result.output


def story() -> list[tuple]:
    """What happened to every request, in order, without ids: who, what, when, and who decided."""
    found = []
    for submission in db.session.scalars(select(Submission).order_by(Submission.id)):
        actions = db.session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.submission_id == submission.id)
            .order_by(AuditEvent.seq)
        ).all()
        deciders = db.session.scalars(
            select(User.email)
            .join(Task, Task.assignee_id == User.id)
            .where(Task.submission_id == submission.id)
            .order_by(Task.id)
        ).all()
        found.append(
            (
                submission.form_version.form.slug,
                submission.submitter.email,
                submission.status,
                submission.submitted_at,
                submission.finished_at,
                submission.amount,
                submission.data,
                tuple(actions),
                tuple(deciders),
            )
        )
    return found


def generated_afresh(runner, seed: int) -> list[tuple]:
    """The story of 50 requests generated with `seed` on an empty database (only the demo
    users): the engine's own state (round-robin cursors, open tasks) starts the same."""
    db.session.remove()
    _empty_tables()
    result = runner.invoke(args=["baton", "seed-demo"])
    assert result.exit_code == 0, result.output
    with clock.frozen_at(MOMENT):
        history.generate(50, password="baton-demo", days=30, seed=seed)
    return story()


def test_the_command_generates_requests_whose_audit_chains_verify(runner, demo_users):
    result = runner.invoke(args=["baton", "seed-demo", "--submissions", "80", "--days", "30"])
    assert result.exit_code == 0, result.output
    assert "Done in" in result.output and "80 requests" in result.output
    assert db.session.scalar(select(func.count()).select_from(Submission)) == 80
    chains = db.session.scalars(select(AuditChain.chain).where(AuditChain.chain != "admin")).all()
    submission_chains = [chain for chain in chains if chain.startswith("submission:")]
    assert len(submission_chains) == 80
    for chain in submission_chains:
        verified = audit.verify(chain)
        assert verified.ok, (chain, verified.reason)
    # The command the operators run agrees.
    assert runner.invoke(args=["baton", "audit", "verify"]).exit_code == 0


def test_the_history_is_realistic_enough_for_insight(runner, demo_users):
    with clock.frozen_at(MOMENT):
        summary = history.generate(300, password="baton-demo", days=90, seed=11)
    assert summary.requests == 300 and summary.tasks > 300 and summary.timers > 0
    statuses = dict(
        db.session.execute(
            select(Submission.status, func.count()).group_by(Submission.status)
        ).all()
    )
    for status in (
        SubmissionStatus.APPROVED,
        SubmissionStatus.REJECTED,
        SubmissionStatus.WITHDRAWN,
        SubmissionStatus.IN_REVIEW,
    ):
        assert statuses.get(status, 0) > 0, statuses
    assert statuses[SubmissionStatus.APPROVED] > 300 // 2
    # finished_at is set exactly for the requests with an outcome.
    final = [s.value for s in SubmissionStatus if s.is_final]
    assert (
        db.session.scalar(
            select(func.count()).where(
                Submission.status.in_(final) == Submission.finished_at.is_(None)
            )
        )
        == 0
    )
    # Amounts spread over orders of magnitude; several people decide.
    low, high = db.session.execute(
        select(func.min(Submission.amount), func.max(Submission.amount))
    ).one()
    assert high / low > 100
    assert db.session.scalar(select(func.count(func.distinct(Task.assignee_id)))) >= 6
    assert db.session.scalar(select(func.count()).select_from(ApprovalStep)) > 300
    # Everything happened in the 90 days before now.
    earliest = db.session.scalar(select(func.min(Submission.submitted_at)))
    assert MOMENT - dt.timedelta(days=90) <= earliest < MOMENT
    # And the dashboard has something to say about it.
    with clock.frozen_at(MOMENT):
        form = insight.find_form("vendor_invoice")
        period = insight.rules.parse_period({"period": "90d"}, insight.today())
        result = insight.compute(form, period, insight.Scope(None, approvers=True))
    assert result.bottleneck is not None and result.total("submitted") > 60
    assert result.cycle.current.median is not None and result.approvers


def test_the_same_seed_makes_the_same_history(runner):
    first = generated_afresh(runner, seed=4)
    again = generated_afresh(runner, seed=4)
    other = generated_afresh(runner, seed=5)
    assert len(first) == 50
    assert first == again
    assert first != other
