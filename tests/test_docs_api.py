"""docs/api.md: its tables, examples and receiver snippet match the code."""

import json
import re
import time
from pathlib import Path

from portal.blueprints.api.openapi import document
from portal.services import webhooks

DOC = (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text("utf-8")


def test_the_operations_table_is_the_openapi_document():
    listed = set(re.findall(r"^\| `(GET|POST|PUT|PATCH|DELETE) (/[^`]*)` \|", DOC, re.M))
    documented = {
        (method.upper(), path)
        for path, item in document()["paths"].items()
        for method in item
        if method != "parameters"
    }
    assert listed == documented


def test_the_events_table_is_the_list_of_events():
    listed = set(re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \|", DOC, re.M))
    assert listed == set(webhooks.EVENTS)


def test_the_json_examples_are_json():
    blocks = re.findall(r"```json\n(.*?)```", DOC, re.S)
    assert len(blocks) >= 2
    for block in blocks:
        json.loads(block.replace("…", ""))


def test_the_validation_example_is_what_baton_says(app):
    import datetime as dt

    from portal.domain import schema, values

    example = json.loads(re.findall(r"```json\n(\{\"message\".*?)```", DOC, re.S)[0])
    spec = schema.load_text(
        (Path(__file__).resolve().parents[1] / "form_schemas" / "vendor_invoice.json").read_text(),
        "vendor_invoice",
    )
    data = {
        "invoice_date": "2026-11-02",
        "due_date": "2026-10-02",
        "lines": [{"description": "Chairs", "quantity": "lots", "unit_price": "10"}],
    }
    errors = values.evaluate(spec, data, dt.date(2026, 11, 25), strict=True).errors
    for path, messages in example["errors"].items():
        assert errors[path] == messages, path


def test_the_receiver_snippet_accepts_baton_signatures_and_refuses_others():
    snippet = re.search(r"```python\n(.*?)```", DOC, re.S).group(1)
    scope: dict = {}
    exec(snippet, scope)  # noqa: S102 - the documentation's own example
    check = scope["baton_signature_ok"]
    body = '{"event": "ping"}'
    header = webhooks.sign("whsec_doc", body, int(time.time()))
    assert check("whsec_doc", header, body.encode())
    assert not check("whsec_other", header, body.encode())
    old = webhooks.sign("whsec_doc", body, int(time.time()) - 3600)
    assert not check("whsec_doc", old, body.encode())


def test_the_retry_schedule_in_the_doc_is_the_code():
    words = "30 s, 2 min, 10 min, 30 min, 2 h, 6 h and 12 h"
    assert words in DOC.replace("\n  ", " ")
    assert webhooks.DEFAULT_BACKOFF == (30, 120, 600, 1800, 7200, 21600, 43200)
    assert f"{len(webhooks.DEFAULT_BACKOFF) + 1} attempts" in DOC.replace("eight", "8")
