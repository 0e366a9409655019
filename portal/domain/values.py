"""Turn what a person (or an API client) typed into typed, validated values, by the form's rules.

One function, `evaluate`, serves the web form, its live preview and the API, so all three agree
on what is valid. Input is "raw": strings from an HTML form, or JSON values from the API, with
line items as a list of row dicts and files as already-inspected FileValue objects. Output is
an Evaluation: the typed data to store (hidden fields left out, computed fields filled in), the
errors by path (`vendor_email`, `lines[2].quantity`, or "" for the whole form), and which fields
are visible and required right now, for the page to show.

Stored data is JSON: integers as numbers, decimals as strings ("1250.50"), money as
{"amount": "1250.50", "currency": "EUR"}, dates as "2026-11-25", files as their record.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from portal.domain.expressions import DECIMAL_CONTEXT, is_true
from portal.domain.filetype import FILE_KINDS, describe, of_content_type
from portal.domain.schema import (
    INTEGER_LIMIT,
    NUMBER_KINDS,
    FieldKind,
    FieldSpec,
    FormSpec,
    StepKind,
    compiled_pattern,
    currency_places,
)

MAX_NUMBER_LENGTH = 40
EARLIEST_DATE = dt.date(1900, 1, 1)
LATEST_DATE = dt.date(2199, 12, 31)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_INTEGER = re.compile(r"[+-]?\d+")
_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_GROUPED = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?")
_FORBIDDEN_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_TRUE = {"y", "yes", "on", "true", "1"}
_FALSE = {"", "n", "no", "off", "false", "0"}


@dataclass(frozen=True)
class FileValue:
    """A file that has been read and hashed: what a file field's value is made of."""

    name: str
    content_type: str
    size: int
    sha256: str
    #: The kind its bytes showed (a FILE_KINDS key), or None if they matched no known kind.
    kind: str | None = None

    def as_record(self) -> dict:
        return {
            "name": self.name,
            "content_type": self.content_type,
            "size": self.size,
            "sha256": self.sha256,
        }

    @classmethod
    def from_record(cls, record: Mapping) -> FileValue:
        kind = of_content_type(record["content_type"])
        return cls(record["name"], record["content_type"], record["size"], record["sha256"], kind)


@dataclass
class Evaluation:
    """What `evaluate` found: data to store, errors by path, and the page's live state."""

    data: dict = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    visible: dict[str, bool] = field(default_factory=dict)
    required: dict[str, bool] = field(default_factory=dict)
    #: Typed values after computation, hidden fields emptied (what expressions saw).
    values: dict = field(default_factory=dict)
    #: For each line-items field, the posted index of each row kept (blank rows are dropped,
    #: but error paths and the page keep the numbering the person sees).
    row_positions: dict[str, list[int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def add_error(self, path: str, message: str) -> None:
        messages = self.errors.setdefault(path, [])
        if message not in messages:
            messages.append(message)

    def row_at(self, table: str, position: int) -> dict:
        """The typed values of the row posted at `position`, or {} if it was blank."""
        positions = self.row_positions.get(table, [])
        rows = self.values.get(table) or []
        if position in positions and positions.index(position) < len(rows):
            return rows[positions.index(position)]
        return {}


class _Invalid(ValueError):
    """A raw value that cannot become its field's type; the message is for the person."""


def evaluate(
    form: FormSpec,
    raw: Mapping[str, object],
    today: dt.date,
    *,
    strict: bool = False,
) -> Evaluation:
    """Validate `raw` against `form`.

    `strict` (the API) also reports keys the form does not have, at any level, and takes each
    type only in its JSON spellings (docs/api.md): a browser posts strings, a program need not.
    """
    result = Evaluation()
    typed: dict[str, object] = {}
    problems: dict[str, str] = {}
    for spec in form.inputs:
        if spec.is_computed:
            typed[spec.name] = None
            continue
        try:
            if spec.kind == FieldKind.LINE_ITEMS:
                positions = result.row_positions.setdefault(spec.name, [])
                typed[spec.name] = _coerce_rows(form, spec, raw, problems, positions, today, strict)
            else:
                typed[spec.name] = _coerce(
                    spec, raw.get(spec.name), _currency(form, spec, raw), strict
                )
        except _Invalid as exc:
            typed[spec.name] = None
            problems[spec.name] = str(exc)
    if strict:
        for path, message in unknown_keys(form, raw).items():
            result.add_error(path, message)

    values = dict(typed)
    for step in form.steps:
        spec = form.field(step.key) or _block(form, step.key)
        if step.kind == StepKind.VISIBLE:
            shown = is_true(spec.visible_if.evaluate(values, today=today))
            result.visible[step.key] = shown
            if not shown and spec.is_input:
                values[spec.name] = [] if spec.kind == FieldKind.LINE_ITEMS else None
        elif spec.kind == FieldKind.LINE_ITEMS:
            if result.visible.get(spec.name, True):
                for row in values[spec.name] or []:
                    for column in spec.fields:
                        if column.compute:
                            row[column.name] = _settle(
                                form,
                                column,
                                column.compute.evaluate(values, row=row, today=today),
                                values,
                            )
        elif result.visible.get(spec.name, True):
            values[spec.name] = _settle(
                form, spec, spec.compute.evaluate(values, today=today), values
            )
    result.values = values

    for spec in form.inputs:
        if not result.visible.get(spec.name, True):
            continue
        required = spec.required or (
            spec.required_if is not None and is_true(spec.required_if.evaluate(values, today=today))
        )
        result.required[spec.name] = required
        for path, message in problems.items():
            if path == spec.name or path.startswith(f"{spec.name}["):
                result.add_error(path, message)
        if spec.name in problems:
            continue
        _check_field(form, spec, values, required, today, result)

    for rule in form.rules:
        if rule.field and not result.visible.get(rule.field, True):
            continue
        if rule.field and any(
            path == rule.field or path.startswith(f"{rule.field}[") for path in result.errors
        ):
            continue  # the field's (or its cells') own fault comes first; the rule would repeat it
        if rule.check.evaluate(values, today=today) is False:
            result.add_error(rule.field or "", rule.message)

    for spec in form.inputs:
        if result.visible.get(spec.name, True):
            result.data[spec.name] = _encode(form, spec, values[spec.name], values)
    return result


NO_SUCH_FIELD = "This form has no such field."
NO_SUCH_COLUMN = "This table has no such column."


def unknown_keys(form: FormSpec, raw: Mapping[str, object]) -> dict[str, str]:
    """Keys the form does not have, by path: top-level fields and line-item row columns."""
    found: dict[str, str] = {}
    for key in raw:
        spec = form.field(key)
        if spec is None or not spec.is_input:
            found[str(key)] = NO_SUCH_FIELD
        elif spec.kind == FieldKind.LINE_ITEMS and isinstance(raw[key], list):
            for index, row in enumerate(raw[key]):
                if isinstance(row, Mapping):
                    for column in row:
                        if spec.column(column) is None:
                            found[f"{key}[{index}].{column}"] = NO_SUCH_COLUMN
    return found


def _block(form: FormSpec, path: str) -> FieldSpec:
    return next(spec for spec in form.fields if spec.path == path)


# -- coercion: raw -> typed -------------------------------------------------------------------


def _currency(form: FormSpec, spec: FieldSpec, raw: Mapping[str, object]) -> str | None:
    """The currency a money field is in, from the raw input (the currency field's choice)."""
    if spec.kind != FieldKind.MONEY or spec.currency:
        return spec.currency
    chosen = raw.get(spec.currency_field) if spec.currency_field else None
    return (chosen.strip() or None) if isinstance(chosen, str) else None


def _coerce(
    spec: FieldSpec, raw: object, currency: str | None = None, strict: bool = False
) -> object:
    """Raw input -> the field's Python type (None when empty), or raise _Invalid.

    `currency` is the money field's own currency: an amount that names another is refused,
    never relabelled. `strict` takes only JSON's spellings (the API), not a browser's strings.
    """
    kind = spec.kind
    if kind == FieldKind.BOOLEAN:
        return _boolean(raw, strict)
    if kind == FieldKind.MULTI_SELECT:
        if strict and raw is not None and not isinstance(raw, list):
            raise _Invalid("Send the choices as a list.")
        return _choices(spec, raw)
    if kind == FieldKind.FILE:
        return _files(spec, raw)
    if isinstance(raw, Mapping) and kind == FieldKind.MONEY:
        raw = _money_amount(raw, currency)
    if isinstance(raw, list):
        raise _Invalid("Give one value, not a list.")
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, str | int | Decimal):
        raise _Invalid(_expected(spec))
    if strict and not isinstance(raw, str) and kind not in NUMBER_KINDS:
        raise _Invalid(_expected(spec))
    text = str(raw).strip()
    if not text:
        return None
    if kind in (FieldKind.TEXT, FieldKind.TEXTAREA, FieldKind.EMAIL):
        return _text(spec, raw if isinstance(raw, str) else text)
    if kind == FieldKind.INTEGER:
        return _integer(text)
    if kind in (FieldKind.DECIMAL, FieldKind.MONEY):
        return _decimal(text)
    if kind == FieldKind.DATE:
        return _date(text)
    if kind in (FieldKind.SELECT, FieldKind.RADIO):
        if text not in {choice.value for choice in spec.choices}:
            raise _Invalid("Choose one of the options offered.")
        return text
    raise _Invalid(_expected(spec))


def _money_amount(raw: Mapping, currency: str | None) -> object:
    """{"amount": ..., "currency": ...} -> the amount, if the currency is the field's own."""
    unknown = sorted(str(key) for key in raw if key not in ("amount", "currency"))
    if unknown:
        raise _Invalid(
            'An amount is {"amount": "1250.50", "currency": "EUR"}; '
            f"it has no {', '.join(repr(key) for key in unknown)}."
        )
    named = raw.get("currency")
    if named is not None and not isinstance(named, str):
        raise _Invalid("Name the currency as a three-letter code, like EUR.")
    if named is not None and named != currency:
        if currency is None:
            raise _Invalid(f"This amount cannot be in {named}: choose its currency first.")
        raise _Invalid(f"This amount is in {currency}; it cannot be given in {named}.")
    return raw.get("amount")


def _expected(spec: FieldSpec) -> str:
    return {
        FieldKind.INTEGER: "Enter a whole number.",
        FieldKind.DECIMAL: "Enter a number, like 1250.50.",
        FieldKind.MONEY: "Enter an amount, like 1250.50.",
        FieldKind.DATE: "Enter a date as YYYY-MM-DD.",
        FieldKind.SELECT: "Choose one of the options offered.",
        FieldKind.RADIO: "Choose one of the options offered.",
    }.get(spec.kind, "Enter text.")


def _text(spec: FieldSpec, raw: str) -> str | None:
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    text = text.strip() if spec.kind != FieldKind.TEXTAREA else text.strip("\n ").rstrip()
    if spec.kind != FieldKind.TEXTAREA and "\n" in text:
        raise _Invalid("Use a single line.")
    if _FORBIDDEN_CHARACTERS.search(text.replace("\t", " ")):
        raise _Invalid("Remove the control characters; they cannot be stored.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _Invalid("Contains characters that are not valid text.") from None
    if spec.kind == FieldKind.EMAIL and (len(text) > 254 or not _EMAIL.fullmatch(text)):
        raise _Invalid("Enter an email address like name@example.com.")
    return text or None


def _number_text(text: str) -> str:
    if len(text) > MAX_NUMBER_LENGTH:
        raise _Invalid("This number is too long.")
    compact = text.replace(" ", "").replace("\u00a0", "").replace("_", "")
    if _GROUPED.fullmatch(compact):
        compact = compact.replace(",", "")
    return compact


def _integer(text: str) -> Decimal:
    compact = _number_text(text)
    if not _INTEGER.fullmatch(compact):
        if _DECIMAL.fullmatch(compact):
            raise _Invalid("Enter a whole number, without decimals.")
        raise _Invalid("Enter a whole number.")
    value = Decimal(compact)
    if abs(value) >= INTEGER_LIMIT:
        raise _Invalid("This number is too large.")
    return value


def _decimal(text: str) -> Decimal:
    compact = _number_text(text)
    if not _DECIMAL.fullmatch(compact):
        raise _Invalid("Enter a number, like 1250.50.")
    try:
        value = DECIMAL_CONTEXT.create_decimal(compact)
    except InvalidOperation:
        raise _Invalid("Enter a number, like 1250.50.") from None
    if value.adjusted() >= 18:
        raise _Invalid("This number is too large.")
    return value


def _date(text: str) -> dt.date:
    try:
        value = dt.date.fromisoformat(text) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else None
    except ValueError:
        raise _Invalid("Enter a real date.") from None
    if value is None:
        raise _Invalid("Enter a date as YYYY-MM-DD.")
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise _Invalid(f"Enter a date between {EARLIEST_DATE.year} and {LATEST_DATE.year}.")
    return value


def _boolean(raw: object, strict: bool = False) -> bool:
    if raw is None or isinstance(raw, bool):
        return bool(raw)
    if strict:  # JSON has true and false; a program means one of them
        raise _Invalid("Answer true or false.")
    if isinstance(raw, list):  # a checkbox posted twice; any tick counts
        return any(_boolean(item) for item in raw)
    if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
        return raw.strip().lower() in _TRUE
    raise _Invalid("Answer yes or no.")


def _choices(spec: FieldSpec, raw: object) -> list[str]:
    if raw is None or raw == "":
        return []
    items = raw if isinstance(raw, list) else [raw]
    if not all(isinstance(item, str) for item in items):
        raise _Invalid("Choose from the options offered.")
    allowed = [choice.value for choice in spec.choices]
    unknown = [item for item in items if item not in allowed]
    if unknown:
        raise _Invalid("Choose only from the options offered.")
    return [value for value in allowed if value in items]  # form order, no repeats


def _files(spec: FieldSpec, raw: object) -> list[FileValue] | FileValue | None:
    items = raw if isinstance(raw, list) else ([] if raw is None else [raw])
    if not all(isinstance(item, FileValue) for item in items):
        raise _Invalid("Attach a file.")
    if spec.multiple:
        return items
    if len(items) > 1:
        raise _Invalid("Attach one file only.")
    return items[0] if items else None


def _coerce_rows(
    form: FormSpec,
    spec: FieldSpec,
    values: Mapping[str, object],
    problems: dict[str, str],
    positions: list[int],
    today: dt.date,
    strict: bool = False,
) -> list[dict]:
    """Typed rows without the blank ones; `positions` gets each kept row's posted index."""
    raw = values.get(spec.name)
    if raw is None or raw == "":
        return []
    if not isinstance(raw, list) or not all(isinstance(row, Mapping) for row in raw):
        raise _Invalid("Send the rows as a list of objects.")
    if len(raw) > spec.max_rows * 2:
        raise _Invalid(f"Use at most {spec.max_rows} rows.")
    rows = []
    for index, row in enumerate(raw):
        columns = [column for column in spec.fields if not column.compute]
        if all(_untouched(column, row.get(column.name), today) for column in columns):
            continue  # an untouched row (blank, or only defaults); people leave one at the bottom
        typed_row: dict[str, object] = {}
        positions.append(index)
        for column in spec.fields:
            if column.compute:
                typed_row[column.name] = None
                continue
            try:
                typed_row[column.name] = _coerce(
                    column, row.get(column.name), _currency(form, column, values), strict
                )
            except _Invalid as exc:
                typed_row[column.name] = None
                problems[f"{spec.name}[{index}].{column.name}"] = str(exc)
        rows.append(typed_row)
    return rows


def _untouched(column: FieldSpec, value: object, today: dt.date) -> bool:
    """True if a cell is blank or still holds the column's default, as a new row shows it."""
    if _is_blank(value):
        return True
    default = today if column.default == "today" else column.default
    if default is None:
        return False
    if column.kind == FieldKind.BOOLEAN:
        try:
            return default is True and _boolean(value) is True
        except _Invalid:
            return False
    shown = default.isoformat() if isinstance(default, dt.date) else str(default)
    return isinstance(value, str | int | Decimal) and str(value).strip() == shown


def _is_blank(value: object) -> bool:
    return value is None or value is False or (isinstance(value, str) and not value.strip())


def _settle(form: FormSpec, spec: FieldSpec, value: object, values: dict) -> object:
    """A computed result in its field's type, rounded half up to whole units or its places.

    Rounding here, not only when storing, means a total that sums computed line amounts adds
    the same rounded figures the person sees on each line.
    """
    if not isinstance(value, Decimal) or not value.is_finite():
        return None
    places = 0 if spec.kind == FieldKind.INTEGER else _places(form, spec, values)
    if places is None:
        return value
    try:
        return value.quantize(Decimal(1).scaleb(-places), context=DECIMAL_CONTEXT)
    except InvalidOperation:
        return None


# -- checks on typed values -------------------------------------------------------------------


def _is_empty(value: object) -> bool:
    return value is None or value == [] or value is False


def _check_field(form, spec, values, required, today, result: Evaluation) -> None:
    value = values[spec.name]
    if _is_empty(value):
        if required:
            if spec.kind == FieldKind.BOOLEAN:
                result.add_error(spec.name, f"Tick “{spec.label}” to continue.")
            elif spec.kind != FieldKind.LINE_ITEMS:  # tables say how many rows with min_rows
                result.add_error(spec.name, f"{spec.label} is required.")
        if spec.kind == FieldKind.LINE_ITEMS and spec.min_rows:
            result.add_error(spec.name, _rows_message(spec))
        return
    if spec.kind == FieldKind.LINE_ITEMS:
        if not spec.min_rows <= len(value) <= spec.max_rows:
            result.add_error(spec.name, _rows_message(spec))
        positions = result.row_positions.get(spec.name, [])
        for index, row in enumerate(value):
            for column in spec.fields:
                path = f"{spec.name}[{positions[index]}].{column.name}"
                if path in result.errors:
                    continue
                cell = row.get(column.name)
                if _is_empty(cell):
                    if column.required:
                        result.add_error(path, f"{column.label} is required.")
                    continue
                for message in _constraint_faults(form, column, cell, values, today):
                    result.add_error(path, message)
        return
    for message in _constraint_faults(form, spec, value, values, today):
        result.add_error(spec.name, message)


def _rows_message(spec: FieldSpec) -> str:
    if spec.min_rows and spec.max_rows:
        if spec.min_rows == 1:
            return (
                f"Add between 1 and {spec.max_rows} rows." if spec.max_rows > 1 else "Add one row."
            )
        return f"Add between {spec.min_rows} and {spec.max_rows} rows."
    return f"Use at most {spec.max_rows} rows."


def _constraint_faults(form, spec, value, values, today) -> list[str]:
    kind = spec.kind
    faults = []
    if kind in (FieldKind.TEXT, FieldKind.TEXTAREA, FieldKind.EMAIL):
        too_long = spec.max_length is not None and len(value) > spec.max_length
        if too_long:
            faults.append(f"Use at most {spec.max_length} characters (this has {len(value)}).")
        if spec.min_length is not None and len(value) < spec.min_length:
            faults.append(f"Use at least {spec.min_length} characters.")
        # Length first: a value already refused is not matched (RE2's time grows with length).
        if spec.pattern and not too_long and not compiled_pattern(spec.pattern).fullmatch(value):
            faults.append(spec.pattern_message or "This is not in the expected format.")
    elif kind in (FieldKind.INTEGER, FieldKind.DECIMAL, FieldKind.MONEY):
        if spec.min is not None and value < spec.min:
            faults.append(f"Must be at least {_number_label(spec.min)}.")
        if spec.max is not None and value > spec.max:
            faults.append(f"Must be at most {_number_label(spec.max)}.")
        places = _places(form, spec, values)
        if places is not None and not spec.is_computed and _places_of(value) > places:
            if places == 0:
                faults.append("Use whole units, without decimals.")
            else:
                faults.append(f"Use at most {places} decimal places.")
    elif kind == FieldKind.DATE:
        low = today if spec.min == "today" else spec.min
        high = today if spec.max == "today" else spec.max
        if low is not None and value < low:
            faults.append(f"Must be on or after {_date_label(spec.min, low)}.")
        if high is not None and value > high:
            faults.append(f"Must be on or before {_date_label(spec.max, high)}.")
    elif kind == FieldKind.MULTI_SELECT:
        if spec.min_items is not None and len(value) < spec.min_items:
            faults.append(f"Choose at least {spec.min_items}.")
        if spec.max_items is not None and len(value) > spec.max_items:
            faults.append(f"Choose at most {spec.max_items}.")
    elif kind == FieldKind.FILE:
        files = value if isinstance(value, list) else [value]
        if len(files) > spec.max_files:
            faults.append(f"Attach at most {spec.max_files} files.")
        for item in files:
            faults.extend(file_faults(spec, item))
    return faults


def file_faults(spec: FieldSpec, item: FileValue) -> list[str]:
    """What is wrong with one file for this field (empty, too large, wrong kind), if anything."""
    if item.size == 0:
        return [f"{item.name} is empty."]
    if item.size > spec.max_size_bytes:
        return [f"{item.name} is larger than the {_megabytes(spec.max_size_mb)} limit."]
    if item.kind not in spec.accept:
        wanted = describe(spec.accept)
        if item.kind is None:
            return [f"{item.name} is not a {wanted} file (its contents say otherwise)."]
        found = FILE_KINDS[item.kind].label
        return [f"{item.name} is a {found}; attach a {wanted} file."]
    return []


def _megabytes(value: Decimal) -> str:
    return f"{value.normalize():f} MB"


def _places(form: FormSpec, spec: FieldSpec, values: dict) -> int | None:
    if spec.kind == FieldKind.MONEY:
        return currency_places(form.currency_of(spec, values))
    if spec.kind == FieldKind.DECIMAL:
        return spec.places
    return None


def _places_of(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _number_label(value: Decimal) -> str:
    return f"{value:,}"


def _date_label(declared, value: dt.date) -> str:
    return "today" if declared == "today" else value.isoformat()


# -- encoding: typed -> stored JSON -----------------------------------------------------------


def _encode(form: FormSpec, spec: FieldSpec, value: object, values: dict) -> object:
    if value is None:
        return None
    kind = spec.kind
    if kind == FieldKind.LINE_ITEMS:
        return [
            {
                column.name: _encode(form, column, row.get(column.name), values)
                for column in spec.fields
            }
            for row in value
        ]
    if kind == FieldKind.INTEGER:
        return int(value)
    if kind == FieldKind.DECIMAL:
        if spec.places is not None:
            value = value.quantize(Decimal(1).scaleb(-spec.places), context=DECIMAL_CONTEXT)
        return _decimal_text(value)
    if kind == FieldKind.MONEY:
        currency = form.currency_of(spec, values)
        amount = value.quantize(
            Decimal(1).scaleb(-currency_places(currency)), context=DECIMAL_CONTEXT
        )
        return {"amount": _decimal_text(amount), "currency": currency}
    if kind == FieldKind.DATE:
        return value.isoformat()
    if kind == FieldKind.FILE:
        if isinstance(value, list):
            return [item.as_record() for item in value]
        return value.as_record()
    return value


def _decimal_text(value: Decimal) -> str:
    return f"{value:f}"


# -- stored JSON -> typed, and -> raw for editing ---------------------------------------------


def decode(form: FormSpec, data: Mapping) -> dict:
    """Stored data -> typed values, as expressions (chain conditions, say) expect them."""
    return {spec.name: _decode(spec, data.get(spec.name)) for spec in form.inputs}


def decode_value(spec: FieldSpec, value: object) -> object:
    """One field's stored value -> its typed value, as `decode` gives it."""
    return _decode(spec, value)


def _decode(spec: FieldSpec, value: object) -> object:
    if value is None:
        return [] if spec.kind in (FieldKind.LINE_ITEMS, FieldKind.MULTI_SELECT) else None
    kind = spec.kind
    if kind == FieldKind.LINE_ITEMS:
        return [{c.name: _decode(c, row.get(c.name)) for c in spec.fields} for row in value]
    if kind == FieldKind.INTEGER:
        return Decimal(value)
    if kind == FieldKind.DECIMAL:
        return Decimal(value)
    if kind == FieldKind.MONEY:
        return Decimal(value["amount"])
    if kind == FieldKind.DATE:
        return dt.date.fromisoformat(value)
    if kind == FieldKind.FILE:
        if isinstance(value, list):
            return [FileValue.from_record(item) for item in value]
        return FileValue.from_record(value)
    return value


def to_raw(form: FormSpec, data: Mapping) -> dict:
    """Stored data -> raw input, to put a stored submission back into its form for editing."""
    return {
        spec.name: _to_raw(spec, data.get(spec.name))
        for spec in form.inputs
        if not spec.is_computed
    }


def _to_raw(spec: FieldSpec, value: object) -> object:
    if value is None:
        return None
    kind = spec.kind
    if kind == FieldKind.LINE_ITEMS:
        return [
            {c.name: _to_raw(c, row.get(c.name)) for c in spec.fields if not c.compute}
            for row in value
        ]
    if kind == FieldKind.MONEY:
        return value["amount"]
    if kind == FieldKind.INTEGER:
        return str(value)
    if kind == FieldKind.FILE:
        return _decode(spec, value)
    return value


def summary(form: FormSpec, data: Mapping) -> str:
    """A one-line description of a submission from its summary fields ('Acme Ltd · INV-1043')."""
    parts = []
    for name in form.summary_fields:
        spec, value = form.field(name), data.get(name)
        if spec is None or value in (None, "", []):
            continue
        if spec.kind == FieldKind.MONEY:
            parts.append(f"{value['currency'] or ''} {value['amount']}".strip())
        elif spec.kind in (FieldKind.SELECT, FieldKind.RADIO):
            parts.append(spec.choice_label(value))
        elif spec.kind == FieldKind.MULTI_SELECT:
            parts.append(", ".join(spec.choice_label(item) for item in value))
        elif spec.kind == FieldKind.BOOLEAN:
            parts.append(f"{spec.label}: {'yes' if value else 'no'}")
        else:
            parts.append(str(value))
    return " · ".join(parts)[:300]


def amount(form: FormSpec, data: Mapping) -> tuple[Decimal | None, str | None]:
    """The submission's headline amount and currency, from the form's amount_field."""
    spec = form.field(form.amount_field) if form.amount_field else None
    value = data.get(spec.name) if spec else None
    if value is None:
        return None, None
    if spec.kind == FieldKind.MONEY:
        return Decimal(value["amount"]), value["currency"]
    return Decimal(value), None
