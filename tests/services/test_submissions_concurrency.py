"""Two submissions carrying the same new file at the same moment, on PostgreSQL (found by
bench/chaos.py: the second insert of the file's row failed the second submission with a 500)."""

import base64
import os
import threading
import uuid

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import StoredFile

pytestmark = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="needs two transactions racing; SQLite lets one writer in at a time",
)


def invoice(number: int, pdf: bytes) -> dict:
    return {
        "data": {
            "vendor_name": "Acme Office Supplies GmbH",
            "vendor_email": "billing@acme.example",
            "invoice_number": f"INV-RACE-{number}",
            "invoice_date": "2026-11-02",
            "due_date": "2026-12-02",
            "currency": "EUR",
            "cost_centre": "CC-100",
            "lines": [{"description": "Chairs", "quantity": 2, "unit_price": "450.00"}],
            "invoice_file": {
                "filename": "invoice.pdf",
                "content_base64": base64.b64encode(pdf).decode(),
            },
        }
    }


@pytest.mark.parametrize("attempt", range(3))
def test_the_same_new_file_submitted_twice_at_once_is_stored_once(
    app, org, vendor_invoice, token_for, attempt
):
    pdf = b"%PDF-1.4\n% " + uuid.uuid4().hex.encode() + b"\n%%EOF\n"  # a file never seen
    tokens = [token_for(org.alice), token_for(org.fiona)]
    barrier = threading.Barrier(len(tokens))
    statuses = [0] * len(tokens)

    def submit(index: int) -> None:
        client = app.test_client()
        barrier.wait()
        response = client.post(
            "/api/v1/forms/vendor_invoice/submissions",
            json=invoice(index, pdf),
            headers={"Authorization": f"Bearer {tokens[index]}"},
        )
        statuses[index] = response.status_code

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(len(tokens))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [201, 201]
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(StoredFile)) == 1
