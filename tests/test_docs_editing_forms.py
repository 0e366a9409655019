"""docs/editing-forms.md: its walkthrough works, and the commands it names exist."""

import json
import re
from pathlib import Path

from portal.services import forms as form_service
from tests.fixtures.forms import shipped_schema

DOC = (Path(__file__).resolve().parents[1] / "docs" / "editing-forms.md").read_text("utf-8")


def snippets() -> list[dict]:
    blocks = re.findall(r"```json\n(.*?)```", DOC, re.S)
    assert len(blocks) == 2
    return [json.loads(block.strip().rstrip(",")) for block in blocks]


def test_the_walkthrough_field_and_step_publish_and_show_as_described(org, vendor_invoice, ada):
    field, step = snippets()
    document = shipped_schema("vendor_invoice")
    document["fields"].insert(0, field)
    document["approval"]["steps"].insert(0, step)
    spec, errors = form_service.publishable(json.dumps(document), "vendor_invoice")
    assert errors == []
    assert spec.field("capex").label == "This is a capital expense"
    assert str(spec.approval.step("asset_register").when) == "capex"
    published = form_service.publish_checked(
        json.dumps(document), "vendor_invoice", ada, based_on=1
    )
    assert published.version.number == 2


def test_the_typo_in_the_walkthrough_is_reported_at_the_path_the_doc_names(vendor_invoice, org):
    field, _ = snippets()
    document = shipped_schema("vendor_invoice")
    document["fields"].insert(0, {**field, "type": "chekbox"})
    _, errors = form_service.publishable(json.dumps(document), "vendor_invoice")
    assert [error.path for error in errors] == ["fields[0].type"]


def test_every_command_the_doc_names_exists(app):
    from portal.cli import baton

    named = set(re.findall(r"baton ([a-z-]+)", DOC))
    assert {"dump-schemas", "load-schemas"} <= named
    assert named <= set(baton.commands)
    assert "--force" in {opt for p in baton.commands["load-schemas"].params for opt in p.opts}
