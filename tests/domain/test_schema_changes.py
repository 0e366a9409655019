"""schema_changes: what changed between two schema versions, in words."""

from __future__ import annotations

import json
from pathlib import Path

from portal.domain.schema_changes import changes

SCHEMAS = Path(__file__).resolve().parents[2] / "form_schemas"


def invoice() -> dict:
    return json.loads((SCHEMAS / "vendor_invoice.json").read_text("utf-8"))


def said(older: dict, newer: dict) -> list[str]:
    return [str(change) for change in changes(older, newer)]


def test_the_same_schema_has_no_changes():
    assert changes(invoice(), invoice()) == []


def test_added_and_removed_fields_and_steps_are_named():
    older, newer = invoice(), invoice()
    newer["fields"].insert(0, {"type": "boolean", "name": "capex", "label": "Capital expense"})
    newer["fields"] = [f for f in newer["fields"] if f.get("name") != "notes"]
    newer["approval"]["steps"].append(
        {"name": "audit", "title": "Audit", "when": "capex", "assignees": [{"group": "audit"}]}
    )
    assert said(older, newer) == [
        "added the field capex: boolean, “Capital expense”",
        "removed the field notes",
        "added the step audit: “Audit”, only if capex",
    ]


def test_moving_a_section_heading_is_not_reported_as_a_new_one():
    older, newer = invoice(), invoice()
    newer["fields"].insert(0, {"type": "help", "text": "Read the policy first."})
    assert said(older, newer) == ["added the block “Read the policy first.”: help"]


def test_a_changed_field_and_step_say_which_keys_changed():
    older, newer = invoice(), invoice()
    cfo = next(s for s in newer["approval"]["steps"] if s["name"] == "cfo")
    cfo["when"] = "total > 20000"
    name = next(f for f in newer["fields"] if f.get("name") == "vendor_name")
    name["max_length"] = 200
    lines = said(older, newer)
    assert "changed the field vendor_name: max_length 120 → 200" in lines
    assert "changed the step cfo: when total > 10000 → total > 20000" in lines


def test_line_item_columns_and_settings():
    older, newer = invoice(), invoice()
    lines_field = next(f for f in newer["fields"] if f.get("name") == "lines")
    lines_field["fields"].append({"type": "text", "name": "gl_code", "label": "GL code"})
    newer["title"] = "Supplier invoice"
    newer["approval"]["fallback_group"] = "accounts"
    newer["approval"]["steps"].reverse()
    lines = said(older, newer)
    assert "changed the title: Vendor invoice → Supplier invoice" in lines
    assert "added the column lines.gl_code: text, “GL code”" in lines
    assert "changed the fallback group: finance → accounts" in lines
    assert any(line.startswith("changed the order of the steps: cfo → finance") for line in lines)


def test_removing_the_whole_chain():
    older, newer = invoice(), invoice()
    del newer["approval"]
    lines = said(older, newer)
    assert "removed the approval chain" in lines
    assert sum(line.startswith("removed the step") for line in lines) == 4
