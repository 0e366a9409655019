"""Filling in, submitting and following a request through the web pages (no JavaScript)."""

import re
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from werkzeug.test import encode_multipart

from portal.extensions import db
from portal.models import Attachment, AuditEvent, Submission, SubmissionStatus
from tests.fixtures.forms import shipped_schema
from tests.fixtures.rows import count
from tests.fixtures.web import csrf_token_in, invoice_post, pdf_upload


def submission_events() -> int:
    return db.session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.submission_id.is_not(None))
    )


def test_home_lists_published_forms(browser, alice, vendor_invoice):
    browser.login(alice.email)
    page = browser.get("/")
    assert page.status_code == 200
    assert "Vendor invoice" in page.text
    assert 'href="/forms/vendor_invoice/new"' in page.text


def test_new_form_page_renders_every_field_with_a_label(browser, alice, vendor_invoice):
    browser.login(alice.email)
    page = browser.get("/forms/vendor_invoice/new")
    assert page.status_code == 200
    for field_id in ("vendor_name", "vendor_email", "invoice_number", "invoice_date", "currency"):
        assert f'for="{field_id}"' in page.text and f'id="{field_id}"' in page.text
    assert 'for="lines-0-description"' in page.text
    assert 'enctype="multipart/form-data"' in page.text
    assert 'name="_client_token"' in page.text
    assert "EUR 0.00" in page.text  # the total, before any line is filled in


def test_unknown_form_is_404(browser, alice):
    browser.login(alice.email)
    assert browser.get("/forms/no_such_form/new").status_code == 404


def test_valid_invoice_is_stored_typed_and_shows_under_my_submissions(
    browser, alice, vendor_invoice
):
    browser.login(alice.email)
    response = browser.post(
        "/forms/vendor_invoice/new", invoice_post(), content_type="multipart/form-data"
    )
    assert response.status_code == 302, response.text
    submission = db.session.scalars(select(Submission)).one()
    assert response.location == f"/submissions/{submission.id}"
    assert submission.status == SubmissionStatus.IN_REVIEW
    assert submission.form_version_id == vendor_invoice.id
    data = submission.data
    assert data["lines"][0] == {
        "description": "Ergonomic chairs",
        "quantity": "2.00",
        "unit_price": {"amount": "450.00", "currency": "EUR"},
        "amount": {"amount": "900.00", "currency": "EUR"},
    }
    assert data["total"] == {"amount": "1375.00", "currency": "EUR"}
    assert data["invoice_date"] == "2026-11-02"
    assert data["vendor_is_new"] is False
    assert "vendor_tax_id" not in data  # hidden: vendor_is_new is unticked
    assert submission.amount == Decimal("1375.00") and submission.currency == "EUR"
    assert submission.summary == "Acme Office Supplies GmbH · INV-2026-0042"
    assert data["invoice_file"]["name"] == "invoice.pdf"
    assert data["invoice_file"]["content_type"] == "application/pdf"

    listing = browser.get("/submissions")
    assert f"#{submission.id}" in listing.text and "In review" in listing.text
    assert "EUR 1,375.00" in listing.text
    page = browser.get(f"/submissions/{submission.id}")
    assert page.status_code == 200
    assert "Acme Office Supplies GmbH" in page.text and "EUR 1,375.00" in page.text
    assert "Submitted" in page.text


def test_submitting_writes_one_audit_event_with_the_data(browser, alice, vendor_invoice):
    browser.login(alice.email)
    browser.post("/forms/vendor_invoice/new", invoice_post(), content_type="multipart/form-data")
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "submitted")).one()
    assert event.actor == alice.email and event.channel == "web"
    assert event.details["data"]["invoice_number"] == "INV-2026-0042"
    assert event.ip == "127.0.0.1"


@pytest.mark.parametrize(
    ("overrides", "path", "message"),
    [
        ({"vendor_name": ""}, "vendor_name", "Vendor name is required."),
        (
            {"vendor_email": "not-an-email"},
            "vendor_email",
            "Enter an email address like name@example.com.",
        ),
        (
            {"due_date": "2026-10-01"},
            "due_date",
            "The payment due date cannot be before the invoice date.",
        ),
        ({"invoice_date": "2026-02-30"}, "invoice_date", "Enter a real date."),
        ({"lines-1-quantity": "many"}, "lines-1-quantity", "Enter a number, like 1250.50."),
        (
            {"lines-0-unit_price": "45000", "po_number": ""},
            "po_number",
            "Purchase order number is required.",
        ),
        ({"po_number": "12345"}, "po_number", "Use the PO number as issued, like PO-004512."),
        ({"currency": "XXX"}, "currency", "Choose one of the options offered."),
        (
            {"vendor_is_new": "y", "vendor_tax_id": ""},
            "vendor_tax_id",
            "Vendor VAT / tax ID is required.",
        ),
        ({"invoice_file": None}, "invoice_file", "Invoice document is required."),
    ],
)
def test_invalid_invoice_is_shown_again_with_the_error_and_stores_nothing(
    browser, alice, vendor_invoice, overrides, path, message
):
    browser.login(alice.email)
    response = browser.post(
        "/forms/vendor_invoice/new", invoice_post(**overrides), content_type="multipart/form-data"
    )
    assert response.status_code == 422
    page = response.text
    assert message in page
    assert f'href="#{path}"' in page  # the summary links to the field
    assert f'id="err-{path}"' in page  # and the message sits by the field ...
    assert re.search(rf'aria-describedby="[^"]*\berr-{path}\b', page)  # ... tied to the input
    assert 'aria-invalid="true"' in page  # ... which is marked invalid
    assert "Acme Office Supplies GmbH" in page or overrides.get("vendor_name") == ""  # input kept
    assert count(Submission) == 0 and count(Attachment) == 0 and submission_events() == 0


def test_po_number_is_optional_at_or_below_5000(browser, alice, vendor_invoice):
    browser.login(alice.email)
    response = browser.post(
        "/forms/vendor_invoice/new",
        invoice_post(**{"lines-0-unit_price": "2000", "lines-0-quantity": "2.5"}),  # 5,000 + 475
        content_type="multipart/form-data",
    )
    assert response.status_code == 422 and "Purchase order number is required." in response.text
    response = browser.post(
        "/forms/vendor_invoice/new",
        invoice_post(**{"lines-0-unit_price": "1812.50", "lines-0-quantity": "2"}),  # exactly 5,000
        content_type="multipart/form-data",
    )
    assert response.status_code == 302


def test_blank_line_rows_are_dropped_and_do_not_count(browser, alice, vendor_invoice):
    browser.login(alice.email)
    post = invoice_post(
        **{"lines-3-description": "", "lines-3-quantity": "", "lines-3-unit_price": ""}
    )
    response = browser.post("/forms/vendor_invoice/new", post, content_type="multipart/form-data")
    assert response.status_code == 302
    assert len(db.session.scalars(select(Submission)).one().data["lines"]) == 3


def test_invoice_without_lines_asks_for_one(browser, alice, vendor_invoice):
    browser.login(alice.email)
    post = {k: v for k, v in invoice_post().items() if not k.startswith("lines-")}
    response = browser.post("/forms/vendor_invoice/new", post, content_type="multipart/form-data")
    assert response.status_code == 422
    assert (
        "Add at least one row to Invoice lines." in response.text
        or "Add between 1 and 50 rows." in response.text
    )


def test_double_clicked_submit_creates_one_submission(browser, alice, vendor_invoice):
    browser.login(alice.email)
    page = browser.get("/forms/vendor_invoice/new")
    token = page.text.split('name="_client_token" value="')[1].split('"')[0]
    first = browser.post(
        "/forms/vendor_invoice/new",
        invoice_post(_client_token=token),
        content_type="multipart/form-data",
    )
    second = browser.post(
        "/forms/vendor_invoice/new",
        invoice_post(_client_token=token),
        content_type="multipart/form-data",
    )
    assert first.status_code == second.status_code == 302
    assert first.location == second.location
    assert count(Submission) == 1


def test_draft_can_be_saved_incomplete_and_resumed(browser, alice, vendor_invoice):
    browser.login(alice.email)
    response = browser.post(
        "/forms/vendor_invoice/new",
        {"vendor_name": "Half-done Ltd", "lines-0-quantity": "three", "_action": "save_draft"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    draft = db.session.scalars(select(Submission)).one()
    assert draft.status == SubmissionStatus.DRAFT and draft.data is None
    assert draft.draft["vendor_name"] == "Half-done Ltd"
    assert response.location == f"/submissions/{draft.id}/edit"

    page = browser.get(f"/submissions/{draft.id}/edit")
    assert page.status_code == 200
    assert 'value="Half-done Ltd"' in page.text
    assert 'value="three"' in page.text  # kept exactly as typed, even though it is not a number
    assert "Draft" in page.text

    listing = browser.get("/submissions")
    assert "Draft" in listing.text and f"/submissions/{draft.id}/edit" in listing.text

    finished = invoice_post(_action="submit")
    response = browser.post(
        f"/submissions/{draft.id}/edit", finished, content_type="multipart/form-data"
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert count(Submission) == 1
    submitted = db.session.get(Submission, draft.id)
    assert submitted.status == SubmissionStatus.IN_REVIEW and submitted.draft is None
    assert submitted.data["vendor_name"] == "Acme Office Supplies GmbH"


def test_submitted_request_cannot_be_edited_again(browser, alice, vendor_invoice):
    browser.login(alice.email)
    browser.post("/forms/vendor_invoice/new", invoice_post(), content_type="multipart/form-data")
    submission = db.session.scalars(select(Submission)).one()
    page = browser.get(f"/submissions/{submission.id}/edit")
    assert page.status_code == 302 and page.location == f"/submissions/{submission.id}"
    response = browser.post(
        f"/submissions/{submission.id}/edit",
        invoice_post(vendor_name="Changed after the fact"),
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert (
        db.session.get(Submission, submission.id).data["vendor_name"] == "Acme Office Supplies GmbH"
    )


def test_draft_can_be_discarded(browser, alice, vendor_invoice):
    browser.login(alice.email)
    browser.post(
        "/forms/vendor_invoice/new", {"_action": "save_draft"}, content_type="multipart/form-data"
    )
    draft = db.session.scalars(select(Submission)).one()
    response = browser.post(f"/submissions/{draft.id}/discard")
    assert response.status_code == 302
    assert count(Submission) == 0


def test_other_people_cannot_see_or_touch_a_submission(browser, client, alice, bob, vendor_invoice):
    browser.login(alice.email)
    browser.post("/forms/vendor_invoice/new", invoice_post(), content_type="multipart/form-data")
    browser.post(
        "/forms/vendor_invoice/new", {"_action": "save_draft"}, content_type="multipart/form-data"
    )
    submitted, draft = db.session.scalars(select(Submission).order_by(Submission.id)).all()
    attachment = db.session.scalars(select(Attachment)).first()
    browser.post("/logout")

    browser.login(bob.email)
    for url in (
        f"/submissions/{submitted.id}",
        f"/submissions/{draft.id}",
        f"/submissions/{draft.id}/edit",
        f"/submissions/{submitted.id}/files/{attachment.id}",
    ):
        assert browser.get(url).status_code == 404, url
    assert browser.post(f"/submissions/{draft.id}/discard").status_code == 404
    assert browser.post(f"/submissions/{draft.id}/edit", invoice_post()).status_code == 404
    assert "Acme" not in browser.get("/submissions").text
    assert count(Submission) == 2


def test_compliance_can_read_submitted_records_but_not_drafts(browser, alice, cora, vendor_invoice):
    browser.login(alice.email)
    browser.post("/forms/vendor_invoice/new", invoice_post(), content_type="multipart/form-data")
    browser.post(
        "/forms/vendor_invoice/new", {"_action": "save_draft"}, content_type="multipart/form-data"
    )
    submitted, draft = db.session.scalars(select(Submission).order_by(Submission.id)).all()
    browser.post("/logout")
    browser.login(cora.email)
    assert browser.get(f"/submissions/{submitted.id}").status_code == 200
    assert browser.get(f"/submissions/{draft.id}").status_code == 404


def test_post_without_csrf_token_changes_nothing(client, alice, vendor_invoice, browser):
    browser.login(alice.email)
    response = client.post(
        "/forms/vendor_invoice/new", data=invoice_post(), content_type="multipart/form-data"
    )
    assert response.status_code == 400
    assert "This form has expired" in response.text
    assert count(Submission) == 0


def test_unknown_button_is_a_clear_400(browser, alice, vendor_invoice):
    browser.login(alice.email)
    response = browser.post("/forms/vendor_invoice/new", invoice_post(_action="launch_rockets"))
    assert response.status_code == 400
    assert "unknown button" in response.text
    assert count(Submission) == 0


def test_update_button_recalculates_without_saving(browser, alice, vendor_invoice):
    """Without JavaScript, Enter or "Update the form" redisplays totals and follow-up questions."""
    browser.login(alice.email)
    response = browser.post(
        "/forms/vendor_invoice/new", invoice_post(_action="update", vendor_is_new="y")
    )
    assert response.status_code == 200
    assert "EUR 1,375.00" in response.text
    assert 'class="vis vis-on" id="vis-vendor_tax_id"' in response.text
    assert count(Submission) == 0


def test_add_and_remove_row_without_javascript(browser, alice, vendor_invoice):
    browser.login(alice.email)
    added = browser.post("/forms/vendor_invoice/new", invoice_post(_action="add_row:lines"))
    assert added.status_code == 200
    assert 'id="lines-3-description"' in added.text
    removed = browser.post("/forms/vendor_invoice/new", invoice_post(_action="remove_row:lines:0"))
    assert removed.status_code == 200
    assert "Ergonomic chairs" not in removed.text and "Desk lamps" in removed.text
    assert 'id="lines-2-description"' not in removed.text
    assert count(Submission) == 0


@pytest.mark.parametrize(
    "action",
    ["add_row:nonexistent", "remove_row:lines:77", "remove_row:vendor_name:0", "add_row:lines:x"],
)
def test_broken_row_actions_change_nothing(browser, alice, vendor_invoice, action):
    browser.login(alice.email)
    response = browser.post("/forms/vendor_invoice/new", invoice_post(_action=action))
    assert response.status_code in (200, 400)
    assert count(Submission) == 0


def test_archived_form_takes_no_new_requests(browser, alice, vendor_invoice):
    from portal import clock

    vendor_invoice.form.archived_at = clock.now()
    db.session.commit()
    browser.login(alice.email)
    page = browser.get("/forms/vendor_invoice/new")
    assert page.status_code == 410
    assert "no longer accepts requests" in page.text
    assert "Vendor invoice" not in browser.get("/").text.split("Your recent requests")[0]


def test_every_shipped_form_renders(browser, alice, publish):
    for slug in ("vendor_invoice", "purchase_request", "expense_claim", "access_request"):
        publish(slug, shipped_schema(slug))
    browser.login(alice.email)
    for slug in ("vendor_invoice", "purchase_request", "expense_claim", "access_request"):
        page = browser.get(f"/forms/{slug}/new")
        assert page.status_code == 200, slug
        assert csrf_token_in(page.text)


def test_draft_keeps_its_attachment_until_submitted(browser, alice, vendor_invoice):
    browser.login(alice.email)
    browser.post(
        "/forms/vendor_invoice/new",
        invoice_post(
            _action="save_draft", vendor_name="", invoice_file=pdf_upload("draft-copy.pdf")
        ),
    )
    draft = db.session.scalars(select(Submission)).one()
    assert [a.name for a in draft.attachments] == ["draft-copy.pdf"]
    page = browser.get(f"/submissions/{draft.id}/edit")
    assert "Keep <strong>draft-copy.pdf</strong>" in page.text
    token = re.search(r'name="invoice_file__keep" value="([^"]+)"', page.text).group(1)
    response = browser.post(
        f"/submissions/{draft.id}/edit", invoice_post(invoice_file=None, invoice_file__keep=token)
    )
    assert response.status_code == 302
    db.session.expire_all()
    submitted = db.session.get(Submission, draft.id)
    assert submitted.data["invoice_file"]["name"] == "draft-copy.pdf"
    assert [a.name for a in submitted.attachments] == ["draft-copy.pdf"]


def test_oversized_text_gets_a_clear_413_and_stores_nothing(browser, alice, vendor_invoice):
    """A browser posts this form as multipart; one text part over 500 KB is refused whole."""
    browser.login(alice.email)
    # Encoded here, in memory: the test client would spool a body this large to a temporary
    # file that it never closes.
    boundary, body = encode_multipart(
        invoice_post(notes="x" * 2_000_000, invoice_file=None, csrf_token=browser.token)
    )
    response = browser.client.post(
        "/forms/vendor_invoice/new",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    assert response.status_code == 413
    assert "larger than Baton accepts" in response.text
    assert count(Submission) == 0


def test_long_text_within_the_request_limit_is_refused_by_the_field_limit(
    browser, alice, vendor_invoice
):
    browser.login(alice.email)
    response = browser.post("/forms/vendor_invoice/new", invoice_post(notes="x" * 3000))
    assert response.status_code == 422
    assert "Use at most 2000 characters (this has 3000)." in response.text
    assert count(Submission) == 0


def test_draft_with_unstorable_characters_is_saved_without_them(browser, alice, vendor_invoice):
    """Found by the fuzz test on PostgreSQL, which refuses NUL in JSON: a draft keeps the rest."""
    browser.login(alice.email)
    response = browser.post(
        "/forms/vendor_invoice/new",
        {"vendor_name": "Ac\x00me", "notes": "line\x00two", "_action": "save_draft"},
    )
    assert response.status_code == 302
    draft = db.session.scalars(select(Submission)).one().draft
    assert (draft["vendor_name"], draft["notes"]) == ("Acme", "linetwo")
