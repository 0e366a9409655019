"""/api/v1: the JSON API. The same services, rules and audit trail as the web pages.

Every request carries `Authorization: Bearer TOKEN`; the token acts as its user. Views parse
JSON, call portal.services, and answer with the representations in representations.py, which
the OpenAPI document (openapi.py) describes. Errors are JSON everywhere under /api.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io

from flask import Blueprint, current_app, g, request
from werkzeug.datastructures import FileStorage

from portal import limits
from portal.blueprints import send_audit_pdf
from portal.blueprints.api import representations as rep
from portal.blueprints.api.openapi import document as openapi_document
from portal.domain import json_text
from portal.domain.chain import Decision, OutputRefused, TaskState
from portal.domain.refusal import Refused
from portal.domain.schema import FieldKind, SchemaInvalid
from portal.domain.values import unknown_keys
from portal.models import FormVersion, Submission, Task
from portal.services import access, approvals, records, submissions, tokens
from portal.services import forms as form_service
from portal.services.access import Action
from portal.web import carries_files, refusals_undone

bp = Blueprint("api", __name__, url_prefix="/api/v1")
limits.limiter.limit(limits.API_PER_TOKEN, key_func=limits.api_caller)(bp)

PUBLIC = frozenset({"api.openapi"})
#: While a PDF is rendered, clients are asked to come back after this many seconds.
PDF_RETRY_SECONDS = 5


class ApiError(Refused):
    """A refusal only the API makes (its input, its tokens): a status, a message and, for
    input, errors by path. portal.web answers it, as every Refused, with JSON."""

    def __init__(self, status: int, message: str, errors: dict | None = None, headers=None):
        super().__init__(message, status)
        self.errors, self.headers = errors, headers

    @property
    def details(self) -> dict:
        return {"errors": self.errors} if self.errors is not None else {}


@bp.before_request
def _authenticate():
    if request.endpoint in PUBLIC:
        return
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401,
            "Send an API token as 'Authorization: Bearer TOKEN'.",
            headers={"WWW-Authenticate": 'Bearer realm="baton"'},
        )
    found = tokens.authenticate(token.strip())
    if found is None:
        raise ApiError(
            401,
            "This token is not valid: it is wrong, revoked, or its user is disabled.",
            headers={"WWW-Authenticate": 'Bearer realm="baton", error="invalid_token"'},
        )
    g.api_token, g.api_user = found, found.user


@bp.after_request
def _no_store(response):
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3.1 document describing every operation here."""
    return openapi_document(request.host_url.rstrip("/"))


@bp.get("/forms")
def list_forms():
    return [rep.form_summary(form) for form in submissions.open_forms()]


@bp.get("/forms/<slug>")
def get_form(slug: str):
    form = form_service.find_form(slug)
    if form is None or form.current_version is None:
        raise ApiError(404, f"There is no form called {slug!r}.")
    return rep.form_detail(form)


@bp.put("/forms/<slug>")
def put_form(slug: str):
    """Admins: publish a schema as the form's next version (or create the form)."""
    user = g.api_user
    access.require(user, Action.ADMINISTER)
    text = request.get_data(as_text=True)
    _json_body()  # refuse what is not JSON with the same message as everywhere else
    based_on = _if_match()
    existed = form_service.find_form(slug) is not None
    try:
        published = form_service.publish_checked(
            text, slug, user, source="api", based_on=based_on, check_base=based_on is not None
        )
    except SchemaInvalid as refusal:
        raise ApiError(
            422, "The schema was not published.", rep.errors_by_path(refusal.errors)
        ) from None
    body = rep.form_detail(published.form)
    body["changed"] = published.changed
    return body, 201 if not existed else 200


@bp.post("/forms/<slug>/submissions")
@carries_files(form_service.upload_bytes)
def create_submission(slug: str):
    """Submit the form (or, with ?draft=1, keep a draft), validated exactly as the web form."""
    user = g.api_user
    form = form_service.find_form(slug)
    if form is None or form.current_version is None:
        raise ApiError(404, f"There is no form called {slug!r}.")
    data = _data_of(_json_body())
    version = form.current_version
    draft = request.args.get("draft", "") in ("1", "true", "yes")
    raw, files = _raw_and_files(version, data, user)
    try:
        token = _idempotency_token()
        if draft:
            unknown = {path: [message] for path, message in unknown_keys(version.spec, raw).items()}
            if unknown:
                raise ApiError(422, "The draft was not saved.", unknown)
            saved = submissions.save_draft(user, version, raw, files, None, token)
            return rep.submission(saved), 201
        saved, evaluation = submissions.submit(user, version, raw, files, None, token, strict=True)
        if saved is None:
            raise ApiError(422, "The submission was not accepted.", rep.errors(evaluation))
    finally:
        files.close()
    return rep.submission(saved), 201


@bp.get("/submissions/<int:submission_id>")
def get_submission(submission_id: int):
    found = _visible_submission(submission_id)
    return rep.submission(found, with_history=True, viewer=g.api_user)


@bp.patch("/submissions/<int:submission_id>")
@carries_files(form_service.upload_bytes)
def edit_submission(submission_id: int):
    """Change a draft or a request sent back for changes: the fields sent take the values sent,
    the others keep theirs. Kept as a draft, valid or not, until it is submitted."""
    user = g.api_user
    changes = _data_of(_json_body())
    found = _own_submission(submission_id)
    version = found.form_version
    submissions.refuse_unless_editable(user, found)
    unknown = {path: [message] for path, message in unknown_keys(version.spec, changes).items()}
    if unknown:
        raise ApiError(422, "The changes were not saved.", unknown)
    raw, files = _edited_input(found, changes, user)
    try:
        submissions.save_draft(user, version, raw, files, found)
    finally:
        files.close()
    return rep.submission(found, viewer=user)


@bp.post("/submissions/<int:submission_id>/submit")
@carries_files(form_service.upload_bytes)
def submit_submission(submission_id: int):
    """Submit a draft, or resubmit a request sent back for changes, with the changes sent (if
    any) applied first; validated exactly as a new submission."""
    user = g.api_user
    changes = _data_of(_json_body() if request.get_data() else {}, required=False)
    found = _own_submission(submission_id)
    submissions.refuse_unless_editable(user, found)
    raw, files = _edited_input(found, changes, user)
    try:
        saved, evaluation = submissions.submit(
            user, found.form_version, raw, files, found, strict=True
        )
    finally:
        files.close()
    if saved is None:
        raise ApiError(422, "The submission was not accepted.", rep.errors(evaluation))
    return rep.submission(saved, viewer=user)


@bp.post("/submissions/<int:submission_id>/withdraw")
def withdraw_submission(submission_id: int):
    """The submitter takes back a request in review or sent back for changes."""
    user = g.api_user
    found = _own_submission(submission_id)
    approvals.withdraw(user, found)
    return rep.submission(found, viewer=user)


@bp.get("/submissions/<int:submission_id>/audit.pdf")
def audit_pdf(submission_id: int):
    submission = _visible_submission(submission_id)
    ready = records.take(submission, g.api_user)
    if ready is None:
        body = {"message": "The audit trail is being prepared; ask again shortly."}
        return body, 202, {"Retry-After": str(PDF_RETRY_SECONDS)}
    return send_audit_pdf(submission, ready)


@bp.get("/tasks")
def list_tasks():
    return [rep.task(task) for task in approvals.open_tasks_for(g.api_user)]


@bp.post("/tasks/<int:task_id>/decision")
def decide(task_id: int):
    """Decide a task. An agent sends the step's `output` and a `rationale`; on a step that asks
    for review its decision becomes a recommendation a person confirms or overrides."""
    user = g.api_user
    body = _json_body()
    unknown = set(body) - {"decision", "comment", "password", "output", "rationale"}
    if unknown:
        raise ApiError(400, f"Unknown keys: {', '.join(sorted(unknown))}.")
    try:
        decision = Decision(body.get("decision"))
    except ValueError:
        raise ApiError(
            422,
            "The decision was not recorded.",
            {"decision": ["Must be one of approve, reject, request_changes."]},
        ) from None
    comment, password = body.get("comment", ""), body.get("password")
    rationale, output = body.get("rationale"), body.get("output")
    if not isinstance(comment, str) or not (password is None or isinstance(password, str)):
        raise ApiError(400, "comment and password must be strings.")
    if rationale is not None:
        if not isinstance(rationale, str):
            raise ApiError(400, "rationale must be a string.")
        if comment and rationale != comment:
            raise ApiError(400, "Send the reason once: as rationale (agents) or comment.")
        comment = rationale
    task = access.decidable_task(user, task_id)
    if task.state != TaskState.OPEN:
        raise ApiError(409, _closed_reason(task))
    try:
        with refusals_undone():
            approvals.decide(
                user,
                task.id,
                decision,
                comment,
                password=password,
                channel="api",
                output=output if "output" in body else None,
            )
    except OutputRefused as refusal:
        raise ApiError(422, "The decision was not recorded.", refusal.errors) from None
    except approvals.DecisionRefused as refusal:
        fresh = approvals.find_task(task_id)
        if fresh is not None and fresh.state != TaskState.OPEN:
            raise ApiError(409, _closed_reason(fresh)) from None  # decided meanwhile
        raise ApiError(422, str(refusal), {"decision": [str(refusal)]}) from None
    return {"task": rep.task(task), "submission": rep.submission(task.submission)}


# -- helpers ----------------------------------------------------------------------------------


def _json_body() -> dict:
    if not request.mimetype == "application/json":
        raise ApiError(415, "Send the body as JSON, with Content-Type: application/json.")
    try:
        body = json_text.read(request.get_data(), current_app.config["JSON_MAX_DEPTH"])
    except json_text.JsonUnreadable as exc:
        raise ApiError(400, f"The body is not valid JSON ({exc}).") from None
    if not isinstance(body, dict):
        raise ApiError(400, "The body must be a JSON object.")
    return body


def _if_match() -> int | None:
    value = request.headers.get("If-Match", "").strip().strip('"')
    if not value:
        return None
    if not value.isdigit():
        raise ApiError(400, 'If-Match takes the version number you edited, such as "3".')
    return int(value)


def _idempotency_token() -> str | None:
    """Idempotency-Key: the same key from the same user makes one submission, not two."""
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        return None
    if len(key) > 200:
        raise ApiError(400, "Idempotency-Key can be at most 200 characters.")
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def _data_of(body: dict, required: bool = True) -> dict:
    """The form's values from a body that is {"data": {...}} and nothing else."""
    data = body.get("data", None if required else {})
    if not isinstance(data, dict) or set(body) - {"data"}:
        raise ApiError(
            400, 'Send {"data": {...}}: an object with the form\'s fields by name, nothing else.'
        )
    return data


def _own_submission(submission_id: int) -> Submission:
    """The caller's own submission: only its submitter changes one; to others it is not found."""
    return access.own_submission(g.api_user, submission_id)


def _edited_input(found: Submission, changes: dict, user):
    """The submission's current values with `changes` over them, and its files: a file field
    not named in `changes` keeps the files it has."""
    version = found.form_version
    current, kept_files = submissions.draft_input(version, found, user)
    kept = {
        name: [token for _, token in items]
        for name, items in kept_files.items()
        if name not in changes
    }
    raw, files = _raw_and_files(version, changes, user, kept)
    return {**current, **raw}, files


def _visible_submission(submission_id: int) -> Submission:
    """The caller's view of a submission by id: 404 unless portal.services.access lets them."""
    return access.visible_submission(g.api_user, submission_id)


def _closed_reason(task: Task) -> str:
    if task.decision is not None:
        return f"This task was already decided: {task.decision.label.lower()}."
    return f"This task is closed: {task.closed_reason or 'it is no longer needed'}."


def _raw_and_files(version: FormVersion, data: dict, user, kept: dict | None = None):
    """JSON data -> the raw input and the files, as the web form gives them to the services.

    A file field takes {"filename", "content_base64"} (a list of them for several files);
    `kept` holds keep tokens of files already attached, by field.
    """
    spec = version.spec
    raw = dict(data)
    posted: dict[str, list[FileStorage]] = {}
    faults: dict[str, list[str]] = {}
    for field in spec.inputs:
        if field.kind != FieldKind.FILE or field.name not in raw:
            continue
        value = raw.pop(field.name)
        items = value if isinstance(value, list) else ([value] if value is not None else [])
        posted[field.name] = []
        for index, item in enumerate(items):
            path = field.name if not isinstance(value, list) else f"{field.name}[{index}]"
            storage, problem = _file_from_json(item)
            if problem:
                faults.setdefault(path, []).append(problem)
            else:
                posted[field.name].append(storage)
    if faults:
        raise ApiError(422, "The submission was not accepted.", faults)
    files = submissions.read_files(spec, user, posted, kept or {})
    return raw, files


def _file_from_json(item) -> tuple[FileStorage | None, str | None]:
    if not isinstance(item, dict) or set(item) - {"filename", "content_base64", "content_type"}:
        return None, 'A file is {"filename": "...", "content_base64": "..."}.'
    name, content = item.get("filename"), item.get("content_base64")
    if not isinstance(name, str) or not name.strip() or not isinstance(content, str):
        return None, "A file needs a filename and its content_base64."
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if len(content) > limit * 4 // 3 + 4:
        return None, "This file is larger than Baton accepts."
    try:
        body = base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        return None, "content_base64 is not valid base64."
    return (
        FileStorage(io.BytesIO(body), filename=name, content_type=item.get("content_type")),
        None,
    )
