"""The insight pages: who may see what, the period picker's messages, and the CSV downloads.

The figures themselves are checked in tests/services/test_insight.py; these tests check that the
pages show them to the right people only, on the crafted history of tests/fixtures/insight.py.
"""

from __future__ import annotations

import csv
import io

import pytest

from portal import clock
from tests.fixtures.insight import NOW, TravelHistory

MARCH = "from=2026-03-01&to=2026-03-31"
SENTENCE = "Finance approval holds 92% of all waiting time; median wait 2 days."


@pytest.fixture
def history(app, make_user, publish):
    return TravelHistory(make_user, publish).build()


@pytest.fixture
def frozen():
    with clock.frozen_at(NOW):
        yield


def as_person(browser, email):
    browser.login(email)
    return browser


def rows_of(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def test_admin_sees_every_figure_and_the_approvers(history, browser, frozen):
    as_person(browser, "ada@example.com")
    page = browser.get(f"/insight/travel_request?{MARCH}")
    assert page.status_code == 200
    html = page.text
    assert SENTENCE in html
    for heading in ("Process map", "Requests per day", "End-to-end cycle time", "Steps"):
        assert heading in html
    assert 'id="approvers-heading"' in html
    assert "Mia Manager" in html and "Fiona Walsh" in html
    # Charts are SVG with a title and a description, and every chart has a table beside it.
    assert html.count('role="img"') == 3
    assert '<title id="volume-chart-title">' in html and '<desc id="volume-chart-desc">' in html
    assert "5 submitted, 3 approved, 1 rejected and 1 withdrawn in 1 Mar – 31 Mar 2026" in html
    assert html.count("Show as a table") == 2
    # The conditional CFO step says how often it was taken.
    assert "taken 1 of 3 (33%)" in html
    # No inline style or script anywhere (the Content-Security-Policy would block them).
    assert "style=" not in html and "<script>" not in html


def test_compliance_sees_the_whole_form_but_not_the_approvers(history, browser, frozen):
    as_person(browser, "cora@example.com")
    page = browser.get(f"/insight/travel_request?{MARCH}")
    assert page.status_code == 200
    assert SENTENCE in page.text
    assert 'id="approvers-heading"' not in page.text
    assert "Fiona Walsh" not in page.text
    assert browser.get(f"/insight/travel_request/approvers.csv?{MARCH}").status_code == 403
    assert browser.get(f"/insight/travel_request/steps.csv?{MARCH}").status_code == 200


def test_a_step_group_sees_only_its_own_step(history, browser, frozen):
    as_person(browser, "fiona@example.com")
    page = browser.get(f"/insight/travel_request?{MARCH}")
    assert page.status_code == 200
    html = page.text
    assert "Finance approval" in html
    assert "Manager approval" not in html and "CFO approval" not in html
    assert SENTENCE not in html  # the bottleneck compares every step: a whole-form figure
    assert 'id="approvers-heading"' not in html and "Requests per day" not in html
    for table in ("volume", "cycle-time", "approvers"):
        assert browser.get(f"/insight/travel_request/{table}.csv?{MARCH}").status_code == 403
    rows = rows_of(browser.get(f"/insight/travel_request/steps.csv?{MARCH}"))
    assert [row[0] for row in rows[1:]] == ["finance"]


def test_the_cfo_group_sees_the_cfo_step(history, browser, frozen):
    as_person(browser, "carol@example.com")
    html = browser.get(f"/insight/travel_request?{MARCH}").text
    assert "CFO approval" in html and "Finance approval" not in html


@pytest.mark.parametrize("email", ["alice@example.com", "ivan@example.com", "mia@example.com"])
def test_people_no_step_of_the_form_asks_by_group_are_refused(history, browser, frozen, email):
    as_person(browser, email)
    assert browser.get("/insight/").status_code == 403
    assert browser.get(f"/insight/travel_request?{MARCH}").status_code == 403
    assert browser.get(f"/insight/travel_request/steps.csv?{MARCH}").status_code == 403
    assert 'href="/insight/"' not in browser.get("/").text


def test_a_form_that_does_not_exist_is_not_found(history, browser, frozen):
    as_person(browser, "ada@example.com")
    assert browser.get("/insight/no_such_form").status_code == 404
    assert browser.get("/insight/travel_request/no_such_table.csv").status_code == 404


def test_signing_in_is_required(history, client):
    response = client.get("/insight/travel_request")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_the_menu_and_the_list_of_forms(history, browser, frozen):
    as_person(browser, "fiona@example.com")
    home = browser.get("/").text
    assert 'href="/insight/"' in home
    listing = browser.get("/insight/")
    assert listing.status_code == 200
    assert "Travel request" in listing.text and "Your steps: Finance approval" in listing.text


def test_the_list_of_forms_counts_for_the_whole_form(history, browser, frozen):
    as_person(browser, "cora@example.com")
    listing = browser.get("/insight/").text
    # Submitted in the last 90 days (1 Jan to 31 Mar): all seven requests; R4 is in review.
    assert "<strong>7</strong> submitted in the last 90 days" in listing
    assert "<strong>1</strong> in review now" in listing


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=2026-03-31&to=2026-03-01", "The first day (31 Mar 2026) is after the last day"),
        ("from=2026-03-01", "Give both a first and a last day"),
        ("from=2026-02-30&to=2026-03-31", "“2026-02-30”, is not a date"),
        ("from=2026-03-01&to=2026-04-30", "The last day (30 Apr 2026) is in the future"),
        ("from=2020-01-01&to=2026-03-31", "choose at most 1,098 days"),
        ("period=7y", "“7y” is not a period Baton knows"),
    ],
)
def test_a_bad_period_gets_a_clear_message(history, browser, frozen, query, message):
    as_person(browser, "ada@example.com")
    page = browser.get(f"/insight/travel_request?{query}")
    assert page.status_code == 422
    assert "That period cannot be shown" in page.text
    assert message in page.text.replace("&#34;", '"')
    download = browser.get(f"/insight/travel_request/steps.csv?{query}")
    assert download.status_code == 422
    assert message in download.get_data(as_text=True)


def test_the_steps_table_downloads_as_csv(history, browser, frozen):
    as_person(browser, "ada@example.com")
    response = browser.get(f"/insight/travel_request/steps.csv?{MARCH}")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="travel_request-steps-2026-03-01-to-2026-03-31.csv"'
    )
    header, *rows = rows_of(response)
    table = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    finance = table["finance"]
    # Finance decided 4 visits: 24 h, 24 h, 72 h, 72 h (median 48 h, p90 72 h); 1 rejected;
    # 2 of 4 late; R4 open for 362 h; 516 of 562 waiting hours in March.
    assert finance["decided"] == "4"
    assert finance["median_wait_hours"] == "48.00"
    assert finance["p90_wait_hours"] == "72.00"
    assert finance["rejection_rate"] == "0.2500"
    assert finance["sla_breach_rate"] == "0.5000"
    assert finance["longest_waiting_now_hours"] == "362.00"
    assert finance["waiting_hours_in_period"] == "516.00"
    assert finance["share_of_waiting_time"] == f"{516 / 562:.4f}"
    assert table["cfo"]["condition"] == "amount > 1000"
    assert (table["cfo"]["reached"], table["cfo"]["skipped"]) == ("3", "2")
    # Nothing to measure is an empty cell, not a 0: the manager step has no deadline.
    assert table["manager"]["sla_breach_rate"] == ""


def test_the_other_tables_download_as_csv(history, browser, frozen):
    as_person(browser, "ada@example.com")
    volume = rows_of(browser.get(f"/insight/travel_request/volume.csv?{MARCH}"))
    assert volume[0] == ["first_day", "last_day", "submitted", "approved", "rejected", "withdrawn"]
    assert len(volume) == 1 + 31  # a row per day of March
    assert volume[1 + 1] == ["2026-03-02", "2026-03-02", "1", "1", "0", "0"]
    cycle = rows_of(browser.get(f"/insight/travel_request/cycle-time.csv?{MARCH}"))
    assert cycle[1 + 6] == ["2026-03-07", "2026-03-07", "1", "102.00", "102.00", "102.00"]
    people = rows_of(browser.get(f"/insight/travel_request/approvers.csv?{MARCH}"))
    fiona = next(row for row in people if row[1] == "fiona@example.com")
    # Fiona decided R7 (72 h), R1 (24 h), R3 (24 h): median 24 h, p90 24 + 0.8 * 48 = 62.4 h.
    assert fiona == ["Fiona Walsh", "fiona@example.com", "3", "24.00", "62.40", "1", "362.00"]


def test_the_default_period_is_the_last_90_days(history, browser, frozen):
    as_person(browser, "ada@example.com")
    page = browser.get("/insight/travel_request")
    assert page.status_code == 200
    assert "Last 90 days · 1 Jan – 31 Mar 2026" in page.text
    assert "Requests per week" in page.text


def test_a_form_without_a_chain_and_without_requests_still_has_a_page(publish, ada, browser):
    publish(
        "suggestion_box",
        {
            "title": "Suggestion box",
            "fields": [{"type": "text", "name": "idea", "label": "Idea", "required": True}],
        },
    )
    as_person(browser, "ada@example.com")
    page = browser.get("/insight/suggestion_box")
    assert page.status_code == 200
    assert "Nothing happened to suggestion box requests in this period." in page.text
    assert "This form's chain has no steps." in page.text
    assert browser.get("/insight/suggestion_box/steps.csv").status_code == 200
