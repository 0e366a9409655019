"""Signing in through a real OpenID Connect provider on loopback, in Chromium."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.domain.chain import TaskState
from portal.extensions import db
from portal.models import Task, User
from portal.services import users
from tests.browser.conftest import _is_fault
from tests.fixtures.forms import invoice_with_steps

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NORA = {"email": "nora@example.com", "email_verified": True, "name": "Nora Quist"}


#: The refusal pages answer 400 or 403 (so that nothing of the request is kept), which
#: Chromium reports on the console; they are what these tests expect.
_REFUSALS = tuple(
    f"Failed to load resource: the server responded with a status of {status}"
    for status in (400, 403)
)


@pytest.fixture
def page(chromium, live_server):
    """As tests/browser/conftest.py's tab, with the refusal pages' statuses expected."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if _is_fault(message) and not message.text.startswith(_REFUSALS)
            else None
        ),
    )
    yield tab
    context.close()
    assert not errors, f"the page reported errors: {errors}"


@pytest.fixture
def provider_site(sso, app, live_server, page):
    """Single sign-on on the live server: the provider sends browsers back to it.

    The provider's own page asks a CDN for its stylesheet and has no icon: both are answered
    here, so the test needs no network and only Baton's pages' errors count."""
    app.config["BASE_URL"] = live_server
    page.route(
        "https://cdn.jsdelivr.net/**",
        lambda route: route.fulfill(status=200, content_type="text/css", body=""),
    )
    page.route(f"{sso.provider.url}/favicon.ico", lambda route: route.fulfill(status=204))
    return sso


def _user(email: str) -> User | None:
    db.session.expire_all()
    return db.session.scalars(select(User).where(User.email == email)).first()


def _sign_in(page, live_server, provider, sub: str, **claims) -> None:
    """At Baton's sign-in page, press the provider's button and sign in there as `sub`."""
    provider.set_person(sub, **claims)
    sign_out = page.get_by_role("button", name="Sign out")
    if page.url.startswith(live_server) and sign_out.count():
        sign_out.click()
        expect(page.get_by_role("heading", name="Sign in to Baton")).to_be_visible()
    page.goto(f"{live_server}/login")
    page.get_by_role("link", name="Sign in with Example ID").click()
    expect(page.get_by_role("heading", name="Authorize Client")).to_be_visible()
    page.get_by_placeholder("sub").fill(sub)
    page.get_by_role("button", name="Authorize").click()


def test_staff_sign_in_through_the_provider(page, live_server, provider_site, screenshot):
    page.goto(f"{live_server}/login")
    screenshot("sso-sign-in")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot("sso-sign-in-phone")
    page.set_viewport_size({"width": 1280, "height": 900})
    _sign_in(page, live_server, provider_site.provider, "sub-nora", **NORA, groups=["ap-approvers"])
    expect(page.get_by_text("Nora Quist")).to_be_visible()
    assert urlsplit(page.url).path == "/"
    nora = _user("nora@example.com")
    assert nora.group_names == {"finance"}  # mapped from ap-approvers

    # Removed from the group at the provider: gone at the next sign-in.
    _sign_in(page, live_server, provider_site.provider, "sub-nora", **NORA, groups=[])
    expect(page.get_by_text("Nora Quist")).to_be_visible()
    assert _user("nora@example.com").group_names == set()


def test_the_claimed_manager_gets_the_manager_step(
    page, live_server, provider_site, publish, make_submission
):
    publish(
        "vendor_invoice",
        invoice_with_steps(
            {"name": "manager", "title": "Manager approval", "assignees": [{"manager": 1}]}
        ),
    )
    provider = provider_site.provider
    _sign_in(page, live_server, provider, "sub-mia", email="mia@example.com", name="Mia Lund")
    expect(page.get_by_text("Mia Lund")).to_be_visible()
    _sign_in(
        page,
        live_server,
        provider,
        "sub-sid",
        email="sid@example.com",
        name="Sid Park",
        manager_email="mia@example.com",
    )
    expect(page.get_by_text("Sid Park")).to_be_visible()
    submission = make_submission(submitter="sid@example.com")
    (task,) = db.session.scalars(
        select(Task).where(Task.submission_id == submission.id, Task.state == TaskState.OPEN)
    )
    assert task.step == "manager" and task.assignee.email == "mia@example.com"

    _sign_in(page, live_server, provider, "sub-mia", email="mia@example.com", name="Mia Lund")
    page.goto(f"{live_server}/inbox")
    expect(page.get_by_text("Manager approval").first).to_be_visible()


def test_refusals_show_a_page_that_says_why(page, live_server, provider_site, screenshot):
    provider = provider_site.provider
    # An email the provider has not verified.
    _sign_in(page, live_server, provider, "sub-una", email="una@example.com", email_verified=False)
    expect(page.get_by_role("heading", name="Sign-in did not work")).to_be_visible()
    expect(page.get_by_text("not verified")).to_be_visible()
    screenshot("sso-refused")
    assert _user("una@example.com") is None

    # A disabled account.
    _sign_in(page, live_server, provider, "sub-nora", **NORA)
    expect(page.get_by_text("Nora Quist")).to_be_visible()
    users.set_active("nora@example.com", False)
    db.session.commit()
    _sign_in(page, live_server, provider, "sub-nora", **NORA)
    expect(page.get_by_text("Your Baton account is disabled")).to_be_visible()
    page.goto(f"{live_server}/")
    assert urlsplit(page.url).path == "/login"


def test_a_tampered_state_is_refused_in_the_browser(page, live_server, provider_site):
    def tamper(route):
        """The provider's answer, with the state in its redirect back to Baton changed."""
        if route.request.method != "POST":
            return route.continue_()
        response = route.fetch(max_redirects=0)
        parts = urlsplit(response.headers["location"])
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        query["state"] = "forged-" + query["state"]
        location = urlunsplit(parts._replace(query=urlencode(query)))
        route.fulfill(response=response, headers={**response.headers, "location": location})

    page.route(re.compile(r"/oauth2/authorize\?"), tamper)
    _sign_in(page, live_server, provider_site.provider, "sub-nora", **NORA)
    expect(page.get_by_text("did not start in this browser")).to_be_visible()
    assert _user("nora@example.com") is None
