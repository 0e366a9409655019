"""The what-if pages: from the editor to the set-up page, the replay's progress and its report,
and the step-value table on the Insight page, on the crafted history of tests/fixtures/insight.py.

The figures themselves are checked in tests/domain/test_replay.py and tests/services/."""

from __future__ import annotations

import copy
import json

import pytest

from portal import clock, jobs
from portal.models import WhatIf
from tests.fixtures.insight import NOW, TRAVEL, TravelHistory
from tests.fixtures.rows import count
from tests.test_outbox import run_outbox_in_a_worker


@pytest.fixture
def history(app, make_user, publish):
    return TravelHistory(make_user, publish).build()


@pytest.fixture
def admin(history, browser):
    browser.login("ada@example.com")
    return browser


def without_finance() -> str:
    draft = copy.deepcopy(TRAVEL)
    del draft["approval"]["steps"][1]
    draft["approval"]["steps"].append(
        {"name": "legal", "title": "Legal review", "assignees": [{"group": "legal"}]}
    )
    return json.dumps(draft, indent=2)


def start(admin, **fields):
    data = {
        "schema_text": without_finance(),
        "period": "dates",
        "from": "2026-03-01",
        "to": "2026-03-31",
        "minutes_per_task": "15",
        "similar:legal": "cfo",
    }
    return admin.post("/admin/forms/travel_request/what-if/start", data | fields)


def test_the_editor_offers_to_try_the_change(admin):
    html = admin.get("/admin/forms/travel_request/edit").text
    assert 'formaction="/admin/forms/travel_request/what-if"' in html
    assert "Try this change on past requests" in html


def test_the_set_up_page_shows_the_drafts_steps_against_history(admin):
    page = admin.post("/admin/forms/travel_request/what-if", {"schema_text": without_finance()})
    assert page.status_code == 200
    html = page.text
    assert "Legal review" in html and "New: no answers on record" in html
    assert "Finance approval" in html  # offered as a similar step: it has recorded waits
    assert 'name="similar:legal"' in html and 'name="assume:legal"' in html


def test_a_replay_runs_as_a_job_and_its_page_reports_it(admin, app):
    response = start(admin)
    assert response.status_code == 302
    (what_if,) = WhatIf.query.all()
    waiting = admin.get(response.headers["Location"]).text
    assert 'hx-trigger="every 1s"' in waiting and "<progress" in waiting
    jobs.use_app(app)
    try:
        from portal.models import OutboxMessage

        message = OutboxMessage.query.filter_by(subject=f"what_if:{what_if.id}").one()
        assert run_outbox_in_a_worker(message.id) == "run_what_if done"
    finally:
        jobs.use_app(None)
    with clock.frozen_at(NOW):
        html = admin.get(response.headers["Location"]).text
    assert "hx-trigger" not in html
    assert "5 requests replayed: 4 would have gone another way, 1 past a step" in html
    assert "Finance approval rejected it in fact; the draft no longer has the step." in html
    assert "at 15 minutes a task" in html
    assert "Legal review has no answer on record" in html
    assert 'tabindex="0" role="region"' in html
    assert "style=" not in html and "<script>" not in html


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"to": ""}, "Give both a first and a last day"),
        ({"from": "2026-04-01"}, "is after the last day"),
        ({"minutes_per_task": "soon"}, "Minutes per task must be a whole number"),
        ({"assume:legal": "request_changes"}, "approve or reject"),
        ({"schema_text": "{"}, "The draft has problems"),
    ],
)
def test_bad_input_shows_why_and_starts_nothing(admin, fields, message):
    page = start(admin, **fields)
    assert page.status_code == 422
    assert message in page.text
    assert count(WhatIf) == 0


def test_the_insight_page_has_the_step_value_table(admin):
    with clock.frozen_at(NOW):
        html = admin.get("/insight/travel_request?from=2026-03-01&to=2026-03-31").text
    assert 'id="value-heading"' in html
    assert 'aria-label="Step value by amount band (scrolls sideways)"' in html
    assert "from 30 decisions" not in html  # the threshold is said in words, as below
    assert "decided at least 30 requests there" in html
    assert "Try a change on past requests" in html
