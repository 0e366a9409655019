"""One click downloads the audit-trail PDF: the page shows it being prepared, and the download
starts by itself when the file is ready, with JavaScript and without."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.fixtures.users import PASSWORD

pytestmark = pytest.mark.browser


def sign_in(page, live_server, email: str) -> None:
    page.goto(f"{live_server}/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_one_click_shows_the_preparation_and_downloads_when_ready(
    page, live_server, approvals, org, vendor_invoice, screenshot
):
    submission = approvals.submit_invoice()
    sign_in(page, live_server, "alice@example.com")
    page.goto(f"{live_server}/submissions/{submission.id}")
    page.get_by_role("link", name="Download the audit trail (PDF)").click()
    expect(page.get_by_text("The PDF is being prepared")).to_be_visible()
    screenshot("audit-pdf-being-prepared")
    with page.expect_download(timeout=30_000) as waiting:
        approvals.run_jobs()  # the worker renders it; the page's next poll finds it ready
    download = waiting.value
    assert download.suggested_filename == f"baton-vendor_invoice-{submission.id}-audit-trail.pdf"
    assert Path(download.path()).read_bytes()[:5] == b"%PDF-"
    expect(page.get_by_text("Ready: your download is starting.")).to_be_visible()


def test_without_javascript_the_page_reloads_until_the_file_comes(
    chromium, live_server, approvals, org, vendor_invoice
):
    submission = approvals.submit_invoice()
    context = chromium.new_context(java_script_enabled=False, accept_downloads=True)
    try:
        page = context.new_page()
        sign_in(page, live_server, "alice@example.com")
        page.goto(f"{live_server}/submissions/{submission.id}/audit.pdf")
        expect(page.get_by_text("The PDF is being prepared")).to_be_visible()
        with page.expect_download(timeout=30_000) as waiting:
            approvals.run_jobs()
        assert Path(waiting.value.path()).read_bytes()[:5] == b"%PDF-"
    finally:
        context.close()
