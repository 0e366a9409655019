"""Every page of the route x role matrix on a phone: no sideways scrolling, nothing axe calls
serious or critical.

The pages are the GET rows of tests/test_authorization_matrix.py that answer a person with a page
(200), each seen by each kind of user the row lets in, signed in with that person's session from
the matrix's world (tests/fixtures/authorization.py). Each page is loaded once, then laid out at
320, 390 and 430 px; axe-core (vendored under tests/browser/vendor, for the tests only) checks it
at 390 px.
"""

from __future__ import annotations

import threading

import pytest
from flask import url_for
from werkzeug.serving import make_server

from tests.browser.checks import phone_problems
from tests.fixtures import authorization
from tests.fixtures.authorization import PEOPLE
from tests.test_authorization_matrix import EXPECTED, FRESH, ROUTES, TARGETS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

world = authorization.world

#: Files and fragments, not pages: what they answer is not laid out for a person.
NOT_PAGES = {
    "static",
    "health",
    "staff.download_file",
    "staff.audit_pdf",
    "staff.audit_pdf_status",
    "compliance.download_export",
    "compliance.export_progress",
    "insight.table_csv",
    # An attachment's bytes or a picture of its page, and the builder's people-search fragment.
    "staff.file_page",
    "approvals.link_file",
    "approvals.link_file_page",
    "builder.people",
}


def _pages():
    """(endpoint, target, kind) of every page someone is shown, from the matrix's table."""
    for (method, endpoint, target), outcomes in EXPECTED.items():
        if method != "GET" or endpoint in NOT_PAGES or endpoint.startswith("api."):
            continue
        if target in FRESH or (method, endpoint) not in ROUTES:
            continue  # a fresh target changes for good; devtools exist in development only
        for kind, outcome in zip(PEOPLE, outcomes.split(), strict=True):
            if outcome == "200":
                yield pytest.param(endpoint, target, kind, id=f"{endpoint} [{target}] as {kind}")


PAGES = list(_pages())


@pytest.fixture(scope="module")
def server(world):
    """The world's app on a free port, for the whole module."""
    http = make_server("127.0.0.1", 0, world.app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{http.server_port}"
    finally:
        http.shutdown()
        thread.join(timeout=5)


def url_of(world, endpoint: str, target: str) -> str:
    values = TARGETS[target](world.ids)
    with world.app.test_request_context():
        arguments = next(
            rule.arguments for rule in world.app.url_map.iter_rules() if rule.endpoint == endpoint
        )
        return url_for(endpoint, **{k: v for k, v in values.items() if k in arguments})


def browser_as(chromium, world, server: str, kind: str):
    """A phone-sized browser context signed in as `kind` (with the matrix's session cookie)."""
    context = chromium.new_context(
        viewport={"width": 390, "height": 844}, locale="en-GB", bypass_csp=True, has_touch=True
    )
    cookie = world.sessions[kind].cookie
    if cookie is not None:
        context.add_cookies(
            [{"name": world.app.config["SESSION_COOKIE_NAME"], "value": cookie, "url": server}]
        )
    return context


@pytest.mark.parametrize(("endpoint", "target", "kind"), PAGES)
def test_page_fits_a_phone_and_passes_axe(chromium, world, server, endpoint, target, kind):
    context = browser_as(chromium, world, server, kind)
    try:
        page = context.new_page()
        url = url_of(world, endpoint, target)
        response = page.goto(server + url, wait_until="load")
        assert response.status == 200, f"{url} as {kind}: {response.status}"
        problems = phone_problems(page)
        assert not problems, f"{url} as {kind}:\n" + "\n".join(problems)
    finally:
        context.close()


def test_the_walk_covers_every_kind_of_page():
    """Each audience's pages are in the walk (a change to the table cannot drop them silently)."""
    endpoints = {endpoint for endpoint, _, _ in (p.values for p in PAGES)}
    for needed in (
        "approvals.inbox",
        "approvals.task",
        "approvals.act",
        "staff.submission",
        "staff.new_submission",
        "compliance.search",
        "insight.dashboard",
        "admin.edit_form",
    ):
        assert needed in endpoints, needed
