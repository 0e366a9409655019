"""Approval chains end to end: real Redis, a burst worker, a real SMTP server, emailed links."""

import json

import pytest
from sqlalchemy import func, select

from portal.domain.chain import Decision, StepState, TaskState
from portal.extensions import db
from portal.models import ApprovalStep, AuditEvent, EmailMessage, SubmissionStatus, Task
from tests.fixtures.forms import finance_panel, shipped_schema
from tests.fixtures.web import invoice_post

BIG = {"lines-0-unit_price": "6000", "po_number": "PO-004512"}  # total EUR 12,475.00


def actions(submission) -> list[str]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.submission_id == submission.id)
            .order_by(AuditEvent.seq)
        )
    )


def step_states(submission) -> dict[str, StepState]:
    db.session.expire_all()
    rows = db.session.scalars(
        select(ApprovalStep)
        .where(ApprovalStep.submission_id == submission.id)
        .order_by(ApprovalStep.round, ApprovalStep.position)
    )
    return {row.name: row.state for row in rows}


def test_vendor_invoice_over_10000_goes_owner_finance_cfo_and_notifies(
    approvals, org, vendor_invoice, mailbox
):
    submission = approvals.submit_invoice(**BIG)
    assert submission.status == SubmissionStatus.IN_REVIEW
    assert [t.assignee.email for t in approvals.open_tasks(submission)] == ["bob@example.com"]
    (email,) = mailbox.to("bob@example.com")
    assert email["Subject"] == (
        "Approval needed: Vendor invoice #1 · Acme Office Supplies GmbH · INV-2026-0042 "
        "· EUR 12,475.00"
    )
    assert "Alice Martin submitted a request that needs your decision" in mailbox.text(email)

    response = approvals.decide_by_link("bob@example.com", "approve")
    assert response.status_code == 200 and "Approved: Vendor invoice #1" in response.text
    finance = approvals.open_tasks(submission, "finance")
    assert sorted(t.assignee.email for t in finance) == [
        "carol@example.com",
        "fiona@example.com",
        "frank@example.com",
    ]
    assert {m["To"].split("<")[1].rstrip(">") for m in mailbox.messages[1:]} == {
        "carol@example.com",
        "fiona@example.com",
        "frank@example.com",
    }
    assert step_states(submission)["new_vendor_check"] == StepState.SKIPPED

    fiona = next(t for t in finance if t.assignee.email == "fiona@example.com")
    response = approvals.decide_in_inbox("fiona@example.com", fiona, "approve")
    assert response.status_code == 302
    assert {t.state for t in approvals.open_tasks(submission, "finance")} == set()  # others closed
    (cfo,) = approvals.open_tasks(submission, "cfo")
    assert cfo.assignee.email == "carol@example.com"

    approvals.decide_by_link("carol@example.com", "approve", "Within budget.")
    submission = approvals.submission(submission.id)
    assert submission.status == SubmissionStatus.APPROVED
    (outcome,) = mailbox.to("alice@example.com")
    assert outcome["Subject"].startswith("Your request was approved: Vendor invoice #1")
    events = actions(submission)
    assert events[0] == "submitted" and events[-2:] in (["approved", "email_sent"],)
    assert events.count("task_decided") == 3
    assert events.count("task_cancelled") == 2  # frank's and carol's finance tasks


def test_cfo_step_is_skipped_at_or_below_10000(approvals, org, vendor_invoice):
    submission = approvals.submit_invoice()  # EUR 1,375.00
    approvals.decide_by_link("bob@example.com", "approve")
    (task, *_) = approvals.open_tasks(submission, "finance")
    approvals.decide_in_inbox(task.assignee.email, task, "approve")
    submission = approvals.submission(submission.id)
    assert submission.status == SubmissionStatus.APPROVED
    states = step_states(submission)
    assert states["cfo"] == StepState.SKIPPED and states["finance"] == StepState.APPROVED
    db.session.expire_all()
    reason = db.session.scalars(select(ApprovalStep.reason).where(ApprovalStep.name == "cfo")).one()
    assert reason == "not needed: “total > 10000” is not true"


def test_new_vendor_goes_through_procurement(approvals, org, vendor_invoice):
    submission = approvals.submit_invoice(vendor_is_new="y", vendor_tax_id="DE 123456789")
    approvals.decide_by_link("bob@example.com", "approve")
    (check,) = approvals.open_tasks(submission)
    assert (check.step, check.assignee.email) == ("new_vendor_check", "pat@example.com")


def test_reject_needs_a_comment_and_then_ends_the_chain(approvals, org, vendor_invoice, mailbox):
    submission = approvals.submit_invoice()
    refused = approvals.decide_by_link("bob@example.com", "reject", "")
    assert refused.status_code == 422
    assert "Add a comment that says why you reject it." in refused.text
    assert approvals.submission(submission.id).status == SubmissionStatus.IN_REVIEW

    approvals.decide_by_link("bob@example.com", "reject", "Duplicate of INV-2026-0041.")
    submission = approvals.submission(submission.id)
    assert submission.status == SubmissionStatus.REJECTED
    assert approvals.open_tasks(submission) == []
    (outcome,) = mailbox.to("alice@example.com")
    assert outcome["Subject"].startswith("Your request was rejected")
    assert "Duplicate of INV-2026-0041." in mailbox.text(outcome)
    assert step_states(submission)["finance"] == StepState.WAITING


def test_request_changes_then_resubmit_restarts_from_the_first_step(
    approvals, org, vendor_invoice, mailbox
):
    submission = approvals.submit_invoice()
    approvals.decide_by_link("bob@example.com", "approve")
    (task, *_) = approvals.open_tasks(submission, "finance")
    approvals.decide_in_inbox(task.assignee.email, task, "request_changes", "Attach the signed PO.")
    submission = approvals.submission(submission.id)
    assert submission.status == SubmissionStatus.CHANGES_REQUESTED
    (sent_back,) = mailbox.to("alice@example.com")
    assert "sent back for changes" in sent_back["Subject"]
    assert "Attach the signed PO." in mailbox.text(sent_back)
    assert f"/submissions/{submission.id}/edit" in mailbox.text(sent_back)

    approvals.browser.login("alice@example.com")
    page = approvals.browser.get(f"/submissions/{submission.id}/edit")
    assert page.status_code == 200 and 'value="Acme Office Supplies GmbH"' in page.text
    response = approvals.browser.post(
        f"/submissions/{submission.id}/edit", invoice_post(notes="Signed PO attached.")
    )
    assert response.status_code == 302
    approvals.browser.post("/logout")
    approvals.run_jobs()
    submission = approvals.submission(submission.id)
    assert submission.status == SubmissionStatus.IN_REVIEW and submission.submit_count == 2
    (again,) = approvals.open_tasks(submission)
    assert (again.round, again.step, again.assignee.email) == (
        2,
        "cost_centre_owner",
        "bob@example.com",
    )
    assert "resubmitted" in actions(submission)


def test_resume_after_changes_starts_at_the_step_that_asked(approvals, org, publish, mailbox):
    publish("purchase_request", shipped_schema("purchase_request"))
    request = {
        "title": "Three laptops",
        "justification": "New support hires start on the 1st of the month.",
        "category": "hardware",
        "urgency": "normal",
        "supplier": "Dell",
        "currency": "EUR",
        "cost_centre": "CC-300",
        "budgeted": "y",
        "items-0-item": "Laptop",
        "items-0-quantity": "3",
        "items-0-unit_cost": "1100",
        "quotes": [(__import__("io").BytesIO(b"%PDF-1.4 quote"), "q.pdf")],
        "_action": "submit",
    }
    submission_id = approvals.make_submission(form="purchase_request", values=request).id
    approvals.run_jobs()
    submission = approvals.submission(submission_id)
    approvals.decide_by_link("bob@example.com", "approve")
    (check,) = approvals.open_tasks(submission, "budget_check")
    approvals.decide_in_inbox(
        check.assignee.email, check, "request_changes", "Use the framework price."
    )
    approvals.browser.login("alice@example.com")
    request.pop("quotes")
    edited = approvals.browser.get(f"/submissions/{submission_id}/edit").text
    token = __import__("re").search(r'name="quotes__keep" value="([^"]+)"', edited).group(1)
    request.update({"items-0-unit_cost": "990", "quotes__keep": token})
    assert approvals.browser.post(f"/submissions/{submission_id}/edit", request).status_code == 302
    approvals.browser.post("/logout")
    approvals.run_jobs()
    submission = approvals.submission(submission_id)
    (resumed,) = approvals.open_tasks(submission)
    assert (resumed.round, resumed.step) == (2, "budget_check")  # the manager is not asked again
    db.session.expire_all()
    manager_round_2 = db.session.scalars(
        select(ApprovalStep).where(ApprovalStep.round == 2, ApprovalStep.name == "manager")
    ).one()
    assert manager_round_2.state == StepState.APPROVED
    assert manager_round_2.reason == "decided in an earlier round"


@pytest.mark.parametrize(
    ("policy", "decisions", "outcome", "still_open"),
    [
        ("any", ["approve"], SubmissionStatus.APPROVED, 0),
        ("any", ["reject"], SubmissionStatus.REJECTED, 0),
        ("all", ["approve", "approve"], SubmissionStatus.IN_REVIEW, 1),
        ("all", ["approve", "approve", "approve"], SubmissionStatus.APPROVED, 0),
        ("all", ["approve", "reject"], SubmissionStatus.REJECTED, 0),
        ({"quorum": 2}, ["approve"], SubmissionStatus.IN_REVIEW, 2),
        ({"quorum": 2}, ["approve", "approve"], SubmissionStatus.APPROVED, 0),
        ({"quorum": 2}, ["reject"], SubmissionStatus.IN_REVIEW, 2),
        ({"quorum": 2}, ["reject", "reject"], SubmissionStatus.REJECTED, 0),
        ({"quorum": 2}, ["approve", "request_changes"], SubmissionStatus.CHANGES_REQUESTED, 0),
    ],
)
def test_parallel_policies(approvals, org, publish, policy, decisions, outcome, still_open):
    publish("vendor_invoice", finance_panel(policy))
    submission = approvals.submit_invoice()
    tasks = approvals.open_tasks(submission)
    assert len(tasks) == 3  # carol, fiona, frank
    for task, decision in zip(tasks, decisions, strict=False):
        comment = "" if decision == "approve" else "Not this quarter."
        approvals.decide_in_inbox(task.assignee.email, task, decision, comment)
    submission = approvals.submission(submission.id)
    assert submission.status == outcome
    assert len(approvals.open_tasks(submission)) == still_open


def test_withdraw_cancels_open_tasks_and_kills_their_links(approvals, org, vendor_invoice, mailbox):
    submission = approvals.submit_invoice()
    link = approvals.link_for("bob@example.com")
    approvals.browser.login("alice@example.com")
    response = approvals.browser.post(f"/submissions/{submission.id}/withdraw")
    assert response.status_code == 302
    submission = approvals.submission(submission.id)
    assert submission.status == SubmissionStatus.WITHDRAWN
    assert approvals.open_tasks(submission) == []
    assert approvals.app.test_client().get(link).status_code == 200  # shows "already closed"
    assert "This task is already closed" in approvals.app.test_client().get(link).text
    assert approvals.browser.post(f"/submissions/{submission.id}/withdraw").status_code == 302
    assert actions(submission).count("withdrawn") == 1


def test_the_submitter_is_never_asked_even_as_owner_or_group_member(approvals, org, publish):
    schema = shipped_schema("vendor_invoice")
    owners = schema["approval"]["steps"][0]["assignees"][0]["lookup"]["users"]
    owners["CC-100"] = "alice@example.com"  # Alice owns the cost centre she charges
    publish("vendor_invoice", schema)
    from portal.services import users

    users.save_user("alice@example.com", "Alice Martin", None, ["staff", "finance"])
    db.session.commit()
    submission = approvals.submit_invoice()
    owner_tasks = approvals.open_tasks(submission)
    assert "alice@example.com" not in {t.assignee.email for t in owner_tasks}
    assert {t.assignee.email for t in owner_tasks} == {
        "carol@example.com",
        "fiona@example.com",
        "frank@example.com",
    }  # routed to the fallback group, Alice left out
    unresolved = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "assignee_unresolved")
    ).one()
    assert "cannot approve their own request" in unresolved.details["problem"]


def test_unknown_owner_is_shown_audited_and_routed_to_the_fallback_group(approvals, org, publish):
    schema = shipped_schema("vendor_invoice")
    del schema["approval"]["steps"][0]["assignees"][0]["lookup"]["users"]["CC-100"]
    publish("vendor_invoice", schema)
    submission = approvals.submit_invoice()
    assert {t.assignee.email for t in approvals.open_tasks(submission)} == {
        "carol@example.com",
        "fiona@example.com",
        "frank@example.com",
    }
    db.session.expire_all()
    row = db.session.scalars(
        select(ApprovalStep).where(ApprovalStep.name == "cost_centre_owner")
    ).one()
    assert "nobody is set up as owner of cost_centre 'CC-100'" in row.reason
    assert "routed to the finance group" in row.reason
    approvals.browser.login("alice@example.com")
    assert (
        "routed to the finance group" in approvals.browser.get(f"/submissions/{submission.id}").text
    )


def test_a_step_nobody_can_decide_is_blocked_and_says_why(approvals, org, publish):
    schema = finance_panel("any")
    schema["approval"]["steps"][0]["assignees"] = [{"group": "nobody_here"}]
    schema["approval"]["fallback_group"] = "also_empty"
    publish("vendor_invoice", schema)
    submission = approvals.submit_invoice()
    assert step_states(submission)["finance"] == StepState.BLOCKED
    assert approvals.submission(submission.id).status == SubmissionStatus.IN_REVIEW
    assert "step_blocked" in actions(submission)


def test_auto_approval_is_recorded_by_the_system_naming_the_rule(approvals, org, publish):
    schema = finance_panel("any")
    schema["approval"]["steps"][0]["auto_approve_if"] = "total < 2000"
    publish("vendor_invoice", schema)
    submission = approvals.submit_invoice()
    assert approvals.submission(submission.id).status == SubmissionStatus.APPROVED
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "step_auto_approved")
    ).one()
    assert event.actor == "system (auto_approve_if: total < 2000)"
    assert event.details == {"step": "finance", "rule": "total < 2000"}


def test_round_robin_asks_group_members_in_turn(approvals, org, publish):
    schema = finance_panel("any")
    schema["approval"]["steps"][0]["assignees"] = [{"group": "finance", "pick": "round_robin"}]
    publish("vendor_invoice", schema)
    asked = []
    for _ in range(4):
        submission = approvals.submit_invoice()
        (task,) = approvals.open_tasks(submission)
        asked.append(task.assignee.email)
    assert asked == [
        "carol@example.com",
        "fiona@example.com",
        "frank@example.com",
        "carol@example.com",
    ]


def test_fewest_open_asks_the_least_busy_member(approvals, org, publish):
    schema = finance_panel("any")
    schema["approval"]["steps"][0]["assignees"] = [{"group": "finance", "pick": "fewest_open"}]
    publish("vendor_invoice", schema)
    first = approvals.open_tasks(approvals.submit_invoice())[0].assignee.email
    second = approvals.open_tasks(approvals.submit_invoice())[0].assignee.email
    third = approvals.open_tasks(approvals.submit_invoice())[0].assignee.email
    assert len({first, second, third}) == 3


def test_password_signature_is_checked_and_its_meaning_recorded(approvals, org, publish, mailbox):
    schema = finance_panel("any")
    schema["approval"]["steps"][0].update({"signature": "password", "sign_as": "Finance"})
    publish("vendor_invoice", schema)
    submission = approvals.submit_invoice()
    (task, *_) = approvals.open_tasks(submission)
    wrong = approvals.decide_in_inbox(task.assignee.email, task, "approve", password="not it")
    assert wrong.status_code == 422 and "Your password did not match." in wrong.text
    assert approvals.submission(submission.id).status == SubmissionStatus.IN_REVIEW
    from tests.fixtures.users import PASSWORD

    right = approvals.decide_in_inbox(task.assignee.email, task, "approve", password=PASSWORD)
    assert right.status_code == 302
    db.session.expire_all()
    decided = db.session.get(Task, task.id)
    assert decided.signature_meaning == "Approved as Finance"
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "task_decided")).one()
    assert event.details["signature_meaning"] == "Approved as Finance"
    assert event.channel == "web" and event.actor == task.assignee.email


def test_form_without_approval_section_is_approved_on_submit(approvals, org, publish, mailbox):
    schema = shipped_schema("vendor_invoice")
    del schema["approval"]
    publish("vendor_invoice", schema)
    submission = approvals.submit_invoice()
    assert submission.status == SubmissionStatus.APPROVED
    assert mailbox.to("alice@example.com")[0]["Subject"].startswith("Your request was approved")


def test_emails_are_recorded_without_their_secret_links(approvals, org, vendor_invoice):
    submission = approvals.submit_invoice()
    record = db.session.scalars(
        select(EmailMessage).where(EmailMessage.submission_id == submission.id)
    ).one()
    assert "[personal action link]" in record.body and "/act/" not in record.body
    assert record.state.value == "sent" and record.message_id.startswith("<baton-")


def test_audit_events_of_a_whole_chain_verify(approvals, org, vendor_invoice):
    from portal import audit

    submission = approvals.submit_invoice()
    approvals.decide_by_link("bob@example.com", "approve")
    assert audit.verify(audit.submission_chain(submission.id)).ok
    assert json.dumps([e for e in actions(submission)])  # events are plain JSON data
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) > 5


def test_decision_enum_matches_the_buttons():
    assert {d.value for d in Decision} == {"approve", "reject", "request_changes"}
    assert TaskState.OPEN.value == "open"


def test_withdrawn_after_the_last_step_asked_for_changes_stays_withdrawn(
    approvals, org, publish, app
):
    from portal.services import approvals as service

    publish("vendor_invoice", finance_panel("any"))  # one step: it is also the last
    submission = approvals.submit_invoice()
    (task, *_) = approvals.open_tasks(submission)
    approvals.decide_in_inbox(task.assignee.email, task, "request_changes", "Add the PO.")
    approvals.browser.login("alice@example.com")
    approvals.browser.post(f"/submissions/{submission.id}/withdraw")
    submission = approvals.submission(submission.id)
    assert submission.status == SubmissionStatus.WITHDRAWN
    assert service.load(submission).state.value == "withdrawn"
    submission.submit_count += 1  # even a stray start request finds nothing to start
    db.session.commit()
    assert service.start_chain(submission.id) is False
    db.session.rollback()
