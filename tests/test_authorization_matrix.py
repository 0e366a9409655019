"""Who may do what, route by route: every route of the app against every kind of user.

The routes come from the app's URL map, so a new route fails here until it has a row in
EXPECTED. Each row names a route, the record its URL is filled with, and what each kind of
person gets, in the order of PEOPLE (tests/fixtures/authorization.py describes the world):

    anon  nobody signed in          sub  the submitter (Alice)     oth  other staff (Oscar)
    asg   the assignee (Dana)       fmr  the former assignee (Bob, who handed the task over)
    cmp   a compliance officer      adm  an admin

and each person's API token is checked too. A credential of the other channel counts for
nothing: a bearer token on a web page is answered as "anon" is, and a signed-in browser
session on the API as no token is. So a web row's outcomes hold for the tokens' owners
reaching it with a token only as the "anon" column says, and an API row's columns are the
token of each person ("anon" is no token at all, and also every browser session).

Outcomes:
    L     302 to the sign-in page          200, 201, 202, 401, 403, 404, 409, 410, 422: that status
    302   redirect elsewhere, done         302!  redirect with an error message: the service
                                                 refused (authorised, but not allowed or not valid)
A CSRF refusal is never an expected outcome: the matrix sends a valid token with every unsafe
request from a browser, and test_unsafe_routes_refuse_requests_without_a_csrf_token checks
that leaving it out is refused.

Add a row for a new route: one line in its blueprint's group, with the record it is called on
(TARGETS) and a body for unsafe methods that changes nothing when allowed (BODIES), or a fresh
target made per request (FRESH) when it cannot help changing something.
"""

from __future__ import annotations

import os
import tempfile

import pytest
from flask import url_for

from portal import create_app
from portal.extensions import db
from portal.models import ApiToken, Submission
from tests.fixtures import authorization
from tests.fixtures.authorization import PEOPLE

#: Built once for this module (tests/fixtures/authorization.py).
world = authorization.world

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
DEVELOPMENT_ONLY = "devtools."

# fmt: off
EXPECTED: dict[tuple[str, str, str], str] = {
    # (method, endpoint, target):                  anon sub  oth  asg  fmr  cmp  adm
    # -- public: no sign-in, no record ---------------------------------------------------------
    ("GET",  "health", "-"):                       "200  200  200  200  200  200  200",  # probe
    ("GET",  "static", "stylesheet"):              "200  200  200  200  200  200  200",  # css, js
    # -- auth ----------------------------------------------------------------------------------
    ("GET",  "auth.login", "-"):                   "200  302  302  302  302  302  302",
    ("POST", "auth.login", "-"):                   "422  302  302  302  302  302  302",  # empty
    ("POST", "auth.logout", "-"):                  "L    L    L    L    L    L    L",
    # No identity provider in this world: single sign-on goes back to the sign-in page.
    ("GET",  "auth.oidc_start", "-"):              "L    L    L    L    L    L    L",
    ("GET",  "auth.oidc_callback", "-"):           "L    L    L    L    L    L    L",
    # -- staff: starting requests and following one's own ------------------------------------
    ("GET",  "staff.home", "-"):                   "L    200  200  200  200  200  200",
    ("GET",  "staff.new_submission", "form"):      "L    200  200  200  200  200  200",
    ("POST", "staff.new_submission", "form"):      "L    200  200  200  200  200  200",  # update
    ("GET",  "staff.timeline", "form"):            "L    200  200  200  200  200  200",
    ("POST", "staff.live_form", "version"):        "L    200  200  200  200  200  200",
    ("GET",  "staff.my_submissions", "-"):         "L    200  200  200  200  200  200",
    ("GET",  "staff.submission", "alice's"):       "L    200  404  200  200  200  200",
    ("GET",  "staff.submission", "vera's"):        "L    404  404  404  404  200  200",
    ("GET",  "staff.submission", "alice's draft"): "L    200  404  404  404  404  404",
    ("GET",  "staff.submission", "id too large"):  "L    404  404  404  404  404  404",  # no 500
    ("GET",  "staff.edit_submission", "alice's draft"): "L 200  404  404  404  404  404",
    ("GET",  "staff.edit_submission", "alice's"):  "L    302  404  302  302  302  302",  # in review
    ("POST", "staff.edit_submission", "alice's draft"): "L 200  404  404  404  404  404",  # update
    ("POST", "staff.edit_submission", "vera's"):   "L    404  404  404  404  302  302",  # no edit
    ("GET",  "staff.withdraw", "alice's"):         "L    200  404  302! 302! 302! 302!",  # confirm
    ("GET",  "staff.withdraw", "vera's"):          "L    404  404  404  404  302! 302!",
    ("POST", "staff.withdraw", "alice's, fresh"):  "L    302  404  302! 302! 302! 302!",
    ("POST", "staff.withdraw", "vera's"):          "L    404  404  404  404  302! 302!",
    ("POST", "staff.discard_draft", "alice's draft, fresh"): "L 302 404 404 404  404  404",
    ("POST", "staff.discard_draft", "vera's"):     "L    404  404  404  404  302! 302!",
    ("GET",  "staff.download_file", "alice's"):    "L    200  404  200  200  200  200",
    ("GET",  "staff.download_file", "vera's"):     "L    404  404  404  404  200  200",
    ("GET",  "staff.download_file", "alice's id, vera's file"): "L 404 404 404 404 404 404",
    ("GET",  "staff.file_page", "alice's"):       "L    200  404  200  200  200  200",
    ("GET",  "staff.file_page", "vera's"):        "L    404  404  404  404  200  200",
    ("GET",  "staff.file_page", "alice's id, vera's file"): "L 404 404 404 404 404 404",
    ("GET",  "staff.audit_pdf", "alice's"):        "L    200  404  404  404  200  200",
    ("GET",  "staff.audit_pdf", "vera's"):         "L    404  404  404  404  200  200",
    ("GET",  "staff.audit_pdf_status", "alice's"): "L    200  404  404  404  200  200",
    ("GET",  "staff.audit_pdf_status", "vera's"):  "L    404  404  404  404  200  200",
    # -- approvals: the inbox, tasks and emailed links -----------------------------------------
    ("GET",  "approvals.inbox", "-"):              "L    200  200  200  200  200  200",
    ("GET",  "approvals.next_task", "-"):          "L    302  302  302  302  302  302",
    ("GET",  "approvals.task", "dana's"):          "L    404  404  200  404  404  404",
    ("POST", "approvals.task", "dana's"):          "L    404  404  422  404  404  404",  # empty
    ("GET",  "approvals.task", "bob's, closed"):   "L    404  404  404  200  404  404",
    ("POST", "approvals.task", "bob's, closed"):   "L    404  404  404  409  404  404",
    ("GET",  "approvals.task", "ivan's"):          "L    404  404  404  404  404  404",
    ("POST", "approvals.task", "ivan's"):          "L    404  404  404  404  404  404",
    ("POST", "approvals.reassign", "dana's"):      "L    403  403  403  403  403  302!",  # empty
    # The link itself is the credential (signed, names task and assignee); anyone signed in as
    # someone else is turned away.
    ("GET",  "approvals.act", "dana's"):           "200  403  403  200  403  403  403",
    ("POST", "approvals.act", "dana's"):           "422  403  403  422  403  403  403",  # empty
    ("GET",  "approvals.act", "bob's, closed"):    "200  403  403  403  200  403  403",  # used
    ("POST", "approvals.act", "bob's, closed"):    "410  403  403  403  410  403  403",
    ("GET",  "approvals.act", "ivan's"):           "200  403  403  403  403  403  403",
    ("GET",  "approvals.act", "forged"):           "404  404  404  404  404  404  404",
    # The request's files under its link: only while the link would let its assignee decide.
    ("GET",  "approvals.link_file", "dana's"):     "200  403  403  200  403  403  403",
    ("GET",  "approvals.link_file", "bob's, closed"): "410 403 403  403  410  403  403",  # used
    ("GET",  "approvals.link_file", "ivan's"):     "200  403  403  403  403  403  403",
    ("GET",  "approvals.link_file", "dana's link, vera's file"): "404 403 403 404 403 403 403",
    ("GET",  "approvals.link_file", "forged"):     "404  404  404  404  404  404  404",
    ("GET",  "approvals.link_file_page", "dana's"): "200 403  403  200  403  403  403",
    ("GET",  "approvals.link_file_page", "bob's, closed"): "410 403 403 403 410 403  403",
    ("GET",  "approvals.link_file_page", "ivan's"): "200 403  403  403  403  403  403",
    ("GET",  "approvals.link_file_page", "dana's link, vera's file"): "404 403 403 404 403 403 403",
    ("GET",  "approvals.link_file_page", "forged"): "404 404  404  404  404  404  404",
    # -- account: one's own settings and tokens -------------------------------------------------
    ("GET",  "account.settings", "-"):             "L    200  200  200  200  200  200",
    ("POST", "account.settings", "-"):             "L    422  422  422  422  422  422",  # bad date
    ("POST", "account.hand_over", "-"):            "L    302! 302! 302! 302  302! 302!",  # Bob's
    ("GET",  "account.api_tokens", "-"):           "L    200  200  200  200  200  200",
    ("POST", "account.api_tokens", "-"):           "L    422  422  422  422  422  422",  # no name
    ("POST", "account.revoke_token", "alice's token, fresh"): "L 302 302! 302! 302! 302! 302!",
    # -- compliance: every record, bulk exports (one officer's export is the team's) ------------
    ("GET",  "compliance.search", "-"):            "L    403  403  403  403  200  200",
    ("POST", "compliance.start_export", "-"):      "L    403  403  403  403  302! 302!",  # bad
    ("GET",  "compliance.export", "cora's"):       "L    403  403  403  403  200  200",
    ("GET",  "compliance.export_progress", "cora's"): "L 403  403  403  403  200  200",
    ("GET",  "compliance.download_export", "cora's"): "L 403  403  403  403  200  200",
    # -- insight: admins and compliance see whole forms; a step's group only that step ----------
    ("GET",  "insight.index", "-"):                "L    403  403  403  403  200  200",
    ("GET",  "insight.dashboard", "form"):         "L    403  403  403  403  200  200",
    ("GET",  "insight.table_csv", "volume table"): "L    403  403  403  403  200  200",
    ("GET",  "insight.table_csv", "approvers table"): "L 403  403  403  403  403  200",  # admins
    # -- admin: forms and webhooks ---------------------------------------------------------------
    ("GET",  "admin.form_list", "-"):              "L    403  403  403  403  403  200",
    ("GET",  "admin.new_form", "-"):               "L    403  403  403  403  403  200",
    ("POST", "admin.new_form", "-"):               "L    403  403  403  403  403  422",  # no slug
    ("GET",  "admin.edit_form", "form"):           "L    403  403  403  403  403  200",
    ("POST", "admin.preview", "form"):             "L    403  403  403  403  403  200",
    ("POST", "admin.review_publish", "form"):      "L    403  403  403  403  403  422",  # "{}"
    ("POST", "admin.publish", "form"):             "L    403  403  403  403  403  422",  # "{}"
    ("GET",  "admin.versions", "form"):            "L    403  403  403  403  403  200",
    ("GET",  "admin.compare", "form"):             "L    403  403  403  403  403  200",
    ("GET",  "admin.version", "form version"):     "L    403  403  403  403  403  200",
    ("GET",  "admin.rollback", "form version"):    "L    403  403  403  403  403  200",  # asks
    ("POST", "admin.rollback", "form version"):    "L    403  403  403  403  403  302",  # same
    ("POST", "admin.archive", "form"):             "L    403  403  403  403  403  302",  # keep
    ("GET",  "admin.group_changes", "-"):          "L    403  403  403  403  403  200",
    ("GET",  "admin.what_if", "form"):             "L    403  403  403  403  403  200",
    ("POST", "admin.what_if", "form"):             "L    403  403  403  403  403  200",  # "{}"
    ("POST", "admin.start_what_if", "form"):       "L    403  403  403  403  403  422",  # "{}"
    ("GET",  "admin.what_if_result", "ada's"):     "L    403  403  403  403  403  200",
    ("GET",  "builder.new", "-"):                  "L    403  403  403  403  403  200",
    ("POST", "builder.new", "-"):                  "L    403  403  403  403  403  422",  # no slug
    ("GET",  "builder.build", "form"):             "L    403  403  403  403  403  200",
    ("POST", "builder.build", "form"):             "L    403  403  403  403  403  200",  # "{}"
    ("POST", "builder.operate", "form"):           "L    403  403  403  403  403  200",  # select
    ("GET",  "builder.people", "form"):            "L    403  403  403  403  403  200",
    ("POST", "builder.review", "form"):            "L    403  403  403  403  403  422",  # "{}"
    ("POST", "builder.publish", "form"):           "L    403  403  403  403  403  422",  # "{}"
    ("GET",  "admin.people", "-"):                 "L    403  403  403  403  403  200",
    ("GET",  "admin.webhooks_list", "-"):          "L    403  403  403  403  403  200",
    ("POST", "admin.webhooks_list", "-"):          "L    403  403  403  403  403  422",  # no URL
    ("GET",  "admin.webhook", "ada's"):            "L    403  403  403  403  403  200",
    ("POST", "admin.webhook", "ada's"):            "L    403  403  403  403  403  422",  # no URL
    ("POST", "admin.webhook_ping", "ada's"):       "L    403  403  403  403  403  302",
    ("POST", "admin.webhook_rotate", "ada's"):     "L    403  403  403  403  403  302",
    ("GET",  "admin.webhook_delivery", "ada's"):   "L    403  403  403  403  403  200",
    ("POST", "admin.webhook_redeliver", "ada's"):  "L    403  403  403  403  403  302",
    # -- devtools: the development mailbox, registered only when BATON_ENV=development ----------
    ("GET",  "devtools.mailbox", "-"):             "L    200  200  200  200  200  200",  # theirs
    ("GET",  "devtools.message", "message"):       "L    200  404  404  404  404  200",  # alice's
    # -- api: columns are each person's token; "anon" is no token (or a browser session) -------
    ("GET",  "api.openapi", "-"):                  "200  200  200  200  200  200  200",  # public
    ("GET",  "api.list_forms", "-"):               "401  200  200  200  200  200  200",
    ("GET",  "api.get_form", "form"):              "401  200  200  200  200  200  200",
    ("PUT",  "api.put_form", "form"):              "401  403  403  403  403  403  422",  # "{}"
    ("POST", "api.create_submission", "form"):     "401  422  422  422  422  422  422",  # no data
    ("GET",  "api.get_submission", "alice's"):     "401  200  404  200  200  200  200",
    ("GET",  "api.get_submission", "id too large"): "404 404 404  404  404  404  404",  # no route
    ("GET",  "api.get_submission", "vera's"):      "401  404  404  404  404  200  200",
    ("GET",  "api.get_submission", "alice's draft"): "401 200 404  404  404  404  404",
    ("PATCH", "api.edit_submission", "alice's draft"): "401 200 404 404  404  404  404",
    ("PATCH", "api.edit_submission", "alice's"):   "401  409  404  404  404  404  404",  # in review
    ("PATCH", "api.edit_submission", "vera's"):    "401  404  404  404  404  404  404",
    ("POST", "api.submit_submission", "alice's draft, fresh"): "401 200 404 404 404 404 404",
    ("POST", "api.submit_submission", "alice's"):  "401  409  404  404  404  404  404",
    ("POST", "api.withdraw_submission", "alice's, fresh"): "401 200 404 404  404  404  404",
    ("POST", "api.withdraw_submission", "vera's"): "401  404  404  404  404  404  404",
    ("GET",  "api.audit_pdf", "alice's"):          "401  200  404  403  403  200  200",
    ("GET",  "api.audit_pdf", "vera's"):           "401  404  404  404  404  200  200",
    ("GET",  "api.list_tasks", "-"):               "401  200  200  200  200  200  200",
    ("POST", "api.decide", "dana's, fresh"):       "401  403  404  200  403  403  403",
    ("POST", "api.decide", "ivan's"):              "401  404  404  404  404  403  403",
    ("POST", "api.decide", "bob's, closed"):       "401  403  404  403  409  403  403",
}
# fmt: on

#: Which record each target names: the URL values, from the world's ids.
TARGETS = {
    "-": lambda ids: {},
    "stylesheet": lambda ids: {"filename": ids["static"]},
    "form": lambda ids: {"slug": ids["slug"]},
    "volume table": lambda ids: {"slug": ids["slug"], "table": "volume"},
    "approvers table": lambda ids: {"slug": ids["slug"], "table": "approvers"},
    "form version": lambda ids: {"slug": ids["slug"], "number": ids["version_number"]},
    "version": lambda ids: {"version_id": ids["version_id"]},
    "alice's": lambda ids: {
        "submission_id": ids["own_submission"],
        "attachment_id": ids["own_attachment"],
        "page": 1,
    },
    "alice's draft": lambda ids: {"submission_id": ids["draft"]},
    "id too large": lambda ids: {"submission_id": 2**64},  # beyond any database integer
    "vera's": lambda ids: {
        "submission_id": ids["foreign_submission"],
        "attachment_id": ids["foreign_attachment"],
        "page": 1,
    },
    "alice's id, vera's file": lambda ids: {
        "submission_id": ids["own_submission"],
        "attachment_id": ids["foreign_attachment"],
        "page": 1,
    },
    # A link's target names its request's file too (for the link's file routes).
    "dana's": lambda ids: {
        "task_id": ids["open_task"],
        "token": ids["open_link"],
        "attachment_id": ids["own_attachment"],
        "page": 1,
    },
    "bob's, closed": lambda ids: {
        "task_id": ids["old_task"],
        "token": ids["old_link"],
        "attachment_id": ids["own_attachment"],
        "page": 1,
    },
    "ivan's": lambda ids: {
        "task_id": ids["foreign_task"],
        "token": ids["foreign_link"],
        "attachment_id": ids["foreign_attachment"],
        "page": 1,
    },
    "dana's link, vera's file": lambda ids: {
        "token": ids["open_link"],
        "attachment_id": ids["foreign_attachment"],
        "page": 1,
    },
    "forged": lambda ids: {"token": "not-a-signed-link", "attachment_id": 1, "page": 1},
    "cora's": lambda ids: {"export_id": ids["export"]},
    "ada's": lambda ids: {
        "endpoint_id": ids["webhook"],
        "delivery_id": ids["delivery"],
        "what_if_id": ids["what_if"],
    },
    "message": lambda ids: {"name": ids["message"]},
}

#: Targets made afresh for each request, because an allowed request changes them for good.
FRESH = {
    "alice's, fresh": lambda world: {"submission_id": world.fresh_request()[0]},
    "alice's draft, fresh": lambda world: {"submission_id": world.fresh_draft()},
    "dana's, fresh": lambda world: {"task_id": world.fresh_request()[1]},
    "alice's token, fresh": lambda world: {"token_id": world.fresh_token()},
}

#: What unsafe requests send: chosen so that an allowed request changes nothing lasting.
BODIES = {
    ("POST", "staff.new_submission"): {"_action": "update"},
    ("POST", "staff.edit_submission"): {"_action": "update"},
    ("POST", "account.settings"): {"away_from": "not a date"},
    ("POST", "compliance.start_export"): {"amount_min": "lots"},
    ("POST", "admin.preview"): {"schema_text": "{}"},
    ("POST", "admin.review_publish"): {"schema_text": "{}"},
    ("POST", "admin.publish"): {"schema_text": "{}"},
    ("POST", "admin.what_if"): {"schema_text": "{}"},
    ("POST", "admin.start_what_if"): {"schema_text": "{}", "minutes_per_task": "10"},
    ("POST", "builder.build"): {"schema_text": "{}"},
    ("POST", "builder.operate"): {"schema_text": "{}", "op": "select"},
    ("POST", "builder.review"): {"schema_text": "{}"},
    ("POST", "builder.publish"): {"schema_text": "{}"},
    ("POST", "api.create_submission"): {"data": {}},
    ("PUT", "api.put_form"): {},
    ("POST", "api.decide"): {"decision": "approve", "comment": "From the matrix."},
    ("PATCH", "api.edit_submission"): {"data": {}},
    ("POST", "api.submit_submission"): {"data": {}},
}


def _routes_of(app) -> set[tuple[str, str]]:
    """(method, endpoint) of every route, without the HEAD and OPTIONS Flask adds."""
    return {
        (method, rule.endpoint)
        for rule in app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }


def _routes_at_collection() -> set[tuple[str, str]]:
    """The routes of an app built as the tests build it (no database is touched)."""
    saved = os.environ.get("BATON_INSTANCE")
    with tempfile.TemporaryDirectory() as instance:
        os.environ["BATON_INSTANCE"] = instance
        try:
            app = create_app(
                {"TESTING": True, "SECRET_KEY": "routes", "SQLALCHEMY_DATABASE_URI": "sqlite://"}
            )
            return _routes_of(app)
        finally:
            if saved is None:
                os.environ.pop("BATON_INSTANCE", None)
            else:
                os.environ["BATON_INSTANCE"] = saved


ROUTES = _routes_at_collection()
KINDS = list(PEOPLE) + [f"token:{kind}" for kind in PEOPLE if kind != "anonymous"]


def _cases():
    rows = [(method, endpoint, target) for method, endpoint, target in EXPECTED]
    covered = {(method, endpoint) for method, endpoint, _ in rows}
    # A route without a row is a case too: it fails, naming the route.
    rows += [(method, endpoint, None) for method, endpoint in sorted(ROUTES - covered)]
    for method, endpoint, target in rows:
        if (method, endpoint) not in ROUTES and endpoint.startswith(DEVELOPMENT_ONLY):
            continue  # not registered outside development
        for kind in KINDS:
            label = f"{method} {endpoint} [{target}] as {kind}"
            yield pytest.param(method, endpoint, target, kind, id=label)


def expected_outcome(method: str, endpoint: str, target: str, kind: str) -> str:
    """What the table says `kind` gets, with the other-channel rule applied."""
    outcomes = EXPECTED[method, endpoint, target].split()
    assert len(outcomes) == len(PEOPLE), f"{method} {endpoint} [{target}]: not 7 outcomes"
    is_api = endpoint.startswith("api.")
    is_token = kind.startswith("token:")
    if is_api != is_token:
        return outcomes[0]  # the credential of the other channel counts for nothing
    return outcomes[PEOPLE.index(kind.removeprefix("token:"))]


def observe(client, response) -> str:
    """The outcome, in the table's words."""
    if response.status_code in (301, 302, 303):
        if response.location.split("?")[0].endswith("/login"):
            return "L"
        with client.session_transaction() as session:
            categories = [category for category, _ in session.get("_flashes", [])]
        return "302!" if "error" in categories else "302"
    if response.status_code == 400 and "This form has expired" in response.text:
        return "csrf"
    return str(response.status_code)


def call(world, method: str, endpoint: str, target: str, kind: str, csrf: bool = True):
    """Make the request as `kind`: the client (to read its flashes) and the response."""
    if target in FRESH:
        values = FRESH[target](world)
    else:
        values = TARGETS[target](world.ids)
    with world.app.test_request_context():
        rule_args = next(
            rule.arguments for rule in world.app.url_map.iter_rules() if rule.endpoint == endpoint
        )
        url = url_for(endpoint, **{k: v for k, v in values.items() if k in rule_args})
    client = world.client(kind)
    body = BODIES.get((method, endpoint), {})
    if endpoint.startswith("api."):
        kwargs = {"json": body} if method in UNSAFE else {}
    else:
        data = dict(body)
        token = world.csrf(kind)
        if method in UNSAFE and csrf and token:
            data["csrf_token"] = token
        kwargs = {"data": data} if method in UNSAFE else {}
    response = client.open(url, method=method, **kwargs)
    response.get_data()  # read a sent file whole, then close it
    response.close()
    if endpoint == "auth.logout":
        world.sign_in_again(kind)
    return url, client, response


@pytest.mark.parametrize(("method", "endpoint", "target", "kind"), list(_cases()))
def test_each_route_answers_each_kind_of_user_as_the_table_says(
    world,
    method,
    endpoint,
    target,
    kind,
):
    if target is None:
        pytest.fail(
            f"{method} {endpoint} has no row in EXPECTED (tests/test_authorization_matrix.py): "
            "add one saying what each kind of user gets"
        )
    expected = expected_outcome(method, endpoint, target, kind)
    url, client, response = call(world, method, endpoint, target, kind)
    got = observe(client, response)
    assert got == expected, (
        f"{method} {url} ({endpoint} on {target}) as {kind}: expected {expected}, got {got}"
        f" ({response.status_code}: {response.get_data(as_text=True)[:300]!r})"
    )


def test_the_table_names_only_routes_the_app_has(world):
    stale = {
        (method, endpoint)
        for method, endpoint, _ in EXPECTED
        if (method, endpoint) not in ROUTES and not endpoint.startswith(DEVELOPMENT_ONLY)
    }
    assert not stale, f"rows for routes the app does not have: {sorted(stale)}"
    assert _routes_of(world.app) == ROUTES, "the app under test has other routes than counted"
    for _, _, target in EXPECTED:
        assert target in TARGETS or target in FRESH, f"unknown target {target!r}"


def _unsafe_web_routes():
    for method, endpoint, target in EXPECTED:
        if method in UNSAFE and not endpoint.startswith("api."):
            outcomes = EXPECTED[method, endpoint, target].split()
            # Someone the route lets through (else the CSRF check is never reached).
            kind = next(
                (k for k, o in zip(PEOPLE, outcomes, strict=True) if o not in ("L", "403")),
                "submitter",
            )
            yield pytest.param(method, endpoint, target, kind, id=f"{method} {endpoint} [{target}]")


@pytest.mark.parametrize(("method", "endpoint", "target", "kind"), list(_unsafe_web_routes()))
def test_unsafe_routes_refuse_requests_without_a_csrf_token(
    world,
    method,
    endpoint,
    target,
    kind,
):
    url, client, response = call(world, method, endpoint, target, kind, csrf=False)
    assert observe(client, response) == "csrf", f"{method} {url} as {kind} without a CSRF token"


def test_the_fresh_targets_changed_only_for_whom_the_table_allows(world):
    """The requests that were allowed did what they say; those refused changed nothing."""
    # Alice's spare tokens: only Alice revoked hers (each kind got one of its own to try).
    for kind in KINDS:
        token_id = world.fresh_token()
        url, client, response = call_revoke(world, kind, token_id)
        revoked = db.session.get(ApiToken, token_id).revoked_at is not None
        db.session.expire_all()
        assert revoked == (kind == "submitter"), f"POST {url} as {kind}: revoked={revoked}"
    # Vera's request is still in review after everyone tried to withdraw it.
    vera = db.session.get(Submission, world.ids["foreign_submission"])
    assert vera.status.value == "in_review"


def call_revoke(world, kind: str, token_id: int):
    with world.app.test_request_context():
        url = url_for("account.revoke_token", token_id=token_id)
    client = world.client(kind)
    data = {"csrf_token": world.csrf(kind)} if world.csrf(kind) else {}
    response = client.post(url, data=data)
    response.close()
    return url, client, response
