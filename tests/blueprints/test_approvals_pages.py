"""The approver's pages: the emailed link (and everything wrong with a link), inbox, task page."""

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from portal import clock
from portal.domain.chain import TaskState
from portal.extensions import db
from portal.models import AuditEvent, SubmissionStatus, Task
from tests.fixtures.web import csrf_token_in, invoice_post, seen_in


def counts() -> tuple[int, int]:
    db.session.expire_all()
    events = db.session.scalar(select(func.count()).select_from(AuditEvent))
    decided = db.session.scalar(
        select(func.count()).select_from(Task).where(Task.state != TaskState.OPEN)
    )
    return events, decided


def test_opening_a_link_changes_nothing_however_often(approvals, org, vendor_invoice):
    approvals.submit_invoice()
    path = approvals.link_for("bob@example.com")
    before = counts()
    for _ in range(3):  # a mail scanner, a link preview, the person
        page = approvals.app.test_client().get(path)
        assert page.status_code == 200
        assert "Review" in page.text or "Your decision" in page.text
    assert counts() == before


def test_link_page_shows_the_request_and_the_three_decisions(approvals, org, vendor_invoice):
    approvals.submit_invoice()
    page = approvals.app.test_client().get(approvals.link_for("bob@example.com")).text
    assert "Acme Office Supplies GmbH" in page and "EUR 1,375.00" in page
    for value in ("approve", "request_changes", "reject"):
        assert f'name="decision" value="{value}"' in page
    assert "Cost-centre owner approval" in page


def test_a_used_link_says_so_and_changes_nothing(approvals, org, vendor_invoice):
    approvals.submit_invoice()
    path = approvals.link_for("bob@example.com")
    second_tab = approvals.app.test_client()
    open_page = second_tab.get(path).text  # still open in another tab
    approvals.decide_by_link("bob@example.com", "approve")
    before = counts()
    page = approvals.app.test_client().get(path)
    assert "This task is already closed" in page.text
    seen = seen_in(open_page)
    again = second_tab.post(
        path,
        data={
            "csrf_token": csrf_token_in(open_page),
            "decision": "reject",
            "comment": "x",
            "seen": seen,
        },
    )
    assert again.status_code == 410 and "This task is already closed" in again.text
    assert counts() == before


def test_a_tampered_link_is_refused_without_naming_anyone(approvals, org, vendor_invoice):
    approvals.submit_invoice()
    path = approvals.link_for("bob@example.com")
    tampered = path[:-3] + ("abc" if not path.endswith("abc") else "xyz")
    page = approvals.app.test_client().get(tampered)
    assert page.status_code == 404 and "This link does not work" in page.text
    assert "Bob" not in page.text and "bob@" not in page.text and "Alice" not in page.text


def test_an_expired_link_is_refused(approvals, org, vendor_invoice):
    approvals.submit_invoice()
    path = approvals.link_for("bob@example.com")
    with clock.frozen_at(clock.now() + dt.timedelta(days=15)):
        page = approvals.app.test_client().get(path)
    assert page.status_code == 410 and "This link has expired" in page.text
    assert "Bob" not in page.text


def test_someone_else_signed_in_cannot_use_a_link(approvals, org, vendor_invoice):
    approvals.submit_invoice()
    path = approvals.link_for("bob@example.com")
    approvals.browser.login("fiona@example.com")
    page = approvals.browser.get(path)
    assert page.status_code == 403 and "This link is not for you" in page.text
    assert "Bob" not in page.text
    response = approvals.browser.post(path, {"decision": "approve", "seen": "x"})
    assert response.status_code == 403
    assert approvals.open_tasks(approvals.submission(1))[0].assignee.email == "bob@example.com"


def test_a_link_for_a_task_given_to_someone_else_is_foreign(approvals, org, vendor_invoice):
    submission = approvals.submit_invoice()
    path = approvals.link_for("bob@example.com")
    (task,) = approvals.open_tasks(submission)
    task.assignee_id = org.carol.id  # as an admin's reassignment will do
    db.session.commit()
    page = approvals.app.test_client().get(path)
    assert page.status_code == 403 and "This link is not for you" in page.text


def test_decision_on_an_older_version_is_refused_and_shows_the_new_one(
    approvals, org, vendor_invoice
):
    submission = approvals.submit_invoice()
    visitor = approvals.app.test_client()
    old_path = approvals.link_for("bob@example.com")
    old_page = visitor.get(old_path).text
    old_seen = seen_in(old_page)
    # Meanwhile Bob (in another tab) asks for changes, and Alice edits and resubmits.
    approvals.decide_by_link("bob@example.com", "request_changes", "Wrong cost centre.")
    approvals.browser.login("alice@example.com")
    approvals.browser.post(f"/submissions/{submission.id}/edit", invoice_post(cost_centre="CC-200"))
    approvals.browser.post("/logout")
    approvals.run_jobs()
    response = visitor.post(
        old_path,
        data={"csrf_token": csrf_token_in(old_page), "decision": "approve", "seen": old_seen},
    )
    assert response.status_code == 409
    assert "This request changed after you opened it" in response.text
    assert "CC-200 Sales &amp; Marketing" in response.text  # the new version is shown
    (current,) = approvals.open_tasks(submission)
    assert current.round == 2 and current.state == TaskState.OPEN  # nothing was decided


def test_post_without_the_seen_version_records_nothing(approvals, org, vendor_invoice):
    approvals.submit_invoice()
    path = approvals.link_for("bob@example.com")
    visitor = approvals.app.test_client()
    page = visitor.get(path)
    before = counts()
    response = visitor.post(
        path, data={"csrf_token": csrf_token_in(page.text), "decision": "approve"}
    )
    assert response.status_code == 422 and "Reload it" in response.text
    assert counts() == before


def test_unknown_decision_value_records_nothing(approvals, org, vendor_invoice):
    approvals.submit_invoice()
    response = approvals.decide_by_link("bob@example.com", "approve_everything")
    assert response.status_code == 422
    assert "Choose Approve, Request changes or Reject." in response.text
    assert approvals.submission(1).status == SubmissionStatus.IN_REVIEW


def test_inbox_lists_open_tasks_oldest_first_with_amount_and_wait(approvals, org, vendor_invoice):
    with clock.frozen_at(dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)) as advance:
        first = approvals.submit_invoice()
        advance(dt.timedelta(hours=5))
        second = approvals.submit_invoice(
            **{"lines-0-unit_price": "6000", "po_number": "PO-004512"}
        )
        advance(dt.timedelta(days=2))
        approvals.browser.login("bob@example.com")
        page = approvals.browser.get("/inbox").text
    rows = re.findall(r"Vendor invoice #(\d+)</a>", page)
    assert rows == [str(first.id), str(second.id)]
    assert "EUR 1,375.00" in page and "EUR 12,475.00" in page
    assert "2 days" in page
    assert 'class="nav-count"' in page


def test_empty_inbox_explains_itself(browser, org):
    browser.login("fiona@example.com")
    page = browser.get("/inbox")
    assert page.status_code == 200 and "Nothing is waiting for you" in page.text


def test_a_task_page_is_only_for_its_assignee(approvals, org, vendor_invoice):
    submission = approvals.submit_invoice()
    (task,) = approvals.open_tasks(submission)
    approvals.browser.login("fiona@example.com")
    assert approvals.browser.get(f"/tasks/{task.id}").status_code == 404
    assert approvals.browser.post(f"/tasks/{task.id}", {"decision": "approve"}).status_code == 404
    approvals.browser.post("/logout")
    approvals.browser.login("alice@example.com")  # the submitter
    assert approvals.browser.get(f"/tasks/{task.id}").status_code == 404


def test_assignees_can_read_the_request_others_cannot(approvals, org, vendor_invoice):
    submission = approvals.submit_invoice()
    approvals.browser.login("bob@example.com")
    page = approvals.browser.get(f"/submissions/{submission.id}")
    assert page.status_code == 200 and "Your decision is needed" in page.text
    approvals.browser.post("/logout")
    approvals.browser.login("ivan@example.com")
    assert approvals.browser.get(f"/submissions/{submission.id}").status_code == 404


def test_submission_page_draws_the_chain_with_decisions_and_comments(
    approvals, org, vendor_invoice
):
    submission = approvals.submit_invoice()
    approvals.decide_by_link("bob@example.com", "approve", "Checked against the delivery note.")
    approvals.browser.login("alice@example.com")
    page = approvals.browser.get(f"/submissions/{submission.id}").text
    chain = page.split('id="chain-heading"')[1]
    titles = re.findall(r'<span class="chain__title">([^<]+)</span>', chain)
    assert titles == [
        "Cost-centre owner approval",
        "New vendor check",
        "Finance approval",
        "CFO approval",
    ]
    assert "Bob Okafor" in chain and "Checked against the delivery note." in chain
    assert "chain__step--approved" in chain and "chain__step--skipped" in chain
    assert "chain__step--active" in chain
    assert "Withdraw this request" in page


@pytest.mark.parametrize("decision", ["approve", "reject", "request_changes"])
def test_deciding_from_the_inbox_returns_there_with_a_message(
    approvals, org, vendor_invoice, decision
):
    submission = approvals.submit_invoice()
    (task,) = approvals.open_tasks(submission)
    approvals.browser.login("bob@example.com")
    page = approvals.browser.get(f"/tasks/{task.id}").text
    seen = seen_in(page)
    response = approvals.browser.post(
        f"/tasks/{task.id}", {"decision": decision, "comment": "Reason given.", "seen": seen}
    )
    # On to the next request waiting; with none, back to the inbox.
    assert response.status_code == 302 and response.location == "/inbox/next"
    response = approvals.browser.get(response.location)
    assert response.status_code == 302 and response.location == "/inbox"
    assert "#1." in approvals.browser.get("/inbox").text  # the flash names the request
