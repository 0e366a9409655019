"""The form builder's rules: point-and-choose operations on a form schema document.

The schema JSON stays the one source of truth. Every operation here takes the decoded document
(a dict, as `schema.decode` returns it) and gives back a changed copy, never touching what it
does not change, so a part the builder has no picker for is kept exactly as it was written.
Conditions picked from lists become the same expression strings the JSON uses, and an
expression is read back into a picker when it has one of the shapes the picker makes; anything
else is shown as "edited as JSON" and left alone.

    document = {"title": "Capital expense", "fields": []}
    document, index = add_field(document, "money")      # "Amount of money" at the end
    document = set_value(document, f"field:{index}", "label", "Amount")
    condition_source([[Condition("amount", "more", "50000")]], document)  # 'amount > 50000'
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from portal.domain import expressions
from portal.domain.expressions import Binary, Call, ExpressionError, ListOf, Literal, Name, Unary
from portal.domain.refusal import Refused

#: Names the expression language keeps for itself; a field cannot be called one of these.
RESERVED = expressions.KEYWORDS | frozenset(expressions.FUNCTIONS)
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,62}")
DEFAULT_CURRENCY = "EUR"
DEFAULT_FALLBACK_GROUP = "admin"


class BuilderRefused(Refused):
    """An operation the builder will not do (a rename that clashes, removing a used field ...)."""


# -- the palette ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldType:
    """One entry of the palette: a field type with the name a person would give it."""

    kind: str
    name: str
    hint: str
    column: bool = False  # offered as a column of a table of lines too


PALETTE: tuple[FieldType, ...] = (
    FieldType("text", "Short text", "a name, a reference, one line", column=True),
    FieldType("textarea", "Long text", "a reason or a description, several lines"),
    FieldType("email", "Email address", "checked to look like one"),
    FieldType("integer", "Whole number", "a count, a quantity", column=True),
    FieldType("decimal", "Number with decimals", "a rate, a measure", column=True),
    FieldType("money", "Amount of money", "an amount in a currency", column=True),
    FieldType("date", "Date", "picked from a calendar", column=True),
    FieldType("select", "Drop-down list", "one choice from a list", column=True),
    FieldType("radio", "Option buttons", "one choice, every option visible"),
    FieldType("multi_select", "Tick several", "any number of choices from a list"),
    FieldType("boolean", "Yes/no tick box", "ticked or not", column=True),
    FieldType("file", "File", "an attached document or picture"),
    FieldType("line_items", "Table of lines", "rows of items, such as quantity and price"),
    FieldType("section", "Section heading", "a heading that groups the fields below it"),
    FieldType("help", "Help text", "a paragraph of guidance, no answer"),
)
_TYPES = {entry.kind: entry for entry in PALETTE}
COLUMN_KINDS = tuple(entry.kind for entry in PALETTE if entry.column)
NUMBER_KINDS = frozenset({"integer", "decimal", "money"})
CHOICE_KINDS = frozenset({"select", "radio", "multi_select"})
FILE_KINDS = ("pdf", "png", "jpeg", "gif", "webp", "csv", "txt", "docx", "xlsx")


def type_name(kind: str) -> str:
    """The palette's name for a field type ("Amount of money"), or the type itself."""
    entry = _TYPES.get(kind)
    return entry.name if entry else str(kind)


# -- reading and writing the document ----------------------------------------------------------


def write(document: dict) -> str:
    """The document as indented JSON; numbers read as Decimal are written exactly as read."""
    token = secrets.token_hex(8)  # a mark no text in the document can contain by chance

    def mark(value):
        if isinstance(value, Decimal):
            return f"\u0000{token}:{value}"
        if isinstance(value, dict):
            return {key: mark(item) for key, item in value.items()}
        if isinstance(value, list):
            return [mark(item) for item in value]
        return value

    text = json.dumps(mark(document), indent=2, ensure_ascii=False)
    return re.sub(rf'"\\u0000{token}:(-?[0-9.Ee+-]+)"', r"\1", text) + "\n"


def name_from_label(label: str, taken: set[str] | frozenset[str] = frozenset()) -> str:
    """A field or step name from its label: "Vendor VAT ID" -> vendor_vat_id, unique in `taken`."""
    ascii_text = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")[:50].strip("_")
    if not base or not base[0].isalpha():
        base = f"field_{base}" if base else "field"
    if base in RESERVED:
        base = f"{base}_field"
    name, number = base, 2
    while name in taken:
        name, number = f"{base}_{number}", number + 1
    return name


def field_names(document: dict) -> set[str]:
    """Every top-level field name in the document."""
    return {f["name"] for f in _list(document, "fields") if isinstance(f.get("name"), str)}


def _list(container: object, key: str) -> list:
    """container[key] when it is a list of objects; an empty list for anything else."""
    value = container.get(key) if isinstance(container, dict) else None
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


# -- where an item is --------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    """An item of the document: the form, a field, a column, a choice, a step, a rule, the chain.

    Written as text in pages and requests: "form", "field:3", "column:3:1", "step:2", "rule:0",
    "chain".
    """

    kind: str
    index: int = -1
    sub: int = -1

    @classmethod
    def parse(cls, text: str) -> Place:
        """Read "field:3" and its kind; refused when it is not the name of an item."""
        kind, _, rest = (text or "form").partition(":")
        numbers = rest.split(":") if rest else []
        if kind not in ("form", "chain", "field", "column", "step", "rule") or not all(
            n.isdigit() for n in numbers
        ):
            raise BuilderRefused(f"{text!r} is not an item of the form")
        wanted = {"form": 0, "chain": 0, "field": 1, "step": 1, "rule": 1, "column": 2}[kind]
        if len(numbers) != wanted:
            raise BuilderRefused(f"{text!r} is not an item of the form")
        values = [int(n) for n in numbers] + [-1, -1]
        return cls(kind, values[0], values[1])

    def __str__(self) -> str:
        if self.kind in ("form", "chain"):
            return self.kind
        if self.kind == "column":
            return f"column:{self.index}:{self.sub}"
        return f"{self.kind}:{self.index}"

    @property
    def path(self) -> str:
        """The JSON path the schema's checks use for this item ("fields[3].fields[1]")."""
        return {
            "form": "",
            "chain": "approval",
            "field": f"fields[{self.index}]",
            "column": f"fields[{self.index}].fields[{self.sub}]",
            "step": f"approval.steps[{self.index}]",
            "rule": f"rules[{self.index}]",
        }[self.kind]


def item(document: dict, place: Place | str) -> dict:
    """The object at `place`; refused if the document has no such item."""
    place = Place.parse(place) if isinstance(place, str) else place
    if place.kind == "form":
        return document
    if place.kind == "chain":
        chain = document.get("approval")
        if not isinstance(chain, dict):
            raise BuilderRefused("this form has no approval chain yet: add a step first")
        return chain
    owner, key, index = _owner(document, place)
    items = owner.get(key) if isinstance(owner, dict) else None
    if not isinstance(items, list) or not 0 <= index < len(items):
        raise BuilderRefused("that item is no longer in the form; it may have been removed")
    found = items[index]
    if not isinstance(found, dict):
        raise BuilderRefused("that item is not an object in the JSON; edit it in the JSON tab")
    return found


def _owner(document: dict, place: Place) -> tuple[object, str, int]:
    """The object holding the list `place` is in, the list's key and the index in it."""
    if place.kind == "field":
        return document, "fields", place.index
    if place.kind == "column":
        return item(document, Place("field", place.index)), "fields", place.sub
    if place.kind == "step":
        return document.get("approval"), "steps", place.index
    if place.kind == "rule":
        return document, "rules", place.index
    raise BuilderRefused(f"{place} is not in a list")


def _items(document: dict, place: Place) -> list:
    owner, key, _ = _owner(document, place)
    items = owner.get(key) if isinstance(owner, dict) else None
    if not isinstance(items, list):
        raise BuilderRefused("that list is not in the form")
    return items


# -- adding, moving, duplicating, removing ------------------------------------------------------


def new_field(kind: str, taken: set[str], label: str | None = None) -> dict:
    """A field of `kind` that passes every check, named after its label."""
    if kind not in _TYPES:
        raise BuilderRefused(f"{kind!r} is not a kind of field the builder offers")
    label = label or type_name(kind)
    if kind == "section":
        return {"type": "section", "title": label}
    if kind == "help":
        return {"type": "help", "text": "Guidance for the person filling in the form."}
    made: dict = {"type": kind, "name": name_from_label(label, taken), "label": label}
    if kind == "money":
        made["currency"] = DEFAULT_CURRENCY
    elif kind in CHOICE_KINDS:
        made["choices"] = [
            {"value": "option_1", "label": "Option 1"},
            {"value": "option_2", "label": "Option 2"},
        ]
    elif kind == "file":
        made["accept"] = ["pdf"]
    elif kind == "line_items":
        made["fields"] = [{"type": "text", "name": "item", "label": "Item"}]
    return made


def add_field(document: dict, kind: str, at: int | None = None) -> tuple[dict, int]:
    """Add a field of `kind` at position `at` (the end when None); the new copy and its index."""
    changed = copy.deepcopy(document)
    fields = changed.setdefault("fields", [])
    if not isinstance(fields, list):
        raise BuilderRefused("the form's fields are not a list in the JSON; fix it there first")
    at = len(fields) if at is None else max(0, min(at, len(fields)))
    fields.insert(at, new_field(kind, field_names(changed)))
    return changed, at


def add_column(document: dict, table: int, kind: str) -> tuple[dict, int]:
    """Add a column of `kind` at the end of the table of lines at field index `table`."""
    if kind not in COLUMN_KINDS:
        raise BuilderRefused(f"a table of lines cannot have a column of {type_name(kind)}")
    changed = copy.deepcopy(document)
    owner = item(changed, Place("field", table))
    if owner.get("type") != "line_items":
        raise BuilderRefused("only a table of lines has columns")
    columns = owner.setdefault("fields", [])
    taken = {c.get("name") for c in _list(owner, "fields")}
    columns.append(new_field(kind, taken))
    return changed, len(columns) - 1


def add_step(document: dict, at: int | None = None) -> tuple[dict, int]:
    """Add an approval step (the submitter's manager decides) at `at`, making a chain if none."""
    changed = copy.deepcopy(document)
    chain = changed.get("approval")
    if not isinstance(chain, dict):
        chain = changed["approval"] = {"fallback_group": DEFAULT_FALLBACK_GROUP, "steps": []}
    steps = chain.setdefault("steps", [])
    taken = {s.get("name") for s in _list(chain, "steps")}
    at = len(steps) if at is None else max(0, min(at, len(steps)))
    title = f"Approval {len(steps) + 1}"
    steps.insert(
        at, {"name": name_from_label(title, taken), "title": title, "assignees": [{"manager": 1}]}
    )
    return changed, at


def add_rule(document: dict) -> tuple[dict, int]:
    """Add a cross-field rule comparing the first two fields that can be compared."""
    changed = copy.deepcopy(document)
    comparable = [f for f in _list(changed, "fields") if f.get("type") in NUMBER_KINDS | {"date"}]
    if len(comparable) < 2:
        raise BuilderRefused(
            "a rule compares two fields of the same kind (two dates, two amounts): add them first"
        )
    first = next(
        (
            (a, b)
            for a in comparable
            for b in comparable
            if a is not b and _comparable(a.get("type"), b.get("type"))
        ),
        None,
    )
    if first is None:
        raise BuilderRefused("no two fields of the same kind to compare: add them first")
    a, b = first
    rule = {
        "check": f"{a['name']} >= {b['name']}",
        "message": f"{a.get('label', a['name'])} must be at least {b.get('label', b['name'])}",
        "field": a["name"],
    }
    changed.setdefault("rules", []).append(rule)
    return changed, len(changed["rules"]) - 1


def _comparable(one: str | None, other: str | None) -> bool:
    return (one in NUMBER_KINDS and other in NUMBER_KINDS) or (one == other == "date")


def move(document: dict, place: Place, to: int) -> tuple[dict, int]:
    """Move the item at `place` to position `to` of its list; the new copy and its new index."""
    changed = copy.deepcopy(document)
    items = _items(changed, place)
    index = place.sub if place.kind == "column" else place.index
    if not 0 <= index < len(items):
        raise BuilderRefused("that item is no longer in the form; it may have been removed")
    to = max(0, min(to, len(items) - 1))
    items.insert(to, items.pop(index))
    return changed, to


def duplicate(document: dict, place: Place) -> tuple[dict, int]:
    """A copy of the item just after it, with a new name (and label) so both can exist."""
    changed = copy.deepcopy(document)
    original = item(changed, place)
    items = _items(changed, place)
    twin = copy.deepcopy(original)
    taken = {i.get("name") for i in items if isinstance(i, dict)}
    if place.kind == "field":
        taken = field_names(changed)
    words_key = "title" if place.kind == "step" or "title" in twin else "label"
    if isinstance(twin.get(words_key), str):
        twin[words_key] = f"{twin[words_key]} (copy)"[:200]
    if "name" in twin:
        twin["name"] = name_from_label(str(twin.get(words_key) or twin["name"]), taken)
    index = (place.sub if place.kind == "column" else place.index) + 1
    items.insert(index, twin)
    return changed, index


def remove(document: dict, place: Place) -> dict:
    """Remove the item at `place`; refused, saying where, while anything else uses it."""
    changed = copy.deepcopy(document)
    found = item(changed, place)
    name = found.get("name")
    if place.kind in ("field", "column") and isinstance(name, str):
        table = None
        if place.kind == "column":
            table = item(changed, Place("field", place.index)).get("name")
        users = usages(changed, name, table)
        if users:
            what = label_of(found)
            raise BuilderRefused(
                f"{what} is used by {_and_list(users)}: change or remove those first"
            )
    if (
        place.kind == "column"
        and len(_list(item(changed, Place("field", place.index)), "fields")) <= 1
    ):
        raise BuilderRefused("a table of lines needs at least one column")
    items = _items(changed, place)
    items.pop(place.sub if place.kind == "column" else place.index)
    if place.kind == "step" and not items:
        del changed["approval"]  # no steps: no chain, requests are approved when submitted
    return changed


# -- setting properties -------------------------------------------------------------------------


def set_value(document: dict, place: Place | str, key: str, value: object) -> dict:
    """Set one key of an item; None (or "") removes it. Names go through `rename`."""
    place = Place.parse(place) if isinstance(place, str) else place
    if key == "name" and place.kind in ("field", "column", "step"):
        raise BuilderRefused("a name is changed by renaming, which also updates what uses it")
    if key == "type":
        raise BuilderRefused("a field's kind cannot change: add a new field instead")
    changed = copy.deepcopy(document)
    target = item(changed, place)
    if value is None or value == "":
        target.pop(key, None)
    else:
        target[key] = value
    return changed


def set_label(document: dict, place: Place, label: str, published: frozenset[str]) -> dict:
    """Change a field's label (a step's title); its name follows while it was made from it.

    The name follows only while nobody chose it by hand (it equals the name the old label
    gives) and no published version uses it; everything that uses it follows too.
    """
    label = label.strip()
    if not label:
        raise BuilderRefused("a label cannot be empty: people read it on the form")
    words_key = "title" if place.kind == "step" else "label"
    found = item(document, place)
    if found.get("type") == "section":
        words_key = "title"
    changed = set_value(document, place, words_key, label)
    old_name = found.get("name")
    old_words = found.get(words_key)
    if not isinstance(old_name, str) or not isinstance(old_words, str):
        return changed
    taken = _names_beside(changed, place) - {old_name}
    if old_name in published or old_name != name_from_label(old_words, taken):
        return changed
    new_name = name_from_label(label, taken)
    if new_name == old_name:
        return changed
    return rename(changed, place, new_name, published)[0]


def _names_beside(document: dict, place: Place) -> set[str]:
    """Names an item at `place` must differ from."""
    if place.kind == "field":
        return field_names(document)
    if place.kind == "column":
        table = item(document, Place("field", place.index))
        return {c.get("name") for c in _list(table, "fields")}
    if place.kind == "step":
        return {s.get("name") for s in _list(document.get("approval"), "steps")}
    return set()


def rename(
    document: dict, place: Place, new_name: str, published: frozenset[str] = frozenset()
) -> tuple[dict, list[str]]:
    """Rename a field, column or step and carry the new name into everything that uses it.

    Refused when the name is not usable, is taken, or names answers that published versions
    already store (requests made with them would lose the link to their answers). Returns the
    new copy and, in words, what was updated.
    """
    found = item(document, place)
    old = found.get("name")
    if not isinstance(old, str):
        raise BuilderRefused("this item has no name to change")
    if new_name == old:
        return document, []
    if not NAME_PATTERN.fullmatch(new_name):
        raise BuilderRefused(
            "a name uses lower-case letters, digits and _ only, starting with a letter"
        )
    if new_name in RESERVED:
        raise BuilderRefused(f"{new_name!r} is a word of the condition language: choose another")
    if new_name in _names_beside(document, place):
        raise BuilderRefused(f"there is already something called {new_name!r}: choose another")
    if place.kind in ("field", "column") and old in published:
        raise BuilderRefused(
            f"requests already made keep their answers under {old!r}, so it cannot be renamed; "
            "add a new field instead if the meaning changed"
        )
    changed = copy.deepcopy(document)
    item(changed, place)["name"] = new_name
    if place.kind == "step":
        return changed, []
    table = (
        item(changed, Place("field", place.index)).get("name") if place.kind == "column" else None
    )
    updated = _carry(changed, old, new_name, table)
    return changed, updated


def _carry(document: dict, old: str, new: str, table: str | None) -> list[str]:
    """Replace the name `old` by `new` everywhere in `document` (in place); what was updated."""
    updated: list[str] = []
    for owner, key, where in _expressions(document):
        row = _row_of(document, owner)
        rewritten = rename_in_expression(owner[key], old, new, table, row, _columns(document, row))
        if rewritten != owner[key]:
            owner[key] = rewritten
            updated.append(where)
    for owner, key, where in _name_references(document, table):
        value = owner[key]
        if value == old:
            owner[key] = new
            updated.append(where)
        elif isinstance(value, list) and old in value:
            owner[key] = [new if v == old else v for v in value]
            updated.append(where)
    return updated


def _columns(document: dict, table: str | None) -> frozenset[str]:
    """The column names of the table of lines called `table` (none for None)."""
    for spec in _list(document, "fields"):
        if table is not None and spec.get("name") == table:
            return frozenset(c.get("name") for c in _list(spec, "fields"))
    return frozenset()


def _row_of(document: dict, owner: dict) -> str | None:
    """The table whose rows an expression of `owner` (a column) is evaluated in, or None."""
    for table in _list(document, "fields"):
        if any(column is owner for column in _list(table, "fields")):
            return table.get("name")
    return None


def _name_references(document: dict, table: str | None) -> Iterator[tuple[dict, str, str]]:
    """Keys that hold a field name (not an expression), with where they are in words."""
    if table is not None:
        return
    yield from ((document, key, words) for key, words in _TOP_NAMES.items() if key in document)
    for spec in _list(document, "fields"):
        for holder in [spec, *_list(spec, "fields")]:
            if "currency_field" in holder:
                yield holder, "currency_field", f"the currency of {label_of(holder)}"
    for rule in _list(document, "rules"):
        if "field" in rule:
            yield rule, "field", f"where the rule “{rule.get('message', '')}” shows"
    for step in _list(document.get("approval"), "steps"):
        for assignee in _list(step, "assignees"):
            if "field" in assignee:
                yield assignee, "field", f"who decides {step_title(step)}"
            lookup = assignee.get("lookup")
            if isinstance(lookup, dict) and "field" in lookup:
                yield lookup, "field", f"who decides {step_title(step)}"


_TOP_NAMES = {"amount_field": "the amount shown in lists", "summary_fields": "the summary"}
_EXPRESSION_KEYS = ("visible_if", "required_if", "compute")


def _expressions(document: dict) -> Iterator[tuple[dict, str, str]]:
    """Every expression in the document: its holder, key and where it is, in words."""
    for spec in _list(document, "fields"):
        for holder in [spec, *_list(spec, "fields")]:
            for key in _EXPRESSION_KEYS:
                if isinstance(holder.get(key), str):
                    yield holder, key, f"{_KEY_WORDS[key]} {label_of(holder)}"
    for rule in _list(document, "rules"):
        if isinstance(rule.get("check"), str):
            yield rule, "check", f"the rule “{rule.get('message', '')}”"
    for step in _list(document.get("approval"), "steps"):
        for key in ("when", "auto_approve_if"):
            if isinstance(step.get(key), str):
                yield step, key, f"{_KEY_WORDS[key]} {step_title(step)}"


_KEY_WORDS = {
    "visible_if": "when to show",
    "required_if": "when to require",
    "compute": "the calculation of",
    "when": "when to ask for",
    "auto_approve_if": "the automatic approval of",
}


def usages(document: dict, name: str, table: str | None = None) -> list[str]:
    """Where `name` (a field, or a column of `table`) is used, in words."""
    found = []
    for owner, key, where in _expressions(document):
        try:
            parsed = expressions.parse(owner[key])
        except ExpressionError:
            continue
        row = _row_of(document, owner)
        columns = _columns(document, row)
        if any(_refers(node, name, table, row, columns) for node in _walk(parsed.tree)):
            found.append(where)
    for owner, key, where in _name_references(document, table):
        value = owner[key]
        if value == name or (isinstance(value, list) and name in value):
            found.append(where)
    return found


def _refers(node, name: str, table: str | None, row: str | None, columns: frozenset) -> bool:
    """Whether `node` reads the field `name` (or `table`'s column `name`).

    In a column's calculation a bare name is read from the row first, so there a name that is
    also a column of the row means the column, not the field.
    """
    if not isinstance(node, Name):
        return False
    if table is None:
        return node.parts[0] == name and name not in columns
    if len(node.parts) >= 2 and node.parts[:2] == (table, name):
        return True
    return row == table and node.parts[0] == name


def _walk(node) -> Iterator:
    yield node
    if isinstance(node, Unary):
        yield from _walk(node.operand)
    elif isinstance(node, Binary):
        yield from _walk(node.left)
        yield from _walk(node.right)
    elif isinstance(node, Call):
        for arg in node.args:
            yield from _walk(arg)
    elif isinstance(node, ListOf):
        for entry in node.items:
            yield from _walk(entry)


def rename_in_expression(
    source: str,
    old: str,
    new: str,
    table: str | None = None,
    row: str | None = None,
    columns: frozenset[str] = frozenset(),
) -> str:
    """`source` with the field `old` (or `table`'s column `old`) called `new`.

    Only names change: text in quotes and other names that contain `old` stay as written. An
    expression that does not parse is returned unchanged (the schema's checks report it).
    """
    try:
        parsed = expressions.parse(source)
    except ExpressionError:
        return source
    spans: list[tuple[int, int]] = []
    for node in _walk(parsed.tree):
        if not isinstance(node, Name):
            continue
        start = node.column - 1
        if table is None and node.parts[0] == old and old not in columns:
            spans.append((start, start + len(old)))
        elif table is not None and node.parts[:2] == (table, old):
            found = re.compile(rf"{re.escape(table)}\s*\.\s*").match(source, start)
            if found:
                spans.append((found.end(), found.end() + len(old)))
        elif table is not None and row == table and node.parts[0] == old:
            spans.append((start, start + len(old)))
    for start, end in sorted(spans, reverse=True):
        source = source[:start] + new + source[end:]
    return source


# -- words --------------------------------------------------------------------------------------


def label_of(spec: dict) -> str:
    """What people call a field or block: its label, a section's title, a help text's start."""
    words = spec.get("label") or spec.get("title") or spec.get("text") or spec.get("name")
    words = str(words or type_name(str(spec.get("type", "field"))))
    return words if len(words) <= 60 else words[:59] + "…"


def step_title(step: dict) -> str:
    return str(step.get("title") or step.get("name") or "a step")


def _and_list(items: list[str]) -> str:
    items = list(dict.fromkeys(items))
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def number_words(value: object, currency: str | None = None) -> str:
    """25000 -> "25,000"; with a currency, "EUR 25,000"."""
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    text = f"{number:,f}"
    return f"{currency} {text}" if currency else text


# -- conditions picked from lists ----------------------------------------------------------------


@dataclass(frozen=True)
class Operator:
    key: str
    words: str
    symbol: str  # the expression's operator; "" for the ones that are not a comparison
    kinds: frozenset[str]  # the field kinds it is offered for
    needs_value: bool = True


_ANY_VALUE = frozenset(
    {"text", "textarea", "email", "select", "radio", "integer", "decimal", "money", "date"}
)
_ORDERED = NUMBER_KINDS | {"date"}
OPERATORS: tuple[Operator, ...] = (
    Operator("ticked", "is ticked", "", frozenset({"boolean"}), needs_value=False),
    Operator("not_ticked", "is not ticked", "", frozenset({"boolean"}), needs_value=False),
    Operator("is", "is", "==", _ANY_VALUE),
    Operator("is_not", "is not", "!=", _ANY_VALUE),
    Operator("more", "is more than", ">", _ORDERED),
    Operator("at_least", "is at least", ">=", _ORDERED),
    Operator("less", "is less than", "<", _ORDERED),
    Operator("at_most", "is at most", "<=", _ORDERED),
    Operator("one_of", "is one of", "in", frozenset({"select", "radio", "text"})),
    Operator("includes", "includes", "in", frozenset({"multi_select"})),
    Operator("empty", "is empty", "==", _ANY_VALUE | {"file", "multi_select"}, needs_value=False),
    Operator("filled", "is filled in", "!=", _ANY_VALUE | {"file"}, needs_value=False),
)
OPERATORS_BY_KEY = {op.key: op for op in OPERATORS}
_OPERATOR = OPERATORS_BY_KEY
_BY_SYMBOL = {op.symbol: op for op in OPERATORS if op.symbol and op.key not in ("empty", "filled")}
#: Rules compare two fields; these are the words for a rule ("must be on or after").
RULE_WORDS = {
    ">=": "must be at least",
    ">": "must be more than",
    "<=": "must be at most",
    "<": "must be less than",
    "==": "must be the same as",
    "!=": "must differ from",
}
DATE_RULE_WORDS = {
    ">=": "must be on or after",
    ">": "must be after",
    "<=": "must be on or before",
    "<": "must be before",
}


def operators_for(kind: str | None) -> tuple[Operator, ...]:
    """The operators offered for a field of `kind`, in the order the picker lists them."""
    return tuple(op for op in OPERATORS if kind in op.kinds)


@dataclass(frozen=True)
class Condition:
    """One line of a condition picker: [field] [operator] [value]."""

    field: str
    op: str
    value: str = ""

    def source(self, fields: Mapping[str, dict]) -> str:
        """This line as an expression; refused, in words, when it cannot be one."""
        spec = fields.get(self.field)
        if spec is None:
            raise BuilderRefused(f"choose a field for the condition (there is no {self.field!r})")
        kind = spec.get("type")
        operator = _OPERATOR.get(self.op)
        if operator is None or kind not in operator.kinds:
            raise BuilderRefused(
                f"{label_of(spec)} cannot be compared that way; choose another comparison"
            )
        if self.op == "ticked":
            return self.field
        if self.op == "not_ticked":
            return f"not {self.field}"
        if self.op in ("empty", "filled"):
            return f"{self.field} {operator.symbol} null"
        if self.op == "includes":
            return f"{_literal(self.value.strip(), 'text', spec)} in {self.field}"
        if self.op == "one_of":
            values = [v.strip() for v in self.value.split(",") if v.strip()]
            if not values:
                raise BuilderRefused(f"list the values {label_of(spec)} may be, with commas")
            return f"{self.field} in [{', '.join(_literal(v, 'text', spec) for v in values)}]"
        return f"{self.field} {operator.symbol} {_literal(self.value.strip(), kind, spec)}"


def _literal(value: str, kind: str, spec: dict) -> str:
    if not value:
        raise BuilderRefused(f"give the value to compare {label_of(spec)} with")
    if kind in NUMBER_KINDS:
        cleaned = value.replace(",", "").replace(" ", "")
        if not re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", cleaned):
            raise BuilderRefused(f"{value!r} is not a number ({label_of(spec)} holds numbers)")
        return cleaned
    if kind in CHOICE_KINDS:
        value = _choice_value(spec, value)
    if kind == "date":
        raise BuilderRefused("a date is compared with another date field: use a rule")
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _choice_value(spec: dict, value: str) -> str:
    """A choice's stored value, given its value or its label."""
    for choice in spec.get("choices") or []:
        stored, words = choice_pair(choice)
        if value in (stored, words):
            return stored
    return value


def choice_pair(choice: object) -> tuple[str, str]:
    if isinstance(choice, dict):
        return str(choice.get("value", "")), str(choice.get("label", choice.get("value", "")))
    return str(choice), str(choice)


def condition_source(groups: list[list[Condition]], document: dict) -> str:
    """Groups of conditions as one expression: lines of a group all hold ("and"), any group
    holds ("or"). An empty picker gives "" (the condition is removed)."""
    fields = {f.get("name"): f for f in _list(document, "fields")}
    parts = []
    groups = [group for group in groups if group]
    for group in groups:
        lines = [condition.source(fields) for condition in group]
        joined = " and ".join(lines)
        parts.append(f"({joined})" if len(groups) > 1 and len(lines) > 1 else joined)
    return " or ".join(parts)


def picked(source: str, document: dict) -> list[list[Condition]] | None:
    """The picker lines that give `source` back exactly, or None when it has no such form."""
    try:
        tree = expressions.parse(source).tree
    except ExpressionError:
        return None
    groups = []
    for branch in _chain(tree, "or"):
        group = []
        for leaf in _chain(branch, "and"):
            condition = _leaf(leaf, document)
            if condition is None:
                return None
            group.append(condition)
        groups.append(group)
    try:
        if condition_source(groups, document) != source.strip():
            return None  # same meaning, other spelling: keep the admin's text as written
    except BuilderRefused:
        return None
    return groups


def _chain(node, op: str) -> list:
    if isinstance(node, Binary) and node.op == op:
        return _chain(node.left, op) + _chain(node.right, op)
    return [node]


def _leaf(node, document: dict) -> Condition | None:
    fields = {f.get("name"): f for f in _list(document, "fields")}

    def field_of(candidate) -> str | None:
        if isinstance(candidate, Name) and len(candidate.parts) == 1:
            return candidate.parts[0] if candidate.parts[0] in fields else None
        return None

    if field_of(node):
        return Condition(node.parts[0], "ticked")
    if isinstance(node, Unary) and node.op == "not" and field_of(node.operand):
        return Condition(node.operand.parts[0], "not_ticked")
    if not isinstance(node, Binary):
        return None
    if node.op == "in" and isinstance(node.left, Literal) and field_of(node.right):
        return Condition(node.right.parts[0], "includes", str(node.left.value))
    name = field_of(node.left)
    if name is None:
        return None
    if node.op == "in" and isinstance(node.right, ListOf):
        values = [i.value for i in node.right.items if isinstance(i, Literal)]
        if len(values) != len(node.right.items) or not all(isinstance(v, str) for v in values):
            return None
        return Condition(name, "one_of", ", ".join(values))
    right = node.right
    if isinstance(right, Unary) and right.op == "-" and isinstance(right.operand, Literal):
        if not isinstance(right.operand.value, Decimal):
            return None
        right = Literal(-right.operand.value, right.column)
    if not isinstance(right, Literal):
        return None
    value = right.value
    if value is None and node.op in ("==", "!="):
        return Condition(name, "empty" if node.op == "==" else "filled")
    operator = _BY_SYMBOL.get(node.op)
    if operator is None or isinstance(value, bool):
        return None
    return Condition(name, operator.key, str(value))


def condition_words(source: str, document: dict) -> str:
    """A condition as people say it: "New vendor is ticked and Total is more than EUR 50,000".

    An expression with no picker is quoted as written."""
    groups = picked(source, document) if isinstance(source, str) else None
    if groups is None:
        return f"“{source}”"
    fields = {f.get("name"): f for f in _list(document, "fields")}
    said = []
    for group in groups:
        lines = [_line_words(condition, fields[condition.field]) for condition in group]
        said.append(" and ".join(lines))
    return " or ".join(f"({s})" if " and " in s and len(said) > 1 else s for s in said)


def _line_words(condition: Condition, spec: dict) -> str:
    operator = _OPERATOR[condition.op]
    words = f"{label_of(spec)} {operator.words}"
    if not operator.needs_value:
        return words
    kind = spec.get("type")
    if kind in NUMBER_KINDS:
        return f"{words} {number_words(condition.value, spec.get('currency'))}"
    if kind in CHOICE_KINDS:
        labels = {v: w for v, w in map(choice_pair, spec.get("choices") or [])}
        values = [v.strip() for v in condition.value.split(",")]
        return f"{words} {_or_list([labels.get(v, v) for v in values])}"
    return f"{words} “{condition.value}”"


def _or_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def read_conditions(values: Mapping[str, list[str]], prefix: str) -> list[list[Condition]]:
    """Picker lines from a posted form: `{prefix}field`, `op`, `value` and `group`, one per line.

    A line with no field chosen is left out; a line's group number says which "or" branch it
    is in.
    """
    fields, ops = values.get(f"{prefix}field", []), values.get(f"{prefix}op", [])
    plain, groups = values.get(f"{prefix}value", []), values.get(f"{prefix}group", [])
    found: dict[int, list[Condition]] = {}
    for index, name in enumerate(fields):
        if not name:
            continue
        op = ops[index] if index < len(ops) else "is"
        value = plain[index] if index < len(plain) else ""
        group = groups[index] if index < len(groups) else "0"
        found.setdefault(int(group) if group.isdigit() else 0, []).append(
            Condition(name, op, value)
        )
    return [found[key] for key in sorted(found)]


# -- calculations -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Total:
    """A computed total: "Sum of [column] x [column] over [table]" (the second is optional)."""

    table: str
    column: str
    times: str = ""

    def source(self) -> str:
        if self.times:
            return f"sum({self.table}.{self.column} * {self.table}.{self.times})"
        return f"sum({self.table}.{self.column})"


def picked_total(source: str) -> Total | None:
    """The Total that writes `source`, or None when it is some other formula."""
    try:
        tree = expressions.parse(source).tree
    except ExpressionError:
        return None
    if not (isinstance(tree, Call) and tree.function == "sum" and len(tree.args) == 1):
        return None
    inner = tree.args[0]
    if _column_name(inner):
        total = Total(*_column_name(inner))
    elif isinstance(inner, Binary) and inner.op == "*":
        left, right = _column_name(inner.left), _column_name(inner.right)
        if not left or not right or left[0] != right[0]:
            return None
        total = Total(left[0], left[1], right[1])
    else:
        return None
    return total if total.source() == source.strip() else None


def _column_name(node) -> tuple[str, str] | None:
    if isinstance(node, Name) and len(node.parts) == 2:
        return node.parts[0], node.parts[1]
    return None


# -- rules picked from lists --------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """A cross-field rule: [field] [must be ...] [other field]."""

    field: str
    op: str  # an expression comparison: >=, >, <=, <, ==, !=
    other: str

    def source(self) -> str:
        return f"{self.field} {self.op} {self.other}"


def picked_rule(source: str, document: dict) -> Comparison | None:
    """The Comparison that writes `source`, or None when the rule is some other expression."""
    try:
        tree = expressions.parse(source).tree
    except ExpressionError:
        return None
    names = field_names(document)
    if not (isinstance(tree, Binary) and tree.op in RULE_WORDS):
        return None
    left, right = tree.left, tree.right
    if not all(isinstance(n, Name) and len(n.parts) == 1 for n in (left, right)):
        return None
    rule = Comparison(left.parts[0], tree.op, right.parts[0])
    if rule.field not in names or rule.other not in names or rule.source() != source.strip():
        return None
    return rule


def rule_message(rule: Comparison, document: dict) -> str:
    """ "Payment due must be on or after Invoice date": a rule's message from its picker."""
    fields = {f.get("name"): f for f in _list(document, "fields")}
    one, other = fields.get(rule.field, {}), fields.get(rule.other, {})
    words = RULE_WORDS[rule.op]
    if one.get("type") == "date" and rule.op in DATE_RULE_WORDS:
        words = DATE_RULE_WORDS[rule.op]
    return f"{label_of(one)} {words} {label_of(other)}"


# -- who decides --------------------------------------------------------------------------------

ASSIGNEE_KINDS = {
    "manager": "the submitter's manager",
    "group": "a group",
    "user": "a person",
    "field": "the person named in a field",
    "lookup": "the owner from a list",
}
PICKS = {
    "all": "everyone in the group",
    "round_robin": "one of them, in turn",
    "fewest_open": "whoever has fewest open",
}
DURATION_UNITS = {"m": "minutes", "h": "hours", "d": "days", "bd": "business days"}


def assignee_kind(assignee: dict) -> str:
    return next((kind for kind in ASSIGNEE_KINDS if kind in assignee), "manager")


def assignee_words(assignee: dict, document: dict) -> str:
    """Who an assignee is, in words: "the submitter's manager's manager", "group legal"."""
    kind = assignee_kind(assignee)
    if kind == "manager":
        levels = assignee.get("manager", 1)
        return "the submitter's " + "manager's " * (int(levels) - 1) + "manager"
    if kind == "group":
        pick = PICKS.get(assignee.get("pick", "all"), "everyone in the group")
        return f"group {assignee['group']} ({pick})"
    if kind == "user":
        return str(assignee["user"])
    fields = {f.get("name"): f for f in _list(document, "fields")}
    if kind == "field":
        named = fields.get(assignee["field"], {"name": assignee["field"]})
        return f"the person named in {label_of(named)}"
    return "the owner looked up from a list"


def policy_words(step: dict) -> str:
    """How many must approve a step, in the words the chain diagram uses."""
    policy = step.get("policy", "any")
    if isinstance(policy, dict):
        return f"{policy.get('quorum')} approvals needed"
    return "everyone must approve" if policy == "all" else "the first answer decides"


def split_duration(value: object) -> tuple[str, str]:
    """ "3bd" -> ("3", "bd"); anything else -> ("", "d")."""
    found = re.fullmatch(r"([1-9][0-9]{0,3})(m|h|d|bd)", str(value or ""))
    return (found.group(1), found.group(2)) if found else ("", "d")


def duration_words(value: object) -> str:
    number, unit = split_duration(value)
    return f"{number} {DURATION_UNITS[unit]}" if number else str(value)


# -- what changed, in words ---------------------------------------------------------------------


def changes_in_words(older: dict | None, newer: dict) -> list[str]:
    """What changed from `older` to `newer`, as sentences an admin reads before publishing."""
    older = older or {}
    said: list[str] = []
    if older.get("title") != newer.get("title") and older:
        said.append(f"Title is now “{newer.get('title')}”")
    for key, words in (("description", "Description"), ("submit_label", "Submit button")):
        if older.get(key) != newer.get(key):
            said.append(f"{words} changed" if newer.get(key) else f"{words} removed")
    said += _field_changes(_list(older, "fields"), _list(newer, "fields"), older, newer)
    old_rules = [r.get("check") for r in _list(older, "rules")]
    new_rules = [r.get("check") for r in _list(newer, "rules")]
    for rule in _list(newer, "rules"):
        if rule.get("check") not in old_rules:
            said.append(f"Added rule: {rule.get('message')}")
    for rule in _list(older, "rules"):
        if rule.get("check") not in new_rules:
            said.append(f"Removed rule: {rule.get('message')}")
    said += _step_changes(older, newer)
    return said


def _field_changes(old: list, new: list, older: dict, newer: dict) -> list[str]:
    said = []
    old_by = {f.get("name"): f for f in old if f.get("name")}
    new_by = {f.get("name"): f for f in new if f.get("name")}
    for spec in new:
        name = spec.get("name")
        if name and name not in old_by:
            text = f"Added field {label_of(spec)} ({type_name(spec.get('type', ''))})"
            if spec.get("visible_if"):
                text += f", shown when {condition_words(spec['visible_if'], newer)}"
            if spec.get("required_if"):
                text += f", required when {condition_words(spec['required_if'], newer)}"
            if spec.get("compute"):
                text += ", calculated"
            said.append(text)
    for name, spec in old_by.items():
        if name not in new_by:
            said.append(f"Removed field {label_of(spec)}")
    for name, spec in new_by.items():
        before = old_by.get(name)
        if before is None or before == spec:
            continue
        said += [f"{label_of(spec)}: {text}" for text in _field_details(before, spec, older, newer)]
    old_blocks = [label_of(f) for f in old if not f.get("name")]
    new_blocks = [label_of(f) for f in new if not f.get("name")]
    said += [f"Added {b}" for b in new_blocks if b not in old_blocks]
    said += [f"Removed {b}" for b in old_blocks if b not in new_blocks]
    old_order = [f.get("name") for f in old if f.get("name") in new_by]
    new_order = [f.get("name") for f in new if f.get("name") in old_by]
    if old_order != new_order:
        said.append("Fields in a new order")
    return said


_PROPERTY_WORDS = {
    "label": "label",
    "help": "help text",
    "placeholder": "example text",
    "width": "width",
    "min": "lowest allowed",
    "max": "highest allowed",
    "min_length": "shortest allowed",
    "max_length": "longest allowed",
    "currency": "currency",
    "choices": "choices",
    "accept": "file types",
    "max_size_mb": "largest file",
    "fields": "columns",
    "default": "starting value",
}


def _field_details(before: dict, after: dict, older: dict, newer: dict) -> list[str]:
    said = []
    if before.get("required") != after.get("required"):
        said.append("now required" if after.get("required") else "no longer required")
    for key, verb in (("visible_if", "shown"), ("required_if", "required")):
        if before.get(key) != after.get(key):
            if after.get(key):
                said.append(f"now {verb} only when {condition_words(after[key], newer)}")
            else:
                said.append(f"now {verb} always" if key == "visible_if" else "condition removed")
    if before.get("compute") != after.get("compute"):
        said.append("calculated differently" if after.get("compute") else "no longer calculated")
    for key, words in _PROPERTY_WORDS.items():
        if before.get(key) != after.get(key):
            if key == "label":
                said.append(f"label was “{before.get('label')}”")
            elif key in ("min", "max", "min_length", "max_length") and after.get(key) is not None:
                said.append(f"{words} now {number_words(after[key])}")
            else:
                said.append(f"{words} changed")
    other = set(before) | set(after)
    other -= {"required", "visible_if", "required_if", "compute", "name", "type", *_PROPERTY_WORDS}
    if any(before.get(key) != after.get(key) for key in other):
        said.append("other settings changed")
    return said


def _step_changes(older: dict, newer: dict) -> list[str]:
    said = []
    old_chain, new_chain = older.get("approval"), newer.get("approval")
    if isinstance(new_chain, dict) and not isinstance(old_chain, dict):
        said.append("Added an approval chain")
    if isinstance(old_chain, dict) and not isinstance(new_chain, dict):
        said.append("Removed the approval chain: requests are approved when submitted")
    old_steps = {s.get("name"): s for s in _list(old_chain, "steps")}
    new_steps = {s.get("name"): s for s in _list(new_chain, "steps")}
    for name, step in new_steps.items():
        if name not in old_steps:
            text = f"Added step {step_title(step)}, decided by " + _and_list(
                [assignee_words(a, newer) for a in _list(step, "assignees")] or ["nobody"]
            )
            if "policy" in step:
                text += f" ({policy_words(step)})"
            if step.get("when"):
                text += f", only when {condition_words(step['when'], newer)}"
            said.append(text)
    for name, step in old_steps.items():
        if name not in new_steps:
            said.append(f"Removed step {step_title(step)}")
    for name, step in new_steps.items():
        before = old_steps.get(name)
        if before is None or before == step:
            continue
        title = step_title(step)
        if before.get("when") != step.get("when"):
            if step.get("when"):
                said.append(f"{title} now only when {condition_words(step['when'], newer)}")
            else:
                said.append(f"{title} now always asked")
        if before.get("assignees") != step.get("assignees"):
            who = _and_list([assignee_words(a, newer) for a in _list(step, "assignees")])
            said.append(f"{title} now decided by {who}")
        if before.get("policy") != step.get("policy"):
            said.append(f"{title}: {policy_words(step)}")
        rest = (set(before) | set(step)) - {"when", "assignees", "policy", "name"}
        if any(before.get(key) != step.get(key) for key in rest):
            said.append(f"{title}: other settings changed")
    old_order = [n for n in old_steps if n in new_steps]
    new_order = [n for n in new_steps if n in old_steps]
    if old_order != new_order:
        said.append(
            "Steps in a new order: " + ", ".join(step_title(new_steps[n]) for n in new_order)
        )
    return said


# -- the whole operation, as the builder page sends it ------------------------------------------


@dataclass
class Applied:
    """What an operation did: the new document, the item to show, and a note in words."""

    document: dict
    selected: str
    message: str = ""
    notes: list[str] = field(default_factory=list)


def apply(
    document: dict,
    op: str,
    values: Mapping[str, list[str]],
    published: frozenset[str] = frozenset(),
) -> Applied:
    """Apply one builder operation, named `op`, with the posted `values` (lists of strings).

    Refused (BuilderRefused) with a message in words when the operation cannot be done; the
    document is then unchanged.
    """

    def one(key: str, default: str = "") -> str:
        found = values.get(key) or [default]
        return found[0]

    selected = one("selected", "form")
    handler = _OPERATIONS.get(op)
    if handler is None:
        raise BuilderRefused(f"the builder has no operation {op!r}")
    return handler(document, one, values, selected, published)


def _op_select(document, one, values, selected, published):
    target = one("target", "form")
    Place.parse(target)
    return Applied(document, target)


def _op_add_field(document, one, values, selected, published):
    at = None
    place = Place.parse(selected)
    if one("where") == "after" and place.kind in ("field", "column"):
        at = place.index + 1
    changed, index = add_field(document, one("kind"), at)
    name = type_name(one("kind"))
    return Applied(changed, f"field:{index}", f"Added {name} as field {index + 1}")


def _op_add_column(document, one, values, selected, published):
    table = int(one("table", "-1")) if one("table", "-1").isdigit() else -1
    changed, index = add_column(document, table, one("kind"))
    return Applied(changed, f"column:{table}:{index}", f"Added column {index + 1}")


def _op_add_step(document, one, values, selected, published):
    changed, index = add_step(document)
    return Applied(changed, f"step:{index}", f"Added step {index + 1}")


def _op_add_rule(document, one, values, selected, published):
    changed, index = add_rule(document)
    return Applied(changed, f"rule:{index}", f"Added rule {index + 1}")


def _op_move(document, one, values, selected, published):
    place = Place.parse(one("target"))
    now = place.sub if place.kind == "column" else place.index
    direction = one("direction")
    to = now - 1 if direction == "up" else now + 1 if direction == "down" else None
    if to is None:
        to = int(one("to")) if one("to").lstrip("-").isdigit() else now
    changed, index = move(document, place, to)
    moved = (
        Place(place.kind, place.index, index)
        if place.kind == "column"
        else Place(place.kind, index)
    )
    return Applied(changed, str(moved), f"Moved to position {index + 1}")


def _op_duplicate(document, one, values, selected, published):
    place = Place.parse(one("target"))
    changed, index = duplicate(document, place)
    twin = (
        Place(place.kind, place.index, index)
        if place.kind == "column"
        else Place(place.kind, index)
    )
    return Applied(changed, str(twin), "Duplicated")


def _op_remove(document, one, values, selected, published):
    place = Place.parse(one("target"))
    words = label_of(item(document, place))
    changed = remove(document, place)
    back = (
        f"field:{place.index}"
        if place.kind == "column"
        else "chain"
        if place.kind == "step"
        else "form"
    )
    if place.kind == "step" and "approval" not in changed:
        back = "form"
    return Applied(changed, back, f"Removed {words}")


def _op_set(document, one, values, selected, published):
    place = Place.parse(selected)
    key = one("key")
    raw = one(f"p.{key}")
    if key in ("label", "title") and place.kind in ("field", "column", "step"):
        return Applied(set_label(document, place, raw, published), selected)
    if key == "name":
        changed, updated = rename(document, place, raw.strip(), published)
        note = f"Renamed; also updated {_and_list(updated)}" if updated else "Renamed"
        return Applied(changed, selected, note)
    return Applied(set_value(document, place, key, _typed(key, raw, values)), selected)


_BOOLEAN_KEYS = {"required", "multiple"}
_INTEGER_KEYS = {"min_length", "max_length", "rows", "places", "min_items", "max_items"}
_INTEGER_KEYS |= {"max_files", "min_rows", "max_rows"}
_NUMBER_KEYS = {"min", "max", "max_size_mb", "default"}


def _typed(key: str, raw: str, values: Mapping[str, list[str]]) -> object:
    """A posted value as the JSON wants it: a tick as true, a count as an integer ..."""
    raw = raw.strip() if key not in ("help", "text", "description") else raw
    if key in _BOOLEAN_KEYS:
        return True if raw in ("1", "on", "true") else None
    if key == "accept":
        return values.get("p.accept") or None
    if key in _INTEGER_KEYS:
        if raw and not raw.isdigit():
            raise BuilderRefused(f"{raw!r} is not a whole number")
        return int(raw) if raw else None
    if key in _NUMBER_KEYS and raw and re.fullmatch(r"-?[0-9][0-9,]*(\.[0-9]+)?", raw):
        cleaned = raw.replace(",", "")
        return int(cleaned) if "." not in cleaned else Decimal(cleaned)
    return raw


def _op_condition(document, one, values, selected, published):
    place = Place.parse(selected)
    key = one("key")
    if key not in ("visible_if", "required_if", "when", "auto_approve_if"):
        raise BuilderRefused(f"{key!r} is not a condition")
    groups = read_conditions(values, f"c.{key}.")
    if one("add") == "line":
        groups = groups or [[]]
        groups[-1] = [*groups[-1], _first_condition(document, place)]
    elif one("add") == "group":
        groups.append([_first_condition(document, place)])
    drop = one("drop")
    if drop:
        flat = [(g, c) for g, group in enumerate(groups) for c in range(len(group))]
        if drop.isdigit() and int(drop) < len(flat):
            g, c = flat[int(drop)]
            groups[g] = groups[g][:c] + groups[g][c + 1 :]
    fields = {f.get("name"): f for f in _list(document, "fields")}
    groups = [[_fitting(condition, fields) for condition in group] for group in groups]
    source = condition_source(groups, document)
    if key == "required_if" and source:
        changed = set_value(document, place, "required", None)
        return Applied(set_value(changed, place, key, source), selected)
    return Applied(set_value(document, place, key, source or None), selected)


def _fitting(condition: Condition, fields: Mapping[str, dict]) -> Condition:
    """The line as posted, or, when another field was just chosen, a comparison that suits it.

    Choosing "New vendor" where "Total is more than 0" was leaves "is more than" behind: a tick
    box is ticked or not, so the line becomes "New vendor is ticked".
    """
    spec = fields.get(condition.field)
    if spec is None or condition.op in {op.key for op in operators_for(spec.get("type"))}:
        return condition
    return _starting(condition.field, spec) or condition


def _starting(name: str, spec: dict) -> Condition | None:
    """The first line a field's condition picker shows."""
    kind = spec.get("type")
    if kind == "boolean":
        return Condition(name, "ticked")
    if kind in NUMBER_KINDS:
        return Condition(name, "more", "0")
    if kind in ("select", "radio"):
        return Condition(name, "is", choice_pair((spec.get("choices") or [""])[0])[0])
    if kind in _ANY_VALUE or kind in ("file", "multi_select"):
        return Condition(name, "filled")
    return None


def _first_condition(document: dict, place: Place) -> Condition:
    """The line a new condition starts as: the first other field that can be compared."""
    own = item(document, place).get("name") if place.kind == "field" else None
    for kinds in (("boolean",), tuple(NUMBER_KINDS), ("select", "radio")):
        for spec in _list(document, "fields"):
            name = spec.get("name")
            if name and name != own and spec.get("type") in kinds:
                return _starting(name, spec)
    for spec in _list(document, "fields"):
        name = spec.get("name")
        found = _starting(name, spec) if name and name != own else None
        if found is not None:
            return found
    raise BuilderRefused(
        "a condition needs another field to look at: add a tick box, a number or a list first"
    )


def _op_total(document, one, values, selected, published):
    place = Place.parse(selected)
    mode = one("mode")
    if mode == "none":
        return Applied(set_value(document, place, "compute", None), selected)
    if mode == "formula":
        return Applied(set_value(document, place, "compute", one("formula").strip()), selected)
    table = one("table")
    tables = {f.get("name"): f for f in _list(document, "fields") if f.get("type") == "line_items"}
    if table not in tables:
        if not tables:
            raise BuilderRefused("add a table of lines to the form first, then add up its column")
        table = next(iter(tables))
    columns = {c.get("name") for c in _list(tables[table], "fields")}
    column, times = one("column"), one("times")
    if column not in columns:
        column = next(
            (
                c.get("name")
                for c in _list(tables[table], "fields")
                if c.get("type") in NUMBER_KINDS
            ),
            "",
        )
    if not column:
        raise BuilderRefused("the table has no column of numbers to add up")
    total = Total(table, column, times if times in columns else "")
    return Applied(set_value(document, place, "compute", total.source()), selected)


def _op_choices(document, one, values, selected, published):
    place = Place.parse(selected)
    labels = values.get("choice_label", [])
    stored = values.get("choice_value", [])
    choices = []
    for index, label in enumerate(labels):
        label = label.strip()
        value = stored[index].strip() if index < len(stored) else ""
        if not label and not value:
            continue
        choices.append({"value": value or name_from_label(label), "label": label or value})
    action, at = one("action"), one("at")
    position = int(at) if at.isdigit() else -1
    if action == "add":
        taken = {c["value"] for c in choices}
        label = f"Option {len(choices) + 1}"
        choices.append({"value": name_from_label(label, taken), "label": label})
    elif action == "remove" and 0 <= position < len(choices):
        choices.pop(position)
    elif action in ("up", "down") and 0 <= position < len(choices):
        to = position - 1 if action == "up" else position + 1
        if 0 <= to < len(choices):
            choices.insert(to, choices.pop(position))
    if not choices:
        raise BuilderRefused("a list needs at least one choice")
    return Applied(set_value(document, place, "choices", choices), selected)


def _op_rule(document, one, values, selected, published):
    place = Place.parse(selected)
    rule = Comparison(one("rule_field"), one("rule_op"), one("rule_other"))
    names = field_names(document)
    if rule.field not in names or rule.other not in names or rule.op not in RULE_WORDS:
        raise BuilderRefused("choose two fields and how they compare")
    changed = set_value(document, place, "check", rule.source())
    message = one("p.message").strip()
    old = item(document, place)
    old_rule = picked_rule(str(old.get("check", "")), document)
    if not message or (old_rule and message == rule_message(old_rule, document)):
        message = rule_message(rule, document)
    changed = set_value(changed, place, "message", message)
    return Applied(set_value(changed, place, "field", rule.field), selected)


def _op_who(document, one, values, selected, published):
    """Who decides a step: one line per assignee (kind and its detail)."""
    place = Place.parse(selected)
    if place.kind != "step":
        raise BuilderRefused("who decides is set on an approval step")
    step = item(document, place)
    kinds = values.get("who_kind", [])
    assignees = []
    old = _list(step, "assignees")
    for index, kind in enumerate(kinds):
        detail = (values.get("who_detail") or [""] * len(kinds))[index].strip()
        if index < len(old) and assignee_kind(old[index]) != kind:
            detail = _first_detail(kind, document)  # another kind chosen: its own starting value
        if kind == "manager":
            levels = detail if detail in ("1", "2", "3", "4", "5") else "1"
            assignees.append({"manager": int(levels)})
        elif kind == "group":
            made = {"group": detail.lower()}
            pick = (values.get("who_pick") or [""] * len(kinds))[index]
            if pick in ("round_robin", "fewest_open"):
                made["pick"] = pick
            assignees.append(made)
        elif kind == "user":
            assignees.append({"user": detail.lower()})
        elif kind == "field":
            assignees.append({"field": detail})
        elif kind == "keep" and index < len(old):
            assignees.append(old[index])
    action, at = one("action"), one("at")
    if action == "add":
        assignees.append({"manager": 1})
    elif action == "remove" and at.isdigit() and int(at) < len(assignees):
        assignees.pop(int(at))
    if not assignees:
        raise BuilderRefused("a step needs someone to decide it")
    return Applied(set_value(document, place, "assignees", assignees), selected)


def _first_detail(kind: str, document: dict) -> str:
    if kind == "manager":
        return "1"
    if kind == "field":
        return next(
            (
                f["name"]
                for f in _list(document, "fields")
                if f.get("type") in ("email", "text", "select", "radio") and f.get("name")
            ),
            "",
        )
    return ""


def _op_policy(document, one, values, selected, published):
    place = Place.parse(selected)
    policy = one("policy")
    if policy == "quorum":
        number = one("quorum")
        if not number.isdigit() or not 1 <= int(number) <= 100:
            raise BuilderRefused("say how many must approve, as a whole number from 1")
        value: object = {"quorum": int(number)}
    elif policy == "all":
        value = "all"
    else:
        value = None  # the first answer decides: the default
    return Applied(set_value(document, place, "policy", value), selected)


def _op_timing(document, one, values, selected, published):
    """Deadline, reminders, escalation and timeout of a step, each from a number and a unit."""
    place = Place.parse(selected)
    changed = copy.deepcopy(document)
    step = item(changed, place)

    def duration(prefix: str) -> str | None:
        number, unit = one(f"{prefix}_n").strip(), one(f"{prefix}_unit", "d")
        if not number:
            return None
        if not number.isdigit() or not 1 <= int(number) <= 9999 or unit not in DURATION_UNITS:
            raise BuilderRefused(
                f"{number!r} is not a number of {DURATION_UNITS.get(unit, 'days')}"
            )
        return f"{int(number)}{unit}"

    def put(key: str, value: object) -> None:
        if value in (None, {}, ""):
            step.pop(key, None)
        else:
            step[key] = value

    put("due", duration("due"))
    remind = one("remind")
    if remind == "every":
        put("remind", {"every": duration("remind_every")} if duration("remind_every") else None)
    elif remind == "at":
        share = one("remind_at").strip().rstrip("%")
        if not share.isdigit() or not 1 <= int(share) <= 99:
            raise BuilderRefused("a reminder at a share of the time allowed is from 1 to 99 %")
        put("remind", {"at": f"{int(share)}%"})
    else:
        put("remind", None)
    escalate_to = one("escalate")
    if escalate_to:
        target = one("escalate_detail").strip()
        to: dict = (
            {"manager": int(target) if target in ("1", "2", "3", "4", "5") else 1}
            if escalate_to == "manager"
            else {escalate_to: target.lower()}
        )
        escalation: dict = {"to": to}
        if one("escalate_mode") == "move":
            escalation["mode"] = "move"
        if duration("escalate_after"):
            escalation["after"] = duration("escalate_after")
        put("escalate", escalation)
    else:
        put("escalate", None)
    timeout = one("timeout")
    if timeout in ("approve", "reject", "skip"):
        made = {"action": timeout}
        if duration("timeout_after"):
            made["after"] = duration("timeout_after")
        put("on_timeout", made)
    else:
        put("on_timeout", None)
    return Applied(changed, selected)


_OPERATIONS = {
    "select": _op_select,
    "add_field": _op_add_field,
    "add_column": _op_add_column,
    "add_step": _op_add_step,
    "add_rule": _op_add_rule,
    "move": _op_move,
    "duplicate": _op_duplicate,
    "remove": _op_remove,
    "set": _op_set,
    "condition": _op_condition,
    "total": _op_total,
    "choices": _op_choices,
    "rule": _op_rule,
    "who": _op_who,
    "policy": _op_policy,
    "timing": _op_timing,
}
OPERATION_NAMES = frozenset(_OPERATIONS)


def place_of(path: str) -> Place:
    """The item a JSON path of a schema fault is in: "fields[3].label" -> field:3."""
    found = re.match(r"fields\[(\d+)\](?:\.fields\[(\d+)\])?", path or "")
    if found and found.group(2) is not None:
        return Place("column", int(found.group(1)), int(found.group(2)))
    if found:
        return Place("field", int(found.group(1)))
    found = re.match(r"approval\.steps\[(\d+)\]", path or "")
    if found:
        return Place("step", int(found.group(1)))
    found = re.match(r"rules\[(\d+)\]", path or "")
    if found:
        return Place("rule", int(found.group(1)))
    return Place("chain") if (path or "").startswith("approval") else Place("form")


_FAULT_WORDS = (
    (re.compile(r"^\[\] should be non-empty$"), "needs at least one entry"),
    (re.compile(r"^'' should be non-empty$"), "cannot be empty"),
    (re.compile(r"^'' is too short$"), "cannot be empty"),
    (re.compile(r"^'(.*)' is too long$"), "is too long"),
    (re.compile(r"^(\S+) is less than the minimum of (\S+)$"), r"must be at least \2"),
    (re.compile(r"^(\S+) is greater than the maximum of (\S+)$"), r"must be at most \2"),
    (re.compile(r"^(.*) is not one of \[(.*)\]$"), r"\1 is not one of the kinds allowed (\2)"),
)
_WHOLE_FAULTS = {
    "fields": "the form has no fields yet: add one from “Add a field”",
    "approval.steps": "the chain has no steps: add one, or remove the chain",
}


def fault_words(path: str, message: str) -> str:
    """A schema check's message as a person reads it beside the control that caused it."""
    if path in _WHOLE_FAULTS and "non-empty" in message:
        return _WHOLE_FAULTS[path]
    for pattern, words in _FAULT_WORDS:
        if pattern.match(message):
            return pattern.sub(words, message)
    return message
