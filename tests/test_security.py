"""Abuse limits, security headers, session cookies and session ends (docs/security.md)."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from click.testing import CliRunner
from itsdangerous import TimestampSigner
from sqlalchemy import select

from portal import audit, clock, limits
from portal.cli import baton
from portal.config import from_environment
from portal.extensions import db
from portal.models import AuditEvent
from portal.services import tokens, users
from tests.fixtures.forms import shipped_schema
from tests.fixtures.users import PASSWORD
from tests.fixtures.web import csrf_token_in

ACTOR = audit.Actor(system="tests", channel="cli")
PAGES = ["/login", "/", "/submissions", "/forms/vendor_invoice/new", "/no-such-page"]


@pytest.fixture
def limited(app):
    """The app with its abuse limits switched on (they are off for the rest of the suite)."""
    app.config["RATELIMIT_ENABLED"] = True
    limits.limiter.init_app(app)
    return app


def _sign_in(client, email, password, address="203.0.113.7"):
    token = csrf_token_in(client.get("/login").text)
    return client.post(
        "/login",
        data={"csrf_token": token, "email": email, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


# -- headers ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_every_page_carries_the_security_headers(browser, alice, path):
    browser.login(alice.email)
    headers = browser.get(path).headers
    policy = headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy
    assert "frame-ancestors 'none'" in policy
    assert "object-src 'none'" in policy
    assert "no-store" in headers["Cache-Control"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["X-Frame-Options"] == "DENY"


def test_api_responses_and_errors_carry_them_too(client):
    for response in (client.get("/api/v1/openapi.json"), client.get("/api/v1/forms")):
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/api/v1/forms").status_code == 401


def test_nothing_but_static_files_may_be_stored_by_a_browser_or_proxy(browser, alice, client):
    browser.login(alice.email)
    for path in ("/", "/account", "/api/v1/forms", "/api/v1/no-such-thing", "/health"):
        response = browser.get(path)
        assert response.cache_control.no_store, (path, response.status_code)
    static = client.get("/static/css/baton.css")
    static.close()
    assert static.status_code == 200 and not static.cache_control.no_store


def test_pages_have_no_inline_script_or_style(browser, alice):
    browser.login(alice.email)
    for path in ["/", "/forms/vendor_invoice/new", "/submissions"]:
        html = browser.get(path).text
        assert "<script>" not in html and "<style" not in html, path
        assert ' style="' not in html and " onclick=" not in html, path


# -- cookies and sessions -------------------------------------------------------------------------


def test_session_cookie_is_httponly_and_lax_in_development(client, alice):
    response = _sign_in(client, alice.email, PASSWORD)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain http on a developer's machine


@pytest.mark.parametrize("env", ["production", "staging"])
def test_cookies_are_secure_outside_development(tmp_path, env):
    config = from_environment(str(tmp_path), {"BATON_ENV": env})
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["REMEMBER_COOKIE_SECURE"] is True
    assert config["SESSION_COOKIE_HTTPONLY"] is True
    assert config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_secure_cookies_bring_strict_transport_security(app, client, alice):
    app.config["SESSION_COOKIE_SECURE"] = True
    response = _sign_in(client, alice.email, PASSWORD)
    assert "Secure" in response.headers["Set-Cookie"]
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_idle_minutes_setting_is_checked(tmp_path):
    config = from_environment(str(tmp_path), {"BATON_SESSION_IDLE_MINUTES": "30"})
    assert config["PERMANENT_SESSION_LIFETIME"].total_seconds() == 30 * 60
    with pytest.raises(ValueError, match="BATON_SESSION_IDLE_MINUTES=.2. must be a whole number"):
        from_environment(str(tmp_path), {"BATON_SESSION_IDLE_MINUTES": "2"})


def test_a_session_ends_after_the_idle_time(app, client, alice, monkeypatch):
    assert _sign_in(client, alice.email, PASSWORD).status_code == 302
    assert client.get("/submissions").status_code == 200
    idle = app.permanent_session_lifetime.total_seconds()
    later = int(time.time() + idle + 60)
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: later)
    # Another request in time would have renewed the cookie; this one comes too late.
    monkeypatch.setattr(time, "time", lambda: later)
    response = client.get("/submissions")
    assert response.status_code == 302
    assert response.location.startswith("/login")


def test_a_session_used_within_the_idle_time_goes_on(app, client, alice, monkeypatch):
    assert _sign_in(client, alice.email, PASSWORD).status_code == 302
    idle = app.permanent_session_lifetime.total_seconds()
    start = time.time()
    for step in (0.6, 1.2, 1.8):  # each request comes within the idle time of the one before
        moment = int(start + idle * step)
        monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self, m=moment: m)
        monkeypatch.setattr(time, "time", lambda m=moment: m)
        assert client.get("/submissions").status_code == 200


def test_a_copied_session_cookie_stops_working_after_sign_out(app, client, alice):
    assert _sign_in(client, alice.email, PASSWORD).status_code == 302
    copy = app.test_client()
    copy.set_cookie("session", client.get_cookie("session").value)
    assert copy.get("/submissions").status_code == 200
    client.post("/logout", data={"csrf_token": csrf_token_in(client.get("/").text)})
    response = copy.get("/submissions")
    assert response.status_code == 302 and response.location.startswith("/login")


def test_signing_out_on_one_device_leaves_the_other_signed_in(app, client, alice):
    laptop, phone = client, app.test_client()
    for device in (laptop, phone):
        assert _sign_in(device, alice.email, PASSWORD).status_code == 302
    phone.post("/logout", data={"csrf_token": csrf_token_in(phone.get("/").text)})
    assert phone.get("/submissions").location.startswith("/login")
    assert laptop.get("/submissions").status_code == 200


def test_a_session_ends_after_its_absolute_lifetime_however_busy(app, client, alice):
    assert app.config["SESSION_MAX_AGE"] == dt.timedelta(hours=12)
    with clock.frozen_at(dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC)) as advance:
        assert _sign_in(client, alice.email, PASSWORD).status_code == 302
        for _ in range(11):  # busy all day: a request every hour
            advance(dt.timedelta(hours=1))
            assert client.get("/submissions").status_code == 200
        advance(dt.timedelta(hours=1))
        response = client.get("/submissions")
        assert response.status_code == 302 and response.location.startswith("/login")
        assert _sign_in(client, alice.email, PASSWORD).status_code == 302
        assert client.get("/submissions").status_code == 200


def test_max_hours_setting_is_checked(tmp_path):
    config = from_environment(str(tmp_path), {"BATON_SESSION_MAX_HOURS": "8"})
    assert config["SESSION_MAX_AGE"] == dt.timedelta(hours=8)
    for wrong in ("0", "721", "twelve"):
        with pytest.raises(ValueError, match=f"BATON_SESSION_MAX_HOURS='{wrong}' must be a whole"):
            from_environment(str(tmp_path), {"BATON_SESSION_MAX_HOURS": wrong})


def test_disabling_a_user_ends_their_session_and_tokens(app, client, alice):
    assert _sign_in(client, alice.email, PASSWORD).status_code == 302
    secret = tokens.create(alice, "ERP", ACTOR)[1]
    db.session.commit()
    bearer = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/forms", headers=bearer).status_code == 200

    result = CliRunner().invoke(baton, ["disable-user", alice.email], obj=app)
    assert result.exit_code == 0, result.output
    assert "alice@example.com is now disabled." in result.output

    response = client.get("/submissions")
    assert response.status_code == 302 and response.location.startswith("/login")
    assert client.get("/api/v1/forms", headers=bearer).status_code == 401
    assert _sign_in(client, alice.email, PASSWORD).status_code == 401

    assert CliRunner().invoke(baton, ["enable-user", alice.email], obj=app).exit_code == 0
    # Enabled again, the old session and the old token stay ended: Alice signs in afresh.
    response = client.get("/submissions")
    assert response.status_code == 302 and response.location.startswith("/login")
    assert client.get("/api/v1/forms", headers=bearer).status_code == 401
    assert _sign_in(client, alice.email, PASSWORD).status_code == 302
    assert client.get("/submissions").status_code == 200


def test_a_new_password_ends_other_sessions(app, client, alice):
    other = app.test_client()
    assert _sign_in(client, alice.email, PASSWORD).status_code == 302
    assert _sign_in(other, alice.email, PASSWORD).status_code == 302
    users.save_user(alice.email, alice.name, "a brand new passphrase")
    db.session.commit()
    for browser in (client, other):
        assert browser.get("/submissions").location.startswith("/login")
    assert _sign_in(client, alice.email, "a brand new passphrase").status_code == 302


def test_disabling_is_audited_and_an_unknown_email_changes_nothing(app, alice):
    users.set_active(alice.email, False)
    db.session.commit()
    last = db.session.scalars(
        select(AuditEvent).where(AuditEvent.chain == audit.ADMIN_CHAIN).order_by(AuditEvent.seq)
    ).all()[-1]
    assert last.details == {"user": alice.email, "tokens_revoked": []}
    assert last.action == "user_disabled"
    result = CliRunner().invoke(baton, ["disable-user", "nobody@example.com"], obj=app)
    assert result.exit_code == 1
    assert "no user with email 'nobody@example.com'" in result.output


# -- abuse limits ---------------------------------------------------------------------------------


def test_failed_sign_ins_for_one_account_slow_down_from_any_address(limited, client, alice):
    for attempt in range(5):
        response = _sign_in(client, alice.email, "wrong password", address=f"198.51.100.{attempt}")
        assert response.status_code == 401
    # The sixth guess, from yet another address, waits; so does the right password for now.
    for password in ("wrong password", PASSWORD):
        response = _sign_in(client, alice.email, password, address="192.0.2.99")
        assert response.status_code == 429
        assert "Too many failed sign-ins for this account" in response.text
        assert int(response.headers["Retry-After"]) > 0
    # Another account is not affected.
    assert _sign_in(client, "bob@example.com", "wrong password").status_code == 401


def test_successful_sign_ins_do_not_count_against_the_account(limited, client, alice):
    for _ in range(8):
        assert _sign_in(client, alice.email, PASSWORD).status_code == 302
        client.post("/logout", data={"csrf_token": csrf_token_in(client.get("/").text)})


def test_one_address_gets_a_limited_number_of_sign_in_attempts(limited, client, make_user):
    limited.config["RATE_LIMIT_LOGIN_PER_CLIENT"] = "3 per minute"
    for number in range(3):
        email = f"user{number}@example.com"
        assert _sign_in(client, email, "wrong password", address="203.0.113.50").status_code == 401
    response = _sign_in(client, "user9@example.com", "wrong password", address="203.0.113.50")
    assert response.status_code == 429
    assert "Too many attempts" in response.text
    assert _sign_in(client, "user9@example.com", "x", address="203.0.113.51").status_code == 401


def test_action_links_are_limited_per_address(limited, client):
    limited.config["RATE_LIMIT_ACTION_LINKS_PER_CLIENT"] = "2 per minute"
    for _ in range(2):
        assert client.get("/act/not-a-real-token").status_code != 429
    response = client.get("/act/not-a-real-token")
    assert response.status_code == 429
    assert "Retry-After" in response.headers


def test_api_calls_are_limited_per_token_with_a_json_429(limited, client, alice, bob):
    limited.config["RATE_LIMIT_API_PER_TOKEN"] = "3 per minute"
    first = tokens.create(alice, "ERP", ACTOR)[1]
    second = tokens.create(bob, "Tickets", ACTOR)[1]
    db.session.commit()
    for _ in range(3):
        response = client.get("/api/v1/forms", headers={"Authorization": f"Bearer {first}"})
        assert response.status_code == 200
    response = client.get("/api/v1/forms", headers={"Authorization": f"Bearer {first}"})
    assert response.status_code == 429
    assert response.is_json and "message" in response.json
    assert int(response.headers["Retry-After"]) > 0
    # The limit is the token's own: another token from the same address goes on.
    response = client.get("/api/v1/forms", headers={"Authorization": f"Bearer {second}"})
    assert response.status_code == 200
    assert response.headers["X-RateLimit-Limit"] == "3"


def test_only_a_429_and_the_audit_pdf_202_carry_retry_after(
    limited, client, approvals, org, vendor_invoice, token_for
):
    submission = approvals.submit_invoice()
    bearer = {"Authorization": f"Bearer {token_for(org.alice)}"}
    listed = client.get("/api/v1/forms", headers=bearer)
    assert listed.status_code == 200 and listed.headers["X-RateLimit-Limit"] == "600"
    assert "Retry-After" not in listed.headers
    assert "Retry-After" not in client.get("/login").headers
    pending = client.get(f"/api/v1/submissions/{submission.id}/audit.pdf", headers=bearer)
    assert pending.status_code == 202
    assert pending.headers["Retry-After"] == "5"  # its own value, not the limiter's window


def test_wrong_signature_passwords_count_as_failed_sign_ins(
    limited, client, app, approvals, org, publish, token_for
):
    schema = shipped_schema("vendor_invoice")
    schema["approval"]["steps"][0].update({"signature": "password", "sign_as": "Budget owner"})
    publish("vendor_invoice", schema)
    task = approvals.open_tasks(approvals.submit_invoice())[0]
    bearer = {"Authorization": f"Bearer {token_for(task.assignee)}"}

    def sign(password):
        return client.post(
            f"/api/v1/tasks/{task.id}/decision",
            json={"decision": "approve", "password": password},
            headers=bearer,
        )

    for _ in range(5):
        assert sign("a guess").status_code == 422
    # The sixth try waits, even with the right password, and so does signing in.
    locked = sign(PASSWORD)
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert "Too many failed sign-ins for this account" in locked.json["message"]
    assert _sign_in(app.test_client(), task.assignee.email, PASSWORD).status_code == 429
    assert approvals.open_tasks(task.submission)[0].id == task.id  # nothing was decided
