"""Busy periods: the dashboard is computed by a worker and shown from a snapshot with its age.

BATON_INSIGHT_LIVE_REQUESTS is set to 2 here, so March of the crafted travel history (five
requests) counts as busy and February (none) as quiet.
"""

from __future__ import annotations

import datetime as dt

import pytest
import redis

from portal import clock, queue
from portal.services import insight_snapshots
from tests.fixtures.insight import NOW, TravelHistory

MARCH = "from=2026-03-01&to=2026-03-31"
SENTENCE = "Finance approval holds 92% of all waiting time; median wait 2 days."
PENDING = "Working out the figures"


@pytest.fixture
def history(app, make_user, publish):
    app.config["BATON_INSIGHT_LIVE_REQUESTS"] = 2
    built = TravelHistory(make_user, publish).build()
    queue.queue(app).empty()  # the history's emails: not what these tests look at
    return built


@pytest.fixture
def moment():
    with clock.frozen_at(NOW) as advance:
        yield advance


def queued(app) -> list[str]:
    return [job.func_name for job in queue.queue(app).jobs]


def test_a_busy_period_is_worked_out_by_a_worker_and_the_page_fills_itself_in(
    history, browser, moment, run_jobs, app
):
    browser.login("ada@example.com")
    page = browser.get(f"/insight/travel_request?{MARCH}")
    assert page.status_code == 200
    assert PENDING in page.text and SENTENCE not in page.text
    assert "More than 2 travel request requests were submitted in this period" in page.text
    # The waiting panel asks the page again every two seconds and swaps in the figures.
    assert 'id="insight-figures" hx-get="/insight/travel_request?' in page.text
    assert 'hx-trigger="every 2s"' in page.text and 'hx-select="#insight-figures"' in page.text
    # Asked again before the worker ran: still one job, not two.
    browser.get(f"/insight/travel_request?{MARCH}")
    assert queued(app) == ["portal.jobs.refresh_insight"]
    run_jobs()
    page = browser.get(f"/insight/travel_request?{MARCH}")
    assert SENTENCE in page.text and PENDING not in page.text
    assert "Figures as of 31 Mar 2026, 14:00 CEST." in page.text
    assert "hx-trigger" not in page.text.split('id="insight-figures"')[1].split(">")[0]
    assert queued(app) == []


def test_a_quiet_period_is_computed_live_as_before(history, browser, moment, app):
    browser.login("ada@example.com")
    page = browser.get("/insight/travel_request?from=2026-02-01&to=2026-02-28")
    assert page.status_code == 200
    assert PENDING not in page.text and "Figures as of" not in page.text
    assert queued(app) == []


def test_a_snapshot_older_than_the_max_age_is_shown_while_a_new_one_is_worked_out(
    history, browser, moment, run_jobs, app
):
    browser.login("ada@example.com")
    browser.get(f"/insight/travel_request?{MARCH}")
    run_jobs()
    moment(dt.timedelta(seconds=app.config["BATON_INSIGHT_MAX_AGE"] - 1))
    page = browser.get(f"/insight/travel_request?{MARCH}")
    assert "Figures as of 31 Mar 2026, 14:00 CEST." in page.text and queued(app) == []
    moment(dt.timedelta(seconds=2))
    page = browser.get(f"/insight/travel_request?{MARCH}")
    assert SENTENCE in page.text
    assert "Figures as of 31 Mar 2026, 14:00 CEST; newer ones are being worked out." in page.text
    assert queued(app) == ["portal.jobs.refresh_insight"]
    run_jobs()
    page = browser.get(f"/insight/travel_request?{MARCH}")
    assert "Figures as of 31 Mar 2026, 14:05 CEST." in page.text


def test_each_scope_has_its_own_snapshot(history, browser, moment, run_jobs):
    browser.login("ada@example.com")
    browser.get(f"/insight/travel_request?{MARCH}")
    run_jobs()
    browser.post("/logout")
    browser.login("fiona@example.com")  # finance: sees the finance step only
    page = browser.get(f"/insight/travel_request?{MARCH}")
    assert PENDING in page.text  # the admin's snapshot is not hers to see
    run_jobs()
    page = browser.get(f"/insight/travel_request?{MARCH}")
    assert "Finance approval" in page.text and "Figures as of" in page.text
    assert "Manager approval" not in page.text and SENTENCE not in page.text


def test_the_csv_of_a_busy_period_is_worked_out_when_there_is_no_snapshot(
    history, browser, moment, app
):
    browser.login("ada@example.com")
    response = browser.get(f"/insight/travel_request/steps.csv?{MARCH}")
    assert response.status_code == 200
    assert "Finance approval" in response.get_data(as_text=True)
    # ... and kept: the dashboard shows the same figures, with nothing left to work out.
    page = browser.get(f"/insight/travel_request?{MARCH}")
    assert "Figures as of 31 Mar 2026, 14:00 CEST." in page.text and queued(app) == []


def test_the_csv_works_out_figures_older_than_the_max_age_again(history, browser, moment, app):
    browser.login("ada@example.com")
    assert browser.get(f"/insight/travel_request/steps.csv?{MARCH}").status_code == 200
    moment(dt.timedelta(seconds=app.config["BATON_INSIGHT_MAX_AGE"] + 1))
    assert browser.get(f"/insight/travel_request/steps.csv?{MARCH}").status_code == 200
    page = browser.get(f"/insight/travel_request?{MARCH}")
    assert "Figures as of 31 Mar 2026, 14:05 CEST." in page.text and queued(app) == []


def test_without_redis_the_page_computes_its_figures_live(history, browser, moment, monkeypatch):
    unreachable = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    monkeypatch.setattr(insight_snapshots, "_redis", lambda: unreachable)
    browser.login("ada@example.com")
    page = browser.get(f"/insight/travel_request?{MARCH}")
    assert page.status_code == 200
    assert SENTENCE in page.text and PENDING not in page.text


def test_a_flushed_snapshot_is_worked_out_again(history, browser, moment, run_jobs, app):
    browser.login("ada@example.com")
    browser.get(f"/insight/travel_request?{MARCH}")
    run_jobs()
    connection = queue.connection(app)
    for key in connection.scan_iter(f"{app.config['RQ_QUEUE']}:insight:*"):
        connection.delete(key)
    page = browser.get(f"/insight/travel_request?{MARCH}")
    assert PENDING in page.text
    run_jobs()
    assert SENTENCE in browser.get(f"/insight/travel_request?{MARCH}").text
