"""File uploads: checked by content and size, stored by hash, served only as downloads."""

import hashlib
import io
import re

import pytest
from sqlalchemy import func, select

from portal import storage, uploads
from portal.extensions import db
from portal.models import Attachment, StoredFile, Submission
from tests.fixtures.forms import shipped_schema
from tests.fixtures.web import PDF_BYTES, PNG_BYTES, invoice_post, pdf_upload


def submissions() -> int:
    return db.session.scalar(select(func.count()).select_from(Submission))


def test_upload_is_stored_by_sha256_and_downloads_as_attachment(
    app, browser, alice, vendor_invoice
):
    browser.login(alice.email)
    body = PDF_BYTES + b"% unique body for this test\n"
    response = browser.post(
        "/forms/vendor_invoice/new", invoice_post(invoice_file=pdf_upload("March.pdf", body))
    )
    assert response.status_code == 302
    digest = hashlib.sha256(body).hexdigest()
    with uploads.open_blob(digest) as stored:
        assert stored.read() == body
    assert storage.current().exists(f"uploads/{digest[:2]}/{digest}")  # never the person's name
    attachment = db.session.scalars(select(Attachment)).one()
    assert (attachment.name, attachment.size, attachment.sha256) == ("March.pdf", len(body), digest)
    assert db.session.get(StoredFile, digest).content_type == "application/pdf"

    with browser.get(f"/submissions/{attachment.submission_id}/files/{attachment.id}") as download:
        assert download.status_code == 200
        assert download.data == body
        assert download.headers["Content-Disposition"].startswith("attachment;")
        assert "March.pdf" in download.headers["Content-Disposition"]
        assert download.headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in download.headers["Content-Security-Policy"]


def test_file_whose_contents_are_not_an_accepted_kind_is_refused(browser, alice, vendor_invoice):
    browser.login(alice.email)
    disguised = (io.BytesIO(b"MZ\x90\x00 this is really a Windows program"), "invoice.pdf")
    response = browser.post("/forms/vendor_invoice/new", invoice_post(invoice_file=disguised))
    assert response.status_code == 422
    assert "invoice.pdf is not a PDF, PNG image or JPEG image file" in response.text
    assert submissions() == 0


def test_accepted_kind_is_judged_by_bytes_not_name(browser, alice, vendor_invoice):
    browser.login(alice.email)
    png_named_pdf = (io.BytesIO(PNG_BYTES), "scan.pdf")
    response = browser.post("/forms/vendor_invoice/new", invoice_post(invoice_file=png_named_pdf))
    assert response.status_code == 302
    attachment = db.session.scalars(select(Attachment)).one()
    assert attachment.content_type == "image/png"


def test_image_where_only_pdf_is_accepted_says_what_it_is(browser, alice, publish):
    schema = shipped_schema("vendor_invoice")
    for field in schema["fields"]:
        if field.get("name") == "invoice_file":
            field["accept"] = ["pdf"]
    publish("vendor_invoice", schema)
    browser.login(alice.email)
    response = browser.post(
        "/forms/vendor_invoice/new", invoice_post(invoice_file=(io.BytesIO(PNG_BYTES), "x.png"))
    )
    assert response.status_code == 422
    assert "x.png is a PNG image; attach a PDF file." in response.text


def test_file_over_the_field_limit_is_refused_without_storing_it(app, browser, alice, publish):
    schema = shipped_schema("vendor_invoice")
    for field in schema["fields"]:
        if field.get("name") == "invoice_file":
            field["max_size_mb"] = 0.01  # about 10 KB
    publish("vendor_invoice", schema)
    browser.login(alice.email)
    big = PDF_BYTES + b"0" * 20_000
    response = browser.post(
        "/forms/vendor_invoice/new", invoice_post(invoice_file=pdf_upload("big.pdf", big))
    )
    assert response.status_code == 422
    assert "big.pdf is larger than the 0.01 MB limit." in response.text
    assert not uploads.has_blob(hashlib.sha256(big).hexdigest())
    assert submissions() == 0


def test_request_over_the_global_limit_gets_a_clear_413(app, browser, alice, vendor_invoice):
    app.config["MAX_CONTENT_LENGTH"] = 50_000
    browser.login(alice.email)
    response = browser.post(
        "/forms/vendor_invoice/new",
        invoice_post(invoice_file=pdf_upload("huge.pdf", PDF_BYTES + b"0" * 60_000)),
    )
    assert response.status_code == 413
    assert "larger than Baton accepts" in response.text
    assert submissions() == 0


def test_empty_file_is_refused(browser, alice, vendor_invoice):
    browser.login(alice.email)
    response = browser.post(
        "/forms/vendor_invoice/new", invoice_post(invoice_file=(io.BytesIO(b""), "empty.pdf"))
    )
    assert response.status_code == 422
    assert submissions() == 0


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("C:/Users/me/evil.pdf", "evil.pdf"),
        ("<script>alert(1)</script>.pdf", "script_.pdf"),  # "/" ends a path part
        ("invoice%0d%0a.pdf", "invoice%0d%0a.pdf"),
        ("Rechnung März €.pdf", "Rechnung März €.pdf"),
        ("a" * 300 + ".pdf", "a" * 196 + ".pdf"),
        ("...", "upload.pdf"),
        ("poly.html", "poly.pdf"),  # the extension follows what the bytes are
        ("scan", "scan.pdf"),
        ("invoice\u202efdp.exe", "invoicefdp.pdf"),  # no right-to-left override
        ("\u2067report\u2069.pdf", "report.pdf"),
    ],
)
def test_hostile_file_names_are_cleaned_and_never_used_as_paths(
    app, browser, alice, vendor_invoice, given, kept
):
    browser.login(alice.email)
    response = browser.post(
        "/forms/vendor_invoice/new", invoice_post(invoice_file=pdf_upload(given))
    )
    assert response.status_code == 302, response.text
    attachment = db.session.scalars(select(Attachment)).one()
    assert attachment.name == kept
    assert uploads.has_blob(attachment.sha256)
    assert all(
        re.fullmatch(r"uploads/[0-9a-f]{2}/[0-9a-f]{64}", key)
        for key, _ in storage.current().keys("uploads/")
    )
    with browser.get(f"/submissions/{attachment.submission_id}/files/{attachment.id}") as download:
        assert download.status_code == 200
        disposition = download.headers["Content-Disposition"]
        assert "\r" not in disposition and "\n" not in disposition
        assert disposition.endswith(".pdf")


def test_a_file_stored_under_another_kinds_name_downloads_under_its_own(
    browser, alice, vendor_invoice
):
    browser.login(alice.email)
    response = browser.post("/forms/vendor_invoice/new", invoice_post())
    assert response.status_code == 302
    attachment = db.session.scalars(select(Attachment)).one()
    attachment.name = "poly\u202e.html"  # as a file uploaded before names were fixed is kept
    db.session.commit()
    url = f"/submissions/{attachment.submission_id}/files/{attachment.id}"
    with browser.get(url) as download:
        assert download.headers["Content-Disposition"] == "attachment; filename=poly.pdf"


def test_uploaded_file_is_kept_when_the_form_comes_back_with_errors(browser, alice, vendor_invoice):
    browser.login(alice.email)
    refused = browser.post(
        "/forms/vendor_invoice/new",
        invoice_post(vendor_name="", invoice_file=pdf_upload("keep-me.pdf")),
    )
    assert refused.status_code == 422
    assert "Keep <strong>keep-me.pdf</strong>" in refused.text
    token = re.search(r'name="invoice_file__keep" value="([^"]+)"', refused.text).group(1)
    fixed = invoice_post(invoice_file=None, invoice_file__keep=token)
    response = browser.post("/forms/vendor_invoice/new", fixed)
    assert response.status_code == 302
    assert db.session.scalars(select(Attachment)).one().name == "keep-me.pdf"


def test_a_keep_token_is_good_only_for_the_person_it_was_given_to(
    browser, alice, bob, vendor_invoice
):
    browser.login(alice.email)
    refused = browser.post(
        "/forms/vendor_invoice/new",
        invoice_post(vendor_name="", invoice_file=pdf_upload("alices.pdf")),
    )
    token = re.search(r'name="invoice_file__keep" value="([^"]+)"', refused.text).group(1)
    browser.post("/logout")
    browser.login(bob.email)
    response = browser.post(
        "/forms/vendor_invoice/new", invoice_post(invoice_file=None, invoice_file__keep=token)
    )
    assert response.status_code == 422
    assert "Invoice document is required." in response.text
    forged = browser.post(
        "/forms/vendor_invoice/new",
        invoice_post(invoice_file=None, invoice_file__keep=token[:-4] + "AAAA"),
    )
    assert forged.status_code == 422
    assert submissions() == 0


def test_expense_claim_takes_several_receipts(browser, alice, publish):
    publish("expense_claim", shipped_schema("expense_claim"))
    browser.login(alice.email)
    data = {
        "purpose": "Customer visit to Lyon",
        "period_start": "2026-11-03",
        "period_end": "2026-11-05",
        "currency": "EUR",
        "expenses-0-date": "2026-11-03",
        "expenses-0-category": "travel",
        "expenses-0-description": "Train Paris-Lyon",
        "expenses-0-amount": "89.50",
        "expenses-1-date": "2026-11-04",
        "expenses-1-category": "lodging",
        "expenses-1-description": "Hotel, 2 nights",
        "expenses-1-amount": "240",
        "declaration": "y",
        "receipts": [
            pdf_upload("train.pdf", PDF_BYTES + b"1"),
            (io.BytesIO(PNG_BYTES), "hotel.png"),
        ],
        "_action": "submit",
    }
    response = browser.post("/forms/expense_claim/new", data)
    assert response.status_code == 302, response.text
    submission = db.session.scalars(select(Submission)).one()
    assert [r["name"] for r in submission.data["receipts"]] == ["train.pdf", "hotel.png"]
    assert submission.data["total"] == {"amount": "329.50", "currency": "EUR"}
    assert len(submission.attachments) == 2


def test_expense_outside_the_claim_period_is_refused(browser, alice, publish):
    publish("expense_claim", shipped_schema("expense_claim"))
    browser.login(alice.email)
    data = {
        "purpose": "Trip",
        "period_start": "2026-11-03",
        "period_end": "2026-11-05",
        "currency": "EUR",
        "expenses-0-date": "2026-10-30",
        "expenses-0-category": "meals",
        "expenses-0-description": "Dinner",
        "expenses-0-amount": "40",
        "declaration": "y",
        "receipts": [pdf_upload()],
        "_action": "submit",
    }
    response = browser.post("/forms/expense_claim/new", data)
    assert response.status_code == 422
    assert "Every expense must fall inside the claim period." in response.text
