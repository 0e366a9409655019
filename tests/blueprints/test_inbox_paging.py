"""The inbox shows open tasks a page at a time, oldest first, whatever how many are open."""

import datetime as dt
import re

from portal import clock
from portal.blueprints.approvals import routes


def test_inbox_pages_through_open_tasks_oldest_first(approvals, org, vendor_invoice, monkeypatch):
    monkeypatch.setattr(routes, "INBOX_PAGE_SIZE", 2)
    with clock.frozen_at(dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)) as advance:
        submitted = []
        for _ in range(3):
            submitted.append(approvals.submit_invoice().id)
            advance(dt.timedelta(hours=1))
        approvals.browser.login("bob@example.com")
        first = approvals.browser.get("/inbox").text
        second = approvals.browser.get("/inbox?page=2").text
    listed = re.compile(r"Vendor invoice #(\d+)</a>")
    assert [int(n) for n in listed.findall(first)] == submitted[:2]
    assert [int(n) for n in listed.findall(second)] == submitted[2:]
    assert "Page 1 of 2 (3 tasks)" in first and "page=2" in first
    assert "Page 2 of 2 (3 tasks)" in second and "page=1" in second


def test_a_page_past_the_end_or_not_a_number_shows_a_real_page(
    approvals, org, vendor_invoice, monkeypatch
):
    monkeypatch.setattr(routes, "INBOX_PAGE_SIZE", 2)
    for _ in range(3):
        approvals.submit_invoice()
    approvals.browser.login("bob@example.com")
    for asked, shown in [("99999999999999999999", 2), ("7", 2), ("-3", 1), ("abc", 1)]:
        response = approvals.browser.get(f"/inbox?page={asked}")
        assert response.status_code == 200, asked
        assert f"Page {shown} of 2 (3 tasks)" in response.text, asked
