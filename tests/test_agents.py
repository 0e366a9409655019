"""Agents as participants: a sanctions-check agent on the vendor invoice, through the API.

The agent decides with an output that a later step's `when` reads; above its limit its
decision is a recommendation a finance person confirms or overrides; a bad output is refused
naming its path; it never decides what it submitted; when it is late, people take over; the
audit trail and the PDF say an agent acted.
"""

from __future__ import annotations

import io
import json
import re

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from portal import audit, clock, pdf
from portal.domain.chain import StepState, TaskState
from portal.domain.insight import parse_period
from portal.extensions import db
from portal.models import (
    ApprovalStep,
    AuditEvent,
    Submission,
    SubmissionStatus,
    Task,
    WebhookDelivery,
)
from portal.services import access, insight, records, webhooks
from tests.api.test_api import invoice_data
from tests.services.test_deadlines import at, moment, sweep  # noqa: F401 - a fixture

#: Two chairs at EUR 4,000 take the invoice to EUR 8,475: above the agent's limit of 5,000.
ABOVE_LIMIT = {"lines-0-unit_price": "4000", "po_number": "PO-004512"}
CLEAN = {"sanctions_hit": False, "score": 12.5}


def agent_task(api, agent) -> dict:
    """The agent's one open task, as GET /api/v1/tasks lists it."""
    listed = api.get("/tasks", agent.token)
    assert listed.status_code == 200
    (task,) = listed.json
    return task


def decide(api, who_token, task_id: int, **body):
    return api.post(f"/tasks/{task_id}/decision", who_token, json_body=body)


def step_state(submission: Submission, name: str) -> StepState:
    db.session.expire_all()
    return db.session.scalars(
        select(ApprovalStep.state).where(
            ApprovalStep.submission_id == submission.id, ApprovalStep.name == name
        )
    ).one()


def events_of(submission: Submission, action: str) -> list[AuditEvent]:
    return [e for e in audit.events(audit.submission_chain(submission.id)) if e.action == action]


def test_the_agent_decides_with_output_and_a_later_step_reads_it(
    api, approvals, org, sanctions_bot, sanctions_form, token_for
):
    submission = approvals.submit_invoice()
    task = agent_task(api, sanctions_bot)
    assert task["step_title"] == "Sanctions check" and task["review_of"] is None
    assert task["output_schema"]["required"] == ["sanctions_hit", "score"]
    assert approvals.mailbox.to(sanctions_bot.user.email) == []  # agents get no email

    answer = decide(
        api,
        sanctions_bot.token,
        task["id"],
        decision="approve",
        rationale="Acme is on no list; a near match on a director's name was ruled out.",
        output={"sanctions_hit": True, "score": 64},
    )
    assert answer.status_code == 200, answer.json
    assert answer.json["task"]["state"] == "approved"
    # The hit makes the compliance step needed: its `when` reads the agent's output.
    assert step_state(submission, "sanctions") == StepState.APPROVED
    assert step_state(submission, "compliance") == StepState.ACTIVE
    assert [t.assignee.email for t in approvals.open_tasks(submission)] == ["cora@example.com"]
    (decided,) = events_of(submission, "task_decided")
    assert decided.channel == "agent" and decided.actor == "sanctions-bot@agents.invalid"
    assert decided.details["output"] == {"sanctions_hit": True, "score": 64}
    assert decided.details["api_token"] == "token for Sanctions bot"
    steps = api.get(f"/submissions/{submission.id}", token_for(org.alice)).json["steps"]
    (by_agent,) = steps[0]["decisions"]
    assert by_agent["agent"] is True and by_agent["output"]["score"] == 64


def test_without_a_hit_the_later_step_is_skipped(
    api, approvals, org, sanctions_bot, sanctions_form
):
    submission = approvals.submit_invoice()
    task = agent_task(api, sanctions_bot)
    answer = decide(
        api,
        sanctions_bot.token,
        task["id"],
        decision="approve",
        rationale="No list names Acme.",
        output=CLEAN,
    )
    assert answer.status_code == 200
    assert step_state(submission, "compliance") == StepState.SKIPPED
    assert step_state(submission, "finance") == StepState.ACTIVE


def test_above_the_limit_the_decision_is_a_recommendation_a_finance_person_confirms(
    api, approvals, org, sanctions_bot, sanctions_form, token_for
):
    submission = approvals.submit_invoice(**ABOVE_LIMIT)
    task = agent_task(api, sanctions_bot)
    answer = decide(
        api,
        sanctions_bot.token,
        task["id"],
        decision="approve",
        rationale="No list names Acme.",
        output=CLEAN,
    )
    assert answer.status_code == 200, answer.json
    assert answer.json["task"]["state"] == "recommended"
    assert step_state(submission, "sanctions") == StepState.ACTIVE  # waits for a person
    again = decide(
        api, sanctions_bot.token, task["id"], decision="reject", rationale="Oops.", output=CLEAN
    )
    assert again.status_code == 409
    assert again.json["message"] == (
        "This task was already decided: recommended approved, for a person to confirm or override."
    )
    reviewers = {t.assignee.email for t in approvals.open_tasks(submission, "sanctions")}
    assert reviewers == {"fiona@example.com", "frank@example.com", "carol@example.com"}

    fiona = token_for(org.fiona)
    (review,) = api.get("/tasks", fiona).json
    assert review["review_of"] == {
        "agent": "Sanctions bot (agent)",
        "recommendation": "approve",
        "rationale": "No list names Acme.",
        "output": CLEAN,
    }
    approvals.browser.login("fiona@example.com")
    inbox = approvals.browser.get("/inbox").get_data(as_text=True)
    assert "confirm or override an agent's recommendation" in inbox
    page = approvals.browser.get(f"/tasks/{review['id']}").get_data(as_text=True)
    assert "Sanctions bot (agent) recommends: approved" in page
    assert "<strong>Its reasons:</strong> No list names Acme." in page
    assert "<dt>The vendor is on a sanctions list</dt><dd>no</dd>" in page
    assert "<dt>Risk score</dt><dd>12.5</dd>" in page
    approvals.browser.post("/logout")
    # The agent cannot confirm its own recommendation: the review task is not its own.
    assert (
        decide(
            api, sanctions_bot.token, review["id"], decision="approve", rationale="x", output=CLEAN
        ).status_code
        == 403
    )
    confirmed = decide(api, fiona, review["id"], decision="approve")
    assert confirmed.status_code == 200, confirmed.json
    assert step_state(submission, "sanctions") == StepState.APPROVED
    assert step_state(submission, "finance") == StepState.ACTIVE
    (recommended,) = events_of(submission, "task_recommended")
    assert recommended.channel == "agent" and recommended.details["review_group"] == "finance"
    (confirmation,) = events_of(submission, "task_decided")
    assert confirmation.actor == "fiona@example.com" and confirmation.details["agreed"] is True


def test_a_reviewer_who_overrides_the_agent_decides_the_step(
    api, approvals, org, sanctions_bot, sanctions_form, token_for
):
    submission = approvals.submit_invoice(**ABOVE_LIMIT)
    task = agent_task(api, sanctions_bot)
    decide(
        api,
        sanctions_bot.token,
        task["id"],
        decision="approve",
        rationale="No list names Acme.",
        output=CLEAN,
    )
    frank = token_for(org.frank)
    (review,) = api.get("/tasks", frank).json
    answer = decide(
        api,
        frank,
        review["id"],
        decision="reject",
        comment="Acme's parent company was listed last week.",
    )
    assert answer.status_code == 200
    assert approvals.submission(submission.id).status == SubmissionStatus.REJECTED
    (overridden,) = events_of(submission, "task_decided")
    assert overridden.details["agreed"] is False
    assert overridden.details["recommendation"] == "approve"


@pytest.mark.parametrize(
    ("output", "path", "message"),
    [
        (None, "output", "the step asks for an output; send it with the decision"),
        ({"score": 3}, "output.sanctions_hit", "is required"),
        ({"sanctions_hit": "no", "score": 3}, "output.sanctions_hit", "'no' is not true or false"),
        ({"sanctions_hit": False, "score": 300}, "output.score", "300 is more than 100 allows"),
    ],
)
def test_a_bad_output_is_refused_naming_its_path_and_changes_nothing(
    api, approvals, org, sanctions_bot, sanctions_form, output, path, message
):
    submission = approvals.submit_invoice()
    task = agent_task(api, sanctions_bot)
    body = {"decision": "approve", "rationale": "Checked."}
    if output is not None:
        body["output"] = output
    answer = decide(api, sanctions_bot.token, task["id"], **body)
    assert answer.status_code == 422
    assert answer.json["errors"] == {path: [message]}
    db.session.expire_all()
    assert db.session.get(Task, task["id"]).state == TaskState.OPEN
    assert events_of(submission, "task_decided") == []


def test_an_agent_needs_a_rationale_and_a_person_sends_no_output(
    api, approvals, org, sanctions_bot, sanctions_form, token_for
):
    approvals.submit_invoice()
    task = agent_task(api, sanctions_bot)
    answer = decide(api, sanctions_bot.token, task["id"], decision="approve", output=CLEAN)
    assert answer.status_code == 422 and "rationale" in answer.json["message"]
    fiona = token_for(org.fiona)
    approvals.submit_invoice(as_email="bob@example.com")
    assert api.get("/tasks", fiona).json == []  # the agent's step first; nothing for Fiona yet


def test_an_agent_never_decides_a_request_it_submitted(
    api, approvals, org, sanctions_bot, sanctions_form, run_jobs
):
    body = {"data": invoice_data()}
    made = api.post("/forms/vendor_invoice/submissions", sanctions_bot.token, json_body=body)
    assert made.status_code == 201, made.json
    run_jobs()
    submission = approvals.submission(made.json["id"])
    assert submission.submitter_id == sanctions_bot.user.id
    assert api.get("/tasks", sanctions_bot.token).json == []
    asked = {t.assignee.email for t in approvals.open_tasks(submission, "sanctions")}
    assert asked == {"fiona@example.com", "frank@example.com", "carol@example.com"}  # fallback
    (submitted,) = events_of(submission, "submitted")
    assert submitted.channel == "agent"
    (unresolved,) = events_of(submission, "assignee_unresolved")
    assert (
        "only the submitter" in unresolved.details["problem"]
        or "nobody" in (unresolved.details["problem"])
    )


def test_when_the_agent_is_late_the_task_moves_to_people(
    api,
    approvals,
    org,
    sanctions_bot,
    sanctions_form,
    moment,  # noqa: F811 - the fixture imported above
    app,
):
    submission = approvals.submit_invoice()
    (task,) = approvals.open_tasks(submission, "sanctions")
    assert task.due_at is not None
    moment.to(at(24, 9, 1))  # one business day after Monday 09:00
    sweep(app)
    approvals.run_jobs()
    moved = {t.assignee.email: t for t in approvals.open_tasks(submission, "sanctions")}
    assert set(moved) == {"fiona@example.com", "frank@example.com", "carol@example.com"}
    assert all(t.on_behalf_of_id == sanctions_bot.user.id for t in moved.values())
    db.session.expire_all()
    assert db.session.get(Task, task.id).state == TaskState.CANCELLED
    assert api.get("/tasks", sanctions_bot.token).json == []
    # A person decides without an output; the step's `when` downstream reads it as empty.
    approvals.decide_in_inbox("fiona@example.com", moved["fiona@example.com"], "approve")
    assert step_state(submission, "compliance") == StepState.SKIPPED


@pytest.mark.slow
def test_the_audit_trail_page_and_pdf_show_the_agent(
    api, approvals, org, sanctions_bot, sanctions_form, token_for, app
):
    submission = approvals.submit_invoice(**ABOVE_LIMIT)
    task = agent_task(api, sanctions_bot)
    decide(
        api,
        sanctions_bot.token,
        task["id"],
        decision="approve",
        rationale="No list names Acme.",
        output=CLEAN,
    )
    fiona = token_for(org.fiona)
    (review,) = api.get("/tasks", fiona).json
    decide(api, fiona, review["id"], decision="approve")

    approvals.browser.login("alice@example.com")
    page = approvals.browser.get(f"/submissions/{submission.id}").get_data(as_text=True)
    assert "Sanctions bot (agent)" in page
    assert "Recommends: approved" in page and "No list names Acme." in page
    assert "Output: The vendor is on a sanctions list: no, Risk score: 12.5" in page
    # The request's own events name the agent as one, in words for the submitter (an admin
    # sees its address and channel, as the PDF below shows them).
    events = page[page.index("Show every event") :]
    assert "Sanctions bot (agent)" in events and "sanctions-bot@agents.invalid" not in events

    db.session.expire_all()
    found = db.session.get(Submission, submission.id)
    with app.test_request_context():
        html = pdf.audit_trail_html(records.gather(found), found, clock.now(), "tests")
    content, refused = pdf.render(html, app.static_folder, pdf_variant=None)
    assert refused == []
    reader = PdfReader(io.BytesIO(content))
    text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
    assert "Sanctions bot (agent)" in text
    assert "Recommended: Approved" in text and "sanctions_hit: false, score: 12.5" in text
    assert "confirming the agent's recommendation" in text
    # The event, by channel (the agent's address, then the IP address it called from).
    assert re.search(r"bot@agents\.invalid \(agent\)( [0-9.]+)? agent task_recommended", text)


def test_an_agents_receiver_hears_task_assigned_and_task_recommended(
    api, approvals, org, ada, sanctions_bot, sanctions_form, private_webhook_targets
):
    webhooks.save_endpoint(
        ada, "http://127.0.0.1:9/agent", ["task.assigned", "task.recommended"], "sanctions bot"
    )
    db.session.commit()
    approvals.submit_invoice(**ABOVE_LIMIT)
    task = agent_task(api, sanctions_bot)
    decide(
        api,
        sanctions_bot.token,
        task["id"],
        decision="approve",
        rationale="No list names Acme.",
        output=CLEAN,
    )
    db.session.expire_all()
    sent = db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()
    bodies = [json.loads(delivery.body) for delivery in sent]
    # The agent's task, its recommendation, then the three finance reviewers' tasks.
    assert [body["event"] for body in bodies] == ["task.assigned", "task.recommended"] + [
        "task.assigned"
    ] * 3
    first = bodies[0]["data"]["task"]
    assert first["assignee"] == "sanctions-bot@agents.invalid" and first["agent"] is True
    (recommended,) = [b for b in bodies if b["event"] == "task.recommended"]
    assert recommended["data"]["task"]["state"] == "recommended"


def test_insight_compares_agents_and_people_with_the_agreement_rate(
    api, approvals, org, ada, sanctions_bot, sanctions_form, token_for
):
    fiona = token_for(org.fiona)
    for reviewer_decision in ("approve", "reject"):
        approvals.submit_invoice(**ABOVE_LIMIT)
        task = agent_task(api, sanctions_bot)
        decide(
            api,
            sanctions_bot.token,
            task["id"],
            decision="approve",
            rationale="No list names Acme.",
            output=CLEAN,
        )
        (review,) = [t for t in api.get("/tasks", fiona).json if t["review_of"]]
        decide(api, fiona, review["id"], decision=reviewer_decision, comment="Checked myself.")
    db.session.expire_all()
    period = parse_period({}, clock.local_today())
    form = sanctions_form.form
    result = insight.compute(form, period, access.Scope(None, approvers=True))
    figures = result.agents
    assert (figures.by_agents, figures.recommended, figures.reviewed, figures.agreed) == (
        2,
        2,
        2,
        1,
    )
    assert figures.by_people == 2 and figures.agreement_rate == 0.5  # Fiona's two reviews
    names = {person.email: person.name for person in result.approvers}
    assert names["sanctions-bot@agents.invalid"] == "Sanctions bot (agent)"

    approvals.browser.login("ada@example.com")
    page = approvals.browser.get(f"/insight/{form.slug}").get_data(as_text=True)
    assert "Agents and people" in page and "1 of 2 confirmed" in page and "50%" in page
