"""json_lines: the line each JSON path starts on, so the editor can point at a schema fault."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from portal.domain.schema import format_path
from portal.presentation.json_lines import line_numbers, line_of

KEYS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
SCALARS = st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=12)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=25,
)


def paths(value, parts=()):
    """Every (path parts, value) in a document, the document itself first."""
    yield parts, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*parts, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, (*parts, index))


@settings(max_examples=300, deadline=None)
@given(DOCUMENTS)
def test_every_path_is_found_and_its_line_starts_its_value(document):
    text = json.dumps(document, indent=2, ensure_ascii=False)
    lines = line_numbers(text)
    text_lines = text.split("\n")  # JSON breaks lines only at \n (not at U+0085 and the like)
    expected = {format_path(parts) for parts, _ in paths(document)}
    assert set(lines) == expected
    for parts, value in paths(document):
        line = text_lines[lines[format_path(parts)] - 1]
        start = json.dumps(value, ensure_ascii=False)[:1]
        if parts and isinstance(parts[-1], str):
            assert line.lstrip().startswith(json.dumps(parts[-1], ensure_ascii=False) + ":")
            assert start in line
        else:
            assert line.lstrip().startswith(start)


@settings(max_examples=100, deadline=None)
@given(DOCUMENTS)
def test_a_document_on_one_line_is_all_on_line_one(document):
    lines = line_numbers(json.dumps(document))
    assert set(lines.values()) == {1}


def test_a_fault_below_a_missing_key_points_at_the_object_that_should_hold_it():
    text = "\n".join(
        ["{", '  "title": "T",', '  "fields": [', '    {"type": "text"},', "    {"]
        + ['      "type": "x"', "    }", "  ]", "}"]
    )
    lines = line_numbers(text)
    assert line_of(lines, "fields[1].type") == 6
    assert line_of(lines, "fields[1].label") == 5  # no label: the field's own line
    assert line_of(lines, "fields[0]") == 4
    assert line_of(lines, "approval.steps[0]") == 1  # nothing there: the document
    assert line_of(lines, "") == 1


def test_escaped_quotes_and_brackets_inside_strings_do_not_confuse_it():
    text = '{"a": "say \\"[{\\" here",\n "b": [1,\n  2]}'
    assert line_numbers(text) == {"": 1, "a": 1, "b": 2, "b[0]": 2, "b[1]": 3}


def test_text_that_is_not_json_gives_what_was_read_before_the_fault():
    text = '{\n  "title": "T",\n  "fields": [\n    {"type": "text",,}\n  ]\n}'
    lines = line_numbers(text)
    assert lines["title"] == 2 and lines["fields[0].type"] == 4
    assert line_numbers("") == {"": 1}
    assert line_numbers("[" * 5000) is not None  # deep nesting stops, it does not recurse away
