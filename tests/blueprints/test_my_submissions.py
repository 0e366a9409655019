"""My submissions and the home page: rows come with their forms, not one query per row."""

from __future__ import annotations

import re

from sqlalchemy import event

from portal.extensions import db
from tests.fixtures.forms import shipped_schema

SLUGS = ("invoice_north", "invoice_south", "invoice_east", "invoice_west")


def _form_reads(browser, url: str) -> tuple[int, str]:
    """How many times one form was loaded by its id (a lazy load) while `url` was shown, and
    the page."""
    reads = []

    def note(conn, cursor, statement, parameters, context, executemany):
        if re.search(r"\bFROM form\s+WHERE form\.id = ", statement):
            reads.append(statement)

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        response = browser.get(url)
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    assert response.status_code == 200, response.text
    return len(reads), response.text


def test_my_submissions_loads_the_rows_forms_with_the_rows_not_one_by_one(browser, alice, publish):
    for slug in SLUGS:
        publish(slug, shipped_schema("vendor_invoice"))
    browser.login(alice.email)
    for slug in SLUGS:
        saved = browser.post(f"/forms/{slug}/new", {"_action": "save_draft"})
        assert saved.status_code == 302, saved.text

    reads, page = _form_reads(browser, "/submissions")
    assert page.count("Draft, not yet submitted") == len(SLUGS)
    assert reads == 0

    reads, page = _form_reads(browser, "/")  # the home page's latest requests too
    assert page.count("Draft, not yet submitted") == len(SLUGS)
    assert reads == 0
