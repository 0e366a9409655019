"""The form builder's operations on a schema document: pure, no app."""

from __future__ import annotations

import copy
import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.domain import builder as b
from portal.domain.builder import BuilderRefused, Condition, Place
from portal.domain.schema import FieldKind, SchemaInvalid, decode, load

FORM = {
    "title": "Capital expense",
    "amount_field": "total",
    "summary_fields": ["asset"],
    "fields": [
        {"type": "text", "name": "asset", "label": "Asset", "required": True},
        {
            "type": "select",
            "name": "currency",
            "label": "Currency",
            "choices": [{"value": "EUR", "label": "Euro"}, {"value": "USD", "label": "Dollar"}],
        },
        {
            "type": "line_items",
            "name": "lines",
            "label": "Lines",
            "fields": [
                {"type": "integer", "name": "quantity", "label": "Quantity"},
                {"type": "money", "name": "price", "label": "Price", "currency_field": "currency"},
                {
                    "type": "money",
                    "name": "amount",
                    "label": "Amount",
                    "currency_field": "currency",
                    "compute": "quantity * price",
                },
            ],
        },
        {
            "type": "money",
            "name": "total",
            "label": "Total",
            "currency_field": "currency",
            "compute": "sum(lines.quantity * lines.price)",
        },
        {"type": "boolean", "name": "new_vendor", "label": "New vendor"},
        {
            "type": "text",
            "name": "tax_id",
            "label": "Tax ID",
            "visible_if": "new_vendor",
            "required": True,
        },
        {"type": "date", "name": "invoice_date", "label": "Invoice date"},
        {"type": "date", "name": "due_date", "label": "Payment due"},
        {"type": "multi_select", "name": "tags", "label": "Tags", "choices": ["it", "office"]},
        {"type": "textarea", "name": "why", "label": "Why", "required_if": "total > 50000"},
    ],
    "rules": [
        {"check": "due_date >= invoice_date", "message": "Due after invoice", "field": "due_date"}
    ],
    "approval": {
        "fallback_group": "finance",
        "steps": [
            {"name": "manager", "title": "Manager", "assignees": [{"manager": 1}]},
            {
                "name": "cfo",
                "title": "CFO approval",
                "when": "total > 25000 and not new_vendor",
                "assignees": [{"group": "cfo"}],
            },
        ],
    },
}


def loads(document: dict) -> bool:
    """The document passes every check publishing makes of the schema itself."""
    load(decode(json.dumps(document, default=str)), "capex")
    return True


def field_index(document: dict, name: str) -> int:
    return next(i for i, f in enumerate(document["fields"]) if f.get("name") == name)


WHY = f"field:{field_index(FORM, 'why')}"  # a field no condition reads


def test_the_example_form_is_valid():
    assert loads(FORM)


# -- palette and new fields -------------------------------------------------------------------


def test_the_palette_names_every_field_type_the_schema_has():
    assert {entry.kind for entry in b.PALETTE} == {kind.value for kind in FieldKind}
    assert len({entry.name for entry in b.PALETTE}) == len(b.PALETTE)
    assert b.type_name("money") == "Amount of money"
    assert b.type_name("line_items") == "Table of lines"


@pytest.mark.parametrize("kind", [entry.kind for entry in b.PALETTE])
def test_a_field_added_from_the_palette_passes_every_check(kind):
    one = {"title": "T", "fields": [{"type": "text", "name": "a", "label": "A"}]}
    document, index = b.add_field(one, kind, at=0)
    assert index == 0
    assert document["fields"][0]["type"] == kind
    assert loads(document)


@pytest.mark.parametrize("kind", b.COLUMN_KINDS)
def test_a_column_added_to_a_table_passes_every_check(kind):
    document, index = b.add_column(FORM, field_index(FORM, "lines"), kind)
    assert index == 3
    assert document["fields"][2]["fields"][3]["type"] == kind
    assert loads(document)


def test_a_column_of_a_kind_tables_cannot_hold_is_refused():
    with pytest.raises(BuilderRefused, match="cannot have a column of File"):
        b.add_column(FORM, 2, "file")
    with pytest.raises(BuilderRefused, match="only a table of lines has columns"):
        b.add_column(FORM, 0, "text")


def test_adding_puts_the_field_where_asked_and_names_it_uniquely():
    document, index = b.add_field(FORM, "text", at=1)
    assert index == 1
    assert document["fields"][1] == {"type": "text", "name": "short_text", "label": "Short text"}
    document, index = b.add_field(document, "text", at=1)
    assert document["fields"][1]["name"] == "short_text_2"
    assert FORM["fields"][1]["name"] == "currency"  # the original is untouched


@pytest.mark.parametrize(
    "label, taken, name",
    [
        ("Vendor VAT ID", set(), "vendor_vat_id"),
        ("  Coût total (€)  ", set(), "cout_total"),
        ("2nd approver", set(), "field_2nd_approver"),
        ("!!!", set(), "field"),
        ("sum", set(), "sum_field"),
        ("and", set(), "and_field"),
        ("Total", {"total"}, "total_2"),
        ("Total", {"total", "total_2"}, "total_3"),
        ("A" * 80, set(), "a" * 50),
    ],
)
def test_a_name_is_made_from_a_label(label, taken, name):
    assert b.name_from_label(label, taken) == name
    assert b.NAME_PATTERN.fullmatch(name)


# -- moving, duplicating, removing ------------------------------------------------------------


def test_moving_a_field_down_and_up():
    document, index = b.move(FORM, Place("field", 0), 2)
    assert index == 2
    assert [f["name"] for f in document["fields"][:3]] == ["currency", "lines", "asset"]
    back, index = b.move(document, Place("field", 2), 0)
    assert back == FORM


def test_moving_past_either_end_stops_at_it():
    document, index = b.move(FORM, Place("field", 0), -5)
    assert index == 0 and document == FORM
    _, index = b.move(FORM, Place("field", 0), 99)
    assert index == len(FORM["fields"]) - 1


def test_moving_a_column_and_a_step():
    document, index = b.move(FORM, Place("column", 2, 2), 0)
    assert [c["name"] for c in document["fields"][2]["fields"]] == ["amount", "quantity", "price"]
    document, _ = b.move(FORM, Place("step", 1), 0)
    assert [s["name"] for s in document["approval"]["steps"]] == ["cfo", "manager"]


def test_a_duplicate_sits_after_the_original_with_a_new_name():
    document, index = b.duplicate(FORM, Place("field", field_index(FORM, "tax_id")))
    twin = document["fields"][index]
    assert twin["label"] == "Tax ID (copy)" and twin["name"] == "tax_id_copy"
    assert twin["visible_if"] == "new_vendor"
    assert loads(document)
    document, index = b.duplicate(FORM, Place("step", 0))
    assert document["approval"]["steps"][1]["name"] == "manager_copy"
    assert loads(document)


def test_removing_a_field_nothing_uses():
    document = b.remove(FORM, Place("field", field_index(FORM, "tags")))
    assert "tags" not in b.field_names(document)
    assert loads(document)


@pytest.mark.parametrize(
    "name, users",
    [
        ("new_vendor", ["when to show Tax ID", "when to ask for CFO approval"]),
        ("total", ["when to require Why", "when to ask for CFO approval", "the amount shown"]),
        ("currency", ["the currency of Price", "the currency of Amount", "the currency of Total"]),
        ("invoice_date", ["the rule “Due after invoice”"]),
        ("lines", ["the calculation of Total"]),
        ("asset", ["the summary"]),
    ],
)
def test_removing_a_field_something_uses_is_refused_saying_what(name, users):
    with pytest.raises(BuilderRefused) as refused:
        b.remove(FORM, Place("field", field_index(FORM, name)))
    for words in users:
        assert words in str(refused.value)


def test_removing_a_column_a_calculation_uses_is_refused():
    lines = field_index(FORM, "lines")
    with pytest.raises(BuilderRefused, match="the calculation of Amount"):
        b.remove(FORM, Place("column", lines, 1))
    with pytest.raises(BuilderRefused, match="the calculation of Total"):
        b.remove(FORM, Place("column", lines, 0))
    document = b.remove(FORM, Place("column", lines, 2))
    assert [c["name"] for c in document["fields"][lines]["fields"]] == ["quantity", "price"]


def test_removing_the_last_step_removes_the_chain():
    document = b.remove(FORM, Place("step", 1))
    document = b.remove(document, Place("step", 0))
    assert "approval" not in document
    assert loads(document)


def test_an_item_that_is_gone_is_refused_in_words():
    with pytest.raises(BuilderRefused, match="no longer in the form"):
        b.item(FORM, Place("field", 99))
    with pytest.raises(BuilderRefused, match="not an item of the form"):
        Place.parse("field:x")
    with pytest.raises(BuilderRefused, match="not an item of the form"):
        Place.parse("column:1")


@pytest.mark.parametrize("text", ["form", "chain", "field:3", "column:2:1", "step:0", "rule:4"])
def test_a_place_reads_back_as_written(text):
    assert str(Place.parse(text)) == text


@pytest.mark.parametrize(
    "path, place",
    [
        ("fields[3].label", "field:3"),
        ("fields[2].fields[1].min", "column:2:1"),
        ("approval.steps[1].when", "step:1"),
        ("approval.fallback_group", "chain"),
        ("rules[0].check", "rule:0"),
        ("title", "form"),
        ("", "form"),
    ],
)
def test_a_fault_is_shown_at_the_item_it_is_in(path, place):
    assert str(b.place_of(path)) == place


# -- names and renaming -----------------------------------------------------------------------


def test_renaming_a_field_carries_the_name_everywhere_it_is_used():
    document, updated = b.rename(FORM, Place("field", field_index(FORM, "total")), "grand_total")
    assert document["amount_field"] == "grand_total"
    assert document["fields"][field_index(document, "why")]["required_if"] == "grand_total > 50000"
    assert document["approval"]["steps"][1]["when"] == "grand_total > 25000 and not new_vendor"
    assert len(updated) == 3
    assert loads(document)


def test_renaming_touches_names_only_not_words_in_quotes_or_longer_names():
    source = "total > 1 and 'total' == asset and totals == 2 and sum(lines.total) > total"
    assert (
        b.rename_in_expression(source, "total", "sum_all")
        == "sum_all > 1 and 'total' == asset and totals == 2 and sum(lines.total) > sum_all"
    )


def test_renaming_a_column_carries_into_totals_and_the_rows_own_calculations():
    lines = field_index(FORM, "lines")
    document, updated = b.rename(FORM, Place("column", lines, 1), "unit_price")
    assert document["fields"][lines]["fields"][2]["compute"] == "quantity * unit_price"
    total = document["fields"][field_index(document, "total")]
    assert total["compute"] == "sum(lines.quantity * lines.unit_price)"
    assert updated == ["the calculation of Amount", "the calculation of Total"]
    assert loads(document)


def test_renaming_a_currency_field_carries_into_money_fields():
    document, _ = b.rename(FORM, Place("field", 1), "paid_in")
    lines = document["fields"][field_index(document, "lines")]
    assert {c.get("currency_field") for c in lines["fields"][1:]} == {"paid_in"}
    assert loads(document)


@pytest.mark.parametrize(
    "new, message",
    [
        ("Total", "lower-case letters"),
        ("9lives", "lower-case letters"),
        ("not", "a word of the condition language"),
        ("asset", "already something called 'asset'"),
    ],
)
def test_a_rename_that_cannot_be_is_refused(new, message):
    with pytest.raises(BuilderRefused, match=message):
        b.rename(FORM, Place("field", field_index(FORM, "total")), new)


def test_a_name_published_versions_use_cannot_be_renamed():
    with pytest.raises(BuilderRefused, match="requests already made keep their answers"):
        b.rename(FORM, Place("field", 0), "thing", published=frozenset({"asset"}))


def test_the_name_follows_the_label_while_it_was_made_from_it():
    document, index = b.add_field(FORM, "money")
    document = b.set_label(document, Place("field", index), "Vendor deposit", frozenset())
    assert document["fields"][index]["name"] == "vendor_deposit"
    document = b.set_label(document, Place("field", index), "Deposit", frozenset())
    assert document["fields"][index]["name"] == "deposit"


def test_a_name_chosen_by_hand_or_published_stays_when_the_label_changes():
    document = b.set_label(FORM, Place("field", 0), "Asset bought", frozenset({"asset"}))
    assert document["fields"][0] == {**FORM["fields"][0], "label": "Asset bought"}
    document, _ = b.rename(FORM, Place("field", 0), "thing")
    document = b.set_label(document, Place("field", 0), "Other", frozenset())
    assert document["fields"][0]["name"] == "thing"


def test_a_label_change_that_renames_carries_through_too():
    document = b.set_label(
        FORM, Place("field", field_index(FORM, "new_vendor")), "First order", frozenset()
    )
    assert document["fields"][field_index(document, "tax_id")]["visible_if"] == "first_order"
    assert loads(document)


def test_an_empty_label_is_refused():
    with pytest.raises(BuilderRefused, match="cannot be empty"):
        b.set_label(FORM, Place("field", 0), "  ", frozenset())


def test_setting_a_value_and_clearing_it():
    document = b.set_value(FORM, "field:0", "help", "The thing to buy")
    assert document["fields"][0]["help"] == "The thing to buy"
    assert b.set_value(document, "field:0", "help", "") == FORM
    with pytest.raises(BuilderRefused, match="renaming"):
        b.set_value(FORM, "field:0", "name", "other")
    with pytest.raises(BuilderRefused, match="cannot change"):
        b.set_value(FORM, "field:0", "type", "email")


# -- conditions -------------------------------------------------------------------------------

PICKED = [
    ([[Condition("new_vendor", "ticked")]], "new_vendor"),
    ([[Condition("new_vendor", "not_ticked")]], "not new_vendor"),
    ([[Condition("total", "more", "25000")]], "total > 25000"),
    ([[Condition("total", "at_least", "0.5")]], "total >= 0.5"),
    ([[Condition("total", "less", "100")]], "total < 100"),
    ([[Condition("total", "at_most", "-3")]], "total <= -3"),
    ([[Condition("currency", "is", "EUR")]], "currency == 'EUR'"),
    ([[Condition("currency", "is_not", "USD")]], "currency != 'USD'"),
    ([[Condition("currency", "one_of", "EUR, USD")]], "currency in ['EUR', 'USD']"),
    ([[Condition("tags", "includes", "it")]], "'it' in tags"),
    ([[Condition("asset", "is", "It's")]], "asset == 'It\\'s'"),
    ([[Condition("asset", "empty")]], "asset == null"),
    ([[Condition("asset", "filled")]], "asset != null"),
    (
        [[Condition("total", "more", "25000"), Condition("new_vendor", "not_ticked")]],
        "total > 25000 and not new_vendor",
    ),
    (
        [[Condition("new_vendor", "ticked")], [Condition("total", "more", "1")]],
        "new_vendor or total > 1",
    ),
    (
        [
            [Condition("new_vendor", "ticked"), Condition("total", "more", "1")],
            [Condition("currency", "is", "USD")],
        ],
        "(new_vendor and total > 1) or currency == 'USD'",
    ),
]


@pytest.mark.parametrize("groups, source", PICKED, ids=[source for _, source in PICKED])
def test_a_picked_condition_is_the_expression_the_json_uses_and_reads_back(groups, source):
    assert b.condition_source(groups, FORM) == source
    assert b.picked(source, FORM) == groups
    assert loads(b.set_value(FORM, WHY, "visible_if", source))


@pytest.mark.parametrize(
    "source",
    [
        "total>25000",  # the same meaning, spelt otherwise: kept as written
        "total > 1 + 2",
        "len(asset) > 3",
        "new_vendor and (total > 1 or total < 0)",
        "any(lines.quantity > 3)",
        "total > invoice_date",
        "unknown_field == 'x'",
        "total > ",
    ],
)
def test_an_expression_with_no_picker_is_left_to_the_json(source):
    assert b.picked(source, FORM) is None
    assert b.condition_words(source, FORM) == f"“{source}”"


def test_a_number_is_read_from_how_people_write_it():
    groups = [[Condition("total", "more", "25,000")]]
    assert b.condition_source(groups, FORM) == "total > 25000"


@pytest.mark.parametrize(
    "condition, message",
    [
        (Condition("nothing", "is", "x"), "there is no 'nothing'"),
        (Condition("new_vendor", "more", "3"), "cannot be compared that way"),
        (Condition("total", "more", "lots"), "is not a number"),
        (Condition("total", "more", ""), "give the value"),
        (Condition("currency", "one_of", " , "), "list the values"),
    ],
)
def test_a_condition_that_cannot_be_written_is_refused_in_words(condition, message):
    with pytest.raises(BuilderRefused, match=message):
        b.condition_source([[condition]], FORM)


def test_a_choice_can_be_picked_by_its_label():
    assert b.condition_source([[Condition("currency", "is", "Dollar")]], FORM) == (
        "currency == 'USD'"
    )


@pytest.mark.parametrize(
    "source, words",
    [
        ("new_vendor", "New vendor is ticked"),
        (
            "total > 25000 and not new_vendor",
            "Total is more than 25,000 and New vendor is not ticked",
        ),
        ("currency in ['EUR', 'USD']", "Currency is one of Euro or Dollar"),
        ("new_vendor or total >= 1", "New vendor is ticked or Total is at least 1"),
        ("asset == 'X'", "Asset is “X”"),
    ],
)
def test_a_condition_in_words(source, words):
    assert b.condition_words(source, FORM) == words


def test_a_money_amount_in_words_carries_its_currency():
    document = copy.deepcopy(FORM)
    document["fields"][field_index(FORM, "total")] = {
        "type": "money",
        "name": "total",
        "label": "Total",
        "currency": "EUR",
    }
    assert b.condition_words("total > 25000", document) == "Total is more than EUR 25,000"


_FIELDS = {f["name"]: f for f in FORM["fields"]}
_lines = st.one_of(
    st.builds(Condition, st.just("new_vendor"), st.sampled_from(["ticked", "not_ticked"])),
    st.builds(
        Condition,
        st.just("total"),
        st.sampled_from(["more", "at_least", "less", "at_most", "is", "is_not"]),
        st.integers(-(10**9), 10**9).map(str),
    ),
    st.builds(Condition, st.just("currency"), st.sampled_from(["is", "is_not"]), st.just("EUR")),
    st.builds(
        Condition,
        st.just("asset"),
        st.sampled_from(["is", "is_not"]),
        st.text(
            st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=8
        ).filter(lambda t: t.strip() == t and t.strip()),
    ),
    st.builds(Condition, st.just("asset"), st.sampled_from(["empty", "filled"])),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(_lines, min_size=1, max_size=3), min_size=1, max_size=3))
def test_any_picked_condition_reads_back_as_picked_and_passes_the_checks(groups):
    source = b.condition_source(groups, FORM)
    assert b.picked(source, FORM) == groups
    assert loads(b.set_value(FORM, WHY, "visible_if", source))


def test_the_operators_offered_suit_the_field():
    assert [op.key for op in b.operators_for("boolean")] == ["ticked", "not_ticked"]
    assert "includes" in [op.key for op in b.operators_for("multi_select")]
    assert "more" not in [op.key for op in b.operators_for("text")]
    assert b.operators_for("line_items") == ()


# -- the condition operation, as the page posts it ---------------------------------------------


def posted(**values) -> dict[str, list[str]]:
    return {
        key.replace("__", "."): value if isinstance(value, list) else [value]
        for key, value in values.items()
    }


def test_the_condition_picker_writes_the_expression():
    values = {
        "selected": ["field:0"],
        "key": ["visible_if"],
        "c.visible_if.field": ["total", "new_vendor"],
        "c.visible_if.op": ["more", "ticked"],
        "c.visible_if.value": ["1000", ""],
        "c.visible_if.group": ["0", "1"],
    }
    applied = b.apply(FORM, "condition", values)
    assert applied.document["fields"][0]["visible_if"] == "total > 1000 or new_vendor"


def test_choosing_another_field_gives_a_comparison_that_suits_it():
    values = {
        "selected": ["field:0"],
        "key": ["visible_if"],
        "c.visible_if.field": ["new_vendor"],
        "c.visible_if.op": ["more"],
        "c.visible_if.value": ["0"],
    }
    applied = b.apply(FORM, "condition", values)
    assert applied.document["fields"][0]["visible_if"] == "new_vendor"


def test_a_new_condition_starts_from_a_field_it_can_compare_and_drops_the_last_line():
    values = {"selected": ["field:0"], "key": ["required_if"], "add": ["line"]}
    applied = b.apply(FORM, "condition", values)
    assert applied.document["fields"][0]["required_if"] == "new_vendor"
    assert "required" not in applied.document["fields"][0]  # required only when ...
    values = {
        "selected": ["field:0"],
        "key": ["required_if"],
        "c.required_if.field": ["new_vendor"],
        "c.required_if.op": ["ticked"],
        "c.required_if.value": [""],
        "drop": ["0"],
    }
    assert "required_if" not in b.apply(applied.document, "condition", values).document["fields"][0]


def test_a_refused_operation_leaves_the_document_as_it_was():
    before = copy.deepcopy(FORM)
    with pytest.raises(BuilderRefused):
        b.apply(FORM, "remove", {"target": ["field:4"]})
    with pytest.raises(BuilderRefused, match="no operation"):
        b.apply(FORM, "explode", {})
    assert FORM == before


# -- totals, choices, rules, who decides, timing ------------------------------------------------


@pytest.mark.parametrize(
    "total, source",
    [
        (b.Total("lines", "quantity", "price"), "sum(lines.quantity * lines.price)"),
        (b.Total("lines", "amount"), "sum(lines.amount)"),
    ],
)
def test_a_total_picked_from_lists(total, source):
    assert total.source() == source
    assert b.picked_total(source) == total


@pytest.mark.parametrize("source", ["sum(lines.a * other.b)", "quantity * price", "sum(lines.a)+1"])
def test_another_formula_is_no_total(source):
    assert b.picked_total(source) is None


def test_the_total_operation_picks_the_first_table_and_number_column():
    document, index = b.add_field(FORM, "money")
    applied = b.apply(document, "total", {"selected": [f"field:{index}"], "mode": ["sum"]})
    assert applied.document["fields"][index]["compute"] == "sum(lines.quantity)"
    values = {"selected": [f"field:{index}"], "mode": ["sum"], "table": ["lines"]}
    values |= {"column": ["quantity"], "times": ["price"]}
    applied = b.apply(document, "total", values)
    assert applied.document["fields"][index]["compute"] == "sum(lines.quantity * lines.price)"
    off = b.apply(applied.document, "total", {"selected": [f"field:{index}"], "mode": ["none"]})
    assert "compute" not in off.document["fields"][index]


def test_choices_are_edited_added_moved_and_removed():
    values = {
        "selected": ["field:1"],
        "choice_label": ["Euro", "Pound"],
        "choice_value": ["EUR", ""],
    }
    applied = b.apply(FORM, "choices", values)
    assert applied.document["fields"][1]["choices"] == [
        {"value": "EUR", "label": "Euro"},
        {"value": "pound", "label": "Pound"},
    ]
    added = b.apply(FORM, "choices", {**values, "action": ["add"]}).document["fields"][1]
    assert added["choices"][-1] == {"value": "option_3", "label": "Option 3"}
    moved = b.apply(FORM, "choices", {**values, "action": ["up"], "at": ["1"]})
    assert [c["label"] for c in moved.document["fields"][1]["choices"]] == ["Pound", "Euro"]
    with pytest.raises(BuilderRefused, match="at least one choice"):
        b.apply(FORM, "choices", {"selected": ["field:1"], "choice_label": [""]})


def test_a_rule_picked_from_lists_and_its_message():
    document, index = b.add_rule(FORM)
    values = {
        "selected": [f"rule:{index}"],
        "rule_field": ["due_date"],
        "rule_op": [">="],
        "rule_other": ["invoice_date"],
    }
    applied = b.apply(document, "rule", values)
    rule = applied.document["rules"][index]
    assert rule == {
        "check": "due_date >= invoice_date",
        "message": "Payment due must be on or after Invoice date",
        "field": "due_date",
    }
    assert b.picked_rule(rule["check"], FORM) == b.Comparison("due_date", ">=", "invoice_date")
    assert b.picked_rule("due_date >= invoice_date + 1", FORM) is None
    assert loads(applied.document)


def test_a_rule_needs_two_fields_to_compare():
    with pytest.raises(BuilderRefused, match="compares two fields"):
        b.add_rule({"title": "T", "fields": [{"type": "text", "name": "a", "label": "A"}]})


@pytest.mark.parametrize(
    "kind, detail, pick, assignee",
    [
        ("manager", "2", "", {"manager": 2}),
        ("group", "Legal", "round_robin", {"group": "legal", "pick": "round_robin"}),
        ("group", "board", "all", {"group": "board"}),
        ("user", "Fiona@Example.com", "", {"user": "fiona@example.com"}),
    ],
)
def test_who_decides_is_picked(kind, detail, pick, assignee):
    values = {"selected": ["step:1"], "who_kind": [kind], "who_detail": [detail]}
    values["who_pick"] = [pick]
    chosen = b.apply(FORM, "who", values).document  # the kind first, as the page does
    applied = b.apply(chosen, "who", values)
    assert applied.document["approval"]["steps"][1]["assignees"] == [assignee]


def test_choosing_another_kind_of_approver_starts_it_afresh():
    values = {"selected": ["step:0"], "who_kind": ["group"], "who_detail": ["1"]}
    applied = b.apply(FORM, "who", values)
    assert applied.document["approval"]["steps"][0]["assignees"] == [{"group": ""}]


@pytest.mark.parametrize(
    "policy, quorum, expected",
    [("quorum", "2", {"quorum": 2}), ("any", "", None), ("all", "", "all")],
)
def test_how_many_must_approve(policy, quorum, expected):
    values = {"selected": ["step:1"], "policy": [policy], "quorum": [quorum]}
    step = b.apply(FORM, "policy", values).document["approval"]["steps"][1]
    assert step.get("policy") == expected


def test_a_quorum_must_be_a_whole_number():
    with pytest.raises(BuilderRefused, match="whole number"):
        b.apply(FORM, "policy", {"selected": ["step:1"], "policy": ["quorum"], "quorum": ["two"]})


def test_deadline_reminders_escalation_and_timeout_in_words_become_the_json():
    values = posted(
        selected="step:1",
        due_n="3",
        due_unit="bd",
        remind="at",
        remind_at="50",
        escalate="group",
        escalate_detail="CFO",
        escalate_mode="move",
        escalate_after_n="1",
        escalate_after_unit="d",
        timeout="reject",
        timeout_after_n="10",
        timeout_after_unit="d",
    )
    step = b.apply(FORM, "timing", values).document["approval"]["steps"][1]
    assert step["due"] == "3bd"
    assert step["remind"] == {"at": "50%"}
    assert step["escalate"] == {"to": {"group": "cfo"}, "mode": "move", "after": "1d"}
    assert step["on_timeout"] == {"action": "reject", "after": "10d"}
    assert loads(b.apply(FORM, "timing", values).document)
    cleared = b.apply(FORM, "timing", posted(selected="step:1", due_n="")).document
    assert cleared == FORM


def test_durations_in_words():
    assert b.split_duration("3bd") == ("3", "bd")
    assert b.duration_words("48h") == "48 hours"
    assert b.split_duration("soon") == ("", "d")


@pytest.mark.parametrize(
    "assignee, words",
    [
        ({"manager": 1}, "the submitter's manager"),
        ({"manager": 2}, "the submitter's manager's manager"),
        ({"group": "cfo"}, "group cfo (everyone in the group)"),
        ({"group": "it", "pick": "fewest_open"}, "group it (whoever has fewest open)"),
        ({"user": "a@b.c"}, "a@b.c"),
        ({"field": "asset"}, "the person named in Asset"),
    ],
)
def test_who_decides_in_words(assignee, words):
    assert b.assignee_words(assignee, FORM) == words


# -- what changed, in words -------------------------------------------------------------------


def test_the_changes_between_two_versions_in_words():
    newer = copy.deepcopy(FORM)
    newer["fields"].append(
        {
            "type": "text",
            "name": "vendor_vat_id",
            "label": "Vendor VAT ID",
            "visible_if": "new_vendor",
        }
    )
    newer["approval"]["steps"][1]["when"] = "total > 30000 and not new_vendor"
    newer["fields"][0]["required"] = False
    newer["approval"]["steps"].append(
        {"name": "legal", "title": "Legal", "assignees": [{"group": "legal"}], "when": "new_vendor"}
    )
    assert b.changes_in_words(FORM, newer) == [
        "Added field Vendor VAT ID (Short text), shown when New vendor is ticked",
        "Asset: no longer required",
        "Added step Legal, decided by group legal (everyone in the group), only when New vendor"
        " is ticked",
        "CFO approval now only when Total is more than 30,000 and New vendor is not ticked",
    ]


def test_nothing_changed_says_nothing_and_a_first_version_lists_its_fields():
    assert b.changes_in_words(FORM, copy.deepcopy(FORM)) == []
    first = b.changes_in_words(None, FORM)
    assert "Added field Asset (Short text)" in first
    assert "Added an approval chain" in first


def test_removed_and_reordered_fields_and_steps_in_words():
    newer = b.remove(FORM, Place("field", field_index(FORM, "tags")))
    newer, _ = b.move(newer, Place("step", 1), 0)
    said = b.changes_in_words(FORM, newer)
    assert "Removed field Tags" in said
    assert "Steps in a new order: CFO approval, Manager" in said


# -- writing the document -----------------------------------------------------------------------


def test_numbers_are_written_exactly_as_they_were_read():
    text = (
        '{"title": "T", "fields": [{"type": "decimal", "name": "x", "label": "X",'
        ' "min": 0.10, "max": 1000000.25}]}'
    )
    document = decode(text)
    written = b.write(document)
    assert '"min": 0.10' in written and '"max": 1000000.25' in written
    assert decode(written) == document
    assert isinstance(decode(written)["fields"][0]["min"], Decimal)


def test_the_number_mark_is_never_confused_with_text():
    document = {"title": "\u0000number:5", "fields": []}
    assert json.loads(b.write(document))["title"] == "\u0000number:5"


@pytest.mark.parametrize(
    "path, message, words",
    [
        ("fields", "[] should be non-empty", "the form has no fields yet"),
        ("fields[0].label", "'' should be non-empty", "cannot be empty"),
        ("fields[0].max_length", "0 is less than the minimum of 1", "must be at least 1"),
        ("fields[0].name", "something else", "something else"),
    ],
)
def test_a_fault_in_words(path, message, words):
    assert b.fault_words(path, message).startswith(words)


def test_a_document_the_checks_refuse_is_still_edited_as_far_as_it_goes():
    broken = {"title": "T", "fields": [{"type": "text", "name": "x"}]}  # no label
    with pytest.raises(SchemaInvalid):
        loads(broken)
    document, _ = b.add_field(broken, "date")
    assert document["fields"][0] == {"type": "text", "name": "x"}
