"""Form schemas: the meta-schema pass, the semantic pass, defaults, hashing, shipped schemas."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest

from portal.domain import schema
from portal.domain.filetype import FILE_KINDS
from portal.domain.schema import (
    Choice,
    FieldKind,
    SchemaError,
    SchemaInvalid,
    Step,
    StepKind,
    content_hash,
    currency_places,
    format_path,
    load,
    load_text,
)
from tests.fixtures.schemas import faults

SHIPPED = sorted((Path(__file__).resolve().parents[2] / "form_schemas").glob("*.json"))

ALL_TYPES = (
    "['text', 'textarea', 'email', 'integer', 'decimal', 'money', 'date', 'select', 'radio', "
    "'multi_select', 'boolean', 'file', 'line_items', 'section', 'help']"
)
COLUMN_TYPES = "['text', 'integer', 'decimal', 'money', 'date', 'select', 'boolean']"
NAME_RULE = "must be lower-case letters, digits and underscores, starting with a letter"
NUMBER_RULE = 'must be a number such as 1250 or "1250.50"'
DATE_RULE = 'must be a date such as "2026-11-25", or "today"'
CURRENCY_RULE = 'must be a three-letter ISO 4217 currency code such as "EUR"'


def document(*fields: dict, **top) -> dict:
    """A form schema document holding `fields` (one text field if none are given)."""
    return {"title": "Test form", "fields": list(fields) or [text("a")], **top}


def text(name: str, **options) -> dict:
    return {"type": "text", "name": name, "label": name.title(), **options}


def number(name: str, kind: str = "integer", **options) -> dict:
    return {"type": kind, "name": name, "label": name.title(), **options}


def select(name: str, choices: list, kind: str = "select", **options) -> dict:
    return {"type": kind, "name": name, "label": name.title(), "choices": choices, **options}


def lines(*columns: dict, name: str = "lines", **options) -> dict:
    return {
        "type": "line_items",
        "name": name,
        "label": "Lines",
        "fields": list(columns),
        **options,
    }


# -- the meta-schema pass ---------------------------------------------------------------------

META_FAULTS = {
    "misspelt type": (
        document(text("a"), text("b"), text("c"), {"type": "nmber", "name": "d", "label": "D"}),
        [f"fields[3].type: 'nmber' is not one of {ALL_TYPES}"],
    ),
    "misspelt key": (
        document(text("a"), text("b"), text("c", requried=True)),
        ["fields[2]: unknown key 'requried'"],
    ),
    "two misspelt keys": (
        document(text("a", requried=True, lable="A")),
        ["fields[0]: unknown keys 'lable', 'requried'"],
    ),
    "misspelt key beside another fault": (
        document(text("a", requried=True, min_length=-1)),
        [
            "fields[0]: unknown key 'requried'",
            "fields[0].min_length: -1 is less than the minimum of 0",
        ],
    ),
    "key of another type": (
        document(text("a", rows=3)),
        ["fields[0]: unknown key 'rows'"],
    ),
    "compute on a text field": (
        document(text("a", compute="1")),
        ["fields[0]: unknown key 'compute'"],
    ),
    "places on a money field": (
        document(number("a", "money", currency="EUR", places=2)),
        ["fields[0]: unknown key 'places'"],
    ),
    "default on a multi_select": (
        document(select("a", ["x"], "multi_select", default="x")),
        ["fields[0]: unknown key 'default'"],
    ),
    "name on a section": (
        document(text("a"), {"type": "section", "title": "S", "name": "s"}),
        ["fields[1]: unknown key 'name'"],
    ),
    "required on a help block": (
        document(text("a"), {"type": "help", "text": "Read this.", "required": True}),
        ["fields[1]: unknown key 'required'"],
    ),
    "visible_if on a column": (
        document(lines(text("a", visible_if="true"))),
        ["fields[0].fields[0]: unknown key 'visible_if'"],
    ),
    "unknown top-level key": (
        document(text("a"), colour="red"),
        ["unknown key 'colour'"],
    ),
    "unknown key in a rule": (
        document(text("a"), rules=[{"check": "true", "message": "M", "feild": "a"}]),
        ["rules[0]: unknown key 'feild'"],
    ),
    "unknown key in a choice": (
        document(select("a", [{"value": "x", "label": "X", "help": "?"}])),
        ["fields[0].choices[0]: unknown key 'help'"],
    ),
    "missing type": (
        document({"name": "a", "label": "A"}),
        ["fields[0]: 'type' is a required property"],
    ),
    "missing label": (
        document({"type": "text", "name": "a"}),
        ["fields[0]: 'label' is a required property"],
    ),
    "missing name": (
        document({"type": "email", "label": "A"}),
        ["fields[0]: 'name' is a required property"],
    ),
    "missing column label": (
        document(lines({"type": "text", "name": "a"})),
        ["fields[0].fields[0]: 'label' is a required property"],
    ),
    "empty label": (
        document(text("a", label="")),
        ["fields[0].label: '' should be non-empty"],
    ),
    "money without currency": (
        document(number("a", "money")),
        ["fields[0]: a money field needs exactly one of 'currency' or 'currency_field'"],
    ),
    "money with both currencies": (
        document(number("a", "money", currency="EUR", currency_field="c"), select("c", ["EUR"])),
        ["fields[0]: a money field needs exactly one of 'currency' or 'currency_field'"],
    ),
    "money column without currency": (
        document(lines(number("a", "money"))),
        ["fields[0].fields[0]: a money field needs exactly one of 'currency' or 'currency_field'"],
    ),
    "lower-case currency": (
        document(number("a", "money", currency="eur")),
        [f"fields[0].currency: 'eur' {CURRENCY_RULE}"],
    ),
    "currency with a trailing newline": (
        document(number("a", "money", currency="EUR\n")),
        [f"fields[0].currency: 'EUR\\n' {CURRENCY_RULE}"],
    ),
    "choice object without label": (
        document(select("a", [{"value": "x"}])),
        ["fields[0].choices[0]: 'label' is a required property"],
    ),
    "choice object without value": (
        document(select("a", ["x", {"label": "Y"}])),
        ["fields[0].choices[1]: 'value' is a required property"],
    ),
    "choice object with empty value": (
        document(select("a", [{"value": "", "label": "X"}])),
        ["fields[0].choices[0].value: '' should be non-empty"],
    ),
    "empty choice string": (
        document(select("a", [""])),
        ["fields[0].choices[0]: '' should be non-empty"],
    ),
    "choice neither string nor object": (
        document(select("a", [5])),
        ["fields[0].choices[0]: 5 is not of type 'string', 'object'"],
    ),
    "no choices": (
        document({"type": "radio", "name": "a", "label": "A"}),
        ["fields[0]: 'choices' is a required property"],
    ),
    "empty choices": (
        document(select("a", [])),
        ["fields[0].choices: [] should be non-empty"],
    ),
    "number with a thousands separator": (
        document(number("a", min="1,000")),
        [f"fields[0].min: '1,000' {NUMBER_RULE}"],
    ),
    "number in exponent form": (
        document(number("a", max="1e5")),
        [f"fields[0].max: '1e5' {NUMBER_RULE}"],
    ),
    "number that is a word": (
        document(number("a", "decimal", default="ten")),
        [f"fields[0].default: 'ten' {NUMBER_RULE}"],
    ),
    "number without digits after the point": (
        document(number("a", "money", currency="EUR", min="5.")),
        [f"fields[0].min: '5.' {NUMBER_RULE}"],
    ),
    "number with a trailing newline": (
        document(number("a", min="5\n")),
        [f"fields[0].min: '5\\n' {NUMBER_RULE}"],
    ),
    "number that is a boolean": (
        document(number("a", min=True)),
        ["fields[0].min: True is not of type 'number', 'string'"],
    ),
    "name with capitals": (
        document(text("Total")),
        [f"fields[0].name: 'Total' {NAME_RULE}"],
    ),
    "name starting with a digit": (
        document(text("1st")),
        [f"fields[0].name: '1st' {NAME_RULE}"],
    ),
    "name with a dash": (
        document(text("due-date")),
        [f"fields[0].name: 'due-date' {NAME_RULE}"],
    ),
    "name with a trailing newline": (
        document(text("total\n")),
        [f"fields[0].name: 'total\\n' {NAME_RULE}"],
    ),
    "name that is too long": (
        document(text("a" * 64)),
        [f"fields[0].name: '{'a' * 64}' {NAME_RULE}"],
    ),
    "amount_field that is not a name": (
        document(number("total"), amount_field="Total"),
        [f"amount_field: 'Total' {NAME_RULE}"],
    ),
    "date that is a word": (
        document({"type": "date", "name": "d", "label": "D", "min": "yesterday"}),
        [f"fields[0].min: 'yesterday' {DATE_RULE}"],
    ),
    "date in another format": (
        document({"type": "date", "name": "d", "label": "D", "max": "2026-1-5"}),
        [f"fields[0].max: '2026-1-5' {DATE_RULE}"],
    ),
    "unknown file kind": (
        document({"type": "file", "name": "f", "label": "F", "accept": ["exe"]}),
        [
            "fields[0].accept[0]: 'exe' is not one of "
            "['pdf', 'png', 'jpeg', 'gif', 'webp', 'csv', 'txt', 'docx', 'xlsx']"
        ],
    ),
    "file without accept": (
        document({"type": "file", "name": "f", "label": "F"}),
        ["fields[0]: 'accept' is a required property"],
    ),
    "file accepting nothing": (
        document({"type": "file", "name": "f", "label": "F", "accept": []}),
        ["fields[0].accept: [] should be non-empty"],
    ),
    "file kind listed twice": (
        document({"type": "file", "name": "f", "label": "F", "accept": ["pdf", "pdf"]}),
        ["fields[0].accept: ['pdf', 'pdf'] has non-unique elements"],
    ),
    "file size over the limit": (
        document({"type": "file", "name": "f", "label": "F", "accept": ["pdf"], "max_size_mb": 30}),
        ["fields[0].max_size_mb: 30 is greater than the maximum of 25"],
    ),
    "file size of zero": (
        document({"type": "file", "name": "f", "label": "F", "accept": ["pdf"], "max_size_mb": 0}),
        ["fields[0].max_size_mb: 0 is less than or equal to the minimum of 0"],
    ),
    "file column": (
        document(lines({"type": "file", "name": "f", "label": "F", "accept": ["pdf"]})),
        [f"fields[0].fields[0].type: 'file' is not one of {COLUMN_TYPES}"],
    ),
    "required table": (
        document(lines(text("a"), required=True)),
        ["fields[0]: unknown key 'required'"],
    ),
    "line items without columns": (
        document({"type": "line_items", "name": "l", "label": "L"}),
        ["fields[0]: 'fields' is a required property"],
    ),
    "line items with too many rows": (
        document(lines(text("a"), max_rows=201)),
        ["fields[0].max_rows: 201 is greater than the maximum of 200"],
    ),
    "section without title": (
        document(text("a"), {"type": "section"}),
        ["fields[1]: 'title' is a required property"],
    ),
    "help without text": (
        document(text("a"), {"type": "help"}),
        ["fields[1]: 'text' is a required property"],
    ),
    "required that is not a boolean": (
        document(text("a", required="yes")),
        ["fields[0].required: 'yes' is not of type 'boolean'"],
    ),
    "unknown width": (
        document(text("a", width="wide")),
        ["fields[0].width: 'wide' is not one of ['full', 'half', 'third']"],
    ),
    "empty expression": (
        document(text("a", visible_if="")),
        ["fields[0].visible_if: '' should be non-empty"],
    ),
    "too many decimal places": (
        document(number("a", "decimal", places=11)),
        ["fields[0].places: 11 is greater than the maximum of 10"],
    ),
    "textarea of one row": (
        document({"type": "textarea", "name": "a", "label": "A", "rows": 1}),
        ["fields[0].rows: 1 is less than the minimum of 2"],
    ),
    "boolean default that is a word": (
        document({"type": "boolean", "name": "a", "label": "A", "default": "yes"}),
        ["fields[0].default: 'yes' is not of type 'boolean'"],
    ),
    "rule without message": (
        document(text("a"), rules=[{"check": "true"}]),
        ["rules[0]: 'message' is a required property"],
    ),
    "no fields": ({"title": "T", "fields": []}, ["fields: [] should be non-empty"]),
    "fields that are not a list": (
        {"title": "T", "fields": "a"},
        ["fields: 'a' is not of type 'array'"],
    ),
    "no title": ({"fields": [text("a")]}, ["'title' is a required property"]),
    "empty title": (document(title=""), ["title: '' should be non-empty"]),
    "too many summary fields": (
        document(text("a"), summary_fields=["a"] * 5),
        ["summary_fields: ['a', 'a', 'a', 'a', 'a'] is too long"],
    ),
}


@pytest.mark.parametrize(("doc", "expected"), META_FAULTS.values(), ids=META_FAULTS.keys())
def test_meta_schema_fault_is_reported_at_its_path(doc, expected):
    assert faults(doc) == expected


def test_shape_and_semantic_faults_are_reported_in_one_run():
    doc = document(text("a"), text("a", width="wide"))
    assert faults(doc) == [
        "fields[1].width: 'wide' is not one of ['full', 'half', 'third']",
        "fields[1].name: 'a' is already used by fields[0]",
    ]


def test_a_bad_max_does_not_hide_a_bad_when():
    doc = document(
        number("total", max="lots"),
        approval={
            "fallback_group": "finance",
            "steps": [
                {
                    "name": "cfo",
                    "title": "CFO",
                    "when": "totl > 100",
                    "assignees": [{"group": "cfo"}],
                }
            ],
        },
    )
    assert faults(doc) == [
        "fields[0].max: 'lots' must be a number such as 1250 or \"1250.50\"",
        "approval.steps[0].when: unknown name 'totl' (at column 1)",
    ]


def test_a_field_too_misshapen_to_build_is_not_also_reported_as_unknown_where_named():
    doc = document(
        {"type": "integer", "name": "total", "label": "Total", "min": "none"},
        text("note", visible_if="total > 5 and nothing"),
        amount_field="total",
        summary_fields=["total"],
        rules=[{"check": "total < 10", "field": "total", "message": "Too much."}],
    )
    assert faults(doc) == [
        "fields[0].min: 'none' must be a number such as 1250 or \"1250.50\"",
        "fields[1].visible_if: unknown name 'nothing' (at column 15)",
    ]


def test_meta_schema_is_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(schema.meta_schema())


def test_meta_schema_file_kinds_are_the_known_file_kinds():
    assert schema.meta_schema()["$defs"]["file_kind"]["enum"] == list(FILE_KINDS)


def test_meta_schema_field_types_are_the_field_kinds():
    field_type = schema.meta_schema()["$defs"]["field"]["properties"]["type"]
    assert field_type["enum"] == [kind.value for kind in FieldKind]


# -- the semantic pass ------------------------------------------------------------------------

CURRENCY = select("currency", ["EUR", "JPY"])

SEMANTIC_FAULTS = {
    "duplicate name": (
        document(text("a"), text("b"), text("a")),
        ["fields[2].name: 'a' is already used by fields[0]"],
    ),
    "duplicate column name": (
        document(lines(text("a"), number("a"))),
        ["fields[0].fields[1].name: 'a' is already used by fields[0].fields[0]"],
    ),
    "only blocks": (
        document({"type": "section", "title": "S"}, {"type": "help", "text": "H"}),
        ["fields: a form needs at least one input field"],
    ),
    "syntax error in visible_if": (
        document(text("a"), text("b", visible_if="a ==")),
        ["fields[1].visible_if: the expression ends too soon (at column 5)"],
    ),
    "syntax error in a rule": (
        document(text("a"), rules=[{"check": "a = 'x'", "message": "M"}]),
        ["rules[0].check: unexpected character '=' (at column 3)"],
    ),
    "unknown name in required_if": (
        document(text("a", required_if="b == 'x'")),
        ["fields[0].required_if: unknown name 'b' (at column 1)"],
    ),
    "unknown name in compute": (
        document(number("a"), number("total", compute="a + totl")),
        ["fields[1].compute: unknown name 'totl' (at column 5)"],
    ),
    "unknown column": (
        document(lines(number("quantity")), number("total", compute="sum(lines.qty)")),
        ["fields[1].compute: unknown name 'lines.qty' (at column 5)"],
    ),
    "column of a field that is not a table": (
        document(text("a"), text("b", visible_if="a.b == 'x'")),
        ["fields[1].visible_if: unknown name 'a.b' (at column 1)"],
    ),
    "unknown name in a section's visible_if": (
        document(text("a"), {"type": "section", "title": "S", "visible_if": "b"}),
        ["fields[1].visible_if: unknown name 'b' (at column 1)"],
    ),
    "type fault in visible_if": (
        document(text("a"), text("b", visible_if="a + 1 > 2")),
        ["fields[1].visible_if: '+' cannot combine a string and a number (at column 3)"],
    ),
    "visible_if giving a string": (
        document(text("a"), text("b", visible_if="a")),
        ["fields[1].visible_if: must give a boolean, but gives a string"],
    ),
    "visible_if giving a list": (
        document(select("tags", ["x"], "multi_select"), text("b", visible_if="tags == 'x'")),
        ["fields[1].visible_if: must give a boolean, but gives a list of boolean"],
    ),
    "required_if giving a number": (
        document(number("n"), text("b", required_if="n")),
        ["fields[1].required_if: must give a boolean, but gives a number"],
    ),
    "compute giving a string": (
        document(number("total", compute="'x'")),
        ["fields[0].compute: must give a number, but gives a string"],
    ),
    "compute giving a boolean": (
        document(number("total", "decimal", compute="1 > 2")),
        ["fields[0].compute: must give a number, but gives a boolean"],
    ),
    "compute giving a list": (
        document(lines(number("q")), number("total", compute="lines.q * 2")),
        ["fields[1].compute: must give a number, but gives a list of number"],
    ),
    "column compute giving a date": (
        document(lines({"type": "date", "name": "d", "label": "D"}, number("n", compute="d"))),
        ["fields[0].fields[1].compute: must give a number, but gives a date"],
    ),
    "rule giving a string": (
        document(text("a"), rules=[{"check": "a", "message": "M"}]),
        ["rules[0].check: must give a boolean, but gives a string"],
    ),
    "rule at an unknown field": (
        document(text("a"), rules=[{"check": "true", "message": "M", "field": "b"}]),
        ["rules[0].field: unknown field 'b'"],
    ),
    "number min above max": (
        document(number("n", "decimal", min="10.5", max=10)),
        ["fields[0].min: min (10.5) is greater than max (10)"],
    ),
    "text min_length above max_length": (
        document(text("a", min_length=5, max_length=4)),
        ["fields[0].min_length: min_length (5) is greater than max_length (4)"],
    ),
    "text min_length above the default max_length": (
        document(text("a", min_length=201)),
        ["fields[0].min_length: min_length (201) is greater than max_length (200)"],
    ),
    "date min after max": (
        document(
            {"type": "date", "name": "d", "label": "D", "min": "2026-03-01", "max": "2026-02-01"}
        ),
        ["fields[0].min: min (2026-03-01) is greater than max (2026-02-01)"],
    ),
    "min_items above max_items": (
        document(select("s", ["a", "b", "c"], "multi_select", min_items=3, max_items=2)),
        ["fields[0].min_items: min_items (3) is greater than max_items (2)"],
    ),
    "min_rows above max_rows": (
        document(lines(text("a"), min_rows=5, max_rows=2)),
        ["fields[0].min_rows: min_rows (5) is greater than max_rows (2)"],
    ),
    "integer limit that is not whole": (
        document(number("n", min="1.5", max=10.25, default="2.5")),
        [
            "fields[0].min: 1.5 is not a whole number",
            "fields[0].max: 10.25 is not a whole number",
            "fields[0].default: 2.5 is not a whole number",
        ],
    ),
    "date that does not exist": (
        document(
            {
                "type": "date",
                "name": "d",
                "label": "D",
                "min": "2026-02-30",
                "default": "2026-13-01",
            }
        ),
        [
            "fields[0].min: '2026-02-30' is not a real date",
            "fields[0].default: '2026-13-01' is not a real date",
        ],
    ),
    "bad regular expression": (
        document(text("a", pattern="(")),
        [
            "fields[0].pattern: not a regular expression Baton can run: missing ): ("
            " (patterns run on RE2, which has no lookarounds or backreferences)"
        ],
    ),
    "lookahead, which RE2 cannot run in linear time": (
        document(text("a", pattern="(?=.*[0-9])[a-z0-9]+")),
        [
            "fields[0].pattern: not a regular expression Baton can run: invalid perl operator:"
            " (?= (patterns run on RE2, which has no lookarounds or backreferences)"
        ],
    ),
    "backreference": (
        document(text("a", pattern=r"(a)\1")),
        [
            "fields[0].pattern: not a regular expression Baton can run: invalid escape sequence:"
            " \\1 (patterns run on RE2, which has no lookarounds or backreferences)"
        ],
    ),
    "choice listed twice": (
        document(select("s", ["a", {"value": "a", "label": "A again"}])),
        ["fields[0].choices[1]: 'a' is listed twice"],
    ),
    "default that is not a choice": (
        document(select("s", ["a", "b"], "radio", default="c")),
        ["fields[0].default: 'c' is not one of the choices"],
    ),
    "currency_field naming nothing": (
        document(number("m", "money", currency_field="currency")),
        [
            "fields[0].currency_field: 'currency' must name a select or radio field of "
            "currency codes"
        ],
    ),
    "currency_field naming a text field": (
        document(number("m", "money", currency_field="currency"), text("currency")),
        [
            "fields[0].currency_field: 'currency' must name a select or radio field of "
            "currency codes"
        ],
    ),
    "currency_field of a column naming nothing": (
        document(lines(number("m", "money", currency_field="cur"))),
        [
            "fields[0].fields[0].currency_field: 'cur' must name a select or radio field of "
            "currency codes"
        ],
    ),
    "currency choice that is not an ISO code": (
        document(
            number("m", "money", currency_field="currency"), select("currency", ["EUR", "euro"])
        ),
        [
            "fields[1].choices[1]: 'euro' is not an ISO 4217 currency code, "
            "but fields[0] takes its currency from here"
        ],
    ),
    "computed field that reads itself": (
        document(number("total", compute="total + 1")),
        ["fields[0].compute: circular dependency: total (compute) -> total (compute)"],
    ),
    "field whose visibility reads itself": (
        document(text("a", visible_if="a == 'x'")),
        ["fields[0].visible_if: circular dependency: a (visible) -> a (visible)"],
    ),
    "computation and visibility reading each other": (
        document(
            number("total", compute="extra + 1"),
            number("extra", visible_if="total > 1"),
        ),
        [
            "fields[0].compute: circular dependency: total (compute) -> extra (visible) -> "
            "total (compute)"
        ],
    ),
    "two visibilities reading each other": (
        document(number("a", visible_if="b > 1"), number("b", visible_if="a > 1")),
        ["fields[0].visible_if: circular dependency: a (visible) -> b (visible) -> a (visible)"],
    ),
    "column computing from a computed column": (
        document(
            lines(
                number("quantity"),
                number("net", "decimal", compute="quantity * 2"),
                number("gross", "decimal", compute="net * 1.2"),
            )
        ),
        [
            "fields[0].fields[2].compute: reads the computed column(s) net; a column may only read "
            "columns people fill in"
        ],
    ),
    "computed field that is required": (
        document(number("total", compute="1", required=True)),
        ["fields[0].required: a computed field is filled in by Baton, so it cannot be required"],
    ),
    "computed field that is required_if": (
        document(number("total", compute="1", required_if="true")),
        ["fields[0].required: a computed field is filled in by Baton, so it cannot be required"],
    ),
    "computed column that is required": (
        document(lines(number("q"), number("n", compute="q", required=True))),
        [
            "fields[0].fields[1].required: a computed field is filled in by Baton, so it cannot be "
            "required"
        ],
    ),
    "amount_field naming nothing": (
        document(number("total"), amount_field="totl"),
        ["amount_field: 'totl' must name an integer, decimal or money field"],
    ),
    "amount_field naming a text field": (
        document(text("total"), amount_field="total"),
        ["amount_field: 'total' must name an integer, decimal or money field"],
    ),
    "summary field naming nothing": (
        document(text("a"), summary_fields=["a", "b"]),
        ["summary_fields[1]: 'b' must name a field with a single value"],
    ),
    "summary field naming a table": (
        document(lines(text("a")), summary_fields=["lines"]),
        ["summary_fields[0]: 'lines' must name a field with a single value"],
    ),
    "summary field naming a file field": (
        document(
            {"type": "file", "name": "f", "label": "F", "accept": ["pdf"]}, summary_fields=["f"]
        ),
        ["summary_fields[0]: 'f' must name a field with a single value"],
    ),
    "max_files without multiple": (
        document({"type": "file", "name": "f", "label": "F", "accept": ["pdf"], "max_files": 3}),
        ['fields[0].max_files: max_files needs "multiple": true'],
    ),
}


@pytest.mark.parametrize(("doc", "expected"), SEMANTIC_FAULTS.values(), ids=SEMANTIC_FAULTS.keys())
def test_semantic_fault_is_reported_at_its_path(doc, expected):
    assert faults(doc) == expected


@pytest.mark.parametrize("name", ["and", "or", "not", "in", "true", "false", "null", "sum",
                                  "count", "min", "max", "round", "abs", "len", "any", "all",
                                  "today"])  # fmt: skip
def test_reserved_word_cannot_name_a_field(name):
    assert faults(document(text(name))) == [
        f"fields[0].name: {name!r} is a reserved word of the expression language"
    ]


def test_reserved_word_cannot_name_a_column():
    assert faults(document(lines(text("not")))) == [
        "fields[0].fields[0].name: 'not' is a reserved word of the expression language"
    ]


def test_every_semantic_fault_is_reported_at_once():
    doc = document(
        text("a"),
        text("a", visible_if="nope"),
        number("n", min=5, max=1),
        rules=[{"check": "a", "message": "M"}],
    )
    assert faults(doc) == [
        "fields[2].min: min (5) is greater than max (1)",
        "fields[1].name: 'a' is already used by fields[0]",
        "fields[1].visible_if: unknown name 'nope' (at column 1)",
        "rules[0].check: must give a boolean, but gives a string",
    ]


# -- faults, files and JSON ---------------------------------------------------------------------


def test_schema_invalid_lines_are_prefixed_with_the_file_name():
    errors = [SchemaError("fields[0].name", "bad"), SchemaError("", "not an object")]
    exc = SchemaInvalid(errors, source="form_schemas/claim.json")
    assert exc.lines() == [
        "form_schemas/claim.json: fields[0].name: bad",
        "form_schemas/claim.json: not an object",
    ]
    assert str(exc) == "\n".join(exc.lines())


def test_schema_invalid_lines_without_a_file_name_have_no_prefix():
    exc = SchemaInvalid([SchemaError("title", "missing")])
    assert exc.lines() == ["title: missing"]


def test_load_names_the_source_in_every_line():
    with pytest.raises(SchemaInvalid) as info:
        load(document(text("a"), text("a")), "test", source="claim.json")
    assert info.value.source == "claim.json"
    assert info.value.lines() == ["claim.json: fields[1].name: 'a' is already used by fields[0]"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ('{"title": "T",\n "fields": [}', "not valid JSON: line 2, column 13: Expecting value"),
        ("", "not valid JSON: line 1, column 1: Expecting value"),
        ("[1, 2]", "a form schema must be a JSON object"),
        ('"form"', "a form schema must be a JSON object"),
        ('{"title": "T", "min": NaN}', "not valid JSON: NaN is not a number JSON allows"),
        ('{"min": Infinity}', "not valid JSON: Infinity is not a number JSON allows"),
        ('{"min": -Infinity}', "not valid JSON: -Infinity is not a number JSON allows"),
    ],
)
def test_text_that_is_not_a_json_object_is_refused(raw, message):
    with pytest.raises(SchemaInvalid) as info:
        load_text(raw, "test", source="x.json")
    assert info.value.errors == [SchemaError("", message)]
    assert info.value.lines() == [f"x.json: {message}"]


def test_bytes_that_are_not_text_are_refused():
    with pytest.raises(SchemaInvalid) as info:
        schema.decode(b'{"title": "\xff"}')
    assert info.value.errors[0].message.startswith("not valid JSON: ")


def test_nan_limit_is_refused_not_crashed_on():
    raw = json.dumps(document(number("n", max=5))).replace('"max": 5', '"min": NaN, "max": 5')
    with pytest.raises(SchemaInvalid, match="NaN is not a number JSON allows"):
        load_text(raw, "test")


@pytest.mark.parametrize("path", SHIPPED, ids=[path.name for path in SHIPPED])
def test_shipped_schema_loads(path):
    raw = path.read_text("utf-8")
    spec = load_text(raw, path.stem, source=str(path))
    doc = json.loads(raw)
    assert spec.slug == path.stem
    assert spec.title == doc["title"]
    assert [field.path for field in spec.fields] == [
        f"fields[{i}]" for i in range(len(doc["fields"]))
    ]
    assert len(spec.rules) == len(doc.get("rules", []))


def test_all_four_schemas_are_shipped():
    assert [path.name for path in SHIPPED] == [
        "access_request.json",
        "expense_claim.json",
        "purchase_request.json",
        "vendor_invoice.json",
    ]


def test_content_hash_ignores_layout_and_key_order():
    doc = document(number("n", "decimal", min="0.50", max=100.25), text("a"))
    compact = json.dumps(doc, separators=(",", ":"))
    spread = json.dumps(dict(reversed(doc.items())), indent=4, sort_keys=True)
    assert compact != spread
    assert content_hash(schema.decode(compact)) == content_hash(schema.decode(spread))


@pytest.mark.parametrize(
    "change",
    [
        lambda doc: doc["fields"][0].update(label="Another label"),
        lambda doc: doc["fields"][0].update(max=100.26),
        lambda doc: doc["fields"].reverse(),
        lambda doc: doc.update(description="New"),
    ],
    ids=["label", "number", "field order", "new key"],
)
def test_content_hash_changes_with_any_value(change):
    doc = document(number("n", "decimal", max=100.25), text("a"))
    before = content_hash(schema.decode(json.dumps(doc)))
    change(doc)
    assert content_hash(schema.decode(json.dumps(doc))) != before


def test_content_hash_is_sha256_of_the_canonical_json():
    doc = {"b": 1, "a": "Café", "c": Decimal("1.50")}
    assert schema.canonical_json(doc) == '{"a":"Café","b":1,"c":"1.50"}'
    assert len(content_hash(doc)) == 64
    assert int(content_hash(doc), 16) >= 0


def test_numbers_in_a_schema_stay_exact_decimals():
    raw = """{"title": "T", "fields": [
        {"type": "decimal", "name": "d", "label": "D", "min": 0.1, "max": "1250.50"},
        {"type": "file", "name": "f", "label": "F", "accept": ["pdf"], "max_size_mb": 2.5}
    ]}"""
    decoded = schema.decode(raw)
    assert type(decoded["fields"][0]["min"]) is Decimal
    spec = load(decoded, "test")
    low, high = spec.field("d").min, spec.field("d").max
    assert (type(low), str(low)) == (Decimal, "0.1")
    assert (type(high), str(high)) == (Decimal, "1250.50")
    assert spec.field("f").max_size_mb == Decimal("2.5")
    assert spec.field("f").max_size_bytes == 2621440


def test_numbers_given_as_floats_become_decimals_by_their_text():
    spec = load(document(number("d", "decimal", min=0.1)), "test")
    assert spec.field("d").min == Decimal("0.1")


@pytest.mark.parametrize(
    ("parts", "path"),
    [
        (["fields", 3, "type"], "fields[3].type"),
        (["fields", 0, "fields", 2, "compute"], "fields[0].fields[2].compute"),
        (["title"], "title"),
        ([], ""),
        ([0], "[0]"),
    ],
)
def test_format_path(parts, path):
    assert format_path(parts) == path


@pytest.mark.parametrize(
    ("code", "places"),
    [("EUR", 2), ("USD", 2), ("JPY", 0), ("KRW", 0), ("KWD", 3), ("BHD", 3), (None, 2), ("", 2)],
)
def test_currency_places_follow_iso_4217(code, places):
    assert currency_places(code) == places


# -- what a loaded form holds ------------------------------------------------------------------


def test_defaults_are_filled_in():
    spec = load(
        document(
            text("a"),
            {"type": "textarea", "name": "b", "label": "B"},
            {"type": "file", "name": "c", "label": "C", "accept": ["pdf"]},
            {"type": "file", "name": "d", "label": "D", "accept": ["pdf"], "multiple": True},
            lines(text("e")),
        ),
        "test",
    )
    assert (spec.field("a").max_length, spec.field("a").width, spec.field("a").required) == (
        200,
        "full",
        False,
    )
    assert (spec.field("b").max_length, spec.field("b").rows) == (5000, 5)
    assert (spec.field("c").max_size_mb, spec.field("c").max_files) == (Decimal(10), 1)
    assert (spec.field("c").max_size_bytes, spec.field("c").accept) == (10485760, ("pdf",))
    assert (spec.field("d").multiple, spec.field("d").max_files) == (True, 10)
    table = spec.field("lines")
    assert (table.min_rows, table.max_rows, table.add_label) == (0, 50, "Add a row")
    assert (spec.submit_label, spec.description, spec.rules, spec.amount_field) == (
        "Submit",
        "",
        (),
        None,
    )


@pytest.mark.parametrize(
    ("field", "places"),
    [
        (number("m", "money", currency="EUR"), 2),
        (number("m", "money", currency="JPY"), 0),
        (number("m", "money", currency="KWD"), 3),
        (number("m", "money", currency_field="currency"), 2),
        (number("m", "decimal", places=4), 4),
        (number("m", "decimal"), None),
        (number("m"), None),
    ],
)
def test_places_of_number_fields(field, places):
    spec = load(document(field, CURRENCY), "test")
    assert spec.field("m").places == places


def test_choices_from_strings_and_objects():
    spec = load(document(select("s", ["EUR", {"value": "cc_100", "label": "Operations"}])), "t")
    field = spec.field("s")
    assert field.choices == (Choice("EUR", "EUR"), Choice("cc_100", "Operations"))
    assert field.choice_label("cc_100") == "Operations"
    assert field.choice_label("retired") == "retired"


def test_dates_limits_are_dates_or_today():
    spec = load(
        document({"type": "date", "name": "d", "label": "D", "min": "today", "max": "2026-12-31"}),
        "test",
    )
    assert spec.field("d").min == "today"
    assert spec.field("d").max == dt.date(2026, 12, 31)


def test_form_lookups():
    spec = load(
        document(
            {"type": "section", "title": "Money"},
            number("m", "money", currency="EUR"),
            number("n", "money", currency_field="currency"),
            CURRENCY,
            lines(number("q"), number("double", compute="q * 2")),
            {"type": "help", "text": "Thanks."},
        ),
        "test",
    )
    assert [field.name for field in spec.inputs] == ["m", "n", "currency", "lines"]
    assert spec.field("nope") is None
    assert spec.field("") is None  # blocks have no name and are not fields
    assert [field.is_input for field in spec.fields] == [False, True, True, True, True, False]
    assert spec.currency_of(spec.field("m"), {"currency": "JPY"}) == "EUR"
    assert spec.currency_of(spec.field("n"), {"currency": "JPY"}) == "JPY"
    assert spec.currency_of(spec.field("n"), {"currency": None}) is None
    assert spec.currency_of(spec.field("n"), {}) is None
    table = spec.field("lines")
    assert table.column("double").is_computed
    assert not table.column("q").is_computed
    assert table.column("nope") is None


def test_rules_keep_their_message_field_and_path():
    spec = load(
        document(text("a"), rules=[{"check": "a != 'x'", "message": "Not x.", "field": "a"}]),
        "test",
    )
    (rule,) = spec.rules
    assert (str(rule.check), rule.message, rule.field, rule.path) == (
        "a != 'x'",
        "Not x.",
        "a",
        "rules[0]",
    )


def test_steps_put_each_computation_before_the_visibility_that_reads_it():
    spec = load(
        document(
            {"type": "help", "text": "Big.", "visible_if": "total > 100"},
            number("a", "decimal"),
            number("b", "decimal", visible_if="a > 0"),
            number("total", "decimal", compute="sum([a, b])", visible_if="a != null"),
        ),
        "test",
    )
    steps = list(spec.steps)
    assert set(steps) == {
        Step(StepKind.VISIBLE, "b"),
        Step(StepKind.VISIBLE, "total"),
        Step(StepKind.COMPUTE, "total"),
        Step(StepKind.VISIBLE, "fields[0]"),
    }
    assert len(steps) == 4
    compute_total = steps.index(Step(StepKind.COMPUTE, "total"))
    # the total skips a hidden b and is empty when hidden itself; the help block reads the total
    assert steps.index(Step(StepKind.VISIBLE, "b")) < compute_total
    assert steps.index(Step(StepKind.VISIBLE, "total")) < compute_total
    assert compute_total < steps.index(Step(StepKind.VISIBLE, "fields[0]"))


def test_steps_compute_a_table_before_the_total_of_its_column():
    spec = load(
        document(
            number("total", "decimal", compute="sum(lines.net)"),
            lines(number("q"), number("net", "decimal", compute="q * 2")),
        ),
        "test",
    )
    assert spec.steps == (Step(StepKind.COMPUTE, "lines"), Step(StepKind.COMPUTE, "total"))
