"""Form schema JSON -> frozen dataclasses, after the meta-schema and the semantic checks pass.

A schema is checked in two passes. The meta-schema (form_schema.json, JSON Schema 2020-12)
catches shape faults: unknown keys, wrong types, misspelt field types. The semantic pass catches
what a shape cannot express: duplicate names, expressions that do not parse or name unknown
fields, min above max, circular computations. Either way every fault carries the JSON path it
belongs to (`fields[3].type`), and a schema with any fault yields no FormSpec at all.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from functools import cache
from importlib import resources

import jsonschema
import re2
from jsonschema.exceptions import best_match

from portal.domain import expressions, json_text, sla
from portal.domain.chain import (
    AssigneeSpec,
    ChainSpec,
    OutputKey,
    OutputSpec,
    PickKind,
    StepSpec,
)
from portal.domain.expressions import Expression, ExpressionError, Type, ValueKind
from portal.domain.filetype import FILE_KINDS
from portal.domain.refusal import Refused

META_SCHEMA_FILE = "form_schema.json"
DEFAULT_TEXT_MAX_LENGTH = 200
DEFAULT_TEXTAREA_MAX_LENGTH = 5000
DEFAULT_FILE_MAX_MB = Decimal(10)
DEFAULT_MAX_ROWS = 50
#: Integer fields stay well inside 64-bit range so every database and JSON reader agrees.
INTEGER_LIMIT = 10**15


class FieldKind(StrEnum):
    """The `type` of a field in a form schema."""

    TEXT = "text"
    TEXTAREA = "textarea"
    EMAIL = "email"
    INTEGER = "integer"
    DECIMAL = "decimal"
    MONEY = "money"
    DATE = "date"
    SELECT = "select"
    RADIO = "radio"
    MULTI_SELECT = "multi_select"
    BOOLEAN = "boolean"
    FILE = "file"
    LINE_ITEMS = "line_items"
    SECTION = "section"
    HELP = "help"


BLOCK_KINDS = frozenset({FieldKind.SECTION, FieldKind.HELP})
NUMBER_KINDS = frozenset({FieldKind.INTEGER, FieldKind.DECIMAL, FieldKind.MONEY})
CHOICE_KINDS = frozenset({FieldKind.SELECT, FieldKind.RADIO, FieldKind.MULTI_SELECT})
STRING_KINDS = frozenset(
    {FieldKind.TEXT, FieldKind.TEXTAREA, FieldKind.EMAIL, FieldKind.SELECT, FieldKind.RADIO}
)

#: Digits after the decimal point for currencies whose minor unit is not cents (ISO 4217).
CURRENCY_PLACES = {"JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "VND": 0, "BHD": 3, "KWD": 3, "OMR": 3}


def currency_places(code: str | None) -> int:
    """Decimal places of a currency's minor unit (2 unless ISO 4217 says otherwise)."""
    return CURRENCY_PLACES.get(code or "", 2)


@dataclass(frozen=True)
class SchemaError:
    """One fault in a schema: where (a JSON path such as `fields[3].type`) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class SchemaInvalid(Refused, ValueError):
    """A schema failed its checks; `errors` lists every fault found, `source` names the file."""

    def __init__(self, errors: list[SchemaError], source: str = ""):
        self.errors = errors
        self.source = source
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        """One message per fault, each prefixed with the source file when there is one."""
        prefix = f"{self.source}: " if self.source else ""
        return [f"{prefix}{error}" for error in self.errors]


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


@dataclass(frozen=True)
class FieldSpec:
    """One entry of `fields` (or a column of a line-items field), with defaults filled in."""

    kind: FieldKind
    name: str = ""
    label: str = ""
    help: str = ""
    placeholder: str = ""
    width: str = "full"
    required: bool = False
    required_if: Expression | None = None
    visible_if: Expression | None = None
    compute: Expression | None = None
    default: object = None
    min: Decimal | dt.date | str | None = None
    max: Decimal | dt.date | str | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    pattern_message: str | None = None
    choices: tuple[Choice, ...] = ()
    min_items: int | None = None
    max_items: int | None = None
    places: int | None = None
    currency: str | None = None
    currency_field: str | None = None
    accept: tuple[str, ...] = ()
    max_size_mb: Decimal = DEFAULT_FILE_MAX_MB
    multiple: bool = False
    max_files: int = 1
    rows: int = 5
    fields: tuple[FieldSpec, ...] = ()
    min_rows: int = 0
    max_rows: int = DEFAULT_MAX_ROWS
    add_label: str = "Add a row"
    title: str = ""
    text: str = ""
    path: str = ""

    @property
    def is_input(self) -> bool:
        """True for fields that hold a value (everything but section and help blocks)."""
        return self.kind not in BLOCK_KINDS

    @property
    def is_computed(self) -> bool:
        return self.compute is not None

    @property
    def max_size_bytes(self) -> int:
        return int(self.max_size_mb * 1024 * 1024)

    def choice_label(self, value: str) -> str:
        """The label shown for a stored choice value (the value itself if no longer offered)."""
        for choice in self.choices:
            if choice.value == value:
                return choice.label
        return value

    def column(self, name: str) -> FieldSpec | None:
        """A line-items column by name."""
        return next((column for column in self.fields if column.name == name), None)


class StepKind(StrEnum):
    VISIBLE = "visible"  # decide whether a field (or block) shows
    COMPUTE = "compute"  # fill a computed field, or the computed columns of a line-items field


@dataclass(frozen=True)
class Step:
    kind: StepKind
    key: str  # a field name, or a block's path


@dataclass(frozen=True)
class RuleSpec:
    """A cross-field rule: `check` must not be false; otherwise `message` shows at `field`."""

    check: Expression
    message: str
    field: str | None
    path: str


@dataclass(frozen=True)
class FormSpec:
    """A whole form, checked and ready to render, validate and store."""

    slug: str
    title: str
    description: str
    fields: tuple[FieldSpec, ...]
    rules: tuple[RuleSpec, ...] = ()
    amount_field: str | None = None
    summary_fields: tuple[str, ...] = ()
    submit_label: str = "Submit"
    #: The approval chain; None for a form that needs no approval.
    approval: ChainSpec | None = None
    #: Visibility checks and computations, each after everything it reads (see evaluation_steps).
    steps: tuple[Step, ...] = ()
    _by_name: dict[str, FieldSpec] = field(default_factory=dict, compare=False, repr=False)

    def field(self, name: str) -> FieldSpec | None:
        """The top-level field called `name`, or None."""
        return self._by_name.get(name)

    @property
    def inputs(self) -> tuple[FieldSpec, ...]:
        """Top-level fields that hold values, in form order."""
        return tuple(spec for spec in self.fields if spec.is_input)

    @property
    def upload_bytes(self) -> int:
        """The most the form's attachments can add up to, by its file fields' own limits."""
        return sum(
            spec.max_size_bytes * (spec.max_files if spec.multiple else 1)
            for spec in self.inputs
            if spec.kind == FieldKind.FILE
        )

    def currency_of(self, spec: FieldSpec, values: dict) -> str | None:
        """The currency a money field is in, given the form's typed values."""
        if spec.currency:
            return spec.currency
        currency = values.get(spec.currency_field) if spec.currency_field else None
        return currency if isinstance(currency, str) else None


class PatternError(ValueError):
    """A `pattern` that RE2 cannot run; the message says why, for the admin."""


@cache
def compiled_pattern(pattern: str) -> re2._Regexp:
    """A field's `pattern`, compiled by RE2, which matches in time linear in the text's length.

    Python's `re` backtracks: `^(a+)+$` takes seconds on 25 characters and doubles with each
    one, so an admin's pattern could stall a web process. RE2 never backtracks; what it cannot
    do in linear time (lookarounds, backreferences) it refuses to compile, and so do we.
    """
    options = re2.Options()
    options.log_errors = False  # the refusal says it; RE2 would also print it to stderr
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise PatternError(
            f"not a regular expression Baton can run: {reason} (patterns run on RE2, which has "
            "no lookarounds or backreferences)"
        ) from None


# -- loading ----------------------------------------------------------------------------------


@cache
def meta_schema() -> dict:
    """The JSON Schema every form schema must satisfy."""
    text = resources.files("portal.domain").joinpath(META_SCHEMA_FILE).read_text("utf-8")
    return json.loads(text)


@cache
def _meta_validator() -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(meta_schema())
    return jsonschema.Draft202012Validator(meta_schema())


def decode(text: str | bytes, source: str = "") -> dict:
    """Parse schema JSON keeping numbers exact (Decimal), or raise SchemaInvalid."""
    try:
        document = json_text.read(text, unique_keys=False)
    except json_text.JsonUnreadable as exc:
        raise SchemaInvalid([SchemaError("", f"not valid JSON: {exc}")], source) from None
    if not isinstance(document, dict):
        raise SchemaInvalid([SchemaError("", "a form schema must be a JSON object")], source)
    return document


def canonical_json(document: dict) -> str:
    """The schema as sorted, compact JSON: equal schemas give equal text whatever their layout."""
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )


def content_hash(document: dict) -> str:
    """SHA-256 of the canonical JSON, used to tell whether a schema really changed."""
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()


def load(document: dict, slug: str, source: str = "") -> FormSpec:
    """Check a decoded schema and build its FormSpec; raise SchemaInvalid listing every fault."""
    errors = list(_meta_errors(document))
    # With shape faults the semantic pass still runs, over what it can read, so that one run
    # lists every fault: a bad `max` must not hide a bad `when` until it is fixed.
    builder = _Builder(document, misshapen=bool(errors))
    spec = builder.guarded(builder.build, slug)
    faulty = [error.path for error in errors if error.path]
    errors += [error for error in builder.errors if not _explained(error.path, faulty)]
    if errors:
        raise SchemaInvalid(errors, source)
    return spec


def _explained(path: str, faulty: list[str]) -> bool:
    """A semantic fault at `path` repeats a shape fault: at it, inside it, or in its items."""
    return any(
        path == shape or path.startswith((shape + ".", shape + "[")) or shape.startswith(path + "[")
        for shape in faulty
    )


def load_text(text: str | bytes, slug: str, source: str = "") -> FormSpec:
    """Decode and load schema JSON text."""
    return load(decode(text, source), slug, source)


def format_path(parts: Iterable[str | int]) -> str:
    """['fields', 3, 'type'] -> 'fields[3].type'."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _meta_errors(document: dict) -> Iterator[SchemaError]:
    raw = list(_meta_validator().iter_errors(document))
    # A key that fails its own check counts as "unevaluated" to the object holding it, so an
    # unknown-key complaint beside a more specific fault is noise. Keep it only for keys that
    # the meta-schema declares nowhere (a typo), which no other fault can explain.
    faulty = {(tuple(e.absolute_path), e.validator == "unevaluatedProperties") for e in raw}
    seen = set()
    for error in sorted(raw, key=lambda e: [(isinstance(p, int), p) for p in e.absolute_path]):
        path = tuple(error.absolute_path)
        if error.validator == "unevaluatedProperties":
            unknown = sorted(set(error.instance) - _evaluated_keys(error))
            explained = any(
                other[: len(path)] == path and (len(other) > len(path) or not unevaluated)
                for other, unevaluated in faulty
            )
            if explained:
                unknown = [key for key in unknown if key not in _declared_keys()]
            if not unknown:
                continue
            message = _unknown_keys(unknown)
        else:
            message = _humane(error)
        item = SchemaError(format_path(path), message)
        if item not in seen:
            seen.add(item)
            yield item


def _unknown_keys(keys: list[str]) -> str:
    return f"unknown key{'s' if len(keys) > 1 else ''} " + ", ".join(repr(key) for key in keys)


def _evaluated_keys(error: jsonschema.ValidationError) -> set[str]:
    """Keys jsonschema did not list as unexpected in an unevaluatedProperties error."""
    listed = set(re.findall(r"'([^']*)'", error.message.split("(", 1)[-1]))
    return set(error.instance) - listed


@cache
def _declared_keys() -> frozenset[str]:
    """Every property name the meta-schema declares anywhere."""
    keys: set[str] = set()

    def walk(node) -> None:
        if isinstance(node, dict):
            keys.update(node.get("properties", {}))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(meta_schema())
    return frozenset(keys)


def _humane(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties":
        return _unknown_keys(sorted(set(error.instance) - set(error.schema.get("properties", {}))))
    if error.validator == "oneOf" and "currency" in error.schema.get("oneOf", [{}])[0].get(
        "required", []
    ):
        return "a money field needs exactly one of 'currency' or 'currency_field'"
    if error.validator == "oneOf" and "user" in error.schema.get("oneOf", [{}])[0].get(
        "required", []
    ):
        return "an assignee names exactly one of 'user', 'group', 'manager', 'field' or 'lookup'"
    if error.validator == "oneOf" and "every" in error.schema.get("oneOf", [{}])[0].get(
        "required", []
    ):
        return "a reminder says either 'every' (an interval) or 'at' (a share such as 50%)"
    if error.validator == "oneOf" and "manager" in error.schema.get("oneOf", [{}])[0].get(
        "required", []
    ):
        return "escalate 'to' names exactly one of 'manager', 'group' or 'user'"
    if error.validator == "dependentRequired" and "agent_limit" in error.instance:
        return "'agent_limit' says when an agent may only recommend, so the step needs 'review'"
    if "dependentSchemas" in error.relative_schema_path:
        return "'pick' chooses among a group's members, so it needs 'group'"
    if error.validator == "pattern" and error.schema.get("description"):
        return f"{error.instance!r} must be {error.schema['description']}"
    if error.context:
        return _humane(best_match(error.context))
    return error.message


# -- semantic checks --------------------------------------------------------------------------

_FIELD_TYPES: dict[FieldKind, Type] = {
    FieldKind.TEXT: expressions.STRING,
    FieldKind.TEXTAREA: expressions.STRING,
    FieldKind.EMAIL: expressions.STRING,
    FieldKind.SELECT: expressions.STRING,
    FieldKind.RADIO: expressions.STRING,
    FieldKind.MULTI_SELECT: Type(ValueKind.STRING, is_list=True),
    FieldKind.INTEGER: expressions.NUMBER,
    FieldKind.DECIMAL: expressions.NUMBER,
    FieldKind.MONEY: expressions.NUMBER,
    FieldKind.DATE: expressions.DATE,
    FieldKind.BOOLEAN: expressions.BOOLEAN,
    FieldKind.FILE: Type(ValueKind.FILE),
    FieldKind.LINE_ITEMS: Type(ValueKind.ROWS),
}

_OUTPUT_TYPES = {
    "boolean": expressions.BOOLEAN,
    "number": expressions.NUMBER,
    "integer": expressions.NUMBER,
    "string": expressions.STRING,
}


def _output_type(outputs: dict[str, OutputSpec], parts: list[str]) -> Type | None:
    """`steps.<step>.output.<key>`: the type of an earlier step's output key, else unknown."""
    if len(parts) != 3 or parts[1] != "output" or parts[0] not in outputs:
        return None
    key = outputs[parts[0]].key(parts[2])
    return None if key is None else _OUTPUT_TYPES[key.type]


_RESERVED_NAMES = expressions.KEYWORDS | frozenset(expressions.FUNCTIONS)


def _parse_date(value: str | None) -> dt.date | str | None:
    if value is None or value == "today":
        return value
    return dt.date.fromisoformat(value)


class _Builder:
    """Turns a meta-schema-valid document into a FormSpec, collecting semantic faults."""

    def __init__(self, document: dict, misshapen: bool = False):
        self.document = document
        self.errors: list[SchemaError] = []
        #: The document failed the meta-schema: parts of it may not be the shape expected.
        self.misshapen = misshapen
        #: Names of fields too misshapen to build; expressions may still name them.
        self.unbuilt: set[str] = set()

    def guarded(self, make, *args, fallback=None):
        """`make(*args)`; in a misshapen document, `fallback` where its shape (reported) breaks
        it."""
        if not self.misshapen:
            return make(*args)
        try:
            return make(*args)
        except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError, IndexError):
            return fallback

    def fail(self, path: str, message: str) -> None:
        self.errors.append(SchemaError(path, message))

    def build(self, slug: str) -> FormSpec:
        built = []
        for index, raw in enumerate(self.document["fields"]):
            spec = self.guarded(self.field, raw, f"fields[{index}]")
            if spec is not None:
                built.append(spec)
            elif isinstance(raw, dict) and isinstance(raw.get("name"), str):
                self.unbuilt.add(raw["name"])
        fields = tuple(built)
        by_name: dict[str, FieldSpec] = {}
        for spec in fields:
            if not spec.is_input:
                continue
            if spec.name in by_name:
                self.fail(
                    f"{spec.path}.name",
                    f"{spec.name!r} is already used by {by_name[spec.name].path}",
                )
            else:
                by_name[spec.name] = spec
        if not by_name:
            self.fail("fields", "a form needs at least one input field")
        self.guarded(self.check_references, fields, by_name)
        rules = tuple(
            self.guarded(self.rule, raw, f"rules[{i}]", by_name)
            for i, raw in enumerate(self.document.get("rules", []))
        )
        steps = self.guarded(self.evaluation_steps, fields, by_name, fallback=())
        amount_field = self.document.get("amount_field")
        if amount_field and amount_field not in self.unbuilt:
            target = by_name.get(amount_field)
            if target is None or target.kind not in NUMBER_KINDS:
                self.fail(
                    "amount_field", f"{amount_field!r} must name an integer, decimal or money field"
                )
        summary = tuple(self.document.get("summary_fields", []))
        for index, name in enumerate(summary):
            target = by_name.get(name)
            if name in self.unbuilt:
                continue
            if target is None or target.kind in (FieldKind.LINE_ITEMS, FieldKind.FILE):
                self.fail(
                    f"summary_fields[{index}]", f"{name!r} must name a field with a single value"
                )
        approval = self.guarded(self.approval, self.document.get("approval"), by_name)
        return FormSpec(
            slug=slug,
            approval=approval,
            title=self.document["title"],
            description=self.document.get("description", ""),
            fields=fields,
            rules=rules,
            amount_field=amount_field,
            summary_fields=summary,
            submit_label=self.document.get("submit_label", "Submit"),
            steps=steps,
            _by_name=by_name,
        )

    def approval(self, raw: dict | None, by_name: dict[str, FieldSpec]) -> ChainSpec | None:
        """The approval section as a ChainSpec, its expressions and field references checked."""
        if raw is None:
            return None
        steps = []
        seen: dict[str, str] = {}
        #: Outputs of the steps built so far: what a later step's expressions may read.
        self.outputs: dict[str, OutputSpec] = {}
        form_signature = raw.get("signature") == "password"
        defaults = self.timing(raw.get("defaults", {}), "approval.defaults")
        for index, step in enumerate(raw["steps"]):
            path = f"approval.steps[{index}]"
            built = self.guarded(self.step, step, path, seen, by_name, form_signature, defaults)
            if built is not None:
                steps.append(built)
        return ChainSpec(
            steps=tuple(steps),
            fallback_group=raw["fallback_group"],
            resume_after_changes=raw.get("after_changes", "restart") == "resume",
        )

    def step(self, step, path, seen, by_name, form_signature, defaults) -> StepSpec:
        """One approval step, its expressions, assignees and timing checked."""
        if step["name"] in seen:
            self.fail(f"{path}.name", f"{step['name']!r} is already used by {seen[step['name']]}")
        else:
            seen[step["name"]] = path
        expressions_ = {}
        for key in ("when", "auto_approve_if", "agent_limit"):
            if key in step:
                expressions_[key] = self.expression(step[key], f"{path}.{key}")
                if expressions_[key] is not None:
                    self.check_expression(
                        expressions_[key],
                        f"{path}.{key}",
                        by_name,
                        expressions.BOOLEAN,
                        outputs=self.outputs,
                    )
        output = self.output(step["output"], f"{path}.output") if "output" in step else None
        policy = step.get("policy", "any")
        assignees = tuple(
            self.assignee(entry, f"{path}.assignees[{i}]", by_name)
            for i, entry in enumerate(step["assignees"])
        )
        built = StepSpec(
            name=step["name"],
            title=step["title"],
            assignees=assignees,
            policy="quorum" if isinstance(policy, dict) else policy,
            quorum=policy["quorum"] if isinstance(policy, dict) else 1,
            when=expressions_.get("when"),
            auto_approve_if=expressions_.get("auto_approve_if"),
            signature=form_signature or step.get("signature") == "password",
            sign_as=step.get("sign_as", ""),
            timing=self.timing(step, path).merged_over(defaults),
            path=path,
            output=output,
            review_group=step["review"]["group"] if "review" in step else None,
            agent_limit=expressions_.get("agent_limit"),
        )
        self.check_timing(built.timing, path)
        if output is not None:
            self.outputs[built.name] = output
        return built

    def output(self, raw: dict, path: str) -> OutputSpec:
        """A step's `output`: each key a type name, or an object with its type and limits."""
        keys = []
        for name, entry in raw.items():
            entry = {"type": entry} if isinstance(entry, str) else entry
            key = OutputKey(
                name=name,
                type=entry["type"],
                required=entry.get("required", True),
                description=entry.get("description", ""),
                minimum=entry.get("minimum"),
                maximum=entry.get("maximum"),
                choices=tuple(entry.get("enum", ())),
                max_length=entry.get("max_length"),
            )
            if key.type not in ("number", "integer") and (
                key.minimum is not None or key.maximum is not None
            ):
                self.fail(f"{path}.{name}", "minimum and maximum are for number outputs")
            if (key.choices or key.max_length) and key.type != "string":
                self.fail(f"{path}.{name}", "enum and max_length are for string outputs")
            self.check_range(f"{path}.{name}", key.minimum, key.maximum, "minimum", "maximum")
            keys.append(key)
        return OutputSpec(tuple(keys))

    def timing(self, raw: dict, path: str) -> sla.Timing:
        """The timing keys of a step (or the form's defaults) as an sla.Timing."""

        def duration(value: str | None, where: str) -> sla.Duration | None:
            if value is None:
                return None
            try:
                return sla.parse_duration(value)
            except sla.DurationError as exc:
                self.fail(where, str(exc))
                return None

        remind = raw.get("remind")
        escalate = raw.get("escalate")
        timeout = raw.get("on_timeout")
        return sla.Timing(
            due=duration(raw.get("due"), f"{path}.due"),
            remind=None
            if remind is None
            else sla.Reminder(
                every=duration(remind.get("every"), f"{path}.remind.every"),
                at_percent=int(remind["at"].rstrip("%")) if "at" in remind else None,
            ),
            escalate=None
            if escalate is None
            else sla.Escalation(
                manager=escalate["to"].get("manager"),
                group=escalate["to"].get("group"),
                user=(escalate["to"].get("user") or "").strip().lower() or None,
                mode=sla.EscalationMode(escalate.get("mode", "add")),
                after=duration(escalate.get("after"), f"{path}.escalate.after"),
            ),
            on_timeout=None
            if timeout is None
            else sla.Timeout(
                action=sla.TimeoutAction(timeout["action"]),
                after=duration(timeout.get("after"), f"{path}.on_timeout.after"),
            ),
        )

    def check_timing(self, timing: sla.Timing, path: str) -> None:
        """Escalation, timeouts and percentage reminders are measured from a due time."""
        if timing.due is None:
            if timing.escalate:
                self.fail(
                    f"{path}.escalate",
                    "escalation happens after the due time, so the step needs 'due'",
                )
            if timing.on_timeout:
                self.fail(
                    f"{path}.on_timeout",
                    "a timeout counts from the due time, so the step needs 'due'",
                )
            if timing.remind and timing.remind.at_percent:
                self.fail(
                    f"{path}.remind.at", "a reminder at a share of the time allowed needs 'due'"
                )

    def assignee(self, raw: dict, path: str, by_name: dict[str, FieldSpec]) -> AssigneeSpec:
        if "field" in raw and raw["field"] not in self.unbuilt:
            target = by_name.get(raw["field"])
            if target is None or target.kind not in STRING_KINDS - {FieldKind.TEXTAREA}:
                self.fail(
                    f"{path}.field",
                    f"{raw['field']!r} must name an email, text, select or radio field "
                    "that holds the approver's email address",
                )
        lookup = raw.get("lookup")
        if lookup is not None and lookup["field"] not in self.unbuilt:
            target = by_name.get(lookup["field"])
            if target is None or target.kind not in (FieldKind.SELECT, FieldKind.RADIO):
                self.fail(
                    f"{path}.lookup.field", f"{lookup['field']!r} must name a select or radio field"
                )
            else:
                offered = {choice.value for choice in target.choices}
                for value in lookup["users"]:
                    if value not in offered:
                        self.fail(
                            f"{path}.lookup.users",
                            f"{value!r} is not one of the choices of {lookup['field']!r}",
                        )
        return AssigneeSpec(
            user=raw.get("user", "").strip().lower() or None,
            group=raw.get("group"),
            pick=PickKind(raw.get("pick", "all")),
            manager=raw.get("manager"),
            field=raw.get("field"),
            lookup_field=lookup["field"] if lookup else None,
            lookup=tuple(
                (value, email.strip().lower())
                for value, email in (lookup or {}).get("users", {}).items()
            ),
        )

    def field(self, raw: dict, path: str, is_column: bool = False) -> FieldSpec:
        kind = FieldKind(raw["type"])
        name = raw.get("name", "")
        if name in _RESERVED_NAMES:
            self.fail(f"{path}.name", f"{name!r} is a reserved word of the expression language")
        options = dict(
            kind=kind,
            name=name,
            label=raw.get("label", ""),
            help=raw.get("help", ""),
            placeholder=raw.get("placeholder", ""),
            width=raw.get("width", "full"),
            required=raw.get("required", False),
            title=raw.get("title", ""),
            text=raw.get("text", ""),
            path=path,
        )
        for key in ("required_if", "visible_if", "compute"):
            if key in raw:
                options[key] = self.expression(raw[key], f"{path}.{key}")
        if kind in (FieldKind.TEXT, FieldKind.TEXTAREA, FieldKind.EMAIL):
            default_max = (
                DEFAULT_TEXTAREA_MAX_LENGTH
                if kind == FieldKind.TEXTAREA
                else DEFAULT_TEXT_MAX_LENGTH
            )
            options["min_length"] = raw.get("min_length")
            options["max_length"] = raw.get("max_length", default_max)
            self.check_range(
                path, options["min_length"], options["max_length"], "min_length", "max_length"
            )
            options["default"] = raw.get("default")
            options["rows"] = raw.get("rows", 5)
            if "pattern" in raw:
                try:
                    compiled_pattern(raw["pattern"])
                except PatternError as exc:
                    self.fail(f"{path}.pattern", str(exc))
                options["pattern"] = raw["pattern"]
                options["pattern_message"] = raw.get("pattern_message")
        elif kind in NUMBER_KINDS:
            options["min"] = _number(raw.get("min"))
            options["max"] = _number(raw.get("max"))
            options["default"] = _number(raw.get("default"))
            self.check_range(path, options["min"], options["max"], "min", "max")
            if kind == FieldKind.INTEGER:
                for key in ("min", "max", "default"):
                    value = options[key]
                    if value is not None and value != value.to_integral_value():
                        self.fail(f"{path}.{key}", f"{value} is not a whole number")
            if kind == FieldKind.DECIMAL:
                options["places"] = raw.get("places")
            if kind == FieldKind.MONEY:
                options["currency"] = raw.get("currency")
                options["currency_field"] = raw.get("currency_field")
                options["places"] = currency_places(raw.get("currency"))
        elif kind == FieldKind.DATE:
            options["min"] = _parse_date_or_fail(self, raw.get("min"), f"{path}.min")
            options["max"] = _parse_date_or_fail(self, raw.get("max"), f"{path}.max")
            options["default"] = _parse_date_or_fail(self, raw.get("default"), f"{path}.default")
            if isinstance(options["min"], dt.date) and isinstance(options["max"], dt.date):
                self.check_range(path, options["min"], options["max"], "min", "max")
        elif kind in CHOICE_KINDS:
            choices = tuple(
                Choice(c, c) if isinstance(c, str) else Choice(c["value"], c["label"])
                for c in raw["choices"]
            )
            values = [choice.value for choice in choices]
            for index, value in enumerate(values):
                if value in values[:index]:
                    self.fail(f"{path}.choices[{index}]", f"{value!r} is listed twice")
            options["choices"] = choices
            options["default"] = raw.get("default")
            if options["default"] is not None and options["default"] not in values:
                self.fail(f"{path}.default", f"{options['default']!r} is not one of the choices")
            options["min_items"] = raw.get("min_items")
            options["max_items"] = raw.get("max_items")
            self.check_range(
                path, options["min_items"], options["max_items"], "min_items", "max_items"
            )
        elif kind == FieldKind.BOOLEAN:
            options["default"] = raw.get("default")
        elif kind == FieldKind.FILE:
            options["accept"] = tuple(raw["accept"])
            unknown = [kind for kind in options["accept"] if kind not in FILE_KINDS]
            if unknown:
                self.fail(f"{path}.accept", f"unknown file kinds: {', '.join(unknown)}")
            options["max_size_mb"] = _number(raw.get("max_size_mb")) or DEFAULT_FILE_MAX_MB
            options["multiple"] = raw.get("multiple", False)
            options["max_files"] = raw.get("max_files", 10 if options["multiple"] else 1)
            if not options["multiple"] and options["max_files"] != 1:
                self.fail(f"{path}.max_files", 'max_files needs "multiple": true')
        elif kind == FieldKind.LINE_ITEMS:
            columns = tuple(
                self.field(column, f"{path}.fields[{i}]", is_column=True)
                for i, column in enumerate(raw["fields"])
            )
            seen: dict[str, str] = {}
            for column in columns:
                if column.name in seen:
                    self.fail(
                        f"{column.path}.name",
                        f"{column.name!r} is already used by {seen[column.name]}",
                    )
                seen[column.name] = column.path
            options["fields"] = columns
            options["min_rows"] = raw.get("min_rows", 0)
            options["max_rows"] = raw.get("max_rows", DEFAULT_MAX_ROWS)
            options["add_label"] = raw.get("add_label", "Add a row")
            self.check_range(path, options["min_rows"], options["max_rows"], "min_rows", "max_rows")
        if options.get("compute") and (raw.get("min") is not None or raw.get("max") is not None):
            self.fail(
                f"{path}.{'min' if raw.get('min') is not None else 'max'}",
                "a computed field is filled in by Baton, so nobody could correct it; "
                "check its value with a rule, whose message says what to change",
            )
        if options.get("compute") and (options.get("required") or "required_if" in options):
            self.fail(
                f"{path}.required",
                "a computed field is filled in by Baton, so it cannot be required",
            )
        return FieldSpec(**options)

    def expression(self, source: str, path: str) -> Expression | None:
        try:
            return expressions.parse(source)
        except ExpressionError as exc:
            self.fail(path, str(exc))
            return None

    def check_range(self, path: str, low, high, low_key: str, high_key: str) -> None:
        if low is not None and high is not None and low > high:
            self.fail(f"{path}.{low_key}", f"{low_key} ({low}) is greater than {high_key} ({high})")

    def check_references(
        self, fields: tuple[FieldSpec, ...], by_name: dict[str, FieldSpec]
    ) -> None:
        """Type-check every expression and every field that names another field."""
        for spec in fields:
            for key in ("visible_if", "required_if", "compute"):
                expression = getattr(spec, key)
                if expression is None:
                    continue
                wanted = expressions.NUMBER if key == "compute" else expressions.BOOLEAN
                self.check_expression(expression, f"{spec.path}.{key}", by_name, wanted)
            if spec.kind == FieldKind.MONEY:
                self.check_currency_field(spec, by_name)
            for column in spec.fields:
                if column.compute:
                    self.check_expression(
                        column.compute,
                        f"{column.path}.compute",
                        by_name,
                        expressions.NUMBER,
                        row=spec,
                    )
                    computed = {c.name for c in spec.fields if c.compute} & column.compute.names
                    if computed:
                        self.fail(
                            f"{column.path}.compute",
                            f"reads the computed column(s) {', '.join(sorted(computed))}; "
                            "a column may only read columns people fill in",
                        )
                if column.kind == FieldKind.MONEY:
                    self.check_currency_field(column, by_name)

    def check_currency_field(self, spec: FieldSpec, by_name: dict[str, FieldSpec]) -> None:
        if not spec.currency_field or spec.currency_field in self.unbuilt:
            return
        source = by_name.get(spec.currency_field)
        if source is None or source.kind not in (FieldKind.SELECT, FieldKind.RADIO):
            self.fail(
                f"{spec.path}.currency_field",
                f"{spec.currency_field!r} must name a select or radio field of currency codes",
            )
            return
        for index, choice in enumerate(source.choices):
            if not re.fullmatch(r"[A-Z]{3}", choice.value):
                self.fail(
                    f"{source.path}.choices[{index}]",
                    f"{choice.value!r} is not an ISO 4217 currency code, "
                    f"but {spec.path} takes its currency from here",
                )

    def check_expression(
        self,
        expression: Expression,
        path: str,
        by_name: dict[str, FieldSpec],
        wanted: Type,
        row: FieldSpec | None = None,
        outputs: dict[str, OutputSpec] | None = None,
    ) -> None:
        def resolve(parts: tuple[str, ...]) -> Type | None:
            head, *rest = parts
            if head == "steps" and outputs is not None and head not in by_name:
                return _output_type(outputs, rest)
            if row is not None and not rest:
                column = row.column(head)
                if column is not None:
                    return _FIELD_TYPES[column.kind]
            spec = by_name.get(head)
            if spec is None:
                # A field too misshapen to build has its own fault; naming it is not another.
                return Type(ValueKind.ANY) if head in self.unbuilt else None
            if not rest:
                return _FIELD_TYPES[spec.kind]
            if spec.kind != FieldKind.LINE_ITEMS or len(rest) != 1:
                return None
            column = spec.column(rest[0])
            return None if column is None else Type(_FIELD_TYPES[column.kind].kind, is_list=True)

        try:
            found = expression.check(resolve)
        except ExpressionError as exc:
            self.fail(path, str(exc))
            return
        if found.kind not in (wanted.kind, ValueKind.ANY) or found.is_list:
            self.fail(path, f"must give a {wanted}, but gives a {found}")

    def rule(self, raw: dict, path: str, by_name: dict[str, FieldSpec]) -> RuleSpec | None:
        check = self.expression(raw["check"], f"{path}.check")
        if check is not None:
            self.check_expression(check, f"{path}.check", by_name, expressions.BOOLEAN)
        target = raw.get("field")
        if target is not None and target not in by_name and target not in self.unbuilt:
            self.fail(f"{path}.field", f"unknown field {target!r}")
        return RuleSpec(check=check, message=raw["message"], field=target, path=path)

    def evaluation_steps(self, fields, by_name: dict[str, FieldSpec]) -> tuple[Step, ...]:
        """Order visibility checks and computations so each runs after everything it reads.

        A field's value depends on its own visibility (a hidden field is empty) and, if it is
        computed, on the values it reads; a visibility check depends on the values it reads.
        Ordering the two together lets a condition read a total and a total skip hidden fields.
        """
        requires: dict[Step, list[Step]] = {}
        paths: dict[Step, str] = {}
        for spec in fields:
            key = spec.name or spec.path
            if spec.visible_if is not None:
                step = Step(StepKind.VISIBLE, key)
                requires[step] = [
                    dep
                    for name in sorted(spec.visible_if.names)
                    for dep in self.value_steps(name, by_name)
                ]
                paths[step] = f"{spec.path}.visible_if"
            computes = (
                [spec.compute] if spec.compute else [c.compute for c in spec.fields if c.compute]
            )
            if computes:
                step = Step(StepKind.COMPUTE, key)
                columns = {column.name for column in spec.fields}
                names = sorted({n for e in computes if e for n in e.names} - columns)
                requires[step] = [dep for name in names for dep in self.value_steps(name, by_name)]
                if spec.visible_if is not None:
                    requires[step].append(Step(StepKind.VISIBLE, key))
                paths[step] = f"{spec.path}.compute" if spec.compute else f"{spec.path}.fields"
        ordered: list[Step] = []
        visiting: list[Step] = []

        def visit(step: Step) -> None:
            if step in ordered or step not in requires:
                return
            if step in visiting:
                cycle = " -> ".join(f"{s.key} ({s.kind})" for s in visiting[visiting.index(step) :])
                self.fail(paths[step], f"circular dependency: {cycle} -> {step.key} ({step.kind})")
                return
            visiting.append(step)
            for dependency in requires[step]:
                visit(dependency)
            visiting.pop()
            if step not in ordered:
                ordered.append(step)

        for step in requires:
            visit(step)
        return tuple(ordered)

    @staticmethod
    def value_steps(name: str, by_name: dict[str, FieldSpec]) -> list[Step]:
        """The steps that settle a field's value: its visibility and its computation."""
        spec = by_name.get(name)
        if spec is None:
            return []
        steps = []
        if spec.visible_if is not None:
            steps.append(Step(StepKind.VISIBLE, name))
        if spec.compute is not None or any(column.compute for column in spec.fields):
            steps.append(Step(StepKind.COMPUTE, name))
        return steps


def _number(value) -> Decimal | None:
    if value is None:
        return None
    return Decimal(str(value)) if not isinstance(value, Decimal) else value


def _parse_date_or_fail(builder: _Builder, value: str | None, path: str):
    try:
        return _parse_date(value)
    except ValueError:
        builder.fail(path, f"{value!r} is not a real date")
        return None
