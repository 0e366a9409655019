"""The JSON API: a whole invoice approval through it alone, and every way it says no.

Every response goes through tests.fixtures.api.Api, which checks it against the OpenAPI
document: the documented status codes, content types, headers and body schemas.
"""

from __future__ import annotations

import base64
import io
import json

import pytest
from openapi_spec_validator import validate
from pypdf import PdfReader
from sqlalchemy import select

from portal.blueprints.api.openapi import document
from portal.extensions import db
from portal.models import AuditEvent, Submission
from portal.services import tokens
from tests.fixtures.web import PDF_BYTES, invoice_post

PDF_B64 = base64.b64encode(PDF_BYTES).decode()


def invoice_data(**overrides) -> dict:
    """A valid vendor invoice as JSON: three lines, EUR 12,475.00 (so the CFO is asked too)."""
    data = {
        "vendor_name": "Acme Office Supplies GmbH",
        "vendor_email": "billing@acme.example",
        "invoice_number": "INV-2026-0042",
        "invoice_date": "2026-11-02",
        "due_date": "2026-12-02",
        "currency": "EUR",
        "cost_centre": "CC-100",
        "po_number": "PO-004512",
        "lines": [
            {"description": "Standing desks", "quantity": 10, "unit_price": "1200.00"},
            {"description": "Desk lamps", "quantity": 5, "unit_price": 55},
            {"description": "Delivery", "quantity": 1, "unit_price": 200},
        ],
        "invoice_file": {"filename": "acme-INV-2026-0042.pdf", "content_base64": PDF_B64},
    }
    data.update(overrides)
    return data


def test_the_openapi_document_is_valid_openapi_3_1(api):
    validate(document("http://127.0.0.1:5000"))
    response = api.get("/openapi.json")
    assert response.status_code == 200
    assert response.get_json()["openapi"] == "3.1.0"
    assert response.get_json()["servers"] == [{"url": "http://localhost/api/v1"}]


@pytest.mark.slow
def test_a_whole_invoice_approval_through_the_api_alone(api, vendor_invoice, tokens_of, run_jobs):
    alice = tokens_of["alice"]
    forms = api.get("/forms", alice).get_json()
    assert {"slug": "vendor_invoice", "title": "Vendor invoice", "version": 1} in forms
    schema = api.get("/forms/vendor_invoice", alice).get_json()["schema"]
    assert schema["title"] == "Vendor invoice"

    created = api.post("/forms/vendor_invoice/submissions", alice, {"data": invoice_data()})
    assert created.status_code == 201, created.get_json()
    submission = created.get_json()
    assert submission["status"] == "in_review" and submission["version"] == 1
    assert submission["amount"] == {"amount": "12475.0000", "currency": "EUR"}
    assert submission["data"]["total"] == {"amount": "12475.00", "currency": "EUR"}
    number = submission["id"]
    run_jobs()  # the worker starts the chain

    for who in ("bob", "fiona", "carol"):  # cost-centre owner, finance, CFO (over 10,000)
        tasks = api.get("/tasks", tokens_of[who]).get_json()
        assert len(tasks) == 1, (who, tasks)
        assert tasks[0]["submission"] == number
        decided = api.post(
            f"/tasks/{tasks[0]['id']}/decision",
            tokens_of[who],
            {"decision": "approve", "comment": f"Checked by {who}'s agent."},
        )
        assert decided.status_code == 200, decided.get_json()
        run_jobs()
    assert api.get("/tasks", tokens_of["frank"]).get_json() == []  # finance was "any of"

    final = api.get(f"/submissions/{number}", alice).get_json()
    assert final["status"] == "approved"
    assert [step["status"] for step in final["steps"]] == [
        "approved",
        "skipped",
        "approved",
        "approved",
    ]
    approvers = [d["by"] for step in final["steps"] for d in step["decisions"]]
    assert approvers == ["bob@example.com", "fiona@example.com", "carol@example.com"]
    decided_events = [e for e in final["events"] if e["action"] == "task_decided"]
    assert {e["channel"] for e in decided_events} == {"api"}
    assert {e["details"]["api_token"] for e in decided_events} == {
        "bob's agent",
        "fiona's agent",
        "carol's agent",
    }
    submitted = next(e for e in final["events"] if e["action"] == "submitted")
    assert submitted["channel"] == "api" and submitted["details"]["api_token"] == "alice's agent"

    pending = api.get(f"/submissions/{number}/audit.pdf", alice)
    assert pending.status_code == 202 and pending.headers["Retry-After"] == "5"
    run_jobs()
    pdf = api.get(f"/submissions/{number}/audit.pdf", alice)
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.get_data())).pages)
    assert "Checked by carol's agent." in " ".join(text.split())
    pdf.close()


def test_invalid_data_gets_every_fault_by_path_as_the_web_form_does(
    api, vendor_invoice, tokens_of, browser
):
    bad = invoice_data(
        vendor_email="not an email",
        lines=[{"description": "Desks", "quantity": "lots", "unit_price": 10}],
        bogus=1,
    )
    del bad["invoice_number"]
    response = api.post("/forms/vendor_invoice/submissions", tokens_of["alice"], {"data": bad})
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert errors["bogus"] == ["This form has no such field."]
    assert "lines[0].quantity" in errors and "invoice_number" in errors
    assert "vendor_email" in errors
    # The web form, given the same values, says the same about each field.
    browser.login("alice@example.com")
    page = browser.post(
        "/forms/vendor_invoice/new",
        invoice_post(
            vendor_email="not an email",
            invoice_number="",
            **{
                "lines-0-description": "Desks",
                "lines-0-quantity": "lots",
                "lines-0-unit_price": "10",
                "lines-1-description": None,
                "lines-1-quantity": None,
                "lines-1-unit_price": None,
                "lines-2-description": None,
                "lines-2-quantity": None,
                "lines-2-unit_price": None,
            },
        ),
    )
    assert page.status_code == 422
    for path in ("vendor_email", "invoice_number", "lines[0].quantity"):
        for message in errors[path]:
            assert message in page.text.replace("&#39;", "'"), (path, message)
    assert db.session.scalars(select(Submission)).all() == []


def test_a_draft_is_kept_invalid_or_not_but_not_with_unknown_fields(api, vendor_invoice, tokens_of):
    alice = tokens_of["alice"]
    draft = api.post(
        "/forms/vendor_invoice/submissions?draft=1", alice, {"data": {"vendor_name": "Acme"}}
    )
    assert draft.status_code == 201 and draft.get_json()["status"] == "draft"
    assert draft.get_json()["data"]["vendor_name"] == "Acme"
    refused = api.post(
        "/forms/vendor_invoice/submissions?draft=1", alice, {"data": {"vendorname": "Acme"}}
    )
    assert refused.status_code == 422
    assert refused.get_json()["errors"] == {"vendorname": ["This form has no such field."]}
    assert api.get(f"/submissions/{draft.get_json()['id']}", tokens_of["bob"]).status_code == 404


def test_an_idempotency_key_makes_one_submission_of_a_retried_request(
    api, vendor_invoice, tokens_of
):
    headers = {"Idempotency-Key": "erp-batch-7-invoice-42"}
    first = api.post(
        "/forms/vendor_invoice/submissions",
        tokens_of["alice"],
        {"data": invoice_data()},
        headers=headers,
    )
    again = api.post(
        "/forms/vendor_invoice/submissions",
        tokens_of["alice"],
        {"data": invoice_data()},
        headers=headers,
    )
    assert first.status_code == again.status_code == 201
    assert first.get_json()["id"] == again.get_json()["id"]
    assert len(db.session.scalars(select(Submission)).all()) == 1


def test_a_file_that_is_not_base64_or_not_a_pdf_is_refused_by_path(api, vendor_invoice, tokens_of):
    alice = tokens_of["alice"]
    garbled = invoice_data(invoice_file={"filename": "x.pdf", "content_base64": "%%%"})
    response = api.post("/forms/vendor_invoice/submissions", alice, {"data": garbled})
    assert response.status_code == 422
    assert response.get_json()["errors"] == {
        "invoice_file": ["content_base64 is not valid base64."]
    }
    fake = base64.b64encode(b"MZ\x90\x00 this is a program").decode()
    disguised = invoice_data(invoice_file={"filename": "invoice.pdf", "content_base64": fake})
    response = api.post("/forms/vendor_invoice/submissions", alice, {"data": disguised})
    assert response.status_code == 422 and "invoice_file" in response.get_json()["errors"]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "Send an API token as 'Authorization: Bearer TOKEN'."),
        ("Bearer baton_not-a-real-token", "This token is not valid"),
        ("Basic YWxpY2U6cGFzcw==", "Send an API token"),
    ],
)
def test_without_a_valid_token_everything_is_401_in_json(api, vendor_invoice, org, header, message):
    headers = {"Authorization": header} if header else {}
    for path in ("/forms", "/tasks", "/submissions/1", "/forms/vendor_invoice"):
        response = api.get(path, headers=headers)
        assert response.status_code == 401
        assert message in response.get_json()["message"]
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_token_gets_401(api, org, token_for, vendor_invoice):
    token = token_for(org.alice, "to revoke")
    assert api.get("/forms", token).status_code == 200
    row = tokens.tokens_of(org.alice)[0]
    tokens.revoke(org.alice, row.id)
    db.session.commit()
    response = api.get("/forms", token)
    assert response.status_code == 401 and "revoked" in response.get_json()["message"]
    revoked = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "token_revoked")
    ).one()
    assert revoked.details["name"] == "to revoke"


def test_a_disabled_users_token_gets_401(api, org, token_for):
    token = token_for(org.alice)
    org.alice.is_active = False
    db.session.commit()
    assert api.get("/forms", token).status_code == 401


def test_errors_are_json_everywhere_under_the_api(api, tokens_of, vendor_invoice):
    alice = tokens_of["alice"]
    assert api.get("/no/such/thing", alice).status_code == 404
    assert api.get("/forms/no_such_form", alice).status_code == 404
    wrong_method = api.call("DELETE", "/forms", alice)
    assert wrong_method.status_code == 405
    assert "DELETE is not allowed here; allowed: GET" in wrong_method.get_json()["message"]
    broken = api.call("POST", "/forms/vendor_invoice/submissions", alice, raw='{"data": {')
    assert broken.status_code == 400
    assert "not valid JSON (line 1, column" in broken.get_json()["message"]
    as_form = api.call(
        "POST",
        "/forms/vendor_invoice/submissions",
        alice,
        raw="data=1",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert as_form.status_code == 415
    not_object = api.post("/forms/vendor_invoice/submissions", alice, ["data"])
    assert not_object.status_code == 400
    wrong_shape = api.post("/forms/vendor_invoice/submissions", alice, {"values": {}})
    assert wrong_shape.status_code == 400 and '{"data": {...}}' in wrong_shape.get_json()["message"]


def test_deciding_someone_elses_task_a_decided_one_or_badly(
    api, vendor_invoice, tokens_of, run_jobs
):
    created = api.post(
        "/forms/vendor_invoice/submissions", tokens_of["alice"], {"data": invoice_data()}
    )
    run_jobs()
    task = api.get("/tasks", tokens_of["bob"]).get_json()[0]
    url = f"/tasks/{task['id']}/decision"
    assert api.post(url, tokens_of["cora"], {"decision": "approve"}).status_code == 403
    assert api.post(url, tokens_of["frank"], {"decision": "approve"}).status_code == 404
    no_comment = api.post(url, tokens_of["bob"], {"decision": "reject"})
    assert no_comment.status_code == 422
    assert "comment" in no_comment.get_json()["message"].lower()
    bad = api.post(url, tokens_of["bob"], {"decision": "maybe"})
    assert bad.status_code == 422 and "decision" in bad.get_json()["errors"]
    extra = api.post(url, tokens_of["bob"], {"decision": "approve", "urgent": True})
    assert extra.status_code == 400
    assert api.post(url, tokens_of["bob"], {"decision": "approve"}).status_code == 200
    again = api.post(url, tokens_of["bob"], {"decision": "reject", "comment": "No."})
    assert again.status_code == 409
    assert again.get_json()["message"] == "This task was already decided: approved."
    assert (
        api.post("/tasks/99999/decision", tokens_of["bob"], {"decision": "approve"}).status_code
        == 404
    )
    other = api.get(f"/submissions/{created.get_json()['id']}", tokens_of["frank"])
    assert other.status_code == 200  # frank (finance) is now asked: he may see it


def test_other_peoples_submissions_and_pdfs_are_not_found(api, vendor_invoice, tokens_of):
    created = api.post(
        "/forms/vendor_invoice/submissions", tokens_of["alice"], {"data": invoice_data()}
    ).get_json()
    assert api.get(f"/submissions/{created['id']}", tokens_of["bob"]).status_code == 404
    assert api.get(f"/submissions/{created['id']}/audit.pdf", tokens_of["bob"]).status_code == 404
    assert api.get(f"/submissions/{created['id']}", tokens_of["cora"]).status_code == 200


def test_admins_publish_schemas_through_the_api(api, org, ada, token_for, vendor_invoice):
    admin, staff = token_for(ada), token_for(org.alice)
    schema = api.get("/forms/vendor_invoice", admin).get_json()["schema"]
    schema["title"] = "Supplier invoice"
    assert api.put("/forms/vendor_invoice", staff, schema).status_code == 403
    published = api.put("/forms/vendor_invoice", admin, schema, headers={"If-Match": '"1"'})
    assert published.status_code == 200
    assert published.get_json()["version"] == 2 and published.get_json()["changed"] is True
    stale = api.put("/forms/vendor_invoice", admin, schema, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    schema["fields"][1]["type"] = "txet"
    faulty = api.put("/forms/vendor_invoice", admin, schema)
    assert faulty.status_code == 422
    assert "fields[1].type" in faulty.get_json()["errors"]
    new = api.put(
        "/forms/travel",
        admin,
        {"title": "Travel", "fields": [{"type": "text", "name": "to", "label": "To"}]},
    )
    assert new.status_code == 201 and new.get_json()["version"] == 1
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "schema_published")
    ).all()[-1]
    assert event.channel == "api" and event.details["source"] == "api"


def test_create_token_command_prints_a_token_that_works(runner, org, api):
    result = runner.invoke(args=["baton", "create-token", "alice@example.com", "--name", "ERP"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert token.startswith("baton_")
    assert api.get("/tasks", token).status_code == 200
    stored = tokens.tokens_of(org.alice)[0]
    assert (
        stored.name == "ERP"
        and stored.token_hash != token
        and token
        not in json.dumps({"hash": stored.token_hash, "prefix": stored.prefix}).replace(
            stored.prefix, ""
        )
    )
    missing = runner.invoke(args=["baton", "create-token", "ghost@example.com"])
    assert missing.exit_code != 0 and "no user with email" in missing.output


def test_submissions_are_refused_for_an_archived_form(api, vendor_invoice, tokens_of, ada):
    from portal.services import forms as form_service

    form_service.set_archived(vendor_invoice.form, True, ada)
    db.session.commit()
    response = api.post(
        "/forms/vendor_invoice/submissions", tokens_of["alice"], {"data": invoice_data()}
    )
    assert response.status_code == 409 and "archived" in response.get_json()["message"]
