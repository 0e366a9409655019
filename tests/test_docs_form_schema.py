"""docs/form-schema.md stays true to the code: its examples load, and every key, field type and
function it should explain is mentioned.

Pure Python: no Flask app, no database. Fenced ```json blocks must be whole forms that load;
fragments in the document are fenced as ```jsonc (or another tag) and are not checked here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from portal.domain import expressions
from portal.domain.filetype import FILE_KINDS
from portal.domain.schema import FieldKind, SchemaInvalid, load_text, meta_schema

DOC = Path(__file__).resolve().parent.parent / "docs" / "form-schema.md"

_FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"`([^`\n]+)`")


def _doc_text() -> str:
    return DOC.read_text("utf-8")


def _json_blocks() -> list[tuple[int, str]]:
    """(line number, body) of every fenced block tagged exactly `json`, in document order."""
    text = _doc_text()
    return [
        (text.count("\n", 0, match.start()) + 1, match.group(2))
        for match in _FENCE.finditer(text)
        if match.group(1).strip() == "json"
    ]


def _code_spans() -> set[str]:
    """The inline `code` spans of the prose (fenced blocks removed)."""
    prose = _FENCE.sub("", _doc_text())
    return {span.strip() for span in _CODE_SPAN.findall(prose)}


def _declared_properties() -> set[str]:
    """Every property name declared in any "properties" object of the meta-schema."""
    names: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            properties = node.get("properties")
            if isinstance(properties, dict):
                names.update(properties)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(meta_schema())
    return names


JSON_BLOCKS = _json_blocks()


def test_document_has_complete_examples():
    # One per field type would be 15; the document also opens and ends with whole forms.
    assert len(JSON_BLOCKS) >= 10, "expected the document's ```json examples"


@pytest.mark.parametrize(
    ("line", "text"),
    JSON_BLOCKS,
    ids=[f"block{index}-line{line}" for index, (line, _) in enumerate(JSON_BLOCKS)],
)
def test_json_example_loads(line, text):
    try:
        spec = load_text(text, "doc_example", "form-schema.md")
    except SchemaInvalid as exc:
        pytest.fail(f"the ```json block at form-schema.md line {line} does not load:\n{exc}")
    assert spec.inputs


def test_every_meta_schema_key_is_documented():
    declared = _declared_properties()
    assert {"max_rows", "currency_field", "$schema", "pattern_message"} <= declared
    missing = sorted(declared - _code_spans())
    assert not missing, f"keys of form_schema.json not in backticks in form-schema.md: {missing}"


def test_every_field_type_is_documented():
    missing = sorted(kind.value for kind in FieldKind if kind.value not in _code_spans())
    assert not missing, f"field types not in backticks in form-schema.md: {missing}"


def test_every_function_is_documented():
    spans = _code_spans()
    missing = sorted(
        name
        for name in expressions.FUNCTIONS
        if not any(span == name or span.startswith(f"{name}(") for span in spans)
    )
    assert not missing, f"expression functions not in backticks in form-schema.md: {missing}"


def test_every_keyword_and_file_kind_is_documented():
    spans = _code_spans()
    missing = sorted((set(expressions.KEYWORDS) | set(FILE_KINDS)) - spans)
    assert not missing, f"keywords or file kinds not in backticks in form-schema.md: {missing}"
