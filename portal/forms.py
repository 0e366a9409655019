"""The only bridge between the domain's FormSpec and WTForms, and the home of every WTForms
form (the sign-in, decision and settings forms are at the end).

WTForms renders the page: labels, ids, widgets, the CSRF token. It does not decide what is valid;
portal.domain.values does, for the web form and the API alike. So the flow of a POST is:

    request.form --raw_input()--> raw dict --values.evaluate()--> Evaluation
    raw dict --build()--> a WTForms form to render, with the Evaluation's errors attached

Reading the request ourselves (rather than through WTForms' FieldList) also means a hostile
row index such as `lines-99999999999-quantity` or `lines-²-quantity` is simply ignored.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, MultipleFileField
from werkzeug.datastructures import FileStorage, MultiDict
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, DateInput, EmailInput, ListWidget, TextInput

from portal.domain.schema import FieldKind, FieldSpec, FormSpec
from portal.domain.values import Evaluation

#: Row indexes beyond this are ignored when reading a posted form (max_rows is at most 200).
MAX_ROW_INDEX = 999
KEEP_SUFFIX = "__keep"
_ROW_KEY = re.compile(r"([a-z][a-z0-9_]*)-([0-9]{1,3})-([a-z][a-z0-9_]*)")


class BatonForm(FlaskForm):
    """Base of every generated form class."""

    class Meta:
        # Validation is the domain's; WTForms must not strip or coerce what people typed.
        locales = False


def _field(spec: FieldSpec):
    """The WTForms field that renders one input field (None for computed fields)."""
    kind = spec.kind
    label = spec.label
    if kind == FieldKind.TEXTAREA:
        return TextAreaField(label)
    if kind == FieldKind.EMAIL:
        return StringField(label, widget=EmailInput())
    if kind == FieldKind.DATE:
        return StringField(label, widget=DateInput())
    if kind in (FieldKind.TEXT, FieldKind.INTEGER, FieldKind.DECIMAL, FieldKind.MONEY):
        return StringField(label, widget=TextInput())
    if kind == FieldKind.SELECT:
        choices = [SelectChoice("", "Choose…")] + _choices(spec)
        return SelectField(label, choices=choices, validate_choice=False)
    if kind == FieldKind.RADIO:
        return RadioField(label, choices=_choices(spec), validate_choice=False)
    if kind == FieldKind.MULTI_SELECT:
        return SelectMultipleField(
            label,
            choices=_choices(spec),
            validate_choice=False,
            widget=ListWidget(prefix_label=False),
            option_widget=CheckboxInput(),
        )
    if kind == FieldKind.BOOLEAN:
        return BooleanField(label)
    if kind == FieldKind.FILE:
        return MultipleFileField(label) if spec.multiple else FileField(label)
    if kind == FieldKind.LINE_ITEMS:
        return FieldList(FormField(_row_class(spec)), label=label, min_entries=0)
    raise ValueError(f"no widget for {kind}")


def _choices(spec: FieldSpec) -> list[SelectChoice]:
    return [SelectChoice(choice.value, choice.label) for choice in spec.choices]


def _row_class(spec: FieldSpec) -> type[Form]:
    columns = {column.name: _field(column) for column in spec.fields if not column.compute}
    return type(f"{spec.name}_row", (Form,), columns)


@lru_cache(maxsize=256)
def form_class(spec: FormSpec) -> type[BatonForm]:
    """The WTForms class for a form version (built once per process)."""
    fields = {spec_.name: _field(spec_) for spec_ in spec.inputs if not spec_.is_computed}
    return type(f"{spec.slug}_form", (BatonForm,), fields)


def build(spec: FormSpec, raw: dict, evaluation: Evaluation | None = None) -> BatonForm:
    """A form to render, filled with `raw` values and, if given, the evaluation's errors."""
    form = form_class(spec)(formdata=to_formdata(spec, raw))
    if evaluation is not None:
        attach_errors(form, spec, evaluation)
    return form


def blank_input(spec: FormSpec, today: dt.date) -> dict:
    """Raw input for a new, untouched form: defaults, and the first rows of each table."""
    raw: dict = {}
    for field in spec.inputs:
        if field.is_computed:
            continue
        if field.kind == FieldKind.LINE_ITEMS:
            raw[field.name] = [_blank_row(field, today) for _ in range(max(1, field.min_rows))]
        else:
            raw[field.name] = _default(field, today)
    return raw


def _blank_row(field: FieldSpec, today: dt.date) -> dict:
    return {column.name: _default(column, today) for column in field.fields if not column.compute}


def _default(field: FieldSpec, today: dt.date | None = None) -> object:
    if field.default == "today" and field.kind == FieldKind.DATE:
        return today.isoformat() if today else None
    if isinstance(field.default, dt.date):
        return field.default.isoformat()
    if field.default is None or isinstance(field.default, bool | list):
        return field.default
    return str(field.default)


def add_row(spec: FormSpec, raw: dict, table: str, today: dt.date) -> bool:
    """Append an empty row to a line-items table; False if there is no such table or no room."""
    field = spec.field(table)
    if field is None or field.kind != FieldKind.LINE_ITEMS:
        return False
    rows = raw.setdefault(table, []) or []
    if len(rows) >= field.max_rows:
        return False
    rows.append(_blank_row(field, today))
    raw[table] = rows
    return True


def remove_row(spec: FormSpec, raw: dict, table: str, index: int) -> bool:
    """Remove one row of a line-items table; False if it does not exist."""
    field = spec.field(table)
    rows = raw.get(table) or []
    if field is None or field.kind != FieldKind.LINE_ITEMS or not 0 <= index < len(rows):
        return False
    del rows[index]
    return True


def raw_input(spec: FormSpec, formdata: MultiDict) -> dict:
    """What was posted, as the domain's raw input (files are read separately, see files())."""
    raw: dict = {}
    rows: dict[str, dict[int, dict[str, str | list[str]]]] = {}
    for key in formdata:
        # Werkzeug names a part whose name it cannot read None; such a part belongs to no field.
        match = _ROW_KEY.fullmatch(key) if isinstance(key, str) else None
        if match:
            table, index, column = match.group(1), int(match.group(2)), match.group(3)
            rows.setdefault(table, {}).setdefault(index, {})[column] = formdata.get(key)
    for field in spec.inputs:
        if field.is_computed or field.kind == FieldKind.FILE:
            continue
        if field.kind == FieldKind.LINE_ITEMS:
            posted = rows.get(field.name, {})
            columns = {c.name for c in field.fields if not c.compute}
            raw[field.name] = [
                {name: value for name, value in posted[index].items() if name in columns}
                for index in sorted(posted)
            ]
        elif field.kind == FieldKind.MULTI_SELECT:
            raw[field.name] = formdata.getlist(field.name)
        elif field.kind == FieldKind.BOOLEAN:
            raw[field.name] = formdata.getlist(field.name) or None
        else:
            values = formdata.getlist(field.name)
            raw[field.name] = values[0] if len(values) == 1 else (values or None)
    return raw


def uploaded_files(spec: FormSpec, files: MultiDict) -> dict[str, list[FileStorage]]:
    """Non-empty uploads per file field (a browser posts an empty part for an unused input)."""
    found = {}
    for field in spec.inputs:
        if field.kind == FieldKind.FILE:
            found[field.name] = [
                item for item in files.getlist(field.name) if item and item.filename
            ]
    return found


def kept_tokens(spec: FormSpec, formdata: MultiDict) -> dict[str, list[str]]:
    """Tokens of already uploaded files the person chose to keep, per file field."""
    return {
        field.name: formdata.getlist(field.name + KEEP_SUFFIX)[:50]
        for field in spec.inputs
        if field.kind == FieldKind.FILE
    }


def to_formdata(spec: FormSpec, raw: dict) -> MultiDict:
    """Raw input -> the MultiDict a browser would post, for WTForms to render."""
    pairs: list[tuple[str, str]] = []
    for field in spec.inputs:
        value = raw.get(field.name)
        if field.is_computed or field.kind == FieldKind.FILE:
            continue
        if field.kind == FieldKind.LINE_ITEMS:
            for index, row in enumerate(value or []):
                for column in field.fields:
                    if column.compute:
                        continue
                    cell = row.get(column.name) if isinstance(row, dict) else None
                    pairs.extend(
                        _pairs(f"{field.name}-{index}-{column.name}", column, cell, blank=True)
                    )
        else:
            pairs.extend(_pairs(field.name, field, value))
    return MultiDict(pairs)


def _pairs(
    name: str, field: FieldSpec, value: object, blank: bool = False
) -> list[tuple[str, str]]:
    if field.kind == FieldKind.BOOLEAN:
        ticked = value is True or (isinstance(value, str | list) and _ticked(value))
        return [(name, "y")] if ticked else ([(name, "")] if blank else [])
    if isinstance(value, list):
        return [(name, str(item)) for item in value if item is not None]
    if value is None:
        return [(name, "")] if blank else []
    return [(name, str(value))]


def _ticked(value: str | list) -> bool:
    items = value if isinstance(value, list) else [value]
    return any(str(item).strip().lower() in {"y", "yes", "on", "true", "1"} for item in items)


def attach_errors(form: BatonForm, spec: FormSpec, evaluation: Evaluation) -> None:
    """Put the evaluation's messages on the WTForms fields they belong to."""
    for path, messages in evaluation.errors.items():
        target = _field_at(form, spec, path)
        if target is not None:
            target.errors = list(messages)


def _field_at(form: BatonForm, spec: FormSpec, path: str):
    match = re.fullmatch(r"([a-z][a-z0-9_]*)(?:\[(\d+)\]\.([a-z][a-z0-9_]*))?", path)
    if not match or match.group(1) not in form:
        return None
    field = form[match.group(1)]
    if match.group(2) is None:
        return field
    index = int(match.group(2))
    if index >= len(field.entries):
        return None
    row = field.entries[index].form
    return row[match.group(3)] if match.group(3) in row else None


def error_anchor(spec: FormSpec, path: str) -> str:
    """The element id an error summary links to for a path (`lines[2].qty` -> `lines-2-qty`)."""
    match = re.fullmatch(r"([a-z][a-z0-9_]*)\[(\d+)\]\.([a-z][a-z0-9_]*)", path)
    if match:
        return f"{match.group(1)}-{match.group(2)}-{match.group(3)}"
    field = spec.field(path)
    if field is not None and field.kind in (FieldKind.RADIO, FieldKind.MULTI_SELECT):
        return f"{path}-0"
    if field is not None and field.kind == FieldKind.LINE_ITEMS:
        return f"table-{path}"
    return path or "form-errors"


def error_label(spec: FormSpec, path: str) -> str:
    """Which field an error is about, as the summary names it ('Quantity, row 3')."""
    match = re.fullmatch(r"([a-z][a-z0-9_]*)\[(\d+)\]\.([a-z][a-z0-9_]*)", path)
    if match:
        table = spec.field(match.group(1))
        column = table.column(match.group(3)) if table else None
        if column is not None:
            return f"{table.label}: {column.label}, row {int(match.group(2)) + 1}"
    field = spec.field(path)
    return field.label if field is not None else ""


# -- the pages' own forms (the schema-built ones are above) ----------------------------------


class LoginForm(FlaskForm):
    email = EmailField(
        "Email address", validators=[DataRequired("Enter your email address."), Length(max=254)]
    )
    password = PasswordField(
        "Password", validators=[DataRequired("Enter your password."), Length(max=1000)]
    )


class DecisionForm(FlaskForm):
    """The comment, signature and seen-version fields beside the decision buttons."""

    comment = TextAreaField(
        "Comment", validators=[Length(max=4000, message="Keep the comment under 4,000 characters.")]
    )
    password = PasswordField("Your password")
    seen = HiddenField()


def _to_id(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


class SettingsForm(FlaskForm):
    away_from = DateField("First day away", validators=[Optional()])
    away_until = DateField("Last day away", validators=[Optional()])
    # Any id is accepted here; the service says clearly why a choice cannot be a delegate.
    delegate = SelectField("Delegate", coerce=_to_id, validate_choice=False, default=0)
    daily_digest = BooleanField(
        "Send me one email a day listing my open tasks, instead of one per task"
    )
