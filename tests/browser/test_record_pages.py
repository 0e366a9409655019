"""What only a browser shows of the record pages: the attachment's pages load as pictures on the
emailed-link page of a signed-out approver, and the records search finds and sorts."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from portal import previews
from portal.demo.history import SAMPLE_PDF
from tests.browser.conftest import ARTIFACTS
from tests.fixtures.users import PASSWORD
from tests.fixtures.web import pdf_pages, pdf_upload

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [390, 1280])
def test_a_signed_out_approver_sees_the_invoice_pages_on_the_link_page(
    chromium, live_server, approvals, org, vendor_invoice, width
):
    approvals.submit_invoice(invoice_file=pdf_upload("Acme March.pdf", pdf_pages(4)))
    # (blank pages: what is measured here is that each one loads and fits its column)
    path = approvals.link_for("bob@example.com")
    context = chromium.new_context(viewport={"width": width, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{live_server}{path}")
        pictures = page.get_by_role("img", name="of Acme March.pdf")
        expect(pictures).to_have_count(previews.MAX_PAGES)
        first = pictures.first
        first.scroll_into_view_if_needed()
        expect(first).to_be_visible()
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=first.element_handle()
        )
        assert first.evaluate("img => img.naturalWidth") == previews.PAGE_WIDTH
        shown = first.bounding_box()
        section = page.locator("section.attachments").bounding_box()
        assert shown["width"] <= section["width"]  # scaled to its column, never wider
        expect(page.get_by_text("Showing the first 3 of 4 pages")).to_be_visible()
        expect(page.get_by_role("link", name="Download Acme March.pdf")).to_be_visible()
    finally:
        context.close()


@pytest.mark.parametrize("width", [390, 1280])
def test_the_demo_invoice_reads_on_the_link_page(
    chromium, live_server, approvals, org, vendor_invoice, width
):
    """The demo's sample invoice, as an approver sees it on a phone and a desktop (the
    screenshots go to test-artifacts/ for a person to look at)."""
    body = SAMPLE_PDF.read_bytes()
    approvals.submit_invoice(invoice_file=pdf_upload("ACME-1042.pdf", body))
    path = approvals.link_for("bob@example.com")
    context = chromium.new_context(viewport={"width": width, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{live_server}{path}")
        picture = page.get_by_role("img", name="Page 1 of ACME-1042.pdf")
        picture.scroll_into_view_if_needed()
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=picture.element_handle()
        )
        expect(page.get_by_text("Showing the first")).to_have_count(0)  # one page: all of it
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"link-page-pdf-preview-{width}.png"), full_page=True)
    finally:
        context.close()


def test_the_records_search_finds_an_invoice_number_and_sorts_by_amount(
    page, live_server, approvals, org, vendor_invoice
):
    cheap = approvals.submit_invoice(**{"lines-0-quantity": "1"})
    dear = approvals.submit_invoice(invoice_number="ACME-1042", **{"lines-0-quantity": "9"})
    page.goto(f"{live_server}/login")
    page.get_by_label("Email address").fill("cora@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live_server}/compliance/")
    page.get_by_label("Words in the request").fill("ACME-1042")
    page.get_by_role("button", name="Search").click()
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(dear.reference)
    page.get_by_label("Words in the request").fill("")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="Amount").click()
    heading = page.get_by_role("columnheader", name="Amount")
    expect(heading).to_have_attribute("aria-sort", "descending")
    expect(rows.first).to_contain_text(dear.reference)
    page.get_by_role("link", name="Amount").click()
    expect(heading).to_have_attribute("aria-sort", "ascending")
    expect(rows.first).to_contain_text(cheap.reference)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "records-search-sorted.png"), full_page=True)
