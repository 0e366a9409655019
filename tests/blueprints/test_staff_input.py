"""Hostile posts of the vendor invoice web form: each refused with a 4xx that names the problem.

The API's corpus is tests/api/test_api_input.py; this is the browser's side of it (a browser
posts strings, so the faults are in the strings). Nothing is stored: the rows of submission,
attachment, audit_event and outbox_message are counted before and after.
"""

from __future__ import annotations

import io

import pytest
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from tests.api.test_api_input import rows
from tests.fixtures.web import PDF_BYTES, invoice_post, pdf_upload

MANY_ROWS = {f"lines-{i}-{c}": "1" for i in range(120) for c in ("description", "quantity")}

#: name -> (what is posted over a valid invoice, the status, what the page must say).
HOSTILE: dict[str, tuple[dict, int, str]] = {
    "NUL in a name": ({"vendor_name": "Acme\x00Ltd"}, 422, "Remove the control characters"),
    "newline in a name": ({"vendor_name": "Acme\nLtd"}, 422, "Use a single line."),
    "name over max_length": ({"vendor_name": "x" * 5000}, 422, "Use at most 120 characters"),
    "name posted twice": ({"vendor_name": ["Acme", "Evil"]}, 422, "Give one value, not a list."),
    "email without a domain": ({"vendor_email": "billing@"}, 422, "Enter an email address"),
    "date not real": ({"invoice_date": "2026-02-30"}, 422, "Enter a real date."),
    "date in another format": ({"invoice_date": "02/11/2026"}, 422, "as YYYY-MM-DD"),
    "currency not offered": ({"currency": "XAU"}, 422, "Choose one of the options offered."),
    "currency posted twice": ({"currency": ["EUR", "GBP"]}, 422, "Give one value, not a list."),
    "cost centre not offered": ({"cost_centre": "CC-999"}, 422, "Choose one of the options"),
    "quantity in words": ({"lines-0-quantity": "ten"}, 422, "Enter a number, like 1250.50."),
    "quantity too long": ({"lines-0-quantity": "9" * 60}, 422, "This number is too long."),
    "price with a tenth of a cent": ({"lines-0-unit_price": "1.001"}, 422, "2 decimal places"),
    "price too large": ({"lines-0-unit_price": "1" + "0" * 30}, 422, "This number is too large."),
    "far too many rows": (MANY_ROWS, 422, "Use at most"),
    "due before the invoice": ({"due_date": "2026-01-01"}, 422, "cannot be before"),
    "a program as the invoice": (
        {"invoice_file": pdf_upload("invoice.pdf", b"MZ\x90\x00" * 100)},
        422,
        "its contents say otherwise",
    ),
    "an empty file": ({"invoice_file": pdf_upload("invoice.pdf", b"")}, 422, "is empty"),
    "an unknown button": ({"_action": "explode"}, 400, "unknown button"),
    "no CSRF token": ({"csrf_token": ""}, 400, "This form has expired"),
}


@pytest.mark.parametrize(("changes", "status", "says"), HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_form_post_is_refused_by_name_and_stores_nothing(
    browser, alice, vendor_invoice, changes, status, says
):
    browser.login(alice.email)
    before = rows()
    response = browser.post("/forms/vendor_invoice/new", invoice_post(**changes))
    assert response.status_code == status
    assert says in response.text
    assert rows() == before


def test_a_form_post_may_carry_its_attachments_on_top_of_the_body_limit(
    app, browser, alice, vendor_invoice
):
    app.config["MAX_BODY_BYTES"] = 20_000
    browser.login(alice.email)
    big = pdf_upload("invoice.pdf", PDF_BYTES + b"%" * 60_000)  # within the field's 10 MB
    response = browser.post("/forms/vendor_invoice/new", invoice_post(invoice_file=big))
    assert response.status_code == 302
    assert rows()["submission"] == 1


def test_a_form_post_beyond_its_attachments_and_the_body_limit_is_a_413(
    app, browser, alice, vendor_invoice
):
    app.config["MAX_BODY_BYTES"] = 20_000
    browser.login(alice.email)
    before = rows()
    response = browser.post("/forms/vendor_invoice/new", invoice_post(notes="x" * 30_000))
    # The 30 KB fit within the invoice file's allowance: refused by the field's own limit.
    assert response.status_code == 422
    # Encoded here, in memory: the test client would spool a body this large to a temporary
    # file that it never closes.
    too_big = PDF_BYTES + b"%" * (10 * 1024 * 1024 + 30_000)
    boundary, body = encode_multipart(
        invoice_post(
            invoice_file=FileStorage(io.BytesIO(too_big), "invoice.pdf", "invoice_file"),
            csrf_token=browser.token,
        )
    )
    response = browser.client.post(
        "/forms/vendor_invoice/new",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    assert response.status_code == 413
    assert "larger than Baton accepts" in response.text
    assert rows() == before


def test_a_post_that_carries_no_files_is_held_to_the_body_limit(
    app, browser, alice, vendor_invoice
):
    app.config["MAX_BODY_BYTES"] = 20_000
    browser.login(alice.email)
    response = browser.post("/submissions/1/discard", {"notes": "x" * 30_000})
    assert response.status_code == 413
    assert "larger than Baton accepts" in response.text


def test_the_live_preview_takes_the_file_a_person_has_chosen(app, browser, alice, vendor_invoice):
    """htmx posts the whole form as it is, with the file chosen but not yet sent, while typing."""
    app.config["MAX_BODY_BYTES"] = 20_000
    browser.login(alice.email)
    chosen = pdf_upload("invoice.pdf", PDF_BYTES + b"%" * 60_000)
    response = browser.post(
        f"/versions/{vendor_invoice.id}/live", invoice_post(invoice_file=chosen), htmx=True
    )
    assert response.status_code == 200
