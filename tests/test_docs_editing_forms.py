"""docs/editing-forms.md: its walkthrough builds what it shows, the controls it names exist in
the builder, its palette is the builder's, and the commands it names exist."""

import json
import re
from pathlib import Path

import pytest

from portal.domain import builder
from portal.services import forms as form_service
from tests.browser.test_builder import CAPITAL_EXPENSE

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "editing-forms.md").read_text("utf-8")
TEMPLATES = "\n".join(
    path.read_text("utf-8") for path in sorted((ROOT / "templates" / "builder").glob("*.html"))
)


def walkthrough() -> str:
    return DOC.split("## Try it", 1)[1].split("\n## ", 1)[0]


def test_the_walkthrough_shows_the_schema_the_builder_writes_for_it():
    blocks = re.findall(r"```json\n(.*?)```", DOC, re.S)
    assert len(blocks) == 1
    assert json.loads(blocks[0]) == CAPITAL_EXPENSE  # what tests/browser/test_builder.py builds


def test_the_walkthrough_form_publishes(org, make_user, ada):
    make_user("lena@example.com", "Lena Vogt", groups=["legal"])
    for name in ("bea", "ben", "bo"):
        make_user(f"{name}@example.com", name.title(), groups=["board"])
    text = re.findall(r"```json\n(.*?)```", DOC, re.S)[0]
    published = form_service.publish_checked(text, "capital_expense", ada, "builder", None)
    assert published.version.number == 1
    assert published.version.spec.approval.step("board").quorum == 2


def test_every_control_the_walkthrough_names_is_on_the_builder_pages():
    named = {" ".join(w.split()) for w in re.findall(r"\*\*([^*]+)\*\*", walkthrough())}
    named -= {"Name the form.", "Give it a title.", "Add the fields.", "Build the chain."}
    named -= {"Publish.", "Form builder"}  # the last is the menu link in the base layout
    palette = {entry.name for entry in builder.PALETTE}
    # A control named after an item carries the item's label: "Back to the table Lines".
    named = {words.replace("Back to the table Lines", "Back to the table ") for words in named}
    missing = [words for words in named if words not in palette and words not in TEMPLATES]
    assert missing == []
    assert "Form builder" in (ROOT / "templates" / "base.html").read_text("utf-8")


def test_the_palette_table_lists_every_kind_of_field_by_the_builders_names():
    table = DOC.split("**Add a field** offers every kind of field", 1)[1].split("\n\n", 2)[1]
    rows = [line.split("|")[1].strip() for line in table.splitlines()[2:]]
    assert rows == [entry.name for entry in builder.PALETTE]


def test_the_examples_of_words_are_what_the_builder_says():
    document = CAPITAL_EXPENSE
    said = builder.changes_in_words(None, document)
    assert "Added field Tax ID (Short text), shown when New vendor is ticked" in said
    board = next(s for s in said if s.startswith("Added step Board"))
    assert board in " ".join(walkthrough().split())
    assert builder.name_from_label("Vendor VAT ID") == "vendor_vat_id"
    assert "`vendor_vat_id`" in DOC
    assert builder.picked("len(justification) >= 100", document) is None  # "edited as JSON"


def test_the_refusal_the_doc_quotes_is_the_builders():
    quoted = " ".join(re.search(r"\*Not done: (New vendor is used by [^*]+)\*", DOC)[1].split())
    index = next(i for i, f in enumerate(CAPITAL_EXPENSE["fields"]) if f["name"] == "new_vendor")
    with pytest.raises(builder.BuilderRefused) as refused:
        builder.remove(CAPITAL_EXPENSE, builder.Place("field", index))
    assert str(refused.value) == quoted


def test_every_command_the_doc_names_exists(app):
    from portal.cli import baton

    named = set(re.findall(r"baton ([a-z-]+)", DOC))
    assert {"dump-schemas", "load-schemas"} <= named
    assert named <= set(baton.commands)
    assert "--force" in {opt for p in baton.commands["load-schemas"].params for opt in p.opts}
