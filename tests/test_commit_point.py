"""The commit point (portal/web.py): a request commits once, only when it answers 2xx or 3xx."""

from __future__ import annotations

import pytest
from flask import redirect

from portal import web
from portal.domain.refusal import Conflict, NotFound, Refused
from portal.extensions import db
from portal.services import users
from portal.web import refusals_undone

EMAIL = "written-by-the-request@example.com"


def _write() -> None:
    """What a service does: change rows and flush, never commit."""
    users.save_user(EMAIL, "Written", "a long enough password", [], None)
    db.session.flush()


def _kept() -> bool:
    db.session.rollback()  # see what is committed, not what this session remembers
    return users.find_user(EMAIL) is not None


@pytest.fixture
def route(app, monkeypatch):
    """route(path, view): a public page (or, under /api, an API path) for this test only."""

    def add(path: str, view) -> None:
        endpoint = "test_" + path.strip("/").replace("/", "_")
        app.add_url_rule(path, endpoint, view)
        monkeypatch.setattr(web, "PUBLIC_ENDPOINTS", web.PUBLIC_ENDPOINTS | {endpoint})

    return add


@pytest.mark.parametrize(
    ("answer", "kept"),
    [
        (lambda: ("done", 200), True),
        (lambda: ("made", 201), True),
        (lambda: redirect("/"), True),
        (lambda: ("the form again, with its errors", 422), False),
        (lambda: ("conflict", 409), False),
        (lambda: ("bad", 400), False),
    ],
    ids=["200", "201", "302", "422", "409", "400"],
)
def test_a_request_keeps_its_writes_only_when_it_answers_success_or_a_redirect(
    client, route, answer, kept
):
    def view():
        _write()
        return answer()

    route("/written", view)
    client.get("/written")
    assert _kept() is kept


def test_an_exception_after_a_write_answers_500_and_keeps_nothing(client, route):
    def view():
        _write()
        raise RuntimeError("a bug")

    route("/broken", view)
    response = client.get("/broken")
    assert response.status_code == 500
    assert not _kept()


def test_a_refusal_nobody_caught_is_a_page_with_its_status_and_message(client, route):
    def view():
        _write()
        raise Conflict("This request was withdrawn meanwhile.")

    route("/refused", view)
    response = client.get("/refused")
    assert response.status_code == 409
    assert "This request was withdrawn meanwhile." in response.text
    assert not _kept()


def test_a_refusal_under_the_api_is_json_with_its_status_and_message(client, route):
    def view():
        _write()
        raise NotFound("There is no such thing.")

    route("/api/v1/test-refusal", view)
    response = client.get("/api/v1/test-refusal")
    assert response.status_code == 404
    assert response.get_json() == {"message": "There is no such thing."}
    assert not _kept()


def test_a_refusal_the_view_answers_with_a_redirect_keeps_nothing_the_call_flushed(client, route):
    def view():
        try:
            with refusals_undone():
                _write()
                raise Refused("Not like that.")
        except Refused:
            return redirect("/")  # a 302 commits: the refused call's writes must be gone

    route("/caught", view)
    assert client.get("/caught").status_code == 302
    assert not _kept()


def test_a_failing_commit_is_an_error_page_not_a_success(client, route, monkeypatch):
    def view():
        _write()
        monkeypatch.setattr(db.session, "commit", _fail)
        return "done"

    def _fail():
        raise RuntimeError("the database went away")

    route("/commit-fails", view)
    response = client.get("/commit-fails")
    assert response.status_code == 500
    assert "Content-Security-Policy" in response.headers
