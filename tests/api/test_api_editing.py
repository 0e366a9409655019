"""Editing, resubmitting and withdrawing through the API: what the web's edit page and
Withdraw button do, with the same rules, and recorded in the audit trail as the API's."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AuditEvent, Submission
from tests.api.test_api import invoice_data


def audit_events() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent))


@pytest.fixture
def submitted(api, vendor_invoice, tokens_of, run_jobs):
    """submitted() -> the id of Alice's new invoice, its chain started (Bob decides first)."""

    def make() -> int:
        created = api.post(
            "/forms/vendor_invoice/submissions", tokens_of["alice"], {"data": invoice_data()}
        )
        assert created.status_code == 201, created.get_json()
        run_jobs()
        return created.get_json()["id"]

    return make


@pytest.fixture
def sent_back(api, tokens_of, submitted, run_jobs):
    """sent_back() -> the id of Alice's invoice, which Bob sent back for changes."""

    def make() -> int:
        number = submitted()
        task = api.get("/tasks", tokens_of["bob"]).get_json()[0]
        decided = api.post(
            f"/tasks/{task['id']}/decision",
            tokens_of["bob"],
            {"decision": "request_changes", "comment": "Which purchase order?"},
        )
        assert decided.status_code == 200, decided.get_json()
        run_jobs()
        return number

    return make


def test_a_request_sent_back_is_changed_and_resubmitted_through_the_api(
    api,
    tokens_of,
    sent_back,
    run_jobs,
):
    alice, bob = tokens_of["alice"], tokens_of["bob"]
    number = sent_back()
    edited = api.patch(f"/submissions/{number}", alice, {"data": {"po_number": "PO-009999"}})
    assert edited.status_code == 200, edited.get_json()
    body = edited.get_json()
    assert body["status"] == "changes_requested"
    assert body["draft"]["po_number"] == "PO-009999"
    assert body["data"]["po_number"] == "PO-004512"  # what the approvers saw, until resubmitted
    assert "draft" not in api.get(f"/submissions/{number}", bob).get_json()

    resubmitted = api.post(f"/submissions/{number}/submit", alice)
    assert resubmitted.status_code == 200, resubmitted.get_json()
    body = resubmitted.get_json()
    assert body["status"] == "in_review" and "draft" not in body
    assert body["data"]["po_number"] == "PO-009999"
    assert body["data"]["vendor_name"] == invoice_data()["vendor_name"]  # unchanged fields kept
    assert body["data"]["invoice_file"]["name"] == "acme-INV-2026-0042.pdf"  # and the file
    event = [e for e in body["events"] if e["action"] == "resubmitted"]
    assert len(event) == 1 and event[0]["channel"] == "api"
    assert event[0]["details"]["api_token"] == "alice's agent"
    run_jobs()
    tasks = api.get("/tasks", bob).get_json()
    assert [task["submission"] for task in tasks] == [number]  # the chain starts again


def test_resubmitting_with_changes_checks_them_and_changes_nothing_when_refused(
    api,
    tokens_of,
    sent_back,
):
    alice = tokens_of["alice"]
    number = sent_back()
    before = audit_events()
    refused = api.post(f"/submissions/{number}/submit", alice, {"data": {"due_date": "2026-01-01"}})
    assert refused.status_code == 422
    assert "due_date" in refused.get_json()["errors"]
    unknown = api.post(f"/submissions/{number}/submit", alice, {"data": {"colour": "red"}})
    assert unknown.status_code == 422
    assert unknown.get_json()["errors"] == {"colour": ["This form has no such field."]}
    found = api.get(f"/submissions/{number}", alice).get_json()
    assert found["status"] == "changes_requested" and "draft" not in found
    assert audit_events() == before

    changed = api.post(f"/submissions/{number}/submit", alice, {"data": {"po_number": "PO-000007"}})
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["data"]["po_number"] == "PO-000007"


def test_a_draft_kept_through_the_api_is_completed_and_submitted(api, vendor_invoice, tokens_of):
    alice = tokens_of["alice"]
    draft = api.post(
        "/forms/vendor_invoice/submissions?draft=1", alice, {"data": {"vendor_name": "Acme"}}
    ).get_json()
    incomplete = api.post(f"/submissions/{draft['id']}/submit", alice)
    assert incomplete.status_code == 422
    assert "invoice_number" in incomplete.get_json()["errors"]
    assert db.session.get(Submission, draft["id"]).submitted_at is None

    rest = {k: v for k, v in invoice_data().items() if k != "vendor_name"}
    edited = api.patch(f"/submissions/{draft['id']}", alice, {"data": rest})
    assert edited.status_code == 200 and edited.get_json()["status"] == "draft"
    assert edited.get_json()["data"]["vendor_name"] == "Acme"
    submitted = api.post(f"/submissions/{draft['id']}/submit", alice, {"data": {}})
    assert submitted.status_code == 200, submitted.get_json()
    body = submitted.get_json()
    assert body["status"] == "in_review" and body["data"]["vendor_name"] == "Acme"
    assert [e["action"] for e in body["events"]] == ["submitted"]


def test_a_request_is_withdrawn_through_the_api_once(api, tokens_of, submitted):
    alice, bob = tokens_of["alice"], tokens_of["bob"]
    number = submitted()
    assert len(api.get("/tasks", bob).get_json()) == 1
    withdrawn = api.post(f"/submissions/{number}/withdraw", alice)
    assert withdrawn.status_code == 200, withdrawn.get_json()
    body = withdrawn.get_json()
    assert body["status"] == "withdrawn"
    event = next(e for e in body["events"] if e["action"] == "withdrawn")
    assert event["channel"] == "api" and event["details"]["api_token"] == "alice's agent"
    assert api.get("/tasks", bob).get_json() == []  # nobody needs to act on it any more
    again = api.post(f"/submissions/{number}/withdraw", alice)
    assert again.status_code == 409
    assert again.get_json()["message"] == "A request that is withdrawn cannot be withdrawn."


def test_a_request_sent_back_can_be_withdrawn_through_the_api(api, tokens_of, sent_back):
    number = sent_back()
    withdrawn = api.post(f"/submissions/{number}/withdraw", tokens_of["alice"])
    assert withdrawn.status_code == 200 and withdrawn.get_json()["status"] == "withdrawn"


def test_a_request_in_review_cannot_be_changed_or_resubmitted(api, tokens_of, submitted):
    alice = tokens_of["alice"]
    number = submitted()
    before = audit_events()
    for response in (
        api.patch(f"/submissions/{number}", alice, {"data": {"po_number": "PO-1"}}),
        api.post(f"/submissions/{number}/submit", alice),
        api.post(f"/submissions/{number}/submit", alice, {"data": {"due_date": "soon"}}),
    ):
        assert response.status_code == 409
        assert "is in review and can no longer be edited" in response.get_json()["message"]
    found = db.session.get(Submission, number)
    assert found.draft is None and found.data["po_number"] == "PO-004512"
    assert audit_events() == before


def test_only_the_submitter_changes_a_request_others_find_nothing(
    api,
    tokens_of,
    sent_back,
):
    number = sent_back()
    before = audit_events()
    for who in ("bob", "cora"):  # Bob sent it back and may read it; Cora is compliance
        token = tokens_of[who]
        assert api.get(f"/submissions/{number}", token).status_code == 200
        for response in (
            api.patch(f"/submissions/{number}", token, {"data": {"po_number": "PO-1"}}),
            api.post(f"/submissions/{number}/submit", token),
            api.post(f"/submissions/{number}/withdraw", token),
        ):
            assert response.status_code == 404, (who, response.get_json())
    assert api.post("/submissions/99999/withdraw", tokens_of["alice"]).status_code == 404
    found = db.session.get(Submission, number)
    assert found.status.value == "changes_requested" and found.draft is None
    assert audit_events() == before


def test_changes_in_a_body_of_the_wrong_shape_are_refused(api, tokens_of, sent_back):
    alice = tokens_of["alice"]
    number = sent_back()
    url = f"/submissions/{number}"
    assert api.patch(url, alice, {"po_number": "PO-1"}).status_code == 400
    assert api.patch(url, alice, {"data": ["PO-1"]}).status_code == 400
    assert api.post(f"{url}/submit", alice, {"data": "PO-1"}).status_code == 400
    not_json = api.patch(url, alice, raw=b"po_number=PO-1", headers={"Content-Type": "text/plain"})
    assert not_json.status_code == 415
    unknown = api.patch(url, alice, {"data": {"colour": "red"}})
    assert unknown.status_code == 422
    assert unknown.get_json()["errors"] == {"colour": ["This form has no such field."]}
    assert db.session.get(Submission, number).draft is None
