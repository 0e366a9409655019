"""The OpenAPI 3.1 document for /api/v1. Tests check every API response against it."""

from __future__ import annotations

from portal.blueprints import MAX_ROW_ID
from portal.domain.chain import Decision, StepState, TaskState
from portal.models import SubmissionStatus

API_VERSION = "1.0.0"


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict:
    return _json(_ref("Error"), description)


TOO_LARGE = _error("The body is larger than Baton accepts here (docs/security.md, Limits).")


NULLABLE_STRING = {"type": ["string", "null"]}
TIME = {"type": "string", "format": "date-time"}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
AMOUNT = {
    "type": ["object", "null"],
    "required": ["amount", "currency"],
    "properties": {
        "amount": {"type": "string", "pattern": r"^-?\d+(\.\d+)?$"},
        "currency": {"type": ["string", "null"]},
    },
    "additionalProperties": False,
}

SCHEMAS = {
    "Error": {
        "type": "object",
        "required": ["message"],
        "properties": {
            "message": {"type": "string", "description": "What went wrong, for a person."},
            "errors": {
                "type": "object",
                "description": "Faults by path: a field (`lines[0].quantity`), `_form` for a "
                "cross-field rule, a schema's JSON path (`fields[3].type`) or `_schema`.",
                "additionalProperties": {"type": "array", "items": {"type": "string"}},
            },
        },
        "additionalProperties": False,
    },
    "FormSummary": {
        "type": "object",
        "required": ["slug", "title", "version"],
        "properties": {
            "slug": {"type": "string"},
            "title": {"type": "string"},
            "version": {"type": "integer", "minimum": 1},
        },
        "additionalProperties": False,
    },
    "FormDetail": {
        "type": "object",
        "required": ["slug", "title", "version", "published_at", "archived", "schema"],
        "properties": {
            "slug": {"type": "string"},
            "title": {"type": "string"},
            "version": {"type": "integer", "minimum": 1},
            "published_at": TIME,
            "archived": {"type": "boolean"},
            "schema": {
                "type": "object",
                "description": "The form schema as published (see docs/form-schema.md).",
            },
            "changed": {
                "type": "boolean",
                "description": "Only in answer to PUT: false if the schema equalled the "
                "current version (no new version).",
            },
        },
        "additionalProperties": False,
    },
    "Assignee": {
        "type": "object",
        "required": ["email", "name", "state"],
        "properties": {
            "email": {"type": "string"},
            "name": {"type": "string"},
            "state": {"enum": [s.value for s in TaskState]},
        },
        "additionalProperties": False,
    },
    "StepDecision": {
        "type": "object",
        "required": [
            "by",
            "decision",
            "comment",
            "at",
            "on_behalf_of",
            "signature_meaning",
            "agent",
            "output",
        ],
        "properties": {
            "by": {"type": "string"},
            "decision": {"enum": [d.value for d in Decision]},
            "comment": {"type": "string"},
            "at": NULLABLE_TIME,
            "on_behalf_of": NULLABLE_STRING,
            "signature_meaning": NULLABLE_STRING,
            "agent": {"type": "boolean", "description": "True if an agent decided."},
            "output": {
                "type": ["object", "null"],
                "description": "What the agent returned, as the step's output declares it.",
            },
        },
        "additionalProperties": False,
    },
    "Step": {
        "type": "object",
        "required": [
            "name",
            "title",
            "round",
            "status",
            "policy",
            "reason",
            "assignees",
            "decisions",
        ],
        "properties": {
            "name": {"type": "string"},
            "title": {"type": "string"},
            "round": {"type": "integer"},
            "status": {"enum": [s.value for s in StepState]},
            "policy": {"type": "string"},
            "reason": {"type": "string"},
            "assignees": {"type": "array", "items": _ref("Assignee")},
            "decisions": {"type": "array", "items": _ref("StepDecision")},
        },
        "additionalProperties": False,
    },
    "Event": {
        "type": "object",
        "required": ["seq", "at", "actor", "action", "channel", "details", "hash"],
        "properties": {
            "seq": {"type": "integer", "minimum": 1},
            "at": TIME,
            "actor": {"type": "string"},
            "action": {"type": "string"},
            "channel": {"enum": ["web", "email", "api", "worker", "cli", "agent"]},
            "details": {"type": "object"},
            "hash": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        },
        "additionalProperties": False,
    },
    "Submission": {
        "type": "object",
        "required": [
            "id",
            "reference",
            "form",
            "version",
            "status",
            "submitter",
            "summary",
            "amount",
            "submitted_at",
            "updated_at",
            "data",
            "steps",
        ],
        "properties": {
            "id": {"type": "integer"},
            "reference": {"type": "string"},
            "form": {"type": "string"},
            "version": {"type": "integer"},
            "status": {"enum": [s.value for s in SubmissionStatus]},
            "submitter": {"type": "string"},
            "summary": {"type": "string"},
            "amount": AMOUNT,
            "submitted_at": NULLABLE_TIME,
            "updated_at": TIME,
            "data": {
                "type": "object",
                "description": "The values as stored: money as {amount, currency} with the "
                "amount a decimal string, dates as YYYY-MM-DD, files as their records.",
            },
            "steps": {"type": "array", "items": _ref("Step")},
            "draft": {
                "type": "object",
                "description": "Only to its submitter, and only for a request sent back for "
                "changes: the changes saved (PATCH) but not yet resubmitted, as sent.",
            },
            "events": {
                "type": "array",
                "items": _ref("Event"),
                "description": "The audit trail, oldest first (GET only).",
            },
        },
        "additionalProperties": False,
    },
    "Task": {
        "type": "object",
        "required": [
            "id",
            "state",
            "decision",
            "submission",
            "reference",
            "form",
            "summary",
            "amount",
            "step",
            "step_title",
            "signature_required",
            "on_behalf_of",
            "created_at",
            "due_at",
            "output_schema",
            "review_of",
        ],
        "properties": {
            "id": {"type": "integer"},
            "state": {"enum": [s.value for s in TaskState]},
            "decision": {"enum": [*(d.value for d in Decision), None]},
            "submission": {"type": "integer"},
            "reference": {"type": "string"},
            "form": {"type": "string"},
            "summary": {"type": "string"},
            "amount": AMOUNT,
            "step": {"type": "string"},
            "step_title": {"type": "string"},
            "signature_required": {
                "type": "boolean",
                "description": "If true, the decision must carry the user's password.",
            },
            "on_behalf_of": NULLABLE_STRING,
            "created_at": TIME,
            "due_at": NULLABLE_TIME,
            "output_schema": {
                "type": ["object", "null"],
                "description": "For an agent: the JSON Schema its decision's `output` must "
                "match (null if the step asks for none).",
            },
            "review_of": {
                "oneOf": [{"type": "null"}, _ref("Recommendation")],
                "description": "For a person asked to review an agent's decision: what it "
                "recommended, why, and what it returned.",
            },
        },
        "additionalProperties": False,
    },
    "Recommendation": {
        "type": "object",
        "required": ["agent", "recommendation", "rationale", "output"],
        "properties": {
            "agent": {"type": "string", "description": "The agent's name, as pages show it."},
            "recommendation": {"enum": [d.value for d in Decision]},
            "rationale": {"type": "string"},
            "output": {"type": ["object", "null"]},
        },
        "additionalProperties": False,
    },
    "SubmissionRequest": {
        "type": "object",
        "required": ["data"],
        "properties": {
            "data": {
                "type": "object",
                "description": "The form's fields by name. Numbers and money as JSON numbers "
                "or decimal strings, dates as YYYY-MM-DD, booleans as true/false, line items "
                'as a list of objects, files as {"filename", "content_base64"}.',
            }
        },
        "additionalProperties": False,
    },
    "SubmitRequest": {
        "type": "object",
        "properties": {
            "data": {
                "type": "object",
                "description": "Fields to change before submitting, by name, as in "
                "SubmissionRequest; the fields not named keep their values (and files).",
            }
        },
        "additionalProperties": False,
    },
    "DecisionRequest": {
        "type": "object",
        "required": ["decision"],
        "properties": {
            "decision": {"enum": [d.value for d in Decision]},
            "comment": {"type": "string", "description": "Required to reject."},
            "password": {
                "type": "string",
                "description": "The user's password, for steps signed with a password.",
            },
            "rationale": {
                "type": "string",
                "description": "An agent's reason for its decision (required from agents; "
                "the same as comment).",
            },
            "output": {
                "type": "object",
                "description": "An agent's result, matching the task's output_schema; a "
                "missing or wrong one is a 422 naming its path (output.score).",
            },
        },
        "additionalProperties": False,
    },
    "DecisionResult": {
        "type": "object",
        "required": ["task", "submission"],
        "properties": {"task": _ref("Task"), "submission": _ref("Submission")},
        "additionalProperties": False,
    },
    "Accepted": {
        "type": "object",
        "required": ["message"],
        "properties": {"message": {"type": "string"}},
        "additionalProperties": False,
    },
}

UNAUTHORISED = _error("No token, or a token that is wrong, revoked or of a disabled user.")
NOT_FOUND = _error("No such thing, or not the caller's to see.")
SLUG = {"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}}
ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ROW_ID},
}


DEFAULT = _error("Any other failure (405 method not allowed, 429 too many requests, 500).")


def _paths() -> dict:
    paths = {
        "/forms": {
            "get": {
                "operationId": "listForms",
                "summary": "Forms the caller may submit",
                "responses": {
                    "200": _json({"type": "array", "items": _ref("FormSummary")}, "The forms."),
                    "401": UNAUTHORISED,
                },
            }
        },
        "/forms/{slug}": {
            "parameters": [SLUG],
            "get": {
                "operationId": "getForm",
                "summary": "A form's current schema",
                "responses": {
                    "200": _json(_ref("FormDetail"), "The form and its current schema."),
                    "401": UNAUTHORISED,
                    "404": NOT_FOUND,
                },
            },
            "put": {
                "operationId": "publishForm",
                "summary": "Publish a schema as the form's next version (admins)",
                "description": 'The body is the schema itself. With `If-Match: "N"`, it is '
                "refused (412) if the current version is no longer N.",
                "parameters": [
                    {
                        "name": "If-Match",
                        "in": "header",
                        "description": 'The version number the schema was edited from: "3".',
                        "schema": {"type": "string", "pattern": '^"?[0-9]+"?$'},
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "responses": {
                    "200": _json(_ref("FormDetail"), "Published (or unchanged)."),
                    "201": _json(_ref("FormDetail"), "A new form, published."),
                    "400": _error("Not JSON, or a bad If-Match."),
                    "401": UNAUTHORISED,
                    "403": _error("The caller is not an admin."),
                    "412": _error("Someone published another version first."),
                    "413": TOO_LARGE,
                    "415": _error("The body is not JSON."),
                    "422": _error("The schema has faults, listed by JSON path."),
                },
            },
        },
        "/forms/{slug}/submissions": {
            "parameters": [SLUG],
            "post": {
                "operationId": "createSubmission",
                "summary": "Submit the form (or keep a draft with ?draft=1)",
                "description": "Validated exactly as the web form. An `Idempotency-Key` header "
                "makes a retried request return the first one's submission.",
                "parameters": [
                    {"name": "draft", "in": "query", "schema": {"enum": ["1", "true", "yes"]}},
                    {"name": "Idempotency-Key", "in": "header", "schema": {"type": "string"}},
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("SubmissionRequest")}},
                },
                "responses": {
                    "201": _json(_ref("Submission"), "Submitted (or the draft kept)."),
                    "400": _error("Not a JSON object of the expected shape."),
                    "401": UNAUTHORISED,
                    "404": NOT_FOUND,
                    "409": _error("The form no longer accepts submissions (archived)."),
                    "413": TOO_LARGE,
                    "415": _error("The body is not JSON."),
                    "422": _error("Not valid: every fault by field path."),
                },
            },
        },
        "/submissions/{id}": {
            "parameters": [ID],
            "get": {
                "operationId": "getSubmission",
                "summary": "A submission with its steps and audit trail",
                "responses": {
                    "200": _json(_ref("Submission"), "The submission."),
                    "401": UNAUTHORISED,
                    "404": NOT_FOUND,
                },
            },
            "patch": {
                "operationId": "editSubmission",
                "summary": "Change a draft or a request sent back for changes",
                "description": "The caller's own draft or sent-back request: the fields in "
                "`data` take the values sent, the others keep theirs. The changes are kept, "
                "valid or not, until the request is submitted (`POST .../submit`); a sent-back "
                "request shows them under `draft` meanwhile.",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("SubmissionRequest")}},
                },
                "responses": {
                    "200": _json(_ref("Submission"), "The changes were kept."),
                    "400": _error("Not a JSON object of the expected shape."),
                    "401": UNAUTHORISED,
                    "404": _error("No such submission, or not the caller's own."),
                    "409": _error("Not a draft or sent back: in review, decided or withdrawn."),
                    "415": _error("The body is not JSON."),
                    "422": _error("A field the form does not have, or a file that is refused."),
                },
            },
        },
        "/submissions/{id}/submit": {
            "parameters": [ID],
            "post": {
                "operationId": "submitSubmission",
                "summary": "Submit a draft, or resubmit a request sent back for changes",
                "description": "The caller's own draft or sent-back request, with the fields "
                "in `data` (if any) changed first, is validated exactly as a new submission and "
                "goes to its approval chain again from the first step (the event is "
                "`resubmitted` for a sent-back request). Nothing changes if it is refused.",
                "requestBody": {
                    "required": False,
                    "content": {"application/json": {"schema": _ref("SubmitRequest")}},
                },
                "responses": {
                    "200": _json(_ref("Submission"), "Submitted: now in review."),
                    "400": _error("Not a JSON object of the expected shape."),
                    "401": UNAUTHORISED,
                    "404": _error("No such submission, or not the caller's own."),
                    "409": _error(
                        "Not a draft or sent back (in review, decided, withdrawn), "
                        "or the form was archived before this draft was first submitted."
                    ),
                    "415": _error("The body is not JSON."),
                    "422": _error("Not valid: every fault by field path."),
                },
            },
        },
        "/submissions/{id}/withdraw": {
            "parameters": [ID],
            "post": {
                "operationId": "withdrawSubmission",
                "summary": "Withdraw a request in review or sent back for changes",
                "description": "Only its submitter can. Open tasks close and nobody needs to "
                "act on it any more.",
                "responses": {
                    "200": _json(_ref("Submission"), "Withdrawn."),
                    "401": UNAUTHORISED,
                    "404": _error("No such submission, or not the caller's own."),
                    "409": _error("It is a draft, or already decided or withdrawn."),
                },
            },
        },
        "/submissions/{id}/audit.pdf": {
            "parameters": [ID],
            "get": {
                "operationId": "getAuditPdf",
                "summary": "The PDF audit trail",
                "responses": {
                    "200": {
                        "description": "The PDF/A-3b audit trail.",
                        "headers": {
                            "X-Baton-Head-Hash": {
                                "description": "The audit chain's head hash it shows.",
                                "schema": {"type": "string"},
                            }
                        },
                        "content": {
                            "application/pdf": {
                                "schema": {"type": "string", "contentMediaType": "application/pdf"}
                            }
                        },
                    },
                    "202": {
                        **_json(_ref("Accepted"), "Being rendered; ask again after Retry-After."),
                        "headers": {
                            "Retry-After": {
                                "schema": {"type": "integer"},
                                "description": "Seconds.",
                            }
                        },
                    },
                    "401": UNAUTHORISED,
                    "403": _error("Only the submitter, compliance and admins get the PDF."),
                    "404": NOT_FOUND,
                },
            },
        },
        "/tasks": {
            "get": {
                "operationId": "listTasks",
                "summary": "The caller's open tasks, oldest first",
                "responses": {
                    "200": _json({"type": "array", "items": _ref("Task")}, "Open tasks."),
                    "401": UNAUTHORISED,
                },
            }
        },
        "/tasks/{id}/decision": {
            "parameters": [ID],
            "post": {
                "operationId": "decideTask",
                "summary": "Approve, reject (with a comment) or request changes",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("DecisionRequest")}},
                },
                "responses": {
                    "200": _json(_ref("DecisionResult"), "Recorded; the chain moved on."),
                    "400": _error("Not a JSON object of the expected shape."),
                    "401": UNAUTHORISED,
                    "403": _error("The task is not the caller's."),
                    "404": NOT_FOUND,
                    "409": _error("The task is already decided or closed."),
                    "413": TOO_LARGE,
                    "415": _error("The body is not JSON."),
                    "422": _error(
                        "Refused: no comment to a rejection, a wrong password, an agent's "
                        "output that does not match the step's (errors by path)..."
                    ),
                },
            },
        },
        "/openapi.json": {
            "get": {
                "operationId": "getOpenApi",
                "summary": "This document",
                "security": [],
                "responses": {"200": _json({"type": "object"}, "The OpenAPI document.")},
            }
        },
    }
    for item in paths.values():
        for name, operation in item.items():
            if name != "parameters":
                operation["responses"].setdefault("default", DEFAULT)
    return paths


def document(server: str = "") -> dict:
    """The whole document; `server` is the address clients reach Baton at."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Baton API",
            "version": API_VERSION,
            "description": "Submit forms, follow submissions and decide tasks with the same "
            "rules and audit trail as the web pages. Every request needs "
            "`Authorization: Bearer TOKEN` (create one under Settings, or with `flask --app "
            'app baton create-token EMAIL`). Errors are JSON: `{"message", "errors"}`.',
        },
        "servers": [{"url": f"{server}/api/v1"}],
        "security": [{"bearer": []}],
        "paths": _paths(),
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
