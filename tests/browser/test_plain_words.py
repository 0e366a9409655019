"""What people read, in a real browser: where a request stands, why it was sent back, what a
withdrawal does, who decided, and a decision within reach on a phone."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from portal.models import SubmissionStatus

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
PHONE = {"width": 390, "height": 844}


def sign_in(page, live_server: str, email: str) -> None:
    page.goto(f"{live_server}/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).not_to_have_url(re.compile(r"/login"))


def test_the_request_page_tells_where_it_stands_in_words(
    page, live_server, approvals, org, vendor_invoice, screenshot
):
    submission = approvals.submit_invoice()
    approvals.decide_by_link("bob@example.com", "approve", "Matches the order.")
    sign_in(page, live_server, "alice@example.com")
    page.goto(f"{live_server}/submissions/{submission.id}")

    story = page.locator(".story")
    steps = story.locator(".story__item")
    expect(steps.nth(0)).to_contain_text("Submitted by Alice Martin")
    expect(steps.nth(1)).to_contain_text("Cost-centre owner approval: Approved")
    expect(steps.nth(1)).to_contain_text("Approved by Bob Okafor")
    expect(steps.nth(2)).to_contain_text("New vendor check: Not needed")
    expect(steps.nth(2)).to_contain_text("Runs only when this is a new vendor.")
    expect(steps.nth(3)).to_contain_text("Finance approval: Waiting for a decision")
    expect(steps.nth(3)).to_contain_text("any one of them")
    expect(steps.nth(4)).to_contain_text("CFO approval: Not needed")
    expect(steps.nth(4)).to_contain_text("only when the invoice total is above EUR 10,000")

    # The full log is there, folded away, in words.
    log = page.locator("details.history")
    expect(log.locator(".timeline")).to_be_hidden()
    log.locator("summary").click()
    expect(log.locator(".timeline")).to_be_visible()
    expect(log).to_contain_text("Baton")
    text = page.locator("main").inner_text()
    for internal in ("system (", "start_chain", "vendor_is_new", "total > 10000", "cost_centre"):
        assert internal not in text, f"{internal!r} is shown to the submitter"
    assert "“cost_centre”" not in text and "Waiting\n" not in text
    screenshot("request-where-it-stands")


def test_a_rejection_puts_its_reason_on_top_and_later_steps_are_not_reached(
    page, live_server, approvals, org, vendor_invoice
):
    submission = approvals.submit_invoice()
    approvals.decide_by_link("bob@example.com", "reject", "This vendor is not under contract.")
    sign_in(page, live_server, "alice@example.com")
    page.goto(f"{live_server}/submissions/{submission.id}")

    reason = page.locator(".reason")
    expect(reason).to_contain_text("Bob Okafor rejected this request")
    expect(reason).to_contain_text("This vendor is not under contract.")
    record = page.locator(".record")
    assert reason.bounding_box()["y"] < record.bounding_box()["y"], "the reason is not on top"
    badges = page.locator(".chain .badge").all_inner_texts()
    assert badges == ["Rejected", "Not reached", "Not reached", "Not reached"], badges
    story = page.locator(".story").inner_text()
    assert "Waiting" not in story


def test_the_edit_form_opens_with_the_reason_for_changes(
    page, live_server, approvals, org, vendor_invoice
):
    submission = approvals.submit_invoice()
    approvals.decide_by_link("bob@example.com", "request_changes", "Attach the signed order.")
    sign_in(page, live_server, "alice@example.com")
    page.goto(f"{live_server}/submissions/{submission.id}")
    expect(page.locator(".reason")).to_contain_text("Bob Okafor asked for changes")
    page.get_by_role("link", name="Edit and resubmit").click()
    reason = page.locator(".reason")
    expect(reason).to_contain_text("Attach the signed order.")
    assert reason.bounding_box()["y"] < page.locator("form .form-grid").bounding_box()["y"]


def test_withdrawing_asks_first_on_a_page_that_works_without_javascript(
    chromium, live_server, approvals, org, vendor_invoice
):
    submission = approvals.submit_invoice()
    context = chromium.new_context(viewport=PHONE, java_script_enabled=False)
    page = context.new_page()
    try:
        sign_in(page, live_server, "alice@example.com")
        page.goto(f"{live_server}/submissions/{submission.id}")
        page.get_by_role("link", name="Withdraw this request…").click()
        expect(
            page.get_by_role("heading", name=f"Withdraw {submission.reference}?")
        ).to_be_visible()
        expect(page.locator(".confirm__list")).to_contain_text(
            "Bob Okafor is no longer asked to decide"
        )
        assert approvals.submission(submission.id).status == SubmissionStatus.IN_REVIEW
        page.get_by_role("button", name="Withdraw the request").click()
        expect(page.locator(".flash")).to_contain_text("was withdrawn")
        assert approvals.submission(submission.id).status == SubmissionStatus.WITHDRAWN
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    finally:
        context.close()


def test_on_a_phone_the_decision_stays_in_reach_and_the_answer_says_who_and_when(
    chromium, live_server, approvals, org, vendor_invoice
):
    approvals.submit_invoice()
    path = approvals.link_for("bob@example.com")
    context = chromium.new_context(viewport=PHONE, has_touch=True)
    page = context.new_page()
    try:
        page.goto(f"{live_server}{path}")
        bar = page.locator(".decision-bar")
        for where in ("top", "middle"):
            if where == "middle":
                page.mouse.wheel(0, 900)
                page.wait_for_timeout(100)
            box = bar.bounding_box()
            assert box and 0 <= box["y"] and box["y"] + box["height"] <= PHONE["height"], where
        for button in bar.locator(".btn").all() + page.locator(".decide-buttons .btn").all():
            assert button.bounding_box()["height"] >= 44, button.inner_text()
            assert button.bounding_box()["width"] >= 44, button.inner_text()
        # The panel's own buttons follow the record.
        panel = page.locator(".decide-panel").bounding_box()
        record = page.locator(".record").bounding_box()
        assert panel["y"] >= record["y"] + record["height"]

        bar.get_by_role("button", name="Approve").click()
        done = page.locator(".done")
        expect(done).to_contain_text("Approved: Vendor invoice")
        expect(done).to_contain_text("Decided by Bob Okafor")
        expect(done.locator("time")).to_have_count(1)
        expect(page.get_by_role("link", name="See the request")).to_be_visible()

        page.goto(f"{live_server}{path}")  # the same link: its owner is told what happened
        expect(page.get_by_role("heading", name="This task is already closed")).to_be_visible()
        expect(page.locator("main")).to_contain_text("You decided it: Approved")
    finally:
        context.close()


def test_a_used_link_names_who_settled_the_step_only_to_its_own_assignee(
    chromium, live_server, approvals, org, vendor_invoice
):
    submission = approvals.submit_invoice()
    approvals.decide_by_link("bob@example.com", "approve")
    finance = approvals.open_tasks(submission, "finance")
    assert len(finance) == 3
    frank_link = approvals.link_for("frank@example.com")
    approvals.decide_by_link("fiona@example.com", "approve", "Budget checked.")

    # A refused link answers 403 or 404, which Chromium logs: a context of its own, unwatched.
    context = chromium.new_context(viewport=PHONE)
    page = context.new_page()
    try:
        page.goto(f"{live_server}{frank_link}")
        expect(page.get_by_role("heading", name="This task is already closed")).to_be_visible()
        expect(page.locator("main")).to_contain_text("Fiona Walsh settled this step: Approved")

        page.goto(f"{live_server}{frank_link[:-6]}tamper")  # a tampered link: nobody named
        expect(page.get_by_role("heading", name="This link does not work")).to_be_visible()
        assert "Fiona" not in page.locator("main").inner_text()

        # Someone else, signed in, who opens Frank's link learns nothing about who decided.
        sign_in(page, live_server, "alice@example.com")
        page.goto(f"{live_server}{frank_link}")
        expect(page.get_by_role("heading", name="This link is not for you")).to_be_visible()
        assert "Fiona" not in page.locator("main").inner_text()
    finally:
        context.close()


def test_what_happens_after_submitting_follows_the_amount(
    page, live_server, approvals, org, vendor_invoice
):
    sign_in(page, live_server, "alice@example.com")
    page.goto(f"{live_server}/forms/vendor_invoice/new")
    route = page.locator("#route")
    cfo = route.locator(".route__step").nth(3)
    expect(cfo).to_contain_text("CFO approval")
    expect(route.locator(".route__step").nth(1)).to_contain_text(
        "Not needed for this request: it runs only when this is a new vendor"
    )
    page.locator("#lines-0-description").fill("Server racks")
    page.locator("#lines-0-quantity").fill("4")
    page.locator("#lines-0-unit_price").fill("900")
    page.locator("#lines-0-description").click()
    expect(cfo).to_contain_text("Not needed for this request")
    expect(cfo).to_contain_text("above EUR 10,000")

    page.locator("#lines-0-unit_price").fill("3000")  # 12,000: the CFO is asked
    page.locator("#lines-0-description").click()
    expect(cfo).not_to_contain_text("Not needed")
    expect(cfo).to_contain_text("Asks everyone in the cfo group")
    page.get_by_label("This is a new vendor").check()
    expect(route.locator(".route__step").nth(1)).to_contain_text(
        "Asks one person from the procurement group, in turn"
    )
    assert "total > 10000" not in route.inner_text()
