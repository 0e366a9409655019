"""The blank form page keeps its rendered fields per form version and day: what it shows must
still follow today's date, a newly published version, and each person's own tokens."""

import datetime as dt
import re

from portal import clock
from tests.fixtures.users import PASSWORD
from tests.fixtures.web import csrf_token_in

SCHEMA = {
    "title": "Travel request",
    "fields": [
        {"type": "text", "name": "destination", "label": "Destination", "required": True},
        {"type": "date", "name": "leave_on", "label": "Leaving on", "default": "today"},
    ],
}  # fmt: skip


def date_value(html: str) -> str:
    match = re.search(r'<input[^>]*id="leave_on"[^>]*>', html)
    assert match, "no date input"
    return re.search(r'value="([^"]*)"', match.group(0)).group(1)


def test_a_blank_form_shows_todays_date_each_day(browser, alice, publish):
    publish("travel", SCHEMA)
    browser.login(alice.email)
    day = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)
    with clock.frozen_at(day):
        first = browser.get("/forms/travel/new").text
        again = browser.get("/forms/travel/new").text  # from the kept grid
    with clock.frozen_at(day + dt.timedelta(days=1)):
        next_day = browser.get("/forms/travel/new").text
    assert date_value(first) == date_value(again) == "2026-12-02"
    assert date_value(next_day) == "2026-12-03"


def test_a_newly_published_version_is_shown_at_once(browser, alice, publish):
    publish("travel", SCHEMA)
    browser.login(alice.email)
    assert "Destination" in browser.get("/forms/travel/new").text
    changed = dict(
        SCHEMA, fields=[dict(SCHEMA["fields"][0], label="Where to")] + SCHEMA["fields"][1:]
    )
    version = publish("travel", changed)
    page = browser.get("/forms/travel/new").text
    assert "Where to" in page and "Destination" not in page
    assert f"/versions/{version.id}/live" in page


def test_each_page_carries_its_own_csrf_and_client_tokens(browser, alice, bob, publish, app):
    publish("travel", SCHEMA)
    browser.login(alice.email)
    alices = browser.get("/forms/travel/new").text
    other = app.test_client()
    token = csrf_token_in(other.get("/login").text)
    other.post("/login", data={"csrf_token": token, "email": bob.email, "password": PASSWORD})
    bobs = other.get("/forms/travel/new").text
    assert "Alice Martin" in alices and "Bob Okafor" in bobs and "Alice Martin" not in bobs

    def client_token(html):
        return re.search(r'name="_client_token" value="([0-9a-f]{32})"', html).group(1)

    assert csrf_token_in(alices) != csrf_token_in(bobs)
    assert client_token(alices) != client_token(bobs)
