"""An admin reads a form's step value, tries a change on past requests and reads the report.

With BATON_DOC_SCREENSHOTS=1 the screenshots go to docs/screenshots/ (docs/insight.md shows
them); otherwise to test-artifacts/ like every browser test's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from portal import jobs
from portal.models import OutboxMessage, WhatIf
from tests.browser.conftest import ARTIFACTS
from tests.test_outbox import run_outbox_in_a_worker

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def _shot(target, name: str, **options) -> Path:
    folder = DOCS if os.environ.get("BATON_DOC_SCREENSHOTS") == "1" else ARTIFACTS
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    target.screenshot(path=str(path), **options)
    return path


@pytest.mark.slow
def test_an_admin_tries_a_change_on_past_requests(app, page, live_server):
    result = app.test_cli_runner().invoke(
        args=["baton", "seed-demo", "--submissions", "400", "--days", "120", "--seed", "3"]
    )
    assert result.exit_code == 0, result.output
    page.goto(f"{live_server}/login")
    page.get_by_label("Email address").fill("ada@example.com")
    page.get_by_label("Password").fill("baton-demo")
    page.get_by_role("button", name="Sign in").click()

    page.goto(f"{live_server}/insight/vendor_invoice?period=12m")
    section = page.locator("#step-value")
    expect(section.get_by_role("heading", name="Step value")).to_be_visible()
    region = page.get_by_role("region", name="Step value by amount band (scrolls sideways)")
    expect(section).to_contain_text("decided at least 30 requests there")
    _shot(section, "insight-step-value")
    region.focus()
    expect(region).to_be_focused()
    page.set_viewport_size({"width": 390, "height": 844})
    _shot(section, "insight-step-value-phone")
    # On a phone the table scrolls inside its region; the section keeps to the screen.
    assert region.evaluate("el => el.scrollWidth > el.clientWidth")
    assert section.bounding_box()["width"] <= 390
    page.set_viewport_size({"width": 1280, "height": 900})

    # The editor: the CFO only above 25,000 instead of 10,000.
    page.goto(f"{live_server}/admin/forms/vendor_invoice/edit")
    source = page.locator("#schema-text")
    text = source.input_value()
    assert '"total > 10000"' in text
    source.fill(text.replace('"total > 10000"', '"total > 25000"'))
    page.get_by_role("button", name="Try this change on past requests").click()
    expect(page.get_by_role("heading", name="Try a change on past requests")).to_be_visible()
    page.get_by_label("Last 12 months").check()
    page.get_by_role("button", name="Replay past requests").click()
    expect(page.get_by_text("Waiting for a worker")).to_be_visible()

    # A worker runs the job; the page polls and fills in by itself.
    what_if = WhatIf.query.one()
    message = OutboxMessage.query.filter_by(subject=f"what_if:{what_if.id}").one()
    jobs.use_app(app)
    try:
        assert run_outbox_in_a_worker(message.id) == "run_what_if done"
    finally:
        jobs.use_app(None)
    expect(page.locator(".headline__sentence")).to_contain_text("requests replayed", timeout=15000)
    expect(page.get_by_role("heading", name="Tasks per step")).to_be_visible()
    expect(page.get_by_role("heading", name="What the replay cannot know")).to_be_visible()
    _shot(page, "what-if-report", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    _shot(page, "what-if-report-phone", full_page=True)
    # The report keeps to the screen (its tables scroll inside their own frames).
    assert page.locator("#what-if").bounding_box()["width"] <= 390
