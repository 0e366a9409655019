"""An admin changes the vendor invoice in the browser: live preview, publish, use it, roll back."""

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.extensions import db
from portal.models import Submission
from portal.services import forms as form_service
from tests.browser.test_vendor_invoice import fill_line, sign_in
from tests.fixtures.users import PASSWORD
from tests.fixtures.web import PDF_BYTES, Browser, invoice_post

CAPEX_FIELD = (
    '\n    {"type": "boolean", "name": "capex", "label": "This is a capital expense",'
    ' "help": "Equipment kept for more than a year goes on the fixed-asset register."},'
)
ASSET_STEP = (
    '\n      {"name": "asset_register", "title": "Fixed-asset register", "sign_as": "Finance",'
    ' "when": "capex", "assignees": [{"group": "finance"}]},'
)


def insert_after(page, marker: str, text: str) -> None:
    """Put the cursor just after `marker` in the schema and type `text` there."""
    area = page.locator("#schema-text")
    area.evaluate(
        """(area, marker) => {
            const at = area.value.indexOf(marker) + marker.length;
            area.focus();
            area.setSelectionRange(at, at);
        }""",
        marker,
    )
    page.keyboard.insert_text(text)


def sign_in_as_admin(page, base, email):
    page.goto(f"{base}/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Forms").click()
    expect(page.get_by_role("heading", name="Forms", level=1)).to_be_visible()


@pytest.mark.slow
def test_admin_adds_a_field_and_a_conditional_step_publishes_and_rolls_back(
    app, page, chromium, live_server, org, ada, vendor_invoice, screenshot
):
    earlier = Browser(app.test_client())
    earlier.login("alice@example.com")
    assert earlier.post("/forms/vendor_invoice/new", data=invoice_post()).status_code == 302
    old = db.session.scalars(select(Submission)).one()

    sign_in_as_admin(page, live_server, ada.email)
    screenshot("admin-forms")
    page.get_by_role("row", name="Vendor invoice").get_by_role("link", name="Edit").click()
    expect(page.get_by_text("No problems found: ready to publish.")).to_be_visible()
    preview = page.locator("#preview")
    expect(preview).not_to_contain_text("This is a capital expense")

    # A typo first: the preview names the path and the line, and the button jumps to it.
    insert_after(
        page, '"fields": [', '\n    {"type": "chekbox", "name": "capex", "label": "Capex"},'
    )
    expect(preview.locator(".schema-errors")).to_contain_text("fields[0].type")
    expect(page.locator("#publish-state")).to_contain_text("1 problem to fix before publishing")
    screenshot("admin-editor-error")
    preview.locator(".schema-errors__line").first.click()
    selected = page.locator("#schema-text").evaluate(
        "a => a.value.slice(a.selectionStart, a.selectionEnd)"
    )
    assert '"chekbox"' in selected

    page.keyboard.press("Delete")  # the selected faulty line goes
    insert_after(page, '"fields": [', CAPEX_FIELD)
    insert_after(page, '"steps": [', ASSET_STEP)
    expect(preview.get_by_text("This is a capital expense")).to_be_visible()
    step = preview.locator('[data-step="asset_register"]')
    expect(step).to_contain_text("Fixed-asset register")
    expect(step).to_contain_text("Only if capex")
    expect(page.locator("#publish-state")).to_have_text("No problems found: ready to publish.")
    screenshot("admin-editor-preview")

    page.get_by_label("What changed").fill("Capital expenses go to the asset register")
    page.get_by_role("button", name="Publish version 2").click()
    # A page says what publishing does and what changes, and asks (no JavaScript confirm).
    expect(page.get_by_role("heading", name="Publish version 2?")).to_be_visible()
    expect(page.locator(".change-list")).to_contain_text("capex")
    page.get_by_role("button", name="Publish version 2").click()
    expect(page.get_by_text("Published Vendor invoice version 2.")).to_be_visible()
    expect(page.get_by_role("row", name="2 Current")).to_contain_text("Ada Byrne")
    screenshot("admin-versions")

    # A new request uses version 2: the field, and the step it brings into the chain.
    staff_context = chromium.new_context(viewport={"width": 1280, "height": 900})
    staff = staff_context.new_page()
    try:
        sign_in(staff, live_server, "alice@example.com")
        staff.goto(f"{live_server}/forms/vendor_invoice/new")
        staff.get_by_label("Vendor name").fill("Heavy Metal Racks AG")
        staff.get_by_label("Vendor billing email").fill("ap@racks.example")
        staff.get_by_label("Invoice number").fill("HMR-77")
        staff.locator("#invoice_date").fill("2026-11-20")
        staff.locator("#due_date").fill("2026-12-20")
        staff.get_by_label("Cost centre").select_option("CC-100")
        fill_line(staff, 0, "Server rack", "1", "900")
        staff.get_by_label("This is a capital expense").check()
        staff.locator("#invoice_file").set_input_files(
            files=[{"name": "hmr-77.pdf", "mimeType": "application/pdf", "buffer": PDF_BYTES}]
        )
        staff.get_by_role("button", name="Submit invoice for approval").click()
        expect(staff.get_by_text("Submitted. Your request is")).to_be_visible()
        expect(staff.locator(".chain")).to_contain_text("Fixed-asset register")
        staff.goto(f"{live_server}/submissions/{old.id}")
        expect(staff.locator(".chain")).not_to_contain_text("Fixed-asset register")
        expect(staff.get_by_text("This is a capital expense")).to_have_count(0)
    finally:
        staff_context.close()
    versions = [s.form_version.number for s in db.session.scalars(select(Submission))]
    assert sorted(versions) == [1, 2]

    page.get_by_role("link", name="Changes from 1").click()
    expect(page.get_by_text("Added the field capex")).to_be_visible()
    expect(page.get_by_text("Added the step asset_register")).to_be_visible()
    screenshot("admin-compare")

    page.go_back()
    page.get_by_role("link", name="Roll back to 1").click()
    expect(page.get_by_role("heading", name="Roll back to version 1?")).to_be_visible()
    expect(page.locator(".confirm__list")).to_contain_text("published again as version 3")
    page.get_by_role("button", name="Roll back to version 1").click()
    expect(page.get_by_text("Rolled back: version 3 is a copy of version 1")).to_be_visible()
    expect(page.get_by_role("row", name="3 Current")).to_be_visible()
    form = form_service.find_form("vendor_invoice")
    db.session.refresh(form)
    assert form.current_version.number == 3
    assert form.current_version.spec.field("capex") is None
