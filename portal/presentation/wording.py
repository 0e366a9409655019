"""Plain words for people who are not admins: conditions, who is asked, how far a step got, who
acted and what an audit event records. Pure: no Flask, no database.

Field names, step names, expressions and job names are for admins and logs
(docs/architecture.md, "People read labels, never names"). Everything here speaks in the form's
labels instead: `vendor_is_new` becomes "this is a new vendor", `total > 10000` becomes "only
when the invoice total is above EUR 10,000", the start_chain job becomes "Baton".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from portal.domain.chain import AssigneeSpec, Decision, StepState
from portal.domain.expressions import Binary, Expression, ListOf, Literal, Name, Node, Unary
from portal.domain.schema import FieldKind, FieldSpec, FormSpec

#: Who "system" actors are to people: the product, whatever job or rule acted for it.
SYSTEM = "Baton"

_COMPARED = {
    ">": "is above",
    ">=": "is at least",
    "<": "is below",
    "<=": "is at most",
    "==": "is",
    "!=": "is not",
}
_NOT = "it is not so that "
_FLIPPED = {">": "<", ">=": "<=", "<": ">", "<=": ">=", "==": "==", "!=": "!="}


class _Unsayable(Exception):
    """The expression uses arithmetic or functions that have no short plain reading."""


def plural(count: int, singular: str, many: str | None = None) -> str:
    """1 -> '1 event', 3 -> '3 events' (with thousands separators)."""
    word = singular if count == 1 else (many or singular + "s")
    return f"{count:,} {word}"


def label_phrase(field: FieldSpec) -> str:
    """A field's label as words in a sentence: 'Invoice total (net)' -> 'the invoice total'."""
    label = re.sub(r"\s*\([^)]*\)\s*$", "", field.label or field.name).strip()
    if len(label) > 1 and not label[1].isupper():
        label = label[0].lower() + label[1:]
    if field.kind == FieldKind.BOOLEAN:
        return label  # a yes/no label is a statement already: "this is a new vendor"
    return f"the {label}"


def condition(expression: Expression | None, form: FormSpec, values: Mapping | None = None) -> str:
    """When a step runs, in words: 'only when the invoice total is above EUR 10,000'."""
    if expression is None:
        return ""
    tree = expression.tree
    try:
        words = _words(tree, form, values or {})
    except _Unsayable:
        return "only in the cases this form's rules set out"
    if words.startswith(_NOT):
        return f"unless {words.removeprefix(_NOT)}"
    return f"only when {words}"


def _words(node: Node, form: FormSpec, values: Mapping) -> str:
    if isinstance(node, Binary) and node.op in ("and", "or"):
        left, right = (_words(side, form, values) for side in (node.left, node.right))
        return f"{left} {node.op} {right}"
    if isinstance(node, Unary) and node.op == "not":
        return f"{_NOT}{_words(node.operand, form, values)}"
    if isinstance(node, Name):
        field = _field(node, form)
        if field.kind == FieldKind.BOOLEAN:
            return label_phrase(field)
        return f"{label_phrase(field)} is given"
    if isinstance(node, Binary) and node.op in _COMPARED:
        op, left, right = node.op, node.left, node.right
        if isinstance(left, Literal) and isinstance(right, Name):
            op, left, right = _FLIPPED[op], right, left
        if not isinstance(left, Name):
            raise _Unsayable
        field = _field(left, form)
        if isinstance(right, Literal):
            if field.kind == FieldKind.BOOLEAN and isinstance(right.value, bool):
                wanted = right.value if op == "==" else not right.value
                return label_phrase(field) if wanted else f"{_NOT}{label_phrase(field)}"
            if right.value is None:
                return f"{label_phrase(field)} is {'empty' if op == '==' else 'given'}"
            return (
                f"{label_phrase(field)} {_COMPARED[op]} {_value(field, right.value, form, values)}"
            )
        if isinstance(right, Name):
            return f"{label_phrase(field)} {_COMPARED[op]} {label_phrase(_field(right, form))}"
        raise _Unsayable
    if isinstance(node, Binary) and node.op in ("in", "not in") and isinstance(node.left, Name):
        field = _field(node.left, form)
        if not isinstance(node.right, ListOf) or not all(
            isinstance(item, Literal) for item in node.right.items
        ):
            raise _Unsayable
        items = [_value(field, item.value, form, values) for item in node.right.items]
        listed = items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" or {items[-1]}"
        verb = "is one of" if node.op == "in" and len(items) > 1 else "is"
        if node.op == "not in":
            verb = "is not" if len(items) == 1 else "is none of"
        return f"{label_phrase(field)} {verb} {listed}"
    raise _Unsayable


def _field(name: Name, form: FormSpec) -> FieldSpec:
    field = form.field(name.parts[0]) if len(name.parts) == 1 else None
    if field is None:
        raise _Unsayable
    return field


def _value(field: FieldSpec, value: object, form: FormSpec, values: Mapping) -> str:
    """A literal as the person would write it for this field."""
    if field.kind in (FieldKind.SELECT, FieldKind.RADIO, FieldKind.MULTI_SELECT):
        return field.choice_label(str(value))
    if isinstance(value, Decimal):
        text = _number(value)
        if field.kind == FieldKind.MONEY:
            currency = form.currency_of(field, dict(values))
            return f"{currency} {text}" if currency else text
        return text
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"“{value}”"


def _number(value: object) -> str:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    text = f"{amount:,f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def assignee(spec: AssigneeSpec, form: FormSpec, names: Mapping[str, str] | None = None) -> str:
    """Who a step asks, from the labels: 'the approver for the chosen cost centre'."""
    names = names or {}
    if spec.user:
        return names.get(spec.user, spec.user)
    if spec.group:
        group = spec.group.replace("_", " ")
        return {
            "all": f"everyone in the {group} group",
            "round_robin": f"one person from the {group} group, in turn",
            "fewest_open": f"the least busy person in the {group} group",
        }[spec.pick]
    if spec.manager:
        if spec.manager == 1:
            return "the submitter's manager"
        return f"the submitter's manager, {spec.manager} levels up"
    field = form.field(spec.field or spec.lookup_field or "")
    what = label_phrase(field).removeprefix("the ") if field else "the request"
    if spec.field:
        return f"the person chosen as {what}"
    return f"the approver for the chosen {what}"


def runs(when: Expression | None, values: Mapping) -> bool | None:
    """Whether a step's condition holds for these typed values: None while it cannot tell
    (a value it reads is not filled in yet)."""
    if when is None:
        return True
    try:
        result = when.evaluate(values)
    except Exception:  # noqa: BLE001 - an unanswerable condition is decided when reached
        return None
    return result if isinstance(result, bool) else None


def will_run(when: Expression | None, values: Mapping) -> bool:
    """Whether a step's condition holds for these typed values (True when it cannot tell)."""
    return runs(when, values) is not False


def step_status(state: StepState, request_status: str, will_run: bool = True) -> tuple[str, str]:
    """What a step's state means to people, and the badge it wears: ('Not needed', 'skipped').

    A step that will not run is never "waiting": it is not needed (its condition is false, or
    the step was passed over), or not reached (the request ended before it)."""
    ended = request_status in ("rejected", "withdrawn", "changes_requested")
    if state == StepState.WAITING:
        if ended:
            return "Not reached", "cancelled"
        return ("Later", "waiting") if will_run else ("Not needed", "skipped")
    if state == StepState.CANCELLED:
        return ("Not reached", "cancelled") if ended else ("Not needed", "skipped")
    return {
        StepState.ACTIVE: ("Waiting for a decision", "active"),
        StepState.BLOCKED: ("Held up: nobody to ask", "blocked"),
        StepState.APPROVED: ("Approved", "approved"),
        StepState.REJECTED: ("Rejected", "rejected"),
        StepState.CHANGES_REQUESTED: ("Changes requested", "changes_requested"),
        StepState.SKIPPED: ("Not needed", "skipped"),
    }[state]


def step_reason(reason: str, state: StepState, condition_words: str) -> str:
    """A step row's reason as people read it (the engine's reasons name expressions)."""
    if state == StepState.SKIPPED and reason.startswith("not needed:"):
        return f"Runs {condition_words}." if condition_words else "Not needed for this request."
    if reason.startswith("timed out"):
        return "Nobody decided in time, so Baton settled it as the form says."
    if reason == "nobody could be found to decide this step":
        return "Nobody could be found to decide this step; an admin has been asked."
    if reason == "decided in an earlier round":
        return "Decided in an earlier round."
    return reason[:1].upper() + reason[1:] if reason else ""


def actor(text: str, names: Mapping[str, str] | None = None) -> str:
    """Who acted: a person's name for an email address, "Baton" for any system actor."""
    if not text or text == "system" or text.startswith("system ("):
        return SYSTEM
    return (names or {}).get(text, text)


def event(
    action: str,
    details: Mapping | None,
    form: FormSpec | None = None,
    names: Mapping[str, str] | None = None,
) -> str:
    """One line saying what an audit event records, for someone who is not an admin."""
    details = details or {}
    names = names or {}
    step = details.get("step")
    if step and form is not None and form.approval is not None:
        step = next((s.title for s in form.approval.steps if s.name == step), "A step")
    step = step or "A step"

    def person(key: str) -> str:
        value = details.get(key) or ""
        return names.get(value, value) or "someone"

    if action == "submitted":
        return "Submitted"
    if action == "resubmitted":
        return "Submitted again with changes"
    if action == "round_started":
        number = details.get("round")
        return (
            "Sent for approval"
            if number in (None, 1)
            else f"Sent for approval again (round {number})"
        )
    if action == "step_started":
        return f"{step} started"
    if action == "task_opened":
        return f"{step}: {person('assignee')} asked to decide"
    if action == "task_decided":
        try:
            decided = Decision(details.get("decision", "")).label
        except ValueError:
            decided = "Decided"
        text = f"{step}: {decided}"
        if details.get("signature_meaning"):
            text += " (signed with password)"
        return text
    if action == "task_cancelled":
        return f"{step}: a task closed without a decision, none was needed"
    if action == "task_reassigned":
        return f"{step}: the task was given to someone else"
    if action == "reminder_sent":
        return f"{step}: reminder sent to {person('to')}"
    if action == "escalated":
        return f"{step}: overdue, so more people were asked"
    if action == "escalation_failed":
        return f"{step}: overdue, and nobody more could be found to ask"
    if action == "step_timed_out":
        return f"{step}: nobody decided in time, so Baton settled it as the form says"
    if action == "step_finished":
        outcome = details.get("outcome", "")
        words = {
            "approved": "approved",
            "rejected": "rejected",
            "changes_requested": "changes requested",
            "skipped": "not needed",
        }.get(outcome, "finished")
        return f"{step} {words}"
    if action == "step_skipped":
        return f"{step} not needed"
    if action == "step_auto_approved":
        return f"{step} approved automatically, as the form's rules allow"
    if action == "step_blocked":
        return f"{step} held up: nobody could be found to decide"
    if action == "assignee_unresolved":
        return f"{step}: the usual approver could not be found, so a fallback group was asked"
    if action == "email_sent":
        return f"Email sent to {person('to')}"
    if action in ("approved", "rejected", "withdrawn"):
        return f"Request {action}"
    if action == "changes_requested":
        return "Changes requested"
    return action.replace("_", " ").capitalize()
