"""Schemathesis against /api/v1/openapi.json: every operation, fuzzed in process.

Each operation gets a world of its own (the vendor invoice form published, Alice's submission 1
in review with Bob's open task 1, a token for each of them and for an admin) and Hypothesis sends
it requests, valid ones and invalid ones (both of schemathesis' generation modes). Every answer
must be one the document describes: no 5xx, a documented status code and content type, headers
and a body that match their schemas, a 4xx for every request the document says is invalid, and
a 405 (with Allow) for a method it does not list. (Who may call what is
tests/test_authorization_matrix.py's business; here each request carries the token best placed
to get through.)

Deterministic (derandomized) and bounded, so it runs in `make test`; look harder with
`FUZZ_EXAMPLES=500 .venv/bin/python -m pytest tests/api/test_api_fuzz.py`.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    missing_required_header,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from portal.blueprints.api.openapi import document
from portal.extensions import db
from portal.models import Submission
from portal.services import approvals, records
from tests.api.test_api import invoice_data

#: Examples per operation: enough to find a 500 in a few seconds, and the same every run.
MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    missing_required_header,
    unsupported_method,
    allow_header_conformance,
]

# The document the app serves; the requests go to the app in process (WSGI), not over a network.
schema = schemathesis.openapi.from_dict(document("http://localhost"))

#: The running test's tokens by role (its fixture makes them in that test's fresh database).
TOKENS: dict[str, str] = {}


@schema.auth(refresh_interval=None)
class BearerToken:
    """The caller best placed to get past the checks: an admin publishes, Bob (who holds task 1)
    decides, Alice (whose submission 1 is) does the rest. Schemathesis leaves the header out
    itself where a request is meant to be unauthenticated."""

    def get(self, case, context):
        if case.method.upper() == "PUT":
            return TOKENS.get("admin")
        if case.path.startswith("/tasks/"):
            return TOKENS.get("approver")
        return TOKENS.get("submitter")

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@schema.hook
def flatmap_case(context, case):
    """Half the valid requests name the form and the ids that exist: random ones find nothing."""
    path = case.meta.components.get(ParameterLocation.PATH) if case.meta else None
    if not case.path_parameters or (path is not None and path.mode.is_negative):
        return st.just(case)

    def known(use_them: bool):
        if use_them:
            parameters = dict(case.path_parameters)
            parameters.update(
                {name: value for name, value in EXISTING.items() if name in parameters}
            )
            case.path_parameters = parameters
        return case

    return st.booleans().map(known)


#: Path parameters that name something in the fixture's fresh database.
EXISTING = {"slug": "vendor_invoice", "id": 1}


@pytest.fixture
def fuzz_tokens(app, org, ada, vendor_invoice, token_for, client):
    """Tokens by role, and Alice's submission 1 with its first task (1) open for Bob."""
    TOKENS.update(
        submitter=token_for(org.alice, "fuzz"),
        approver=token_for(org.bob, "fuzz"),
        admin=token_for(ada, "fuzz"),
    )
    response = client.post(
        "/api/v1/forms/vendor_invoice/submissions",
        json={"data": invoice_data()},
        headers={"Authorization": f"Bearer {TOKENS['submitter']}"},
    )
    assert response.status_code == 201, response.get_json()
    app.wsgi_app = _read_whole(app.wsgi_app)
    assert response.get_json()["id"] == EXISTING["id"]
    approvals.start_chain(EXISTING["id"])
    db.session.commit()
    yield TOKENS
    TOKENS.clear()


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    # The world is built once per operation, not once per example: examples share it, which
    # is what they would do on a real server (a decided task stays decided: 409).
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_operation_answers_as_the_document_says(case, app, fuzz_tokens):
    if case.path.endswith("/audit.pdf"):
        _render_audit_pdf()  # so the PDF itself is checked too, not only "202, come back later"
    case.call_and_validate(app=app, checks=CHECKS)
    db.session.rollback()  # the test's own session keeps nothing cached between examples


def _read_whole(wsgi_app):
    """The app, its answers read whole and closed: schemathesis' WSGI transport reads a body but
    never closes it, which would leave a sent PDF's file open (a ResourceWarning, an error)."""

    def app(environ, start_response):
        body = wsgi_app(environ, start_response)
        try:
            return [b"".join(body)]
        finally:
            if hasattr(body, "close"):
                body.close()

    return app


def _render_audit_pdf() -> None:
    """What the worker does when the PDF is asked for (once: the rendering is kept)."""
    submission = db.session.get(Submission, EXISTING["id"])
    records.render(submission, submission.submitter)
    db.session.commit()


def test_the_fuzzer_reaches_every_operation():
    documented = {
        (method.upper(), path)
        for path, item in document()["paths"].items()
        for method in item
        if method != "parameters"
    }
    fuzzed = {(op.ok().method.upper(), op.ok().path) for op in schema.get_all_operations()}
    assert fuzzed == documented
