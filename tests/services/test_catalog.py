"""Forms kept per process (portal.services.catalog): served without a query, and forgotten as
soon as an admin changes anything, in this process or in another one."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest
from sqlalchemy import event

from portal.extensions import db
from portal.services import catalog, forms
from tests.fixtures.forms import ACTOR, shipped_schema

#: A field only the second version of the vendor invoice has.
EXTRA = {"type": "text", "name": "project_code", "label": "Project code"}


def with_extra_field() -> dict:
    schema = shipped_schema("vendor_invoice")
    schema["fields"].append(EXTRA)
    return schema


def form_reads(run) -> int:
    """How many statements `run()` sends that read the form table."""
    reads = []

    def note(conn, cursor, statement, *args):
        if re.search(r"\bFROM form\b", " ".join(statement.split())):
            reads.append(statement)

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        run()
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    return len(reads)


def test_the_form_page_reads_its_form_once_per_process(browser, alice, vendor_invoice):
    browser.login(alice.email)
    assert form_reads(lambda: browser.get("/forms/vendor_invoice/new")) == 1
    assert form_reads(lambda: browser.get("/forms/vendor_invoice/new")) == 0


def test_a_new_version_is_served_from_the_next_request_on(browser, alice, publish, vendor_invoice):
    browser.login(alice.email)
    assert 'name="project_code"' not in browser.get("/forms/vendor_invoice/new").text
    publish("vendor_invoice", with_extra_field())
    assert 'name="project_code"' in browser.get("/forms/vendor_invoice/new").text


@pytest.mark.slow  # a second Python process starting the app: seconds on a busy machine
def test_a_version_published_by_another_process_is_served_from_the_next_request_on(
    app, browser, alice, vendor_invoice, tmp_path
):
    browser.login(alice.email)
    assert 'name="project_code"' not in browser.get("/forms/vendor_invoice/new").text
    schema = tmp_path / "vendor_invoice.json"
    schema.write_text(json.dumps(with_extra_field()))
    # Another process: its own app, its own kept forms; only the database is shared.
    publish_elsewhere = textwrap.dedent(
        f"""
        from portal import audit, create_app
        from portal.extensions import db
        from portal.services import forms
        app = create_app({{"SQLALCHEMY_DATABASE_URI": {app.config["SQLALCHEMY_DATABASE_URI"]!r},
                          "SECRET_KEY": "elsewhere"}})
        with app.app_context():
            text = open({str(schema)!r}).read()
            forms.publish(text, "vendor_invoice", audit.Actor(system="elsewhere"), "elsewhere")
            db.session.commit()
        """
    )
    subprocess.run(
        [sys.executable, "-c", publish_elsewhere],
        check=True,
        env={**os.environ, "BATON_INSTANCE": str(tmp_path / "elsewhere")},
        capture_output=True,
    )
    assert 'name="project_code"' in browser.get("/forms/vendor_invoice/new").text


def test_archiving_closes_the_kept_form_from_the_next_request_on(browser, alice, vendor_invoice):
    browser.login(alice.email)
    assert browser.get("/forms/vendor_invoice/new").status_code == 200
    form = forms.find_form("vendor_invoice")
    forms.set_archived(form, True, alice)
    db.session.commit()
    assert browser.get("/forms/vendor_invoice/new").status_code == 410


def test_a_publish_rolled_back_leaves_the_kept_form_as_it_was(app, publish, vendor_invoice):
    assert catalog.find_form("vendor_invoice").current_version.number == 1
    forms.publish(json.dumps(with_extra_field()), "vendor_invoice", ACTOR, "test")
    # The transaction that publishes sees its own version, and keeps nothing of it ...
    assert catalog.find_form("vendor_invoice").current_version.number == 2
    db.session.rollback()
    # ... so once it is rolled back, version 1 is what everyone is served.
    assert catalog.find_form("vendor_invoice").current_version.number == 1
    assert catalog.find_form("vendor_invoice").current_version.spec.field("project_code") is None


def test_a_kept_version_is_the_same_row_as_a_read_one(app, publish, vendor_invoice):
    kept = catalog.version(vendor_invoice.id)
    db.session.rollback()
    again = catalog.version(vendor_invoice.id)
    assert again.id == kept.id and again.number == 1
    assert again.spec.title == vendor_invoice.spec.title
    assert again.form.slug == "vendor_invoice"
    assert again.form.title == shipped_schema("vendor_invoice")["title"]  # read when asked
    assert catalog.version(10**6) is None
