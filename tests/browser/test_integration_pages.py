"""Tokens and webhooks as people use them: a token shown once, a webhook registered and tested."""

from playwright.sync_api import expect
from sqlalchemy import select

from portal.extensions import db
from portal.models import ApiToken
from tests.api.test_webhooks import Receiver
from tests.browser.test_schema_editor import sign_in_as_admin
from tests.browser.test_vendor_invoice import sign_in


def test_a_person_makes_a_token_sees_it_once_and_revokes_it(page, live_server, org, screenshot):
    sign_in(page, live_server, "alice@example.com")
    page.get_by_role("link", name="Alice Martin").click()
    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Name").fill("ERP invoice import")
    page.get_by_role("button", name="Create a token").click()
    shown = page.locator("#new-token")
    expect(shown).to_contain_text("baton_")
    token = shown.inner_text()
    screenshot("api-token-created")
    row = db.session.scalars(select(ApiToken)).one()
    assert row.token_hash != token and row.name == "ERP invoice import"
    page.reload()  # no second token, and the token is not shown again
    expect(page.locator("#new-token")).to_have_count(0)
    assert len(db.session.scalars(select(ApiToken)).all()) == 1
    listed = page.get_by_role("row", name="ERP invoice import")
    expect(listed).to_contain_text("never")
    listed.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("Revoked “ERP invoice import”: it no longer works.")).to_be_visible()
    expect(page.get_by_role("row", name="ERP invoice import")).to_contain_text("Revoked")


def test_an_admin_registers_a_webhook_and_sends_a_test(
    page, live_server, org, ada, screenshot, run_jobs, private_webhook_targets
):
    receiver = Receiver()
    try:
        sign_in_as_admin(page, live_server, ada.email)
        page.get_by_role("link", name="Webhooks").click()
        page.get_by_label("URL").fill(receiver.url)
        page.get_by_label("Description").fill("ERP: post approved invoices")
        page.locator('input[name="events"][value="task.created"]').check()
        page.get_by_role("button", name="Register").click()
        expect(page.get_by_text("Registered.")).to_be_visible()
        page.get_by_role("button", name="Send a test event").click()
        run_jobs()
        page.reload()
        row = page.locator("#deliveries").locator("xpath=following::table[1]//tbody/tr").first
        expect(row).to_contain_text("ping")
        expect(row).to_contain_text("Delivered")
        expect(row).to_contain_text("HTTP 204")
        screenshot("admin-webhook")
        row.get_by_role("link").first.click()
        expect(page.get_by_role("heading", name="Delivery 1: ping")).to_be_visible()
        screenshot("admin-webhook-delivery")
    finally:
        receiver.close()
    assert receiver.events() == ["ping"]
