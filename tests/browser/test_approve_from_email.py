"""An approver follows the emailed link in a real browser and approves; the submitter sees it."""

from playwright.sync_api import expect

from portal.models import SubmissionStatus


def test_approve_from_the_emailed_link(
    page, live_server, approvals, org, vendor_invoice, screenshot
):
    submission = approvals.submit_invoice()
    path = approvals.link_for("bob@example.com")
    page.goto(f"{live_server}{path}")
    expect(page.get_by_role("heading", name="Vendor invoice #1")).to_be_visible()
    expect(page.get_by_text("Cost-centre owner approval · your decision")).to_be_visible()
    screenshot("approve-from-email")
    page.get_by_label("Comment").fill("Matches the delivery note.")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("heading", name="Approved: Vendor invoice #1")).to_be_visible()
    approvals.run_jobs()

    assert approvals.submission(submission.id).status == SubmissionStatus.IN_REVIEW
    finance = approvals.open_tasks(submission, "finance")
    assert len(finance) == 3

    page.goto(f"{live_server}{path}")  # the same link again: dead, and says so
    expect(page.get_by_role("heading", name="This task is already closed")).to_be_visible()

    page.goto(f"{live_server}/login")
    page.get_by_label("Email address").fill("alice@example.com")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live_server}/submissions/{submission.id}")
    step = page.locator(".chain__step").first
    expect(step).to_contain_text("Bob Okafor")
    expect(step).to_contain_text("Matches the delivery note.")
    screenshot("submission-chain")
