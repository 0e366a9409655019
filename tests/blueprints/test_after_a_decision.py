"""Where a decision leads, and what a closed task's pages tell whom."""

from tests.fixtures.web import seen_in


def test_a_decision_in_baton_opens_the_next_request_waiting(approvals, org, vendor_invoice):
    first = approvals.submit_invoice()
    second = approvals.submit_invoice(invoice_number="INV-2026-0043")
    (task,) = approvals.open_tasks(first)
    (waiting,) = approvals.open_tasks(second)
    approvals.browser.login("bob@example.com")
    page = approvals.browser.get(f"/tasks/{task.id}").text
    response = approvals.browser.post(
        f"/tasks/{task.id}", {"decision": "approve", "comment": "", "seen": seen_in(page)}
    )
    assert response.status_code == 302 and response.location == "/inbox/next"
    response = approvals.browser.get(response.location)
    assert response.status_code == 302 and response.location == f"/tasks/{waiting.id}"
    shown = approvals.browser.get(response.location).text
    assert "Approved: Vendor invoice #1. Recorded as your decision," in shown


def test_a_closed_task_page_says_who_settled_its_step(approvals, org, vendor_invoice):
    submission = approvals.submit_invoice()
    approvals.decide_by_link("bob@example.com", "approve")
    finance = approvals.open_tasks(submission, "finance")
    frank = next(task for task in finance if task.assignee.email == "frank@example.com")
    approvals.decide_by_link("fiona@example.com", "reject", "Not in this year's budget.")
    approvals.browser.login("frank@example.com")
    page = approvals.browser.get(f"/tasks/{frank.id}").text
    assert "This task is closed" in page
    assert "Fiona Walsh</strong> settled this step: <strong>Rejected</strong>" in page


def test_the_recorded_page_says_who_decided_and_leads_on(approvals, org, vendor_invoice):
    approvals.submit_invoice()
    approvals.submit_invoice(invoice_number="INV-2026-0043")
    response = approvals.decide_by_link("bob@example.com", "approve", "Fine.")
    assert response.status_code == 200
    assert "Decided by <strong>Bob Okafor</strong>" in response.text
    assert "1 more request is waiting for you." in response.text
    assert 'href="/inbox"' in response.text
