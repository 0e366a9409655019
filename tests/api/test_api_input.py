"""What the API accepts: bodies it cannot read safely, bodies too large, and a hostile corpus.

Every refusal here is a 4xx whose message names the problem (the JSON path, the field, the
limit), and nothing is stored: the rows of submission, attachment, audit_event and
outbox_message are counted before and after.
"""

from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Attachment, AuditEvent, OutboxMessage, Submission
from tests.api.test_api import PDF_B64, invoice_data

PATH = "/forms/vendor_invoice/submissions"
PDF_B64_2 = base64.b64encode(base64.b64decode(PDF_B64) + b"%second\n").decode()


def rows() -> dict[str, int]:
    db.session.expire_all()
    return {
        model.__tablename__: db.session.scalar(select(func.count()).select_from(model))
        for model in (Submission, Attachment, AuditEvent, OutboxMessage)
    }


@pytest.fixture
def alice_token(org, vendor_invoice, token_for):
    return token_for(org.alice)


def nested(levels: int) -> str:
    return '{"data": {"vendor_name": ' + "[" * levels + "]" * levels + "}}"


# -- bodies that cannot be read -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (nested(1000), "nests arrays and objects more than 32 levels deep"),
        (nested(100_000), "nests arrays and objects more than 32 levels deep"),
        ('{"data": {"a": "\\"[[["}, "x": ' + "[" * 40, "more than 32 levels deep"),
        (b'{"data": {"vendor_name": "\xff\xfe"}}', "not UTF-8 text (byte 27 cannot be read)"),
        ('{"data": {"po_number": NaN}}', "NaN is not a number JSON allows"),
        ('{"data": {"po_number": -Infinity}}', "-Infinity is not a number JSON allows"),
        ('{"data": {}, "data": {"x": 1}}', "the key 'data' is given twice in one object"),
        ('{"data": {"lines": [{"quantity": 1' + "0" * 5000 + "}]}}", "too many digits"),
        ('\ufeff{"data": {}}', "Unexpected UTF-8 BOM"),
        ('{"data": {', "line 1, column 11"),
    ],
    ids=[
        "1000 levels",
        "100000 levels",
        "depth counted outside strings only",
        "bytes that are not UTF-8",
        "NaN",
        "Infinity",
        "a key twice",
        "a 5000-digit number",
        "byte order mark",
        "cut short",
    ],
)
def test_a_body_that_cannot_be_read_is_a_400_that_says_why(api, alice_token, body, message):
    before = rows()
    response = api.call("POST", PATH, alice_token, raw=body)
    assert response.status_code == 400
    assert message in response.get_json()["message"]
    assert response.get_json()["message"].startswith("The body is not valid JSON (")
    assert rows() == before


def test_nesting_within_the_limit_is_read(api, alice_token, app):
    app.config["JSON_MAX_DEPTH"] = 40
    response = api.call("POST", PATH, alice_token, raw=nested(35))
    assert response.status_code == 422
    assert response.get_json()["errors"]["vendor_name"] == ["Give one value, not a list."]


def test_a_schema_nested_too_deep_is_refused_with_its_reason(api, ada, token_for):
    response = api.call("PUT", "/forms/deep", token_for(ada), raw=nested(2000))
    assert response.status_code == 400
    assert "more than 32 levels deep" in response.get_json()["message"]


# -- sizes ----------------------------------------------------------------------------------------


def test_a_json_body_over_the_limit_is_a_413_before_it_is_read(api, app, org, token_for):
    app.config["MAX_BODY_BYTES"] = 2_000
    comment = "x" * 3_000
    response = api.post(
        "/tasks/1/decision", token_for(org.bob), {"decision": "approve", "comment": comment}
    )
    assert response.status_code == 413
    assert "larger than Baton accepts here (2,000 bytes)" in response.get_json()["message"]


def test_a_submission_may_carry_its_forms_attachments_on_top_of_the_body_limit(
    api, app, alice_token
):
    app.config["MAX_BODY_BYTES"] = 2_000
    pdf = base64.b64decode(PDF_B64) + b"%" * 30_000  # still a PDF, 30 KB: within the field's 10 MB
    data = invoice_data(
        invoice_file={"filename": "big.pdf", "content_base64": base64.b64encode(pdf).decode()}
    )
    response = api.post(PATH, alice_token, {"data": data})
    assert response.status_code == 201, response.get_json()


def test_editing_and_submitting_a_draft_may_carry_its_attachments_too(api, app, alice_token):
    """PATCH and /submit take base64 files like the first POST, so they get the same allowance
    on top of the body limit (they were held to the bare limit: a 413 for a file the form
    allows)."""
    draft = api.post(PATH + "?draft=1", alice_token, {"data": {"vendor_name": "Acme"}})
    assert draft.status_code == 201, draft.get_json()
    number = draft.get_json()["id"]
    app.config["MAX_BODY_BYTES"] = 2_000
    pdf = base64.b64decode(PDF_B64) + b"%" * 30_000  # a PDF of 30 KB: within the field's 10 MB
    attached = {"filename": "big.pdf", "content_base64": base64.b64encode(pdf).decode()}
    edited = api.patch(f"/submissions/{number}", alice_token, {"data": {"invoice_file": attached}})
    assert edited.status_code == 200, edited.get_json()
    data = invoice_data(invoice_file=attached)
    submitted = api.post(f"/submissions/{number}/submit", alice_token, {"data": data})
    assert submitted.status_code == 200, submitted.get_json()
    assert submitted.get_json()["status"] == "in_review"


def test_a_submission_larger_than_its_attachments_allow_is_a_413(api, app, alice_token):
    app.config["MAX_BODY_BYTES"] = 2_000
    allowed = 2_000 + 10 * 1024 * 1024 * 4 // 3  # the invoice file's 10 MB, as base64
    before = rows()
    body = '{"data": {"vendor_name": "' + "x" * allowed + '"}}'
    response = api.call("POST", PATH, alice_token, raw=body)
    assert response.status_code == 413
    assert f"({allowed:,} bytes)" in response.get_json()["message"]
    assert rows() == before


# -- the hostile corpus -------------------------------------------------------------------------


def line(**cells) -> dict:
    return {"description": "Desks", "quantity": 1, "unit_price": "10.00", **cells}


def file_value(**keys) -> dict:
    return {"filename": "a.pdf", "content_base64": PDF_B64, **keys}


#: name -> (body, the path or word the answer must name). Each body is sent as JSON (a str is
#: sent as it is); each must be refused with a 4xx, naming the problem, storing nothing.
HOSTILE: dict[str, tuple[object, str]] = {
    # the envelope
    "not an object": ([invoice_data()], "must be a JSON object"),
    "data missing": ({}, '{"data": {...}}'),
    "data a list": ({"data": [invoice_data()]}, '{"data": {...}}'),
    "data a string": ({"data": "vendor_name=x"}, '{"data": {...}}'),
    "data null": ({"data": None}, '{"data": {...}}'),
    "extra top-level key": ({"data": invoice_data(), "submit": True}, "nothing else"),
    # unknown keys at every level
    "unknown field": ({"data": invoice_data(colour="red")}, "colour"),
    "unknown field, empty name": ({"data": invoice_data(**{"": 1})}, "no such field"),
    "unknown field, a path-like name": ({"data": invoice_data(**{"lines[0].x": 1})}, "lines[0].x"),
    "section title as a field": ({"data": invoice_data(**{"fields[0]": "x"})}, "fields[0]"),
    "unknown key in a row": (
        {"data": invoice_data(lines=[line(colour="red")])},
        "lines[0].colour",
    ),
    "unknown key in the second row": (
        {"data": invoice_data(lines=[line(), line(__proto__={})])},
        "lines[1].__proto__",
    ),
    "unknown key in a money value": (
        {"data": invoice_data(lines=[line(unit_price={"amount": "1", "rate": 2})])},
        "lines[0].unit_price",
    ),
    "unknown key in a file": (
        {"data": invoice_data(invoice_file=file_value(path="/etc"))},
        "invoice_file",
    ),
    # currencies
    "USD on an EUR line": (
        {"data": invoice_data(lines=[line(unit_price={"amount": "1000.00", "currency": "USD"})])},
        "lines[0].unit_price",
    ),
    "GBP on an EUR line": (
        {"data": invoice_data(lines=[line(unit_price={"amount": "5", "currency": "GBP"})])},
        "lines[0].unit_price",
    ),
    "lower-case eur": (
        {"data": invoice_data(lines=[line(unit_price={"amount": "5", "currency": "eur"})])},
        "lines[0].unit_price",
    ),
    "currency as a number": (
        {"data": invoice_data(lines=[line(unit_price={"amount": "5", "currency": 978})])},
        "lines[0].unit_price",
    ),
    "currency not offered": ({"data": invoice_data(currency="XAU")}, "currency"),
    "currency a list": ({"data": invoice_data(currency=["EUR"])}, "currency"),
    "amount nested in an amount": (
        {"data": invoice_data(lines=[line(unit_price={"amount": {"amount": "5"}})])},
        "lines[0].unit_price",
    ),
    "amount a boolean": (
        {"data": invoice_data(lines=[line(unit_price={"amount": True})])},
        "lines[0].unit_price",
    ),
    # types: each only in its JSON spelling
    "boolean as a list": ({"data": invoice_data(vendor_is_new=[False])}, "vendor_is_new"),
    "boolean as 0": ({"data": invoice_data(vendor_is_new=0)}, "vendor_is_new"),
    "boolean as no": ({"data": invoice_data(vendor_is_new="no")}, "vendor_is_new"),
    "boolean as an object": (
        {"data": invoice_data(vendor_is_new={"value": False})},
        "vendor_is_new",
    ),
    "text as a number": ({"data": invoice_data(vendor_name=42)}, "vendor_name"),
    "text as a boolean": ({"data": invoice_data(vendor_name=True)}, "vendor_name"),
    "text as a list": ({"data": invoice_data(vendor_name=["Acme", "Evil"])}, "vendor_name"),
    "text as an object": ({"data": invoice_data(vendor_name={"$gt": ""})}, "vendor_name"),
    "email without a domain": ({"data": invoice_data(vendor_email="billing@")}, "vendor_email"),
    "email with a newline": (
        {"data": invoice_data(vendor_email="a@b.example\nBcc: x@y.example")},
        "vendor_email",
    ),
    "date as a number": ({"data": invoice_data(invoice_date=20261102)}, "invoice_date"),
    "date not real": ({"data": invoice_data(invoice_date="2026-02-30")}, "invoice_date"),
    "date with a time": (
        {"data": invoice_data(invoice_date="2026-11-02T10:00:00Z")},
        "invoice_date",
    ),
    "date in year 10000": ({"data": invoice_data(invoice_date="10000-01-01")}, "invoice_date"),
    "select as a number": ({"data": invoice_data(cost_centre=100)}, "cost_centre"),
    "select not offered": ({"data": invoice_data(cost_centre="CC-999")}, "cost_centre"),
    "quantity as a boolean": (
        {"data": invoice_data(lines=[line(quantity=True)])},
        "lines[0].quantity",
    ),
    "quantity in exponent form": (
        {"data": invoice_data(lines=[line(quantity="1e3")])},
        "lines[0].quantity",
    ),
    "quantity as words": (
        {"data": invoice_data(lines=[line(quantity="ten")])},
        "lines[0].quantity",
    ),
    "quantity too long": (
        {"data": invoice_data(lines=[line(quantity="9" * 60)])},
        "lines[0].quantity",
    ),
    "quantity a list": ({"data": invoice_data(lines=[line(quantity=[1])])}, "lines[0].quantity"),
    "price too large": (
        {"data": invoice_data(lines=[line(unit_price="1" + "0" * 30)])},
        "lines[0].unit_price",
    ),
    "price with too many places": (
        {"data": invoice_data(lines=[line(unit_price="1.001")])},
        "lines[0].unit_price",
    ),
    # line items
    "rows as an object": ({"data": invoice_data(lines={"0": line()})}, "lines"),
    "rows as a string": ({"data": invoice_data(lines="Desks")}, "lines"),
    "a row that is a list": ({"data": invoice_data(lines=[["Desks", 1, "10.00"]])}, "lines"),
    "a row that is null": ({"data": invoice_data(lines=[None])}, "lines"),
    "far too many rows": ({"data": invoice_data(lines=[line()] * 500)}, "lines"),
    "no rows": ({"data": invoice_data(lines=[])}, "lines"),
    # encodings and characters
    "NUL in text": ({"data": invoice_data(vendor_name="Acme\x00Ltd")}, "vendor_name"),
    "escape character in text": ({"data": invoice_data(vendor_name="Acme\x1b[31m")}, "vendor_name"),
    "lone surrogate": ('{"data": {"vendor_name": "\\ud800"}}', "vendor_name"),
    "newline in a one-line field": ({"data": invoice_data(vendor_name="Acme\nLtd")}, "vendor_name"),
    "text over max_length": ({"data": invoice_data(vendor_name="x" * 5000)}, "vendor_name"),
    "invalid UTF-8": (b'{"data": {"vendor_name": "\xc3\x28"}}', "UTF-8"),
    "UTF-16": ('{"data": {}}'.encode("utf-16"), "UTF-8"),
    # files
    "file as a string": ({"data": invoice_data(invoice_file="a.pdf")}, "invoice_file"),
    "file without content": (
        {"data": invoice_data(invoice_file={"filename": "a.pdf"})},
        "invoice_file",
    ),
    "file content not base64": (
        {"data": invoice_data(invoice_file=file_value(content_base64="%%%"))},
        "invoice_file",
    ),
    "file that is not a PDF": (
        {
            "data": invoice_data(
                invoice_file=file_value(content_base64=base64.b64encode(b"MZ\x90\x00").decode())
            )
        },
        "invoice_file",
    ),
    "empty file": (
        {"data": invoice_data(invoice_file=file_value(content_base64=""))},
        "invoice_file",
    ),
    "two files for one": (
        {"data": invoice_data(invoice_file=[file_value(), file_value(content_base64=PDF_B64_2)])},
        "invoice_file",
    ),
    # nesting, numbers and sizes
    "deep inside a row": ('{"data": {"lines": [{"x": ' + "[" * 50 + "]" * 50 + "}]}}", "levels"),
    "NaN in a row": ('{"data": {"lines": [{"quantity": NaN}]}}', "NaN"),
    "a key twice in a row": ('{"data": {"lines": [{"quantity": 1, "quantity": 2}]}}', "'quantity'"),
}


def _send(api, token, body):
    if isinstance(body, str | bytes):
        return api.call("POST", PATH, token, raw=body)
    return api.post(PATH, token, body)


@pytest.mark.parametrize(("body", "names"), HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_submission_is_refused_by_name_and_stores_nothing(api, alice_token, body, names):
    before = rows()
    response = _send(api, alice_token, body)
    assert 400 <= response.status_code < 500, response.get_json()
    answer = response.get_json()
    assert names in json.dumps(answer, ensure_ascii=False) or names in answer["message"], answer
    assert rows() == before


def test_the_same_file_twice_for_a_one_file_field_is_one_file(api, alice_token):
    response = api.post(
        PATH, alice_token, {"data": invoice_data(invoice_file=[file_value(), file_value()])}
    )
    assert response.status_code == 201
    assert rows()["attachment"] == 1


def test_the_corpus_is_large_enough_and_each_body_would_be_accepted_without_its_fault(
    api, alice_token
):
    """The bodies differ from a valid one only in their fault: the valid one is accepted."""
    assert len(HOSTILE) >= 60
    assert _send(api, alice_token, {"data": invoice_data()}).status_code == 201
