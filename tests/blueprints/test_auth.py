"""Signing in and out, and the rule that only the login page is public."""

import pytest

from tests.fixtures.users import PASSWORD
from tests.fixtures.web import csrf_token_in


@pytest.mark.parametrize(
    "path", ["/", "/submissions", "/forms/vendor_invoice/new", "/submissions/1"]
)
def test_anonymous_visitors_are_sent_to_the_login_page(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.location.startswith("/login")


def test_anonymous_htmx_request_gets_401_and_a_redirect_header(client):
    response = client.post("/versions/1/live", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/login"


def test_login_page_renders_with_labels(client):
    page = client.get("/login")
    assert page.status_code == 200
    assert '<label class="label" for="email">Email address</label>' in page.text
    assert '<label class="label" for="password">Password</label>' in page.text


def test_correct_password_signs_in_and_returns_to_next_page(client, alice):
    token = csrf_token_in(client.get("/login").text)
    response = client.post(
        "/login?next=/submissions",
        data={"csrf_token": token, "email": "ALICE@example.com ", "password": PASSWORD},
    )
    assert response.status_code == 302
    assert response.location == "/submissions"
    assert client.get("/submissions").status_code == 200


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/x", "javascript:alert(1)", "//[", "http://[::1"],
)
def test_next_never_leads_off_site(client, alice, target):
    token = csrf_token_in(client.get("/login").text)
    response = client.post(
        "/login",
        query_string={"next": target},
        data={"csrf_token": token, "email": alice.email, "password": PASSWORD},
    )
    assert response.location == "/"


@pytest.mark.parametrize(
    ("email", "password"),
    [("alice@example.com", "wrong password"), ("nobody@example.com", PASSWORD)],
)
def test_wrong_credentials_get_one_message_that_names_neither(client, alice, email, password):
    token = csrf_token_in(client.get("/login").text)
    response = client.post(
        "/login", data={"csrf_token": token, "email": email, "password": password}
    )
    assert response.status_code == 401
    assert "That email and password did not match" in response.text
    assert client.get("/").status_code == 302


def test_disabled_user_cannot_sign_in(client, alice, app):
    from portal.extensions import db

    alice.is_active = False
    db.session.commit()
    token = csrf_token_in(client.get("/login").text)
    response = client.post(
        "/login", data={"csrf_token": token, "email": alice.email, "password": PASSWORD}
    )
    assert response.status_code == 401


def test_empty_login_form_names_both_fields(client):
    token = csrf_token_in(client.get("/login").text)
    response = client.post("/login", data={"csrf_token": token})
    assert response.status_code == 422
    assert "Enter your email address." in response.text
    assert "Enter your password." in response.text


def test_login_without_csrf_token_is_refused(client, alice):
    response = client.post("/login", data={"email": alice.email, "password": PASSWORD})
    assert response.status_code == 400
    assert "This form has expired" in response.text
    assert client.get("/").status_code == 302


def test_logout_is_a_post_and_ends_the_session(browser, alice):
    browser.login(alice.email)
    assert browser.get("/logout").status_code == 405
    response = browser.post("/logout")
    assert response.status_code == 302
    assert browser.get("/").status_code == 302


def test_password_is_stored_as_argon2_hash(alice):
    assert alice.password_hash.startswith("$argon2")
    assert PASSWORD not in alice.password_hash
