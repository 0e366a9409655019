"""The demo history and the live portal write the same thing for the same decisions.

One scripted story (submit, request changes, resubmit, approve, a reminder, an escalation, a
timeout, a rejection) is told twice at the same moments, on two submissions of the same form:
once through the demo generator's engine (portal.demo.history.Engine, one transaction, emails
and jobs dropped as a replayed past needs), once as the portal does it live (the service
called as the web calls it and committed, the start_chain job and the fire_timer job run as a
worker runs them). Every audit event, step, task and timer must match field by field; only
ids differ.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import io

import pytest
from sqlalchemy import func, select

from portal import audit, clock, jobs, queue, uploads
from portal.demo import history
from portal.domain.chain import Decision, TaskState
from portal.domain.sla import TimerKind
from portal.extensions import db
from portal.models import (
    ApprovalStep,
    Attachment,
    AuditEvent,
    EmailMessage,
    OutboxMessage,
    Submission,
    Task,
    Timer,
    User,
)
from portal.services import approvals, submissions
from tests.fixtures.forms import shipped_schema

BERLIN = dt.timezone(dt.timedelta(hours=1))
MONDAY_9 = dt.datetime(2026, 11, 23, 9, 0, tzinfo=BERLIN)
SECOND = dt.timedelta(seconds=1)
MINUTE = dt.timedelta(minutes=1)


def parity_schema() -> dict:
    """The vendor invoice form with a chain where every kind of event happens."""
    schema = shipped_schema("vendor_invoice")
    schema["approval"] = {
        "fallback_group": "finance",
        "steps": [
            {"name": "owner", "title": "Owner", "assignees": [{"user": "bob@example.com"}]},
            {
                "name": "finance",
                "title": "Finance",
                "assignees": [{"user": "fiona@example.com"}],
                "due": "2h",
                "remind": {"every": "1h"},
                "escalate": {"to": {"user": "frank@example.com"}, "mode": "move"},
            },
            {
                "name": "cfo",
                "title": "CFO",
                "assignees": [{"user": "carol@example.com"}],
                "due": "1h",
                "on_timeout": {"action": "approve", "after": "30m"},
            },
            {"name": "it", "title": "IT", "assignees": [{"user": "ivan@example.com"}]},
        ],
    }
    return schema


def invoice(document) -> dict:
    """What Alice types, file field included (as a FileValue)."""
    return {
        "vendor_name": "Acme Office Supplies GmbH",
        "vendor_email": "billing@acme.example",
        "vendor_is_new": "",
        "vendor_tax_id": "",
        "invoice_number": "INV-2026-0042",
        "invoice_date": "2026-11-02",
        "due_date": "2026-12-02",
        "currency": "EUR",
        "cost_centre": "CC-100",
        "po_number": "",
        "lines": [{"description": "Chairs", "quantity": "2", "unit_price": "450.00"}],
        "notes": "",
        "invoice_file": document,
    }


#: The story: (what, details); times follow from the previous event or from a timer's time.
SCRIPT = [
    ("submit", {}),
    ("start", {"after": 3 * SECOND}),
    ("decide", {"after": 10 * MINUTE, "step": "owner", "decision": Decision.REQUEST_CHANGES,
                "comment": "Add the purchase order number."}),
    ("resubmit", {"after": 30 * MINUTE}),
    ("start", {"after": 2 * SECOND}),
    ("decide", {"after": 40 * MINUTE, "step": "owner", "decision": Decision.APPROVE}),
    ("fire", {"kind": TimerKind.REMINDER}),
    ("fire", {"kind": TimerKind.ESCALATION}),
    ("decide", {"after": 5 * MINUTE, "step": "finance", "decision": Decision.APPROVE,
                "channel": "email"}),
    ("fire", {"kind": TimerKind.TIMEOUT}),
    ("decide", {"after": 10 * MINUTE, "step": "it", "decision": Decision.REJECT,
                "comment": "Not in this year's budget."}),
]  # fmt: skip


def open_task(submission_id: int, step: str) -> Task:
    return db.session.scalars(
        select(Task).where(
            Task.submission_id == submission_id, Task.step == step, Task.state == TaskState.OPEN
        )
    ).one()


def next_timer(submission_id: int, kind: TimerKind) -> Timer:
    return db.session.scalars(
        select(Timer)
        .join(Task)
        .where(
            Task.submission_id == submission_id,
            Timer.kind == kind,
            Timer.fired_at.is_(None),
            Timer.cancelled_at.is_(None),
        )
        .order_by(Timer.fire_at, Timer.id)
    ).first()


class DemoPath:
    """The story through the demo generator's engine: one transaction, committed at the end."""

    def __init__(self, engine: history.Engine):
        self.engine = engine

    def submit(self, moment, user, version, raw, submission=None) -> int:
        return self.engine.submit(moment, user, version, raw, submission).id

    def start(self, moment, submission_id):
        self.engine.start_chain(moment, submission_id)

    def decide(self, moment, task, decision, comment, channel):
        assert self.engine.decide(moment, task, decision, comment, channel=channel, password=None)

    def fire(self, moment, timer_id):
        self.engine.fire(moment, timer_id)


class LivePath:
    """The story as the portal lives it: each step committed, the jobs run as a worker runs
    them (in a context of their own, with their own session)."""

    def __init__(self, app, move):
        self.app = app
        self.move = move
        jobs.use_app(app)

    def submit(self, moment, user, version, raw, submission=None) -> int:
        self.move(moment)
        files = submissions.Files(raw={"invoice_file": [raw["invoice_file"]]})
        typed = {name: value for name, value in raw.items() if name != "invoice_file"}
        submitted, evaluation = submissions.submit(user, version, typed, files, submission)
        assert submitted is not None, evaluation.errors
        db.session.commit()
        return submitted.id

    def start(self, moment, submission_id):
        self.move(moment)
        (message,) = db.session.scalars(
            select(OutboxMessage.id).where(OutboxMessage.job == "start_chain")
        ).all()
        db.session.commit()
        assert contextvars.Context().run(jobs.run_outbox, message) == "start_chain done"
        db.session.expire_all()

    def decide(self, moment, task, decision, comment, channel):
        self.move(moment)
        approvals.decide(task.assignee, task.id, decision, comment, channel=channel)
        db.session.commit()

    def fire(self, moment, timer_id):
        self.move(moment)
        db.session.commit()
        contextvars.Context().run(jobs.fire_timer, timer_id)
        db.session.expire_all()


def tell(path, start: dt.datetime) -> int:
    """Run SCRIPT through `path` from `start`; the submission's id."""
    document = stored_document()
    alice = db.session.scalars(select(User).where(User.email == "alice@example.com")).one()
    version = approvals_version()
    raw = invoice(document)
    moment, submission_id = start, None
    for what, step in SCRIPT:
        if what == "fire":
            timer = next_timer(submission_id, step["kind"])
            assert timer is not None, step
            moment = timer.fire_at + 5 * SECOND
        else:
            moment = moment + step.get("after", dt.timedelta())
        if what == "submit":
            submission_id = path.submit(moment, alice, version, raw)
        elif what == "resubmit":
            submission = db.session.get(Submission, submission_id)
            path.submit(moment, alice, version, raw, submission)
        elif what == "start":
            path.start(moment, submission_id)
        elif what == "decide":
            task = open_task(submission_id, step["step"])
            decision, comment = step["decision"], step.get("comment", "")
            path.decide(moment, task, decision, comment, step.get("channel", "web"))
        else:
            path.fire(moment, timer.id)
    return submission_id


def stored_document():
    body = b"%PDF-1.4\n% parity\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    upload = uploads.read(io.BytesIO(body), "scan.pdf", len(body))
    upload.contents.close()
    return upload.value


def approvals_version():
    from portal.services import forms

    return forms.find_form("vendor_invoice").current_version


def written(submission_id: int) -> dict:
    """Everything the engine wrote for a submission, with ids replaced by what they stand for."""
    db.session.expire_all()
    tasks = db.session.scalars(
        select(Task).where(Task.submission_id == submission_id).order_by(Task.id)
    ).all()
    key_of = {task.id: task.key for task in tasks}

    def task_ref(value):
        return ("task", key_of[value]) if value in key_of else value

    submission = db.session.get(Submission, submission_id)
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.submission_id == submission_id).order_by(AuditEvent.seq)
    ).all()
    return {
        "submission": (
            submission.form_version_id,
            submission.submitter_id,
            submission.status,
            submission.data,
            submission.amount,
            submission.currency,
            submission.summary,
            submission.submit_count,
            submission.data_hash,
            submission.submitted_at,
            submission.updated_at,
            submission.finished_at,
        ),
        "events": [
            (
                event.seq,
                event.occurred_at,
                event.action,
                event.actor,
                event.actor_id,
                event.channel,
                {
                    key: task_ref(value) if key == "task" else value
                    for key, value in event.details.items()
                },
                event.ip,
                event.user_agent,
            )
            for event in events
        ],  # fmt: skip
        "steps": [
            (
                row.round,
                row.position,
                row.name,
                row.title,
                row.state,
                row.reason,
                row.started_at,
                row.finished_at,
            )
            for row in db.session.scalars(
                select(ApprovalStep)
                .where(ApprovalStep.submission_id == submission_id)
                .order_by(ApprovalStep.round, ApprovalStep.position)
            )
        ],  # fmt: skip
        "tasks": [
            (
                task.key,
                task.round,
                task.step,
                task.assignee_id,
                task.state,
                task.decision,
                task.comment,
                task.signature_meaning,
                task.channel,
                task.closed_reason,
                task.created_at,
                task.decided_at,
                task.due_at,
                task.on_behalf_of_id,
                task.slot,
                task.origin,
            )
            for task in tasks
        ],  # fmt: skip
        "timers": sorted(
            (
                key_of[timer.task_id],
                timer.kind,
                timer.sequence,
                timer.fire_at,
                timer.fired_at,
                timer.cancelled_at,
                timer.outcome,
            )
            for timer in db.session.scalars(
                select(Timer).join(Task).where(Task.submission_id == submission_id)
            )
        ),  # fmt: skip
        "attachments": [
            (row.field, row.name, row.content_type, row.size, row.sha256)
            for row in db.session.scalars(
                select(Attachment).where(Attachment.submission_id == submission_id)
            )
        ],
    }


@pytest.fixture
def parity_form(org, publish):
    return publish("vendor_invoice", parity_schema())


def test_the_demo_writes_what_the_live_portal_writes_for_the_same_decisions(
    app, parity_form, run_jobs
):
    start = MONDAY_9
    with clock.frozen_at(start) as advance:

        def move(moment):
            advance(moment - clock.now())

        with history.Engine.running() as engine:
            demo = tell(DemoPath(engine), start)
            engine.forget_messages([demo])
            db.session.commit()
        move(start)
        live = tell(LivePath(app, move), start)
    jobs.use_app(None)

    ours, theirs = written(demo), written(live)
    actions = [event[2] for event in theirs["events"]]
    # The story happened, live, as scripted.
    for action in (
        "submitted",
        "changes_requested",
        "resubmitted",
        "reminder_sent",
        "escalated",
        "step_timed_out",
        "rejected",
    ):
        assert action in actions, actions
    assert theirs["submission"][2].value == "rejected"
    # Field by field, the same.
    for part in ("submission", "events", "steps", "tasks", "timers", "attachments"):
        assert ours[part] == theirs[part], part
    for submission_id in (demo, live):
        verified = audit.verify(audit.submission_chain(submission_id))
        assert verified.ok, verified.reason


def test_a_generated_history_leaves_no_email_or_job_behind(app, runner, run_jobs):
    assert runner.invoke(args=["baton", "seed-demo"]).exit_code == 0
    moment = dt.datetime(2026, 6, 15, 10, 0, tzinfo=dt.UTC)
    with clock.frozen_at(moment):
        summary = history.generate(25, password="baton-demo", days=20, seed=2)
    assert summary.requests == 25 and summary.tasks > 25
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(EmailMessage)) == 0
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    q = queue.queue(app)
    assert q.count == 0 and q.scheduled_job_registry.count == 0
