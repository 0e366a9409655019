"""How values look on pages: amounts, dates, times in the portal's zone, file sizes."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

from flask import Flask

from portal import clock
from portal.domain import values as value_rules
from portal.domain.filetype import FILE_KINDS
from portal.domain.filetype import describe as describe_kinds
from portal.domain.schema import FieldKind, FieldSpec, FormSpec, currency_places
from portal.presentation import wording

CURRENCY_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "CHF": "CHF "}


def money(value: dict | None) -> str:
    """{"amount": "1250.5", "currency": "EUR"} -> 'EUR 1,250.50'."""
    if not value:
        return ""
    return f"{value.get('currency') or ''} {number(value.get('amount'))}".strip()


def amount(value: object, currency: str | None) -> str:
    """A headline amount with its currency, in that currency's minor units: 'JPY 125,000'."""
    if value is None:
        return ""
    return f"{currency or ''} {number(value, currency_places(currency))}".strip()


def number(value: object, places: int | None = None) -> str:
    """'1234567.5' -> '1,234,567.5' (keeping the digits as stored)."""
    if value is None or value == "":
        return ""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    if places is not None:
        amount = amount.quantize(Decimal(1).scaleb(-places))
    return f"{amount:,f}"


def date(value: str | dt.date | None) -> str:
    """'2026-11-25' -> '25 Nov 2026'."""
    if not value:
        return ""
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            return value
    return f"{value.day} {value:%b %Y}"


def local_time(value: dt.datetime | None, with_zone: bool = True) -> str:
    """A UTC time shown in the portal's time zone: '25 Nov 2026, 14:03 CET'."""
    if value is None:
        return ""
    zone = clock.local_zone()
    local = value.astimezone(zone)
    text = f"{local.day} {local:%b %Y, %H:%M}"
    return f"{text} {local.tzname()}" if with_zone else text


def waiting(delta: dt.timedelta) -> str:
    """How long something has waited, in the largest sensible unit: '3 days', '5 hours'."""
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return "just now" if minutes < 2 else f"{minutes} minutes"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{hours // 24} days"


def utc(value: dt.datetime | None) -> str:
    """A time as an auditor reads it: '2026-11-25 18:40:12 UTC'."""
    if value is None:
        return ""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def stored(field: FieldSpec, value: object) -> str:
    """A stored value written out exactly, with a choice's label beside its stored value."""
    if value is None:
        return "(empty)"
    if field.kind == FieldKind.MONEY:
        return f"{value.get('amount')} {value.get('currency') or ''}".strip()
    if field.kind in (FieldKind.SELECT, FieldKind.RADIO):
        label = field.choice_label(value)
        return value if label == value else f"{value} ({label})"
    if field.kind == FieldKind.MULTI_SELECT:
        return ", ".join(value) if value else "(none chosen)"
    if field.kind == FieldKind.BOOLEAN:
        return "true (yes)" if value else "false (no)"
    if field.kind == FieldKind.FILE:
        items = value if isinstance(value, list) else [value]
        return ", ".join(item.get("name", "") for item in items)
    return str(value)


def filesize(size: int | None) -> str:
    """1536 -> '1.5 KB'."""
    if size is None:
        return ""
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return ""


def dom_id(key: str) -> str:
    """A field name or block path as an id fragment: 'fields[4]' -> 'fields-4'."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", key).strip("-")


def computed(form: FormSpec, field: FieldSpec, values: dict, row: dict | None = None) -> str:
    """A computed field's current value as the page shows it ('EUR 3,775.01'), or a dash."""
    value = (row if row is not None else values).get(field.name)
    if not isinstance(value, Decimal):
        return "–"
    if field.kind == FieldKind.MONEY:
        currency = form.currency_of(field, values)
        return f"{currency or ''} {number(value, currency_places(currency))}".strip()
    return number(value, field.places)


def currency(form: FormSpec, field: FieldSpec, values: dict) -> str:
    """The currency code a money field is in right now, for the label beside its input."""
    return form.currency_of(field, values) or ""


def described_by(name: str, field: FieldSpec, errors) -> str:
    """The ids of the hint, limits and error paragraphs that describe an input."""
    ids = []
    if field.help:
        ids.append(f"hint-{name}")
    if field.kind == FieldKind.FILE:
        ids.append(f"limits-{name}")
    if errors:
        ids.append(f"err-{name}")
    return " ".join(ids)


def field_attrs(name: str, field: FieldSpec, errors, required: bool, **extra) -> dict:
    """HTML attributes for an input: ARIA links to its hint and error, plus `extra`."""
    attrs = {key: value for key, value in extra.items() if value not in (None, "")}
    describedby = described_by(name, field, errors)
    if describedby:
        attrs["aria-describedby"] = describedby
    if errors:
        attrs["aria-invalid"] = "true"
    if required:
        attrs["aria-required"] = "true"
    return attrs


def file_limits(field: FieldSpec) -> str:
    """'PDF or PNG image, up to 10 MB' for the line under a file input."""
    kinds = describe_kinds(field.accept)
    size = f"{field.max_size_mb.normalize():f} MB"
    if field.multiple:
        return f"{kinds}; up to {field.max_files} files of {size} each."
    return f"{kinds}, up to {size}."


def accept_list(field: FieldSpec) -> str:
    """The file input's accept attribute: a hint to the browser's picker, checked again by Baton."""
    kinds = [FILE_KINDS[key] for key in field.accept if key in FILE_KINDS]
    extensions = {kind.extension for kind in kinds} | (
        {".jpeg"} if "jpeg" in field.accept else set()
    )
    return ",".join(sorted(extensions) + [kind.content_type for kind in kinds])


def describe_event(event, form: FormSpec | None = None) -> str:
    """One line saying what an audit event records, for a submission's history."""
    details = event.details or {}
    step = details.get("step")
    if step and form is not None and form.approval is not None:
        step = next((s.title for s in form.approval.steps if s.name == step), step)
    action = event.action
    if action in ("submitted", "resubmitted"):
        return f"{action.capitalize()} (form version {details.get('version', '?')})"
    if action == "round_started":
        where = f", resuming at {details['resumed_at']}" if details.get("resumed_at") else ""
        return f"Approval round {details.get('round')} started{where}"
    if action == "step_started":
        return f"{step}: waiting for decisions"
    if action == "task_opened":
        return f"{step}: {details.get('assignee')} asked to decide"
    if action == "task_decided":
        decision = details.get("decision", "").replace("_", " ")
        text = f"{step}: {details.get('meaning') or decision.capitalize()}"
        if details.get("signature_meaning"):
            text += " (signed with password)"
        if "agreed" in details:
            text += (
                ", confirming the agent's recommendation"
                if details["agreed"]
                else ", overriding the agent's recommendation to "
                + details.get("recommendation", "").replace("_", " ")
            )
        text += f" — “{details['comment']}”" if details.get("comment") else ""
        return text + (f"; output {output_text(details['output'])}" if "output" in details else "")
    if action == "task_recommended":
        recommended = details.get("recommendation", "").replace("_", " ")
        text = (
            f"{step}: the agent recommends to {recommended}, for group "
            f"{details.get('review_group')} to confirm or override"
        )
        text += f" — “{details['rationale']}”" if details.get("rationale") else ""
        return text + (f"; output {output_text(details['output'])}" if "output" in details else "")
    if action == "task_cancelled":
        return f"{step}: task closed, {details.get('reason')}"
    if action == "step_finished":
        return f"{step}: {details.get('outcome', '').replace('_', ' ')}"
    if action == "step_skipped":
        return f"{step}: skipped, {details.get('reason')}"
    if action == "step_auto_approved":
        return f"{step}: approved automatically by rule “{details.get('rule')}”"
    if action == "step_blocked":
        return f"{step}: blocked, {details.get('reason')}"
    if action == "assignee_unresolved":
        return f"{step}: {details.get('problem')}; asked group {details.get('fallback_group')}"
    if action == "email_sent":
        return f"Email to {details.get('to')}: {details.get('subject')}"
    if action in ("approved", "rejected", "withdrawn"):
        return f"Request {action}"
    if action == "changes_requested":
        return "Changes requested"
    return action.replace("_", " ").capitalize()


def output_text(output: dict | None) -> str:
    """An agent's output on one line: 'sanctions_hit: false, score: 12.5'."""
    if not output:
        return "none"

    def shown(value: object) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    # Sorted: PostgreSQL's JSONB keeps keys in its own order, not the agent's.
    return ", ".join(f"{key}: {shown(output[key])}" for key in sorted(output))


def event_actor(event) -> str:
    """Who an audit event names, an agent marked as one: 'sanctions-bot@agents.invalid (agent)'.

    Everything an agent does is recorded on channel "agent" (portal.audit), so the event
    itself says so; no lookup is needed.
    """
    return f"{event.actor} (agent)" if event.channel == "agent" else event.actor


def typed_values(form: FormSpec, data: dict | None) -> dict:
    """A submission's stored values decoded into the types conditions compare (money, dates)."""
    try:
        return value_rules.decode(form, data or {})
    except (ValueError, TypeError, KeyError):
        return {}


def pretty_json(text: str) -> str:
    """JSON text laid out for reading (the text itself if it is not JSON)."""
    import json

    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(
        pretty_json=pretty_json,
        amount=amount,
        money=money,
        number=number,
        date=date,
        local_time=local_time,
        filesize=filesize,
        waiting=waiting,
        utc=utc,
        dom_id=dom_id,
    )
    app.jinja_env.globals.update(
        computed=computed,
        stored=stored,
        describe_event=describe_event,
        event_actor=event_actor,
        output_text=output_text,
        currency=currency,
        described_by=described_by,
        field_attrs=field_attrs,
        file_limits=file_limits,
        accept_list=accept_list,
        typed_values=typed_values,
        wording=wording,
    )
