"""Deadlines chasing approvers, with real Redis and a moved clock: reminders, escalations,
timeouts, business days, delegation, digests, and nothing lost or doubled along the way."""

import contextvars
import datetime as dt
import re

import pytest
from rq.registry import ScheduledJobRegistry
from sqlalchemy import func, select

from portal import clock, jobs, outbox, queue
from portal.domain.chain import StepState, TaskState
from portal.domain.sla import TimerKind
from portal.extensions import db
from portal.models import ApprovalStep, AuditEvent, EmailMessage, SubmissionStatus, Task, Timer
from portal.services import users
from tests.fixtures.forms import invoice_with_steps

BERLIN = dt.timezone(dt.timedelta(hours=1))  # November: CET, no DST
MONDAY_9 = dt.datetime(2026, 11, 23, 9, 0, tzinfo=BERLIN)


@pytest.fixture
def moment(app):
    """Freeze the clock on Monday 23 Nov 2026, 09:00 Berlin; `moment.to(when)` moves it."""
    with clock.frozen_at(MONDAY_9) as advance:

        class Moment:
            def to(self, when: dt.datetime) -> None:
                advance(when - clock.now())

        yield Moment()


def sweep(app) -> str:
    jobs.use_app(app)
    return contextvars.Context().run(jobs.sweep)


def events(action: str) -> int:
    db.session.expire_all()
    return db.session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    )


def emails(kind: str, to: str | None = None) -> int:
    db.session.expire_all()
    query = select(func.count()).select_from(EmailMessage).where(EmailMessage.kind == kind)
    if to:
        query = query.where(EmailMessage.to_address == to)
    return db.session.scalar(query)


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=BERLIN)


def test_task_gets_a_due_time_and_its_timers_are_scheduled_in_rq(
    approvals, org, vendor_invoice, moment, app
):
    submission = approvals.submit_invoice()
    (task,) = approvals.open_tasks(submission)
    assert task.due_at == at(25, 9)  # 2 business days: Wednesday 09:00
    timers = db.session.scalars(
        select(Timer).where(Timer.task_id == task.id).order_by(Timer.fire_at, Timer.kind)
    ).all()
    assert [(t.kind, t.fire_at, t.sequence) for t in timers] == [
        (TimerKind.REMINDER, at(24, 9), 1),  # every 24 hours: only the first is written ...
        (TimerKind.ESCALATION, at(25, 9), 1),  # ... escalate when due
    ]
    registry = ScheduledJobRegistry(app.config["RQ_QUEUE"], connection=queue.connection(app))
    scheduled = set(registry.get_job_ids())
    assert {outbox.timer_job_id(t.id) for t in timers} <= scheduled
    escalation = next(t for t in timers if t.kind == TimerKind.ESCALATION)
    when = registry.get_scheduled_time(outbox.timer_job_id(escalation.id))
    assert when.replace(tzinfo=dt.UTC) == escalation.fire_at


def test_reminder_is_sent_on_schedule_and_only_once(
    approvals, org, vendor_invoice, moment, app, mailbox
):
    submission = approvals.submit_invoice()
    moment.to(at(23, 20))
    sweep(app)
    approvals.run_jobs()
    assert emails("reminder") == 0
    moment.to(at(24, 9, 1))
    sweep(app)
    approvals.run_jobs()
    (reminder,) = [m for m in mailbox.to("bob@example.com") if m["Subject"].startswith("Reminder")]
    assert "still waiting for your decision" in reminder.get_body(("html",)).get_content()
    assert "/act/" in mailbox.text(reminder)  # a fresh working link
    for _ in range(2):
        sweep(app)
        approvals.run_jobs()
    assert emails("reminder") == 1 and events("reminder_sent") == 1
    assert approvals.submission(submission.id).status == SubmissionStatus.IN_REVIEW


def reminders_of(task_id: int) -> list[tuple]:
    db.session.expire_all()
    return [
        (t.sequence, t.fire_at, t.fired_at is not None, t.cancelled_at is not None)
        for t in db.session.scalars(
            select(Timer)
            .where(Timer.task_id == task_id, Timer.kind == TimerKind.REMINDER)
            .order_by(Timer.sequence)
        )
    ]


def test_each_reminder_that_fires_writes_and_schedules_the_next(
    approvals, org, vendor_invoice, moment, app, mailbox
):
    submission = approvals.submit_invoice()
    (task,) = approvals.open_tasks(submission)
    moment.to(at(24, 9, 1))
    sweep(app)
    approvals.run_jobs()
    assert reminders_of(task.id) == [(1, at(24, 9), True, False), (2, at(25, 9), False, False)]
    (second,) = db.session.scalars(
        select(Timer).where(Timer.task_id == task.id, Timer.sequence == 2)
    ).all()
    registry = ScheduledJobRegistry(app.config["RQ_QUEUE"], connection=queue.connection(app))
    when = registry.get_scheduled_time(outbox.timer_job_id(second.id))
    assert when.replace(tzinfo=dt.UTC) == at(25, 9)
    approvals.decide_in_inbox("bob@example.com", task, "approve")
    assert reminders_of(task.id) == [(1, at(24, 9), True, False), (2, at(25, 9), False, True)]


def test_reminders_missed_while_nothing_ran_are_not_sent_in_a_burst(
    approvals, org, vendor_invoice, moment, app, mailbox
):
    submission = approvals.submit_invoice()
    (task,) = approvals.open_tasks(submission)
    moment.to(at(26, 9, 30))  # the workers were down: reminders 1 to 3 were all due
    for _ in range(3):
        sweep(app)
        approvals.run_jobs()
    assert emails("reminder", to="bob@example.com") == 1
    fired = [r for r in reminders_of(task.id) if r[2]]
    assert [r[0] for r in fired] == [1]  # the first fired late ...
    assert reminders_of(task.id)[-1][:2] == (4, at(27, 9))  # ... and the next is ahead


def test_overdue_task_is_escalated_to_the_assignees_manager(
    approvals, org, vendor_invoice, moment, app, mailbox
):
    submission = approvals.submit_invoice()
    moment.to(at(25, 9, 1))
    sweep(app)
    approvals.run_jobs()
    tasks = {t.assignee.email: t for t in approvals.open_tasks(submission)}
    assert set(tasks) == {"bob@example.com", "carol@example.com"}  # mode add: Bob keeps his
    carol = tasks["carol@example.com"]
    assert carol.on_behalf_of.email == "bob@example.com" and carol.origin == "escalated"
    assert carol.slot == tasks["bob@example.com"].key
    (escalated,) = [
        m for m in mailbox.to("carol@example.com") if m["Subject"].startswith("Escalated to you")
    ]
    assert "overdue and was escalated to you" in escalated.get_body(("html",)).get_content()
    (notice,) = [m for m in mailbox.to("bob@example.com") if m["Subject"].startswith("Escalated:")]
    assert "Carol Chen" in mailbox.text(notice)
    assert events("escalated") == 1

    approvals.decide_by_link("carol@example.com", "approve")  # either may decide for the slot
    db.session.expire_all()
    bob_task = db.session.get(Task, tasks["bob@example.com"].id)
    assert bob_task.state == TaskState.CANCELLED
    assert bob_task.closed_reason == "decided by the other person asked for it"
    assert approvals.open_tasks(submission, "finance")


def test_a_decision_just_before_the_due_time_cancels_the_escalation(
    approvals, org, vendor_invoice, moment, app, mailbox
):
    submission = approvals.submit_invoice()
    moment.to(at(25, 8, 59))
    approvals.decide_by_link("bob@example.com", "approve")
    moment.to(at(25, 9, 1))
    sweep(app)
    approvals.run_jobs()
    assert events("escalated") == 0 and emails("escalation_notice") == 0
    db.session.expire_all()
    bob_timers = db.session.scalars(
        select(Timer).join(Task).where(Task.step == "cost_centre_owner")
    ).all()
    assert all(
        t.fired_at is None and t.cancelled_at is not None
        for t in bob_timers
        if t.kind == TimerKind.ESCALATION
    )
    assert "carol@example.com" not in {
        t.assignee.email for t in approvals.open_tasks(submission, "cost_centre_owner")
    }


def test_scheduled_rq_job_and_the_sweep_fire_the_escalation_once(
    approvals, org, vendor_invoice, moment, app
):
    approvals.submit_invoice()
    escalation = db.session.scalars(select(Timer).where(Timer.kind == TimerKind.ESCALATION)).one()
    moment.to(at(25, 9, 1))
    fire = jobs.fire_timer
    jobs.use_app(app)
    outcomes = [
        contextvars.Context().run(fire, escalation.id) for _ in range(3)
    ]  # RQ's copy, the sweep's, a retry
    sweep(app)
    approvals.run_jobs()
    assert (
        outcomes[0].startswith("also asked") and outcomes[1:] == ["already fired or cancelled"] * 2
    )
    assert events("escalated") == 1 and emails("escalation_notice") == 1


@pytest.mark.slow
def test_after_flushall_the_sweep_still_fires_every_due_escalation_exactly_once(
    approvals, org, vendor_invoice, moment, app, mailbox
):
    first = approvals.submit_invoice()
    second = approvals.submit_invoice()
    queue.connection(app).flushall()  # scheduled timers and queued jobs: all gone
    moment.to(at(25, 9, 1))
    for _ in range(3):
        sweep(app)
        approvals.run_jobs()
    assert events("escalated") == 2
    for submission in (first, second):
        assert {t.assignee.email for t in approvals.open_tasks(submission)} == {
            "bob@example.com",
            "carol@example.com",
        }
    assert (
        len([m for m in mailbox.to("carol@example.com") if "Escalated to you" in m["Subject"]]) == 2
    )


def timed_schema(**timing) -> dict:
    return invoice_with_steps(
        {"name": "owner", "title": "Owner", "assignees": [{"user": "bob@example.com"}], **timing},
        {"name": "finance", "title": "Finance", "assignees": [{"group": "finance"}]},
    )


@pytest.mark.parametrize(
    ("action", "status", "owner_state"),
    [
        ("approve", SubmissionStatus.IN_REVIEW, StepState.APPROVED),
        ("skip", SubmissionStatus.IN_REVIEW, StepState.SKIPPED),
        ("reject", SubmissionStatus.REJECTED, StepState.REJECTED),
    ],
)
def test_on_timeout_decides_as_the_system_naming_the_rule(
    approvals, org, publish, moment, app, action, status, owner_state
):
    publish("vendor_invoice", timed_schema(due="1h", on_timeout={"action": action, "after": "30m"}))
    submission = approvals.submit_invoice()
    moment.to(MONDAY_9 + dt.timedelta(minutes=89))
    sweep(app)
    approvals.run_jobs()
    assert approvals.submission(submission.id).status == SubmissionStatus.IN_REVIEW
    assert approvals.open_tasks(submission, "owner")
    moment.to(MONDAY_9 + dt.timedelta(minutes=91))
    sweep(app)
    approvals.run_jobs()
    assert approvals.submission(submission.id).status == status
    db.session.expire_all()
    step = db.session.scalars(select(ApprovalStep).where(ApprovalStep.name == "owner")).one()
    assert step.state == owner_state
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "step_timed_out")
    ).one()
    assert event.actor == f"system (on_timeout: {action} after 1h + 30m)"
    assert event.details == {
        "step": "owner",
        "action": action,
        "rule": f"on_timeout: {action} after 1h + 30m",
    }
    if action != "reject":
        assert len(approvals.open_tasks(submission, "finance")) == 3


def test_business_days_skip_weekends_and_holidays(approvals, org, publish, app):
    app.config["BATON_HOLIDAYS"] = (dt.date(2026, 11, 30),)  # the Monday after
    publish("vendor_invoice", timed_schema(due="1bd"))
    with clock.frozen_at(at(27, 15)):  # Friday 15:00
        submission = approvals.submit_invoice()
    (task,) = approvals.open_tasks(submission)
    assert task.due_at == dt.datetime(2026, 12, 1, 15, 0, tzinfo=BERLIN)  # Tuesday 15:00


def test_timeline_page_shows_the_same_moments_the_jobs_use(browser, org, vendor_invoice, moment):
    browser.login("alice@example.com")
    page = browser.get("/forms/vendor_invoice/timeline")
    assert page.status_code == 200
    text = page.text
    assert "What happens after you submit" in text
    assert "25 Nov 2026, 09:00" in text  # cost-centre owner due: 2 business days
    assert (
        "also ask the assignee&#39;s manager" in text or "also ask the assignee's manager" in text
    )
    assert "every 24 hours" in text
    assert "30 Nov 2026, 09:00" in text  # finance due 3bd after Wednesday 09:00 = Monday 09:00
    form_page = browser.get("/forms/vendor_invoice/new").text
    assert 'href="/forms/vendor_invoice/timeline"' in form_page


def test_delegation_applies_inside_the_out_of_office_range_only(
    approvals, org, vendor_invoice, moment
):
    approvals.browser.login("bob@example.com")
    settings = approvals.browser.get("/settings").text
    assert "Out of office" in settings
    response = approvals.browser.post(
        "/settings",
        {"away_from": "2026-11-23", "away_until": "2026-11-25", "delegate": str(org.fiona.id)},
    )
    assert response.status_code == 302
    approvals.browser.post("/logout")

    during = approvals.submit_invoice()
    (task,) = approvals.open_tasks(during)
    assert (
        task.assignee.email == "fiona@example.com" and task.on_behalf_of.email == "bob@example.com"
    )
    approvals.decide_by_link("fiona@example.com", "approve")
    decided = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "task_decided")
    ).one()
    assert (
        decided.details["on_behalf_of"] == "bob@example.com"
        and decided.actor == "fiona@example.com"
    )

    moment.to(at(26, 9))
    after = approvals.submit_invoice()
    (task,) = approvals.open_tasks(after)
    assert task.assignee.email == "bob@example.com" and task.on_behalf_of is None
    assert events("settings_changed") == 1


def test_the_delegate_never_decides_their_own_request(approvals, org, vendor_invoice, moment):
    users.save_user("bob@example.com", "Bob Okafor", None)
    bob = users.find_user("bob@example.com")
    bob.away_from, bob.away_until = dt.date(2026, 11, 23), dt.date(2026, 11, 27)
    bob.delegate = users.find_user("alice@example.com")
    db.session.commit()
    submission = approvals.submit_invoice()  # Alice submits; Bob is away and names Alice
    (task,) = approvals.open_tasks(submission)
    assert task.assignee.email == "bob@example.com"  # stays with Bob


def test_handing_over_open_tasks_moves_them_to_the_delegate(
    approvals, org, vendor_invoice, moment, mailbox
):
    first, second = approvals.submit_invoice(), approvals.submit_invoice()
    approvals.browser.login("bob@example.com")
    approvals.browser.post(
        "/settings",
        {"away_from": "2026-11-23", "away_until": "2026-11-27", "delegate": str(org.frank.id)},
    )
    assert "Hand over my open tasks" in approvals.browser.get("/settings").text
    response = approvals.browser.post("/settings/hand-over")
    assert response.status_code == 302
    assert "2 open tasks handed over to Frank Meyer." in approvals.browser.get("/settings").text
    approvals.run_jobs()
    for submission in (first, second):
        (task,) = approvals.open_tasks(submission)
        assert (
            task.assignee.email == "frank@example.com"
            and task.on_behalf_of.email == "bob@example.com"
        )
    assert len(mailbox.to("frank@example.com")) == 2


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"away_from": "2026-11-23"}, "give the first day, the last day and a delegate"),
        (
            {"away_from": "2026-11-25", "away_until": "2026-11-23", "delegate": "OWN"},
            "You cannot be your own delegate.",
        ),
        (
            {"away_from": "2026-11-25", "away_until": "2026-11-23", "delegate": "FIONA"},
            "The last day cannot be before the first day.",
        ),
        (
            {"away_from": "not a date", "away_until": "2026-11-23", "delegate": "FIONA"},
            "Not a valid date value.",
        ),
    ],
)
def test_settings_refuse_what_cannot_work_and_change_nothing(browser, org, form, message):
    browser.login("bob@example.com")
    ids = {"OWN": str(org.bob.id), "FIONA": str(org.fiona.id)}
    data = {key: ids.get(value, value) for key, value in form.items()}
    response = browser.post("/settings", data)
    if response.status_code == 422:
        assert message in response.text
    else:  # WTForms refuses the choice itself (Bob is not offered as his own delegate)
        assert response.status_code == 422, response.status_code
    db.session.expire_all()
    assert users.find_user("bob@example.com").delegate_id is None


def test_digest_replaces_task_and_reminder_emails_but_not_escalations(
    approvals, org, vendor_invoice, moment, app, mailbox
):
    bob = users.find_user("bob@example.com")
    bob.daily_digest = True
    db.session.commit()
    submission = approvals.submit_invoice()
    assert mailbox.to("bob@example.com") == []  # no per-task email
    moment.to(at(24, 7, 59))
    sweep(app)
    approvals.run_jobs()
    assert mailbox.to("bob@example.com") == []  # before the digest hour
    moment.to(at(24, 8, 0))
    sweep(app)
    approvals.run_jobs()
    (digest,) = mailbox.to("bob@example.com")
    assert digest["Subject"] == "1 request waiting for your decision"
    assert "Vendor invoice #1" in mailbox.text(digest)
    moment.to(at(24, 9, 30))  # the reminder time passes: folded into the digest
    sweep(app)
    approvals.run_jobs()
    assert len(mailbox.to("bob@example.com")) == 1
    assert events("reminder_sent") == 1
    moment.to(at(25, 9, 1))  # escalation: Carol (no digest) is told at once
    sweep(app)
    approvals.run_jobs()
    assert any("Escalated to you" in m["Subject"] for m in mailbox.to("carol@example.com"))
    assert approvals.submission(submission.id).status == SubmissionStatus.IN_REVIEW


def test_admin_reassigns_an_open_task_with_a_reason(
    approvals, org, vendor_invoice, make_user, mailbox
):
    make_user("ada@example.com", "Ada Byrne", groups=["admin"])
    submission = approvals.submit_invoice()
    (task,) = approvals.open_tasks(submission)
    approvals.browser.login("ada@example.com")
    page = approvals.browser.get(f"/submissions/{submission.id}").text
    assert f'action="/tasks/{task.id}/reassign"' in page
    refused = approvals.browser.post(
        f"/tasks/{task.id}/reassign", {"user_id": str(org.frank.id), "reason": ""}
    )
    assert (
        refused.status_code == 302
        and approvals.open_tasks(submission)[0].assignee.email == "bob@example.com"
    )
    approvals.browser.post(
        f"/tasks/{task.id}/reassign",
        {"user_id": str(org.frank.id), "reason": "Bob left the company"},
    )
    approvals.run_jobs()
    (moved,) = approvals.open_tasks(submission)
    assert moved.assignee.email == "frank@example.com" and moved.origin == "reassigned"
    admin_event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "task_reassigned")
    ).one()
    assert admin_event.chain == "admin" and admin_event.details["reason"] == "Bob left the company"
    assert (
        admin_event.details["from"] == "bob@example.com"
        and admin_event.details["to"] == "frank@example.com"
    )
    assert mailbox.to("frank@example.com")


def test_only_admins_may_reassign(approvals, org, vendor_invoice):
    submission = approvals.submit_invoice()
    (task,) = approvals.open_tasks(submission)
    approvals.browser.login("fiona@example.com")
    response = approvals.browser.post(
        f"/tasks/{task.id}/reassign", {"user_id": str(org.frank.id), "reason": "x"}
    )
    assert response.status_code == 403
    assert approvals.open_tasks(submission)[0].assignee.email == "bob@example.com"


def test_inbox_shows_due_and_overdue(approvals, org, vendor_invoice, moment):
    approvals.submit_invoice()
    approvals.browser.login("bob@example.com")
    assert "25 Nov 2026, 09:00" in approvals.browser.get("/inbox").text
    moment.to(at(25, 15))
    approvals.browser.login("bob@example.com")  # two days on, Monday's session has ended
    page = approvals.browser.get("/inbox").text
    assert re.search(r'badge--overdue">Overdue 6 hours', page)


def test_moving_an_overdue_task_to_a_group_asks_every_member_in_its_place(
    approvals, org, publish, moment, app
):
    publish(
        "vendor_invoice",
        timed_schema(due="1h", escalate={"to": {"group": "finance"}, "mode": "move"}),
    )
    submission = approvals.submit_invoice()
    moment.to(MONDAY_9 + dt.timedelta(hours=1, minutes=1))
    sweep(app)
    approvals.run_jobs()
    owner = approvals.open_tasks(submission, "owner")
    assert {t.assignee.email for t in owner} == {
        "carol@example.com",
        "fiona@example.com",
        "frank@example.com",
    }
    assert len({t.slot for t in owner}) == 1  # one decision still stands for Bob's place
    db.session.expire_all()
    bob = db.session.scalars(
        select(Task).where(Task.step == "owner", Task.assignee_id == org.bob.id)
    ).one()
    assert bob.state == TaskState.CANCELLED and "escalated" in bob.closed_reason
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "escalated")).one()
    assert sorted(event.details["to"]) == [
        "carol@example.com",
        "fiona@example.com",
        "frank@example.com",
    ]
    approvals.decide_in_inbox(
        "fiona@example.com",
        next(t for t in owner if t.assignee.email == "fiona@example.com"),
        "approve",
    )
    assert approvals.open_tasks(submission, "owner") == []
    assert approvals.open_tasks(submission, "finance")
