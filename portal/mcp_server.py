"""`baton mcp`: a Model Context Protocol server over stdio, acting as one API token's user.

An AI agent (or a person's assistant) connects with any MCP client and gets six tools:
list_forms, get_form, submit_request, list_my_tasks, get_request and decide_task. Each call
runs as the token's user through the same services, access policy and audit trail as the
JSON API: it is its own request, with its own commit point here (commit when the tool
answers, roll back when it refuses or fails), recorded on channel `api` naming the token, or
`agent` for an agent. Every refusal is a tool error that says why in words.
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
import re
from collections.abc import Callable
from typing import Any

from flask import Flask, g
from mcp.server.fastmcp import FastMCP
from mcp.server.fastmcp.exceptions import ToolError
from werkzeug.datastructures import FileStorage

from portal.blueprints.api import representations as rep
from portal.domain.chain import Decision, OutputRefused, TaskState
from portal.domain.refusal import Refused
from portal.domain.schema import FieldKind, FieldSpec, FormSpec
from portal.extensions import db
from portal.models import User
from portal.services import access, approvals, submissions, tokens
from portal.services import forms as form_service

logger = logging.getLogger(__name__)

INSTRUCTIONS = """\
Baton is a forms and approval portal. You act as one Baton account, with exactly its rights.
To ask for something: list_forms, then get_form to learn the fields (labels, types, limits,
conditions), then submit_request with the values by field name. To decide: list_my_tasks,
get_request to read the request, then decide_task. If a task has an output_schema, send an
`output` matching it and a `rationale`; some steps make your decision a recommendation that
a person confirms or overrides. Refusals say why; correct the input and try again.
"""


class TokenInvalid(Exception):
    """The token given to `baton mcp` does not act as anyone."""


def build(app: Flask, token: str) -> FastMCP:
    """The MCP server for `token`'s user; TokenInvalid if the token is wrong or revoked."""
    with app.app_context():
        if tokens.authenticate(token) is None:
            raise TokenInvalid(
                "This token is not valid: it is wrong, revoked, or its user is disabled."
            )
        db.session.commit()  # its last use, as the API notes it
    server = FastMCP("Baton", instructions=INSTRUCTIONS, log_level="WARNING")

    def call(work: Callable[[User], Any]) -> Any:
        """Run `work(user)` as one request: committed if it answers, rolled back if not."""
        with app.test_request_context("/mcp", headers={"User-Agent": "baton-mcp"}):
            found = tokens.authenticate(token)
            if found is None:
                raise ToolError("The token stopped working: it was revoked or its user disabled.")
            g.api_token, g.api_user = found, found.user
            try:
                answer = work(found.user)
                db.session.commit()
                return answer
            except ToolError:
                db.session.rollback()
                raise
            except Refused as refusal:
                db.session.rollback()
                raise ToolError(_words(refusal)) from None
            except Exception:
                db.session.rollback()
                logger.exception("MCP tool failed")
                raise ToolError(
                    "Baton could not do this because of an error on its side; nothing was "
                    "changed. The operator's log has the details."
                ) from None

    @server.tool()
    def list_forms() -> list[dict]:
        """The forms you can submit: slug, title and version."""
        return call(lambda user: [rep.form_summary(f) for f in submissions.open_forms()])

    @server.tool()
    def get_form(slug: str) -> dict:
        """One form described for filling in: every field's label, type, limits, choices and
        the conditions under which it shows or is required, in words; its rules; and who
        approves it."""

        def work(user: User) -> dict:
            form = form_service.find_form(slug)
            if form is None or form.current_version is None or form.archived_at is not None:
                raise ToolError(f"There is no open form called {slug!r}; list_forms names them.")
            return describe_form(form.current_version.spec)

        return call(work)

    @server.tool()
    def submit_request(form: str, data: dict) -> dict:
        """Submit a request on `form` (a slug) with `data`, the values by field name: numbers
        and money as numbers or decimal strings, dates as YYYY-MM-DD, booleans as true/false,
        line items as a list of objects, files as {"filename", "content_base64"}."""

        def work(user: User) -> dict:
            found = form_service.find_form(form)
            if found is None or found.current_version is None:
                raise ToolError(f"There is no form called {form!r}; list_forms names them.")
            version = found.current_version
            raw, files = _raw_and_files(version.spec, data, user)
            try:
                saved, evaluation = submissions.submit(
                    user, version, raw, files, None, None, strict=True
                )
            finally:
                files.close()
            if saved is None:
                faults = "; ".join(
                    f"{path or 'the form'}: {' '.join(messages)}"
                    for path, messages in evaluation.errors.items()
                )
                raise ToolError(f"The request was not submitted. {faults}")
            return rep.submission(saved, with_history=False, viewer=user)

        return call(work)

    @server.tool()
    def list_my_tasks() -> list[dict]:
        """Your open tasks, oldest first: the request, the step, what output it asks of an
        agent (output_schema) and, for a review, what the agent recommended."""
        return call(lambda user: [rep.task(t) for t in approvals.open_tasks_for(user)])

    @server.tool()
    def get_request(request_id: int) -> dict:
        """A request you may see: its values, its route through the approval chain (each step,
        who was asked, what they decided) and where it waits now."""

        def work(user: User) -> dict:
            found = access.visible_submission(user, request_id)
            body = rep.submission(found, with_history=False, viewer=user)
            body["waiting_at"] = _waiting_at(body["steps"])
            return body

        return call(work)

    @server.tool()
    def decide_task(
        task_id: int,
        decision: str,
        rationale: str = "",
        output: dict | None = None,
    ) -> dict:
        """Decide one of your tasks: `decision` is approve, reject or request_changes;
        `rationale` says why (required from agents, and to reject); `output` is the result the
        task's output_schema asks for."""

        def work(user: User) -> dict:
            try:
                chosen = Decision(decision)
            except ValueError:
                raise ToolError("decision must be approve, reject or request_changes.") from None
            task = access.decidable_task(user, task_id)
            if task.state != TaskState.OPEN:
                raise ToolError(f"This task is no longer open; it is {task.state.value}.")
            try:
                approvals.decide(user, task.id, chosen, rationale, channel="api", output=output)
            except OutputRefused as refusal:
                faults = "; ".join(
                    f"{path}: {' '.join(messages)}" for path, messages in refusal.errors.items()
                )
                raise ToolError(f"The decision was not recorded. {faults}") from None
            return {"task": rep.task(task), "request": rep.submission(task.submission)}

        return call(work)

    return server


def _words(refusal: Refused) -> str:
    errors = getattr(refusal, "errors", None)
    if isinstance(errors, dict) and errors:
        faults = "; ".join(f"{path}: {' '.join(map(str, m))}" for path, m in errors.items())
        return f"{refusal}: {faults}"
    return str(refusal)


def _waiting_at(steps: list[dict]) -> str:
    """Where the request waits, in words."""
    for step in steps:
        if step["status"] in ("active", "blocked"):
            open_ = [a["name"] for a in step["assignees"] if a["state"] == "open"]
            who = ", ".join(open_) or "nobody yet"
            if step["status"] == "blocked":
                return f"{step['title']}: blocked ({step['reason']})"
            return f"{step['title']}: waiting for {who}"
    return "nowhere: it is not waiting for a decision"


def _raw_and_files(spec: FormSpec, data: dict, user: User):
    """JSON values -> the raw input and files, as the API takes them."""
    if not isinstance(data, dict):
        raise ToolError("data must be an object with the form's fields by name.")
    raw = dict(data)
    posted: dict[str, list[FileStorage]] = {}
    for field in spec.inputs:
        if field.kind != FieldKind.FILE or field.name not in raw:
            continue
        value = raw.pop(field.name)
        items = value if isinstance(value, list) else ([value] if value is not None else [])
        posted[field.name] = []
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("content_base64"), str):
                raise ToolError(f'{field.name}: a file is {{"filename", "content_base64"}}.')
            try:
                body = base64.b64decode(item["content_base64"], validate=True)
            except (binascii.Error, ValueError):
                raise ToolError(f"{field.name}: content_base64 is not valid base64.") from None
            posted[field.name].append(
                FileStorage(io.BytesIO(body), filename=str(item.get("filename") or "file"))
            )
    return raw, submissions.read_files(spec, user, posted, {})


# -- a form, described for a model ----------------------------------------------------------

_OPERATORS = {
    "==": "is",
    "!=": "is not",
    ">=": "is at least",
    "<=": "is at most",
    ">": "is more than",
    "<": "is less than",
}
_TOKENS = re.compile(
    r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|==|!=|>=|<=|[<>]|\d+(?:\.\d+)?"
    r"|[A-Za-z_][A-Za-z0-9_.]*|\S"
)


def condition_words(source: str, spec: FormSpec) -> str:
    """An expression with field names as their labels and comparisons in words:
    `total > 10000` -> '“Total” is more than 10000'."""
    found = _TOKENS.findall(source)
    lone = spec.field(found[0]) if len(found) == 1 else None
    if lone is not None and lone.kind == FieldKind.BOOLEAN:
        return f"“{lone.label}” is ticked"
    words = []
    for token in found:
        head = token.split(".")[0]
        field = spec.field(head)
        if field is not None and field.label:
            rest = token[len(head) + 1 :]
            column = field.column(rest) if rest else None
            label = f"“{field.label}”" + (f" → “{column.label}”" if column else "")
            words.append(label)
        elif token in _OPERATORS:
            words.append(_OPERATORS[token])
        else:
            words.append(token)
    return " ".join(words).replace("( ", "(").replace(" )", ")").replace(" ,", ",")


def _limits(field: FieldSpec) -> str:
    parts = []
    if field.min is not None and field.max is not None:
        parts.append(f"from {field.min} to {field.max}")
    elif field.min is not None:
        parts.append(f"at least {field.min}")
    elif field.max is not None:
        parts.append(f"at most {field.max}")
    if field.min_length:
        parts.append(f"at least {field.min_length} characters")
    if field.max_length:
        parts.append(f"at most {field.max_length} characters")
    if field.pattern:
        parts.append(field.pattern_message or f"must match {field.pattern}")
    if field.kind == FieldKind.MONEY:
        source = field.currency or f"the currency chosen in {field.currency_field}"
        parts.append(f"in {source}")
    if field.kind == FieldKind.FILE:
        parts.append(
            f"{', '.join(field.accept)} files up to {field.max_size_mb} MB"
            + (f", up to {field.max_files} files" if field.multiple else "")
        )
    if field.kind == FieldKind.LINE_ITEMS:
        parts.append(f"{field.min_rows} to {field.max_rows} rows")
    return "; ".join(parts)


def _field(field: FieldSpec, spec: FormSpec) -> dict:
    described: dict[str, Any] = {
        "name": field.name,
        "label": field.label,
        "type": field.kind.value,
        "required": field.required,
    }
    if field.help:
        described["help"] = field.help
    limits = _limits(field)
    if limits:
        described["limits"] = limits
    if field.choices:
        described["choices"] = [{"value": c.value, "label": c.label} for c in field.choices]
    if field.required_if is not None:
        described["required_when"] = condition_words(str(field.required_if), spec)
    if field.visible_if is not None:
        described["shown_only_when"] = condition_words(str(field.visible_if), spec)
    if field.compute is not None:
        described["computed"] = (
            f"filled in by Baton as {condition_words(str(field.compute), spec)}; do not send it"
        )
    if field.fields:
        described["columns"] = [_field(column, spec) for column in field.fields]
    return described


def describe_form(spec: FormSpec) -> dict:
    """The form as a model needs it to fill it in: no expression or field name left unsaid."""
    approval = spec.approval
    return {
        "title": spec.title,
        "description": spec.description,
        "fields": [_field(field, spec) for field in spec.inputs],
        "rules": [
            {"must_hold": condition_words(str(rule.check), spec), "otherwise": rule.message}
            for rule in spec.rules
            if rule.check is not None
        ],
        "approval": []
        if approval is None
        else [
            {
                "step": step.title,
                "asks": ", ".join(a.describe() for a in step.assignees),
                "policy": step.policy_text,
                **({"only_when": condition_words(str(step.when), spec)} if step.when else {}),
                **(
                    {"agent_output": [key.describe() for key in step.output.keys]}
                    if step.output
                    else {}
                ),
            }
            for step in approval.steps
        ],
    }


def run(app: Flask, token: str) -> None:
    """Serve MCP over stdin and stdout until the client closes them."""
    build(app, token).run("stdio")
