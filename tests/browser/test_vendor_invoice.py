"""A person fills in the vendor invoice in a real browser: live total, conditional field, submit."""

from playwright.sync_api import expect
from sqlalchemy import select

from portal.extensions import db
from portal.models import Submission, SubmissionStatus
from tests.fixtures.users import PASSWORD
from tests.fixtures.web import PDF_BYTES


def sign_in(page, base, email):
    page.goto(f"{base}/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Start a request")).to_be_visible()


def fill_line(page, index, description, quantity, price):
    page.locator(f"#lines-{index}-description").fill(description)
    page.locator(f"#lines-{index}-quantity").fill(quantity)
    page.locator(f"#lines-{index}-unit_price").fill(price)


def test_fill_vendor_invoice_with_three_lines_and_submit(
    page, live_server, alice, vendor_invoice, screenshot
):
    sign_in(page, live_server, alice.email)
    screenshot("home")
    page.get_by_role("link", name="Vendor invoice").click()
    expect(page.get_by_role("heading", name="Vendor invoice", level=1)).to_be_visible()

    page.get_by_label("Vendor name").fill("Acme Office Supplies GmbH")
    page.get_by_label("Vendor billing email").fill("billing@acme.example")
    tax_id = page.locator("#wrap-vendor_tax_id")
    expect(tax_id).to_be_hidden()
    page.get_by_label("This is a new vendor").check()
    expect(tax_id).to_be_visible()  # shown by htmx, no page load
    page.get_by_label("Vendor VAT / tax ID").fill("DE 123456789")

    page.get_by_label("Invoice number").fill("INV-2026-0042")
    page.locator("#invoice_date").fill("2026-11-02")
    page.locator("#due_date").fill("2026-12-02")
    page.get_by_label("Cost centre").select_option("CC-300")

    fill_line(page, 0, "Ergonomic chairs", "2", "450.00")
    expect(page.locator("#out-lines-0-amount")).to_have_text("EUR 900.00")
    page.get_by_role("button", name="+ Add a line").click()
    expect(page.locator("#lines-1-description")).to_be_focused()  # the new row takes the focus
    fill_line(page, 1, "Desk lamps", "5", "55")
    page.get_by_role("button", name="+ Add a line").click()
    fill_line(page, 2, "Delivery", "1", "200")
    expect(page.locator("#out-total")).to_have_text("EUR 1,375.00")

    page.get_by_label("Currency").select_option("CHF")
    expect(page.locator("#out-total")).to_have_text("CHF 1,375.00")
    expect(page.locator("#cur-lines-unit_price")).to_have_text("CHF")

    page.locator("#invoice_file").set_input_files(
        files=[
            {"name": "acme-INV-2026-0042.pdf", "mimeType": "application/pdf", "buffer": PDF_BYTES}
        ]
    )
    screenshot("vendor-invoice-filled")
    page.get_by_role("button", name="Submit invoice for approval").click()

    expect(page.get_by_text("Submitted. Your request is")).to_be_visible()
    expect(page.get_by_text("CHF 1,375.00").first).to_be_visible()
    screenshot("vendor-invoice-submitted")
    page.get_by_role("link", name="My submissions").first.click()
    row = page.locator("table.table tbody tr").first
    expect(row).to_contain_text("Acme Office Supplies GmbH · INV-2026-0042")
    expect(row).to_contain_text("In review")
    screenshot("my-submissions")

    submission = db.session.scalars(select(Submission)).one()
    assert submission.status == SubmissionStatus.IN_REVIEW
    assert submission.data["total"] == {"amount": "1375.00", "currency": "CHF"}
    assert submission.data["vendor_tax_id"] == "DE 123456789"
    assert len(submission.data["lines"]) == 3


def test_po_number_becomes_required_live_and_errors_are_summarised(
    page, live_server, alice, vendor_invoice, screenshot
):
    sign_in(page, live_server, alice.email)
    page.goto(f"{live_server}/forms/vendor_invoice/new")
    required = page.locator("#req-po_number")
    expect(required).to_contain_text("(optional)")
    fill_line(page, 0, "Server rack", "1", "7500")
    expect(required).to_contain_text("(required)")
    expect(page.locator("#out-total")).to_have_text("EUR 7,500.00")

    page.get_by_role("button", name="Submit invoice for approval").click()
    summary = page.locator(".error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_contain_text("Purchase order number is required.")
    expect(summary).to_be_focused()  # a screen reader hears the problems first
    screenshot("vendor-invoice-errors")
    summary.get_by_role("link", name="Vendor name is required.").click()
    expect(page.get_by_label("Vendor name")).to_be_focused()
    assert db.session.scalars(select(Submission)).all() == []


def test_remove_row_and_keyboard_only_submit_path(page, live_server, alice, vendor_invoice):
    sign_in(page, live_server, alice.email)
    page.goto(f"{live_server}/forms/vendor_invoice/new")
    fill_line(page, 0, "First", "1", "10")
    page.get_by_role("button", name="+ Add a line").click()
    fill_line(page, 1, "Second", "2", "20")
    expect(page.locator("#out-total")).to_have_text("EUR 50.00")
    page.get_by_role("button", name="Remove row 1").click()
    expect(page.locator("#lines-0-description")).to_have_value("Second")
    expect(page.locator("#out-total")).to_have_text("EUR 40.00")
    # Enter in a text field redisplays (recalculates) instead of submitting by accident
    page.get_by_label("Vendor name").fill("Keyboard Ltd")
    page.get_by_label("Vendor name").press("Enter")
    expect(page.get_by_label("Vendor name")).to_have_value("Keyboard Ltd")
    assert db.session.scalars(select(Submission)).all() == []


def test_the_form_works_without_javascript(chromium, live_server, alice, vendor_invoice):
    context = chromium.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        sign_in(page, live_server, alice.email)
        page.goto(f"{live_server}/forms/vendor_invoice/new")
        fill_line(page, 0, "Paper", "10", "4.50")
        page.get_by_role("button", name="+ Add a line").click()  # a full POST, shown again
        fill_line(page, 1, "Toner", "2", "80")
        page.get_by_label("This is a new vendor").check()
        page.get_by_role("button", name="Update the form").click()
        expect(page.locator("#out-total")).to_have_text("EUR 205.00")
        expect(page.locator("#wrap-vendor_tax_id")).to_be_visible()
        expect(page.locator("#lines-0-description")).to_have_value("Paper")
    finally:
        context.close()
    assert db.session.scalars(select(Submission)).all() == []
