"""Random and hostile payloads at the vendor invoice form: never a 500, never a partial row."""

import io

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from portal.domain import values
from portal.extensions import db
from portal.models import Attachment, AuditEvent, Submission
from tests.fixtures.web import PDF_BYTES, PNG_BYTES, invoice_post

FIELDS = [
    "vendor_name",
    "vendor_email",
    "vendor_is_new",
    "vendor_tax_id",
    "invoice_number",
    "invoice_date",
    "due_date",
    "currency",
    "cost_centre",
    "po_number",
    "notes",
    "total",
    "_client_token",
]
COLUMNS = ["description", "quantity", "unit_price", "amount", "bogus"]

hostile_text = st.one_of(
    st.text(max_size=60),
    st.sampled_from(
        [
            "",
            " ",
            "0",
            "-1",
            "1e999",
            "NaN",
            "Infinity",
            "9" * 40,
            "1,2,3",
            "12.345.678",
            "١٢٣",
            "2026-02-30",
            "0000-00-00",
            "9999-12-31",
            "<script>alert(1)</script>",
            "' OR 1=1 --",
            "\x00",
            "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
            "EUR",
            "XXX",
            "CC-100",
            "PO-0001",
            "y",
            "on",
            "true",
            "a@b.c",
            "x" * 5000,
        ]
    ),
)
row_index = st.one_of(
    st.integers(min_value=0, max_value=5).map(str),
    st.sampled_from(["-1", "99999999999999999999", "²", "0x1", "", "1.5", " 1", "999"]),
)
line_key = st.builds(lambda i, c: f"lines-{i}-{c}", row_index, st.sampled_from(COLUMNS))
any_key = st.one_of(st.sampled_from(FIELDS), line_key, st.text(min_size=1, max_size=20))
# Submitting a mostly valid invoice is the interesting case, so it is drawn half the time.
action = st.one_of(
    st.just("submit"),
    st.sampled_from(
        [
            "submit",
            "save_draft",
            "update",
            "add_row:lines",
            "remove_row:lines:0",
            "remove_row:lines:-1",
            "add_row:vendor_name",
            "drop_tables",
            "",
        ]
    ),
)
upload = st.one_of(
    st.just((PDF_BYTES, "invoice.pdf")),
    st.sampled_from(
        [
            None,
            (PDF_BYTES, "invoice.pdf"),
            (PNG_BYTES, "../../x.png"),
            (b"MZ\x90\x00binary", "evil.pdf"),
            (b"", "empty.pdf"),
        ]
    ),
)


@pytest.mark.slow
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    base=st.booleans(),
    extra=st.dictionaries(
        any_key, st.one_of(hostile_text, st.lists(hostile_text, max_size=3)), max_size=8
    ),
    chosen_action=action,
    file=upload,
)
def test_random_payloads_never_500_and_never_leave_partial_rows(
    browser, alice, vendor_invoice, base, extra, chosen_action, file
):
    if browser.token is None:
        browser.login(alice.email)
    before = _counts()
    data = invoice_post() if base else {}
    data.pop("invoice_file", None)
    data.update(extra)
    data["_action"] = chosen_action
    if file is not None:
        data["invoice_file"] = (io.BytesIO(file[0]), file[1])
    response = browser.post("/forms/vendor_invoice/new", data, content_type="multipart/form-data")

    event(f"status {response.status_code}")
    assert response.status_code in (200, 302, 400, 410, 413, 422), response.status_code
    after = _counts()
    if response.status_code != 302:
        assert after == before, "a refused post changed the database"
        return
    created = after["submissions"] - before["submissions"]
    assert created <= 1
    if created:
        newest = db.session.scalars(select(Submission).order_by(Submission.id.desc())).first()
        event("created a submitted request" if newest.data is not None else "created a draft")
        if newest.data is not None:
            # What was stored is complete: it validates again as it stands.
            spec = vendor_invoice.spec
            again = values.evaluate(spec, values.to_raw(spec, newest.data), _today())
            file_error = {"invoice_file"}  # files are re-supplied from records in to_raw
            assert set(again.errors) <= file_error, again.errors
            assert after["events"] == before["events"] + 1
            assert after["attachments"] == before["attachments"] + 1


def _counts() -> dict:
    db.session.expire_all()
    return {
        "submissions": db.session.scalar(select(func.count()).select_from(Submission)),
        "attachments": db.session.scalar(select(func.count()).select_from(Attachment)),
        "events": db.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.submission_id.is_not(None))
        ),
    }


def _today():
    from flask import current_app

    from portal import clock

    return clock.today(current_app.config["BATON_TIMEZONE"])
