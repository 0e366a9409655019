"""values.evaluate and stored data: coercion, checks, visibility, computation, encoding."""

from __future__ import annotations

import datetime as dt
import functools
import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.domain import schema, values
from portal.domain.filetype import FILE_KINDS
from portal.domain.values import Evaluation, FileValue, evaluate, file_faults

TODAY = dt.date(2026, 3, 15)
CHOICES = ["a", "b", "c"]
SCHEMAS = Path(__file__).resolve().parents[2] / "form_schemas"


def field(kind: str, name: str = "x", **options) -> dict:
    """A field of `kind`, labelled by its capitalised name ("x" is labelled "X")."""
    spec = {"type": kind, "name": name, "label": name.replace("_", " ").capitalize()}
    if kind in ("select", "radio", "multi_select"):
        spec["choices"] = CHOICES
    if kind == "file":
        spec["accept"] = ["pdf"]
    return {**spec, **options}


def make_form(*fields: dict, rules: tuple = (), **top) -> schema.FormSpec:
    """The loaded form; forms are immutable, so each is loaded once per run (loading is slow)."""
    document = {"title": "Test", "fields": list(fields), "rules": list(rules), **top}
    return _load(json.dumps(document))


@functools.cache
def _load(text: str) -> schema.FormSpec:
    return schema.load_text(text, "t")


def run(form: schema.FormSpec, raw: dict, **options) -> Evaluation:
    return evaluate(form, raw, TODAY, **options)


def upload(name: str = "receipt.pdf", kind: str | None = "pdf", size: int = 2048) -> FileValue:
    content_type = FILE_KINDS[kind].content_type if kind else "application/octet-stream"
    return FileValue(name, content_type, size, "5e" * 32, kind)


def record(item: FileValue) -> dict:
    """How a file is stored: its FileValue without the sniffed kind."""
    return {
        "name": item.name,
        "content_type": item.content_type,
        "size": item.size,
        "sha256": item.sha256,
    }


# -- each field type: what is accepted, and how it is stored ------------------------------------

ACCEPTED = [
    ("text", {}, "  Acme Ltd  ", "Acme Ltd"),
    ("text", {}, 42, "42"),
    ("text", {}, Decimal("1.50"), "1.50"),
    ("text", {}, "", None),
    ("text", {}, "   ", None),
    ("text", {}, None, None),
    ("text", {}, "tab\tinside", "tab\tinside"),
    ("text", {}, "Zoë, 東京 😀", "Zoë, 東京 😀"),
    ("text", {"max_length": 5}, "abcde", "abcde"),
    ("text", {"min_length": 3}, "abc", "abc"),
    ("text", {"pattern": "^PO-[0-9]{4}$"}, "PO-0045", "PO-0045"),
    ("textarea", {}, "line 1\r\nline 2\rline 3\n\n", "line 1\nline 2\nline 3"),
    ("textarea", {}, "\n  first\n\tsecond  \n", "first\n\tsecond"),
    ("email", {}, " name@example.com ", "name@example.com"),
    ("integer", {}, "1,250", 1250),
    ("integer", {}, "1,250,000", 1250000),
    ("integer", {}, "-3", -3),
    ("integer", {}, "+7", 7),
    ("integer", {}, "1 000 000", 1000000),
    ("integer", {}, "1\u00a0000", 1000),
    ("integer", {}, "1_000", 1000),
    ("integer", {}, 12, 12),
    ("integer", {}, Decimal("12"), 12),
    ("integer", {}, "999999999999999", 999999999999999),
    ("integer", {"min": 1, "max": 10}, "10", 10),
    ("decimal", {}, "1,250.50", "1250.50"),
    ("decimal", {}, ".5", "0.5"),
    ("decimal", {}, "-2.25", "-2.25"),
    ("decimal", {}, "7", "7"),
    ("decimal", {}, "999999999999999999", "999999999999999999"),
    ("decimal", {"places": 2}, "1.5", "1.50"),
    ("decimal", {"places": 2}, "1.230", "1.23"),  # a trailing zero is not a third place
    ("decimal", {"min": "0.01"}, "0.01", "0.01"),
    ("money", {"currency": "EUR"}, "1,250.5", {"amount": "1250.50", "currency": "EUR"}),
    ("money", {"currency": "EUR"}, 7, {"amount": "7.00", "currency": "EUR"}),
    (
        "money",
        {"currency": "EUR"},
        {"amount": "3", "currency": "EUR"},
        {"amount": "3.00", "currency": "EUR"},
    ),
    ("money", {"currency": "JPY"}, "1,250", {"amount": "1250", "currency": "JPY"}),
    ("money", {"currency": "JPY"}, "1250.00", {"amount": "1250", "currency": "JPY"}),
    ("money", {"currency": "KWD"}, "1.5", {"amount": "1.500", "currency": "KWD"}),
    ("date", {}, "2026-03-01", "2026-03-01"),
    ("date", {}, " 2026-03-01 ", "2026-03-01"),
    ("date", {"min": "today", "max": "today"}, "2026-03-15", "2026-03-15"),
    ("select", {}, "b", "b"),
    ("select", {}, " b ", "b"),
    ("radio", {}, "c", "c"),
    ("multi_select", {}, ["c", "a", "a"], ["a", "c"]),  # form order, no repeats
    ("multi_select", {}, "b", ["b"]),
    ("multi_select", {}, "", []),
    ("multi_select", {}, None, []),
    ("multi_select", {"min_items": 1, "max_items": 2}, ["a", "b"], ["a", "b"]),
    ("boolean", {}, "on", True),
    ("boolean", {}, "yes", True),
    ("boolean", {}, " Y ", True),
    ("boolean", {}, "TRUE", True),
    ("boolean", {}, "1", True),
    ("boolean", {}, True, True),
    ("boolean", {}, ["", "on"], True),  # a checkbox posted twice; any tick counts
    ("boolean", {}, "", False),
    ("boolean", {}, "no", False),
    ("boolean", {}, "off", False),
    ("boolean", {}, "0", False),
    ("boolean", {}, "false", False),
    ("boolean", {}, None, False),
    ("boolean", {}, False, False),
    ("file", {}, None, None),
    ("file", {}, [], None),
    ("file", {"multiple": True}, None, []),
]


@pytest.mark.parametrize(("kind", "options", "raw", "stored"), ACCEPTED)
def test_accepted_value_is_stored_in_its_json_form(kind, options, raw, stored):
    result = run(make_form(field(kind, **options)), {"x": raw})
    assert result.errors == {}
    assert result.ok
    assert result.data == {"x": stored}
    assert type(result.data["x"]) is type(stored)


REFUSED = [
    ("text", {}, "two\nlines", "Use a single line."),
    ("text", {}, "two\r\nlines", "Use a single line."),
    ("text", {}, "nul\x00byte", "Remove the control characters; they cannot be stored."),
    ("textarea", {}, "nul\x00byte", "Remove the control characters; they cannot be stored."),
    ("text", {}, "\x1b[31mred", "Remove the control characters; they cannot be stored."),
    ("text", {}, "bell\x07", "Remove the control characters; they cannot be stored."),
    ("email", {}, "del\x7f@example.com", "Remove the control characters; they cannot be stored."),
    ("text", {}, "half \ud800 pair", "Contains characters that are not valid text."),
    ("textarea", {}, "ok\udfffok", "Contains characters that are not valid text."),
    ("text", {}, ["a", "b"], "Give one value, not a list."),
    ("text", {}, {"a": 1}, "Enter text."),
    ("text", {}, True, "Enter text."),
    ("text", {}, 1.5, "Enter text."),
    ("email", {}, "not-an-email", "Enter an email address like name@example.com."),
    ("email", {}, "name@example", "Enter an email address like name@example.com."),
    ("email", {}, "a@b@example.com", "Enter an email address like name@example.com."),
    ("email", {}, "a b@example.com", "Enter an email address like name@example.com."),
    ("email", {}, "a" * 243 + "@example.com", "Enter an email address like name@example.com."),
    ("integer", {}, "1.5", "Enter a whole number, without decimals."),
    ("integer", {}, "abc", "Enter a whole number."),
    ("integer", {}, "12,50", "Enter a whole number."),
    ("integer", {}, "1,2345", "Enter a whole number."),
    ("integer", {}, "1e5", "Enter a whole number."),
    ("integer", {}, "1000000000000000", "This number is too large."),
    ("integer", {}, "-1,000,000,000,000,000", "This number is too large."),
    ("integer", {}, "1" * 41, "This number is too long."),
    ("integer", {}, True, "Enter a whole number."),
    ("integer", {}, ["1"], "Give one value, not a list."),
    ("decimal", {}, "abc", "Enter a number, like 1250.50."),
    ("decimal", {}, "1,25", "Enter a number, like 1250.50."),
    ("decimal", {}, "NaN", "Enter a number, like 1250.50."),
    ("decimal", {}, "Infinity", "Enter a number, like 1250.50."),
    ("decimal", {}, "1e3", "Enter a number, like 1250.50."),
    ("decimal", {}, "12\x00", "Enter a number, like 1250.50."),
    ("decimal", {}, "1000000000000000000", "This number is too large."),
    ("decimal", {}, "0." + "0" * 40, "This number is too long."),
    ("decimal", {}, True, "Enter a number, like 1250.50."),
    ("money", {"currency": "EUR"}, "abc", "Enter a number, like 1250.50."),
    ("money", {"currency": "EUR"}, True, "Enter an amount, like 1250.50."),
    ("money", {"currency": "EUR"}, {"amount": True}, "Enter an amount, like 1250.50."),
    ("date", {}, "2026-02-30", "Enter a real date."),
    ("date", {}, "15/03/2026", "Enter a date as YYYY-MM-DD."),
    ("date", {}, "2026-3-5", "Enter a date as YYYY-MM-DD."),
    ("date", {}, "2026-03-15T10:00", "Enter a date as YYYY-MM-DD."),
    ("date", {}, 20260301, "Enter a date as YYYY-MM-DD."),
    ("date", {}, True, "Enter a date as YYYY-MM-DD."),
    ("date", {}, "1899-12-31", "Enter a date between 1900 and 2199."),
    ("date", {}, "2200-01-01", "Enter a date between 1900 and 2199."),
    ("select", {}, "z", "Choose one of the options offered."),
    ("select", {}, "A", "Choose one of the options offered."),
    ("radio", {}, ["a"], "Give one value, not a list."),
    ("multi_select", {}, ["a", "z"], "Choose only from the options offered."),
    ("multi_select", {}, [1], "Choose from the options offered."),
    ("multi_select", {}, {"a": True}, "Choose from the options offered."),
    ("boolean", {}, "maybe", "Answer yes or no."),
    ("boolean", {}, 1, "Answer yes or no."),
    ("boolean", {}, ["maybe"], "Answer yes or no."),
    ("file", {}, "receipt.pdf", "Attach a file."),
    ("file", {}, [upload(), upload("other.pdf")], "Attach one file only."),
    ("file", {"multiple": True}, [upload(), "other.pdf"], "Attach a file."),
]


@pytest.mark.parametrize(("kind", "options", "raw", "message"), REFUSED)
def test_refused_value_is_reported_and_not_stored(kind, options, raw, message):
    result = run(make_form(field(kind, **options)), {"x": raw})
    assert result.errors == {"x": [message]}
    assert not result.ok
    assert result.data == {"x": None}


FAULTY = [
    ("text", {"max_length": 5}, "abcdef", "Use at most 5 characters (this has 6)."),
    ("text", {}, "a" * 201, "Use at most 200 characters (this has 201)."),
    ("textarea", {}, "a" * 5001, "Use at most 5000 characters (this has 5001)."),
    ("email", {}, "a" * 190 + "@example.com", "Use at most 200 characters (this has 202)."),
    ("text", {"min_length": 3}, "ab", "Use at least 3 characters."),
    (
        "text",
        {"pattern": "^PO-[0-9]{4}$", "pattern_message": "Use a PO number like PO-0045."},
        "PO-12",
        "Use a PO number like PO-0045.",
    ),
    ("text", {"pattern": "[0-9]+"}, "12a", "This is not in the expected format."),
    ("integer", {"min": 1}, "0", "Must be at least 1."),
    ("integer", {"max": 1000000}, "1000001", "Must be at most 1,000,000."),
    ("decimal", {"min": "0.01"}, "0", "Must be at least 0.01."),
    ("decimal", {"max": "1250.50"}, "1250.51", "Must be at most 1,250.50."),
    ("decimal", {"places": 2}, "1.234", "Use at most 2 decimal places."),
    ("decimal", {"places": 0}, "1.5", "Use whole units, without decimals."),
    ("money", {"currency": "EUR"}, "12.345", "Use at most 2 decimal places."),
    ("money", {"currency": "JPY"}, "1250.5", "Use whole units, without decimals."),
    ("money", {"currency": "KWD"}, "1.2345", "Use at most 3 decimal places."),
    ("money", {"currency": "EUR", "min": 0}, "-1", "Must be at least 0."),
    ("date", {"min": "today"}, "2026-03-14", "Must be on or after today."),
    ("date", {"max": "today"}, "2026-03-16", "Must be on or before today."),
    ("date", {"min": "2026-04-01"}, "2026-03-31", "Must be on or after 2026-04-01."),
    ("date", {"max": "2026-01-31"}, "2026-02-01", "Must be on or before 2026-01-31."),
    ("multi_select", {"min_items": 2}, ["a"], "Choose at least 2."),
    ("multi_select", {"max_items": 2}, ["a", "b", "c"], "Choose at most 2."),
]


@pytest.mark.parametrize(("kind", "options", "raw", "message"), FAULTY)
def test_value_breaking_a_field_rule_is_reported(kind, options, raw, message):
    result = run(make_form(field(kind, **options)), {"x": raw})
    assert result.errors == {"x": [message]}


def test_every_fault_of_a_value_is_reported():
    result = run(make_form(field("text", min_length=5, pattern="[0-9]+")), {"x": "abcd"})
    assert result.errors == {
        "x": ["Use at least 5 characters.", "This is not in the expected format."]
    }


def test_a_value_over_max_length_is_not_matched_against_the_pattern():
    result = run(make_form(field("text", max_length=3, pattern="[0-9]+")), {"x": "abcd"})
    assert result.errors == {"x": ["Use at most 3 characters (this has 4)."]}


def test_a_pattern_that_backtracks_in_python_answers_at_once():
    """`^(a+)+$` took Python's re 4.9 s on 24 characters, doubling with each one; RE2 is linear.

    Without RE2 this test does not finish (2**60 steps)."""
    form = make_form(field("text", pattern="^(a+)+$", max_length=100))
    assert run(form, {"x": "a" * 60 + "!"}).errors == {"x": ["This is not in the expected format."]}
    assert run(form, {"x": "a" * 60}).errors == {}


# -- required --------------------------------------------------------------------------------

REQUIRED = [
    ("text", {}, "X is required."),
    ("textarea", {}, "X is required."),
    ("email", {}, "X is required."),
    ("integer", {}, "X is required."),
    ("decimal", {}, "X is required."),
    ("money", {"currency": "EUR"}, "X is required."),
    ("date", {}, "X is required."),
    ("select", {}, "X is required."),
    ("radio", {}, "X is required."),
    ("multi_select", {}, "X is required."),
    ("boolean", {}, "Tick “X” to continue."),  # a required checkbox means "must be ticked"
    ("file", {}, "X is required."),
    ("file", {"multiple": True}, "X is required."),
]


@pytest.mark.parametrize(("kind", "options", "message"), REQUIRED)
def test_required_field_left_empty_is_reported(kind, options, message):
    form = make_form(field(kind, required=True, **options))
    result = run(form, {})
    assert result.errors == {"x": [message]}
    assert result.required == {"x": True}


@pytest.mark.parametrize(("kind", "options"), [(kind, options) for kind, options, _ in REQUIRED])
def test_optional_field_may_be_left_empty(kind, options):
    result = run(make_form(field(kind, **options)), {})
    assert result.errors == {}
    assert result.required == {"x": False}


def test_required_checkbox_ticked_passes():
    assert run(make_form(field("boolean", required=True)), {"x": "on"}).errors == {}


# -- money in a chosen currency ----------------------------------------------------------------

MONEY_FORM = (
    field("select", "currency", choices=["EUR", "JPY", "KWD"]),
    field("money", "price", currency_field="currency"),
)


@pytest.mark.parametrize(
    ("currency", "price", "stored"),
    [
        ("EUR", "1250.5", {"amount": "1250.50", "currency": "EUR"}),
        ("JPY", "1250", {"amount": "1250", "currency": "JPY"}),
        ("KWD", "1250.125", {"amount": "1250.125", "currency": "KWD"}),
        ("", "1250.5", {"amount": "1250.50", "currency": None}),
    ],
)
def test_money_takes_its_currency_and_places_from_the_currency_field(currency, price, stored):
    result = run(make_form(*MONEY_FORM), {"currency": currency, "price": price})
    assert result.errors == {}
    assert result.data["price"] == stored


@pytest.mark.parametrize(
    ("currency", "price", "message"),
    [
        ("JPY", "1250.5", "Use whole units, without decimals."),
        ("EUR", "1250.125", "Use at most 2 decimal places."),
        ("KWD", "1.0001", "Use at most 3 decimal places."),
    ],
)
def test_money_places_follow_the_chosen_currency(currency, price, message):
    result = run(make_form(*MONEY_FORM), {"currency": currency, "price": price})
    assert result.errors == {"price": [message]}


# -- files ------------------------------------------------------------------------------------


def test_single_file_is_stored_as_its_record():
    item = upload()
    result = run(make_form(field("file")), {"x": item})
    assert result.errors == {}
    assert result.data == {"x": record(item)}
    assert "kind" not in result.data["x"]


def test_several_files_are_stored_as_a_list_of_records():
    items = [upload("a.pdf"), upload("b.png", "png")]
    result = run(make_form(field("file", accept=["pdf", "png"], multiple=True)), {"x": items})
    assert result.errors == {}
    assert result.data == {"x": [record(item) for item in items]}


@pytest.mark.parametrize(
    ("options", "item", "message"),
    [
        ({}, upload("photo.png", "png"), "photo.png is a PNG image; attach a PDF file."),
        (
            {"accept": ["pdf", "png", "jpeg"]},
            upload("anim.gif", "gif"),
            "anim.gif is a GIF image; attach a PDF, PNG image or JPEG image file.",
        ),
        ({}, upload("scan.pdf", None), "scan.pdf is not a PDF file (its contents say otherwise)."),
        ({}, upload("empty.pdf", size=0), "empty.pdf is empty."),
        (
            {"max_size_mb": 1},
            upload("big.pdf", size=1048577),
            "big.pdf is larger than the 1 MB limit.",
        ),
        (
            {"max_size_mb": 2.5},
            upload("big.pdf", size=2621441),
            "big.pdf is larger than the 2.5 MB limit.",
        ),
    ],
)
def test_wrong_file_is_reported(options, item, message):
    result = run(make_form(field("file", **options)), {"x": item})
    assert result.errors == {"x": [message]}
    assert file_faults(make_form(field("file", **options)).field("x"), item) == [message]


def test_file_of_exactly_the_size_limit_is_accepted():
    result = run(make_form(field("file", max_size_mb=1)), {"x": upload(size=1048576)})
    assert result.errors == {}


def test_too_many_files_are_reported_with_each_bad_file():
    form = make_form(field("file", multiple=True, max_files=2))
    items = [upload("a.pdf"), upload("b.pdf", size=0), upload("c.png", "png")]
    assert run(form, {"x": items}).errors == {
        "x": [
            "Attach at most 2 files.",
            "b.pdf is empty.",
            "c.png is a PNG image; attach a PDF file.",
        ]
    }


@pytest.mark.parametrize(
    ("content_type", "kind"),
    [("application/pdf", "pdf"), ("text/plain", "txt"), ("application/x-msdownload", None)],
)
def test_file_record_reads_back_with_its_kind(content_type, kind):
    item = FileValue.from_record(
        {"name": "f", "content_type": content_type, "size": 3, "sha256": "ab"}
    )
    assert item == FileValue("f", content_type, 3, "ab", kind)
    assert FileValue.from_record(item.as_record()) == item


# -- line items -------------------------------------------------------------------------------

LINES = field(
    "line_items",
    "lines",
    min_rows=1,
    max_rows=3,
    fields=[
        field("text", "description", required=True),
        field("decimal", "quantity", places=3, required=True, min="0.001"),
        field("money", "unit_price", currency_field="currency", required=True),
        field("money", "amount", currency_field="currency", compute="quantity * unit_price"),
        field("boolean", "taxable"),
    ],
)
LINES_FORM = (
    field("select", "currency", choices=["EUR", "JPY", "KWD"]),
    LINES,
    field("money", "total", currency_field="currency", compute="sum(lines.amount)"),
)


def row(description="Paper", quantity="2", unit_price="1.25", **more) -> dict:
    return {"description": description, "quantity": quantity, "unit_price": unit_price, **more}


BLANK = {"description": "  ", "quantity": "", "unit_price": None, "taxable": ""}


def test_blank_rows_are_dropped_but_errors_keep_the_posted_index():
    result = run(
        make_form(*LINES_FORM),
        {"currency": "EUR", "lines": [row(), BLANK, row("Ink", quantity="abc")]},
    )
    assert result.errors == {"lines[2].quantity": ["Enter a number, like 1250.50."]}
    assert result.row_positions == {"lines": [0, 2]}
    assert [line["description"] for line in result.data["lines"]] == ["Paper", "Ink"]


def test_row_at_finds_a_row_by_its_posted_index():
    result = run(make_form(*LINES_FORM), {"currency": "EUR", "lines": [BLANK, row(), BLANK]})
    assert result.row_at("lines", 1)["quantity"] == Decimal(2)
    assert result.row_at("lines", 1)["amount"] == Decimal("2.50")
    assert result.row_at("lines", 0) == {}
    assert result.row_at("lines", 2) == {}
    assert result.row_at("lines", 7) == {}
    assert result.row_at("nope", 0) == {}


def test_row_with_only_an_unticked_box_or_a_computed_cell_is_blank():
    rows = [{"taxable": False}, {"amount": "5"}, row()]
    result = run(make_form(*LINES_FORM), {"currency": "EUR", "lines": rows})
    assert result.row_positions == {"lines": [2]}
    assert len(result.data["lines"]) == 1


def test_ticked_box_makes_a_row_count():
    result = run(make_form(*LINES_FORM), {"currency": "EUR", "lines": [{"taxable": "on"}]})
    assert result.errors == {
        "lines[0].description": ["Description is required."],
        "lines[0].quantity": ["Quantity is required."],
        "lines[0].unit_price": ["Unit price is required."],
    }


def test_cell_faults_are_reported_at_the_posted_row():
    rows = [BLANK, row(quantity="0"), row(unit_price="1.255"), BLANK]
    result = run(make_form(*LINES_FORM), {"currency": "EUR", "lines": rows})
    assert result.errors == {
        "lines[1].quantity": ["Must be at least 0.001."],
        "lines[2].unit_price": ["Use at most 2 decimal places."],
    }


def test_computed_column_rounds_half_up_and_the_total_adds_the_rounded_lines():
    rows = [row(quantity="0.5", unit_price="0.25"), row(quantity="0.5", unit_price="0.25")]
    result = run(make_form(*LINES_FORM), {"currency": "EUR", "lines": rows})
    assert result.errors == {}
    assert [line["amount"] for line in result.data["lines"]] == [
        {"amount": "0.13", "currency": "EUR"},
        {"amount": "0.13", "currency": "EUR"},
    ]
    assert result.data["total"] == {"amount": "0.26", "currency": "EUR"}


@pytest.mark.parametrize(
    ("currency", "quantity", "unit_price", "amount"),
    [
        ("JPY", "0.5", "101", "51"),
        ("KWD", "0.333", "1", "0.333"),
        ("EUR", "0.335", "1", "0.34"),
    ],
)
def test_computed_column_rounds_to_the_currency_places(currency, quantity, unit_price, amount):
    rows = [row(quantity=quantity, unit_price=unit_price)]
    result = run(make_form(*LINES_FORM), {"currency": currency, "lines": rows})
    assert result.errors == {}
    assert result.data["lines"][0]["amount"] == {"amount": amount, "currency": currency}
    assert result.data["total"] == {"amount": amount, "currency": currency}


def test_a_row_with_a_fault_adds_nothing_to_the_total():
    rows = [row(quantity="2", unit_price="3"), row(quantity="x")]
    result = run(make_form(*LINES_FORM), {"currency": "EUR", "lines": rows})
    assert result.data["lines"][1]["amount"] is None
    assert result.data["total"] == {"amount": "6.00", "currency": "EUR"}


@pytest.mark.parametrize(
    ("options", "count", "message"),
    [
        ({"min_rows": 2, "max_rows": 5}, 1, "Add between 2 and 5 rows."),
        ({"min_rows": 1, "max_rows": 30}, 0, "Add between 1 and 30 rows."),
        ({"min_rows": 1, "max_rows": 1}, 2, "Add one row."),
        ({"max_rows": 3}, 4, "Use at most 3 rows."),
        ({"max_rows": 3}, 7, "Use at most 3 rows."),  # past twice the limit: not even read
    ],
)
def test_row_count_outside_its_limits_is_reported(options, count, message):
    table = field("line_items", "lines", fields=[field("text", "note")], **options)
    result = run(make_form(table), {"lines": [{"note": "n"}] * count})
    assert result.errors == {"lines": [message]}


@pytest.mark.parametrize("raw", ["rows", ["a row"], {"note": "n"}, [{"note": "n"}, 5]])
def test_rows_that_are_not_a_list_of_objects_are_refused(raw):
    table = field("line_items", "lines", fields=[field("text", "note")])
    result = run(make_form(table), {"lines": raw})
    assert result.errors == {"lines": ["Send the rows as a list of objects."]}
    assert result.data == {"lines": None}


def test_rows_are_stored_with_every_column():
    result = run(make_form(*LINES_FORM), {"currency": "EUR", "lines": [row(taxable="on")]})
    assert result.data["lines"] == [
        {
            "description": "Paper",
            "quantity": "2.000",
            "unit_price": {"amount": "1.25", "currency": "EUR"},
            "amount": {"amount": "2.50", "currency": "EUR"},
            "taxable": True,
        }
    ]


# -- visibility -------------------------------------------------------------------------------

VISIBILITY_FORM = (
    field("boolean", "rebill"),
    field("text", "client", required=True, visible_if="rebill"),
    field("decimal", "a"),
    field("decimal", "b", visible_if="rebill"),
    field("decimal", "total", compute="sum([a, b])"),
    {"type": "help", "text": "That is a lot.", "visible_if": "total > 100"},
    field(
        "line_items",
        "extras",
        visible_if="rebill",
        min_rows=1,
        fields=[field("integer", "hours", required=True)],
    ),
)


def test_hidden_field_is_neither_required_nor_stored():
    result = run(make_form(*VISIBILITY_FORM), {"client": "Acme", "a": "1"})
    assert result.errors == {}
    assert result.visible["client"] is False
    assert "client" not in result.required
    assert "client" not in result.data
    assert result.values["client"] is None


def test_shown_field_is_required_and_stored():
    result = run(make_form(*VISIBILITY_FORM), {"rebill": "on", "a": "1"})
    assert result.errors == {
        "client": ["Client is required."],
        "extras": ["Add between 1 and 50 rows."],
    }
    assert result.visible["client"] is True
    assert result.required["client"] is True
    result = run(
        make_form(*VISIBILITY_FORM),
        {"rebill": "on", "client": "Acme", "extras": [{"hours": "2"}]},
    )
    assert result.errors == {}
    assert result.data["client"] == "Acme"
    assert result.data["extras"] == [{"hours": 2}]


def test_hidden_fields_invalid_value_is_not_reported():
    raw = {"b": "abc", "extras": [{"hours": "x"}], "client": "\x00"}
    result = run(make_form(*VISIBILITY_FORM), raw)
    assert result.errors == {}
    assert "b" not in result.data
    assert "extras" not in result.data
    assert result.values["extras"] == []


@pytest.mark.parametrize(("rebill", "total"), [("", "10"), ("on", "15")])
def test_hidden_field_does_not_feed_computations(rebill, total):
    raw = {"rebill": rebill, "client": "Acme", "a": "10", "b": "5", "extras": [{"hours": "1"}]}
    result = run(make_form(*VISIBILITY_FORM), raw)
    assert result.data["total"] == total


@pytest.mark.parametrize(("a", "shown"), [("150", True), ("50", False), ("", False)])
def test_block_visibility_is_recorded_by_its_path(a, shown):
    result = run(make_form(*VISIBILITY_FORM), {"a": a})
    assert result.visible["fields[5]"] is shown


def test_field_without_a_condition_is_not_listed_as_visible_or_hidden():
    result = run(make_form(*VISIBILITY_FORM), {})
    assert "a" not in result.visible
    assert "total" not in result.visible


@pytest.mark.parametrize(
    ("amount", "required", "errors"),
    [
        ("6000", True, {"po": ["Po is required."]}),
        ("5000", False, {}),
        ("", False, {}),  # an empty condition is false
    ],
)
def test_required_if_makes_a_field_required_while_it_holds(amount, required, errors):
    form = make_form(field("integer", "amount"), field("text", "po", required_if="amount > 5000"))
    result = run(form, {"amount": amount})
    assert result.required["po"] is required
    assert result.errors == errors


def test_hidden_computed_field_is_not_computed():
    form = make_form(
        field("boolean", "show"),
        field("integer", "total", compute="1 + 1", visible_if="show"),
    )
    assert run(form, {}).values["total"] is None
    assert run(form, {"show": "on"}).data["total"] == 2


# -- rules ------------------------------------------------------------------------------------

PERIOD = (
    field("date", "start"),
    field("date", "end"),
    field("boolean", "limited"),
    field("integer", "cap", visible_if="limited"),
)
PERIOD_RULES = (
    {"check": "end >= start", "message": "The end cannot be before the start.", "field": "end"},
    {"check": "cap <= 10", "message": "At most 10.", "field": "cap"},
    {"check": "end - start <= 30", "message": "At most 30 days in all."},
)


@pytest.mark.parametrize(
    ("raw", "errors"),
    [
        ({"start": "2026-03-10", "end": "2026-03-20"}, {}),
        (
            {"start": "2026-03-10", "end": "2026-03-09"},
            {"end": ["The end cannot be before the start."]},
        ),
        ({"start": "2026-03-10", "end": ""}, {}),  # an empty result does not fail
        ({"start": "2026-01-01", "end": "2026-03-01"}, {"": ["At most 30 days in all."]}),
        ({"end": "2026-02-30"}, {"end": ["Enter a real date."]}),  # the field's own fault first
        ({"cap": "11"}, {}),  # the rule's field is hidden
        ({"limited": "on", "cap": "11"}, {"cap": ["At most 10."]}),
    ],
)
def test_rule_that_fails_shows_its_message_at_its_field(raw, errors):
    assert run(make_form(*PERIOD, rules=PERIOD_RULES), raw).errors == errors


# -- computed fields --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "compute", "a", "stored"),
    [
        (field("integer", "total"), "a / 2", "5", 3),
        (field("integer", "total"), "a / 2", "-5", -3),
        (field("decimal", "total", places=2), "a / 3", "2", "0.67"),
        (field("decimal", "total", places=2), "a / 8", "1", "0.13"),
        (field("decimal", "total"), "a / 8", "1", "0.125"),
        (
            field("money", "total", currency="EUR"),
            "a * 1.005",
            "1",
            {"amount": "1.01", "currency": "EUR"},
        ),
        (field("money", "total", currency="JPY"), "a / 2", "3", {"amount": "2", "currency": "JPY"}),
        (field("integer", "total"), "a / 0", "5", None),
        (field("integer", "total"), "a + 1", "", None),
    ],
)
def test_computed_field_is_rounded_half_up_to_its_type(target, compute, a, stored):
    form = make_form(field("decimal", "a"), {**target, "compute": compute})
    result = run(form, {"a": a, "total": "999"})  # a posted value for a computed field is ignored
    assert result.errors == {}
    assert result.data["total"] == stored


def test_limits_on_a_computed_field_are_a_schema_error_pointing_to_rules():
    """Nobody could correct a computed value, so its limits belong in a rule with a message."""
    with pytest.raises(schema.SchemaInvalid) as caught:
        make_form(field("integer", "a"), field("integer", "total", compute="a * 2", max=10))
    assert [str(e) for e in caught.value.errors] == [
        "fields[1].max: a computed field is filled in by Baton, so nobody could correct it; "
        "check its value with a rule, whose message says what to change"
    ]


# -- the whole raw input ----------------------------------------------------------------------


def test_strict_evaluation_reports_keys_the_form_does_not_have():
    form = make_form({"type": "section", "title": "S"}, field("text"))
    raw = {"x": "a", "bogus": "1", "fields[0]": "s"}
    assert run(form, raw).errors == {}
    assert run(form, raw, strict=True).errors == {
        "bogus": ["This form has no such field."],
        "fields[0]": ["This form has no such field."],
    }


def test_strict_evaluation_reports_unknown_keys_inside_line_item_rows():
    raw = {"currency": "EUR", "lines": [row(), row(colour="red")]}
    assert run(make_form(*LINES_FORM), raw).errors == {}
    assert run(make_form(*LINES_FORM), raw, strict=True).errors == {
        "lines[1].colour": ["This table has no such column."]
    }


@pytest.mark.parametrize(
    ("raw", "path", "message"),
    [
        (
            {"currency": "EUR", "price": {"amount": "1000.00", "currency": "USD"}},
            "price",
            "This amount is in EUR; it cannot be given in USD.",
        ),
        (
            {"currency": "EUR", "lines": [row(unit_price={"amount": "5", "currency": "GBP"})]},
            "lines[0].unit_price",
            "This amount is in EUR; it cannot be given in GBP.",
        ),
        (
            {"currency": "", "price": {"amount": "1", "currency": "USD"}},
            "price",
            "This amount cannot be in USD: choose its currency first.",
        ),
        (
            {"currency": "EUR", "price": {"amount": "1", "currency": 978}},
            "price",
            "Name the currency as a three-letter code, like EUR.",
        ),
        (
            {"currency": "EUR", "price": {"amount": "1", "cents": 5}},
            "price",
            'An amount is {"amount": "1250.50", "currency": "EUR"}; it has no \'cents\'.',
        ),
    ],
)
def test_money_naming_another_currency_is_refused_not_relabelled(raw, path, message):
    form = make_form(*MONEY_FORM, LINES)
    assert run(form, raw).errors[path] == [message]


def test_money_naming_its_own_currency_or_none_is_accepted():
    form = make_form(*MONEY_FORM)
    for price in ({"amount": "7.5", "currency": "EUR"}, {"amount": "7.5"}, "7.5"):
        result = run(form, {"currency": "EUR", "price": price})
        assert result.errors == {}
        assert result.data["price"] == {"amount": "7.50", "currency": "EUR"}
    fixed = make_form(field("money", "fee", currency="GBP"))
    assert run(fixed, {"fee": {"amount": "3", "currency": "EUR"}}).errors == {
        "fee": ["This amount is in GBP; it cannot be given in EUR."]
    }


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        ("boolean", [True], "Answer true or false."),
        ("boolean", "yes", "Answer true or false."),
        ("boolean", 1, "Answer true or false."),
        ("text", 5, "Enter text."),
        ("date", 20260301, "Enter a date as YYYY-MM-DD."),
        ("select", 1, "Choose one of the options offered."),
        ("multi_select", "a", "Send the choices as a list."),
    ],
)
def test_strict_evaluation_takes_each_type_only_in_its_json_spelling(kind, value, message):
    form = make_form(field(kind))
    assert run(form, {"x": value}, strict=True).errors == {"x": [message]}


@pytest.mark.parametrize(
    ("kind", "value", "stored"),
    [
        ("boolean", True, True),
        ("boolean", None, False),
        ("text", "a", "a"),
        ("integer", 5, 5),
        ("integer", "5", 5),
        ("decimal", Decimal("1.5"), "1.5"),
        ("multi_select", ["b", "a"], ["a", "b"]),
    ],
)
def test_strict_evaluation_takes_the_documented_json_spellings(kind, value, stored):
    result = run(make_form(field(kind)), {"x": value}, strict=True)
    assert result.errors == {}
    assert result.data["x"] == stored


def test_browser_spellings_of_a_checkbox_still_work_on_the_web_form():
    form = make_form(field("boolean"))
    assert run(form, {"x": ["y"]}).data["x"] is True
    assert run(form, {"x": "yes"}).data["x"] is True


def test_add_error_keeps_each_message_once():
    result = Evaluation()
    result.add_error("x", "Bad.")
    result.add_error("x", "Bad.")
    result.add_error("x", "Worse.")
    assert result.errors == {"x": ["Bad.", "Worse."]}
    assert not result.ok


# -- stored data: encode, decode, back to raw, summary, amount ---------------------------------

EVERYTHING = (
    field("text", "name"),
    field("textarea", "notes"),
    field("email", "email"),
    field("integer", "pieces"),
    field("decimal", "rate", places=2),
    field("money", "price", currency="EUR"),
    field("select", "currency", choices=["EUR", "JPY"]),
    field("money", "local", currency_field="currency"),
    field("date", "due"),
    field("radio", "size"),
    field("multi_select", "tags"),
    field("boolean", "urgent"),
    field("file", "quote", accept=["pdf", "txt"]),
    field("file", "photos", accept=["png", "jpeg"], multiple=True),
    field(
        "line_items",
        "lines",
        fields=[
            field("integer", "quantity"),
            field("money", "unit_price", currency_field="currency"),
            field("money", "amount", currency_field="currency", compute="quantity * unit_price"),
            field("date", "day"),
        ],
    ),
    field("money", "total", currency_field="currency", compute="sum(lines.amount)"),
)
QUOTE = upload("quote.txt", "txt", 10)
PHOTOS = [upload("a.png", "png", 20), upload("b.jpg", "jpeg", 30)]
EVERYTHING_RAW = {
    "name": "Acme",
    "notes": "First\nSecond",
    "email": "ap@acme.example",
    "pieces": "1,200",
    "rate": "0.5",
    "price": "99.9",
    "currency": "JPY",
    "local": "1500",
    "due": "2026-04-30",
    "size": "b",
    "tags": ["c", "a"],
    "urgent": "on",
    "quote": QUOTE,
    "photos": PHOTOS,
    "lines": [{"quantity": "3", "unit_price": "250", "day": "2026-03-01"}, {"quantity": ""}],
}
EVERYTHING_DATA = {
    "name": "Acme",
    "notes": "First\nSecond",
    "email": "ap@acme.example",
    "pieces": 1200,
    "rate": "0.50",
    "price": {"amount": "99.90", "currency": "EUR"},
    "currency": "JPY",
    "local": {"amount": "1500", "currency": "JPY"},
    "due": "2026-04-30",
    "size": "b",
    "tags": ["a", "c"],
    "urgent": True,
    "quote": record(QUOTE),
    "photos": [record(item) for item in PHOTOS],
    "lines": [
        {
            "quantity": 3,
            "unit_price": {"amount": "250", "currency": "JPY"},
            "amount": {"amount": "750", "currency": "JPY"},
            "day": "2026-03-01",
        }
    ],
    "total": {"amount": "750", "currency": "JPY"},
}


def test_stored_data_is_plain_json_of_each_type():
    result = run(make_form(*EVERYTHING), EVERYTHING_RAW)
    assert result.errors == {}
    assert result.data == EVERYTHING_DATA
    assert json.loads(json.dumps(result.data)) == result.data


def test_decode_gives_the_typed_values_expressions_expect():
    typed = values.decode(make_form(*EVERYTHING), EVERYTHING_DATA)
    assert typed == {
        "name": "Acme",
        "notes": "First\nSecond",
        "email": "ap@acme.example",
        "pieces": Decimal(1200),
        "rate": Decimal("0.50"),
        "price": Decimal("99.90"),
        "currency": "JPY",
        "local": Decimal(1500),
        "due": dt.date(2026, 4, 30),
        "size": "b",
        "tags": ["a", "c"],
        "urgent": True,
        "quote": QUOTE,
        "photos": PHOTOS,
        "lines": [
            {
                "quantity": Decimal(3),
                "unit_price": Decimal(250),
                "amount": Decimal(750),
                "day": dt.date(2026, 3, 1),
            }
        ],
        "total": Decimal(750),
    }
    assert type(typed["pieces"]) is Decimal


def test_decode_of_missing_values_gives_empty_values():
    typed = values.decode(make_form(*EVERYTHING), {})
    assert typed["tags"] == []
    assert typed["lines"] == []
    assert typed["name"] is None
    assert typed["urgent"] is None
    assert typed["photos"] is None


def test_to_raw_leaves_out_computed_values():
    raw = values.to_raw(make_form(*EVERYTHING), EVERYTHING_DATA)
    assert "total" not in raw
    assert raw["lines"] == [{"quantity": "3", "unit_price": "250", "day": "2026-03-01"}]
    assert raw["pieces"] == "1200"
    assert raw["price"] == "99.90"
    assert raw["quote"] == QUOTE


def test_stored_data_evaluates_back_to_itself():
    form = make_form(*EVERYTHING)
    again = run(form, values.to_raw(form, EVERYTHING_DATA))
    assert again.errors == {}
    assert again.data == EVERYTHING_DATA


def test_stored_data_with_hidden_fields_evaluates_back_to_itself():
    form = make_form(*VISIBILITY_FORM)
    first = run(form, {"a": "12.5", "b": "3", "client": "Acme"})
    assert run(form, values.to_raw(form, first.data)).data == first.data


SUMMARY_FORM = (
    field("text", "vendor"),
    field("money", "total", currency="EUR"),
    field("select", "category", choices=[{"value": "it", "label": "IT hardware"}, "other"]),
    field("multi_select", "tags", choices=[{"value": "a", "label": "Alpha"}, "b"]),
    field("boolean", "urgent"),
)


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (
            {
                "vendor": "Acme Ltd",
                "total": {"amount": "1250.00", "currency": "EUR"},
                "category": "it",
                "tags": ["a", "b"],
            },
            "Acme Ltd · EUR 1250.00 · IT hardware · Alpha, b",
        ),
        ({"vendor": "", "total": None, "category": "retired", "tags": []}, "retired"),
        ({"vendor": "Acme"}, "Acme"),
        ({}, ""),
        ({"vendor": "x" * 400}, "x" * 300),
    ],
)
def test_summary_joins_the_summary_fields(data, text):
    form = make_form(*SUMMARY_FORM, summary_fields=["vendor", "total", "category", "tags"])
    assert values.summary(form, data) == text


@pytest.mark.parametrize(("urgent", "text"), [(True, "Urgent: yes"), (False, "Urgent: no")])
def test_summary_shows_a_checkbox_by_its_label(urgent, text):
    form = make_form(*SUMMARY_FORM, summary_fields=["urgent"])
    assert values.summary(form, {"urgent": urgent}) == text


def test_summary_of_money_without_a_currency_is_the_amount():
    form = make_form(*MONEY_FORM, summary_fields=["price"])
    assert values.summary(form, {"price": {"amount": "5.00", "currency": None}}) == "5.00"


@pytest.mark.parametrize(
    ("target", "stored", "headline"),
    [
        (
            field("money", "total", currency="EUR"),
            {"amount": "1250.50", "currency": "EUR"},
            (Decimal("1250.50"), "EUR"),
        ),
        (field("integer", "total"), 5, (Decimal(5), None)),
        (field("decimal", "total"), "2.50", (Decimal("2.50"), None)),
        (field("integer", "total"), None, (None, None)),
    ],
)
def test_amount_is_the_headline_figure(target, stored, headline):
    form = make_form(target, amount_field="total")
    assert values.amount(form, {"total": stored}) == headline


def test_form_without_an_amount_field_has_no_amount():
    assert values.amount(make_form(field("integer", "total")), {"total": 5}) == (None, None)


# -- a shipped form, end to end ----------------------------------------------------------------


@functools.cache
def vendor_invoice() -> schema.FormSpec:
    path = SCHEMAS / "vendor_invoice.json"
    return schema.load_text(path.read_text("utf-8"), "vendor_invoice")


INVOICE = {
    "vendor_name": "Acme Ltd",
    "vendor_email": "billing@acme.example",
    "invoice_number": "INV-1043",
    "invoice_date": "2026-03-01",
    "due_date": "2026-03-31",
    "currency": "EUR",
    "cost_centre": "CC-300",
    "lines": [
        {"description": "Laptops", "quantity": "3", "unit_price": "1,500.00"},
        {"description": "", "quantity": "", "unit_price": ""},
        {"description": "Docks", "quantity": "3", "unit_price": "199.99"},
    ],
    "invoice_file": upload("invoice.pdf"),
}


def test_vendor_invoice_over_5000_needs_a_po_number():
    form = vendor_invoice()
    result = run(form, INVOICE)
    assert result.errors == {"po_number": ["Purchase order number is required."]}
    assert result.required["po_number"] is True
    assert result.data["total"] == {"amount": "5099.97", "currency": "EUR"}


def test_vendor_invoice_that_is_complete_is_ok():
    form = vendor_invoice()
    result = run(form, {**INVOICE, "po_number": "PO-004512"})
    assert result.errors == {}
    assert result.data["total"] == {"amount": "5099.97", "currency": "EUR"}
    assert values.summary(form, result.data) == "Acme Ltd · INV-1043"
    assert values.amount(form, result.data) == (Decimal("5099.97"), "EUR")
    assert "vendor_tax_id" not in result.data


# -- properties --------------------------------------------------------------------------------

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.decimals(),
    st.text(max_size=20),
    st.sampled_from(["1,250.50", "2026-03-01", "EUR", "JPY", "a", "on", "\x00", "9" * 39]),
    st.just(upload()),
)
_CELLS = st.dictionaries(
    st.sampled_from(["quantity", "unit_price", "amount", "description", "day", "hours", "x"]),
    _SCALARS,
    max_size=4,
)
_RAW_VALUES = st.one_of(
    _SCALARS, st.lists(_SCALARS, max_size=3), _CELLS, st.lists(_CELLS, max_size=4)
)
_FORMS = [EVERYTHING, VISIBILITY_FORM, LINES_FORM, PERIOD]
_NAMES = sorted({spec.get("name", "") for fields in _FORMS for spec in fields} | {"bogus"})


@settings(max_examples=100, deadline=None)
@given(
    fields=st.sampled_from(_FORMS),
    raw=st.dictionaries(st.sampled_from(_NAMES), _RAW_VALUES),
    strict=st.booleans(),
)
def test_any_raw_input_gives_json_data_that_evaluates_back_to_itself(fields, raw, strict):
    form = make_form(*fields, rules=PERIOD_RULES if fields is PERIOD else ())
    result = run(form, raw, strict=strict)
    assert json.loads(json.dumps(result.data)) == result.data
    if result.ok:
        assert run(form, values.to_raw(form, result.data)).data == result.data


# -- rows left at their defaults, and rules beside cell errors --------------------------------

DEFAULTED = make_form(
    {
        "type": "line_items",
        "name": "trips",
        "label": "Trips",
        "min_rows": 1,
        "fields": [
            {"type": "date", "name": "day", "label": "Day", "default": "today", "required": True},
            {
                "type": "select",
                "name": "mode",
                "label": "Mode",
                "choices": ["rail", "car"],
                "default": "rail",
            },
            {"type": "text", "name": "route", "label": "Route", "required": True},
        ],
    },
    rules=(
        {"check": "all(trips.day <= today())", "message": "No future trips.", "field": "trips"},
    ),
)


def test_a_row_left_at_its_defaults_is_untouched_and_dropped():
    raw = {
        "trips": [
            {"day": "2026-03-10", "mode": "car", "route": "Berlin–Leipzig"},
            {"day": TODAY.isoformat(), "mode": "rail", "route": ""},
        ]
    }
    result = run(DEFAULTED, raw)
    assert result.errors == {}
    assert [row["route"] for row in result.data["trips"]] == ["Berlin–Leipzig"]


def test_a_row_with_one_cell_changed_from_its_default_is_kept_and_checked():
    raw = {"trips": [{"day": TODAY.isoformat(), "mode": "car", "route": ""}]}
    assert run(DEFAULTED, raw).errors == {"trips[0].route": ["Route is required."]}


def test_rule_waits_while_a_cell_of_its_table_shows_an_error():
    raw = {"trips": [{"day": "2199-01-01", "mode": "car", "route": ""}]}
    assert run(DEFAULTED, raw).errors == {"trips[0].route": ["Route is required."]}
    raw["trips"][0]["route"] = "A–B"
    assert run(DEFAULTED, raw).errors == {"trips": ["No future trips."]}


def test_rule_over_rows_with_an_empty_date_does_not_fail_beside_the_required_message():
    raw = {"trips": [{"day": "", "mode": "car", "route": "A–B"}]}
    assert run(DEFAULTED, raw).errors == {"trips[0].day": ["Day is required."]}
