"""A process owner opens the vendor invoice dashboard on a generated year of history."""

import re

import pytest
from playwright.sync_api import expect

SENTENCE = r"holds \d+(\.\d)?% of all waiting time; median wait "


@pytest.mark.slow
def test_the_dashboard_reads_without_javascript_errors_and_downloads_csv(
    app, page, live_server, screenshot
):
    result = app.test_cli_runner().invoke(
        args=["baton", "seed-demo", "--submissions", "400", "--days", "120", "--seed", "3"]
    )
    assert result.exit_code == 0, result.output

    page.goto(f"{live_server}/login")
    page.get_by_label("Email address").fill("ada@example.com")
    page.get_by_label("Password").fill("baton-demo")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Insight").click()
    expect(page.get_by_role("heading", name="How requests really run", level=1)).to_be_visible()
    page.get_by_role("link", name="Vendor invoice").click()

    expect(page.get_by_role("heading", name="Vendor invoice", level=1)).to_be_visible()
    expect(page.locator(".headline__sentence")).to_contain_text("of all waiting time")
    expect(page.locator(".headline__sentence")).to_have_text(re.compile(SENTENCE))
    expect(page.get_by_role("img", name="Process map of Vendor invoice")).to_be_visible()
    expect(page.locator("svg.chart rect.bar--submitted").first).to_be_visible()
    expect(page.locator("svg.chart polyline.line--median").first).to_be_visible()
    # The stylesheet is applied (no inline styles: the CSP forbids them).
    fill = page.locator(".map__pill").first.evaluate("el => getComputedStyle(el).fill")
    assert fill == "rgb(15, 23, 42)"
    screenshot("insight-dashboard")

    with page.expect_download() as download:
        page.locator("#steps-heading ~ .csv-link").click()
    assert download.value.suggested_filename.startswith("vendor_invoice-steps-")

    page.get_by_role("link", name="Last 12 months").click()
    expect(page.get_by_role("heading", name="Requests per month")).to_be_visible()
    page.get_by_label("First day").fill("2026-12-31")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_text("That period cannot be shown")).to_be_visible()

    # A finance team member sees the finance step of the vendor invoice, and nothing form-wide.
    page.get_by_role("button", name="Sign out").click()
    page.goto(f"{live_server}/login")
    page.get_by_label("Email address").fill("fiona@example.com")
    page.get_by_label("Password").fill("baton-demo")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Insight").click()
    page.get_by_role("link", name="Vendor invoice").click()
    expect(
        page.get_by_role("region", name="Figures").get_by_role("rowheader", name="Finance approval")
    ).to_be_visible()
    expect(page.get_by_role("rowheader", name="Cost-centre owner approval")).to_have_count(0)
    expect(page.locator(".headline")).to_have_count(0)
    expect(page.get_by_role("heading", name="Approvers")).to_have_count(0)
    screenshot("insight-dashboard-step-group")
