"""Two approvers pressing a button at the same moment, on PostgreSQL (the production database)."""

import os
import threading

import pytest
from sqlalchemy import func, select

from portal.domain.chain import TaskState
from portal.extensions import db
from portal.models import AuditEvent, EmailMessage, SubmissionStatus, Task
from tests.fixtures.forms import finance_panel
from tests.fixtures.web import Browser, seen_in

pytestmark = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="row locks are proven on PostgreSQL; SQLite lets one writer in at a time anyway",
)


def at_once(app, deciders: list[tuple[str, Task, str]]) -> list[int]:
    """Open each task page, then press every button at the same instant; the status codes."""
    ready = []
    for email, task, decision in deciders:
        person = Browser(app.test_client())
        person.login(email)
        page = person.get(f"/tasks/{task.id}").text
        seen = seen_in(page)
        comment = "" if decision == "approve" else "Not like this."
        ready.append((person, task.id, {"decision": decision, "comment": comment, "seen": seen}))
    barrier = threading.Barrier(len(ready))
    results: list[int] = [0] * len(ready)

    def press(index: int) -> None:
        person, task_id, data = ready[index]
        barrier.wait()
        results[index] = person.post(f"/tasks/{task_id}", data).status_code

    threads = [threading.Thread(target=press, args=(i,)) for i in range(len(ready))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def finance_tasks(approvals, publish, policy) -> tuple:
    publish("vendor_invoice", finance_panel(policy))
    submission = approvals.submit_invoice()
    return submission, approvals.open_tasks(submission)


def decisions_recorded(submission) -> int:
    db.session.expire_all()
    return db.session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.submission_id == submission.id, AuditEvent.action == "task_decided")
    )


@pytest.mark.parametrize("rounds", range(3))
def test_two_approvers_of_an_any_step_at_once_record_one_decision(
    approvals, org, publish, app, rounds
):
    submission, (first, second, _) = finance_tasks(approvals, publish, "any")
    codes = at_once(
        app, [(first.assignee.email, first, "approve"), (second.assignee.email, second, "approve")]
    )
    assert sorted(codes) == [302, 422]  # one recorded; the other told the step was decided
    approvals.run_jobs()
    db.session.expire_all()
    states = sorted(t.state for t in db.session.scalars(select(Task)))
    assert states == sorted([TaskState.APPROVED, TaskState.CANCELLED, TaskState.CANCELLED])
    assert decisions_recorded(submission) == 1
    assert approvals.submission(submission.id).status == SubmissionStatus.APPROVED
    outcome_emails = db.session.scalar(
        select(func.count()).select_from(EmailMessage).where(EmailMessage.kind == "outcome")
    )
    assert outcome_emails == 1


def test_approve_and_reject_at_once_end_in_one_outcome(approvals, org, publish, app):
    submission, (first, second, _) = finance_tasks(approvals, publish, "any")
    codes = at_once(
        app, [(first.assignee.email, first, "approve"), (second.assignee.email, second, "reject")]
    )
    assert sorted(codes) == [302, 422]
    status = approvals.submission(submission.id).status
    assert status in (SubmissionStatus.APPROVED, SubmissionStatus.REJECTED)
    assert decisions_recorded(submission) == 1


def test_all_approvers_at_once_each_record_exactly_one_decision(approvals, org, publish, app):
    submission, tasks = finance_tasks(approvals, publish, "all")
    codes = at_once(app, [(t.assignee.email, t, "approve") for t in tasks])
    assert codes == [302, 302, 302]
    assert decisions_recorded(submission) == 3
    assert approvals.submission(submission.id).status == SubmissionStatus.APPROVED
    db.session.expire_all()
    finished = db.session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "step_finished")
    )
    assert finished == 1


def test_an_export_claim_held_by_another_worker_is_not_taken(app, org):
    """While one worker holds a long export's outbox row, a second attempt cannot claim it."""
    from sqlalchemy import text

    from portal import outbox
    from portal.jobs import Claim
    from portal.jobs.registry import JobKind

    message = outbox.add(JobKind.BUILD_EXPORT, export_id=999)
    db.session.commit()
    with db.engine.connect() as other:
        other.execute(
            text("SELECT id FROM outbox_message WHERE id = :id FOR UPDATE"), {"id": message.id}
        )
        assert Claim(message.id).keep() is False
        db.session.rollback()
        other.rollback()
    assert Claim(message.id).keep() is True
    db.session.rollback()


def test_two_first_picks_from_a_round_robin_group_at_once_both_go_on(app, org):
    """Another transaction makes the group's cursor row and has not committed: this one waits
    for it and then goes on with that row, instead of failing on the unique key."""
    from sqlalchemy import insert, text

    from portal.models import GroupCursor
    from portal.services import approvals

    picked, failed = [], []

    def first_pick() -> None:
        with app.app_context():
            try:
                picked.append(approvals._locked_cursor("finance").last_user_id)
                db.session.commit()
            except Exception as exc:  # noqa: BLE001 - the failure is what the test reports
                failed.append(exc)
                db.session.rollback()

    with db.engine.connect() as other:
        other.execute(insert(GroupCursor).values(group_name="finance", last_user_id=org.bob.id))
        picking = threading.Thread(target=first_pick)
        picking.start()
        waiting = text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
        for _ in range(500):  # until the pick waits on the uncommitted row (at most 5 s)
            if picking.is_alive() and other.scalar(waiting):
                break
            threading.Event().wait(0.01)
        other.commit()
    picking.join(timeout=30)
    assert failed == [] and picked == [org.bob.id]  # the other transaction's row, locked
