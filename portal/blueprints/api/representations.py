"""What the API answers with: plain dicts, shaped as openapi.py describes them."""

from __future__ import annotations

import json

from portal import audit
from portal.domain.schema import SchemaError
from portal.domain.values import Evaluation
from portal.models import Form, Submission, Task
from portal.services import approvals, submissions

#: The key for a fault that belongs to the whole form (a cross-field rule with no field).
FORM_LEVEL = "_form"


def _time(moment) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None


def form_summary(form: Form) -> dict:
    return {"slug": form.slug, "title": form.title, "version": form.current_version.number}


def form_detail(form: Form) -> dict:
    version = form.current_version
    return {
        **form_summary(form),
        "published_at": _time(version.created_at),
        "archived": form.archived_at is not None,
        "schema": json.loads(version.schema_text),
    }


def submission(found: Submission, with_history: bool = True, viewer=None) -> dict:
    """A submission; its submitter (`viewer`) also sees changes saved but not yet resubmitted."""
    body = {
        **submissions.described(found),
        "submitted_at": _time(found.submitted_at),
        "updated_at": _time(found.updated_at),
        "data": (found.draft if found.data is None else found.data) or {},
        "steps": steps(found),
    }
    if viewer is not None and viewer.id == found.submitter_id:
        if found.data is not None and found.draft is not None:
            body["draft"] = found.draft
    if with_history:
        body["events"] = events(found)
    return body


def steps(found: Submission) -> list[dict]:
    """The current round's steps, each with who was asked and what they decided."""
    rounds = approvals.rounds(found)
    if not rounds:
        return []
    current = rounds[0]
    result = []
    for view in current.steps:
        result.append(
            {
                "name": view.spec.name,
                "title": view.spec.title,
                "round": current.number,
                "status": view.state.value,
                "policy": view.spec.policy_text,
                "reason": view.reason,
                "assignees": [
                    {
                        "email": t.assignee.email,
                        "name": t.assignee.display_name,
                        "state": t.state.value,
                    }
                    for t in view.tasks
                ],
                "decisions": [
                    {
                        "by": t.assignee.email,
                        "decision": t.decision.value,
                        "comment": t.comment,
                        "at": _time(t.decided_at),
                        "on_behalf_of": t.on_behalf_of.email if t.on_behalf_of else None,
                        "signature_meaning": t.signature_meaning,
                        "agent": t.assignee.is_agent,
                        "output": t.output,
                    }
                    for t in view.tasks
                    if t.decision is not None
                ],
            }
        )
    return result


def events(found: Submission) -> list[dict]:
    rows = audit.events(audit.submission_chain(found.id))
    return [
        {
            "seq": row.seq,
            "at": _time(row.occurred_at),
            "actor": row.actor,
            "action": row.action,
            "channel": row.channel,
            "details": row.details,
            "hash": row.hash,
        }
        for row in rows
    ]


def task(found: Task) -> dict:
    submission = found.submission
    step = submission.form_version.spec.approval.step(found.step)
    return {
        "id": found.id,
        "state": found.state.value,
        "decision": found.decision.value if found.decision else None,
        "submission": submission.id,
        "reference": submission.reference,
        "form": submission.form.slug,
        "summary": submission.summary,
        "amount": submissions.money(submission),
        "step": found.step,
        "step_title": step.title,
        "signature_required": step.signature,
        "on_behalf_of": found.on_behalf_of.email if found.on_behalf_of else None,
        "created_at": _time(found.created_at),
        "due_at": _time(found.due_at),
        "output_schema": step.output.json_schema() if step.output is not None else None,
        "review_of": recommendation(approvals.recommendation_for(found)),
    }


def recommendation(recommended: Task | None) -> dict | None:
    """What an agent recommended, for the person asked to confirm or override it."""
    if recommended is None:
        return None
    return {
        "agent": recommended.assignee.display_name,
        "recommendation": recommended.recommendation.value,
        "rationale": recommended.comment,
        "output": recommended.output,
    }


def errors(evaluation: Evaluation) -> dict[str, list[str]]:
    """Validation errors by field path, as `lines[0].quantity`; the whole form's under _form."""
    return {(path or FORM_LEVEL): list(messages) for path, messages in evaluation.errors.items()}


def errors_by_path(faults: list[SchemaError]) -> dict[str, list[str]]:
    """Schema faults by JSON path; a fault of the whole schema under _schema."""
    found: dict[str, list[str]] = {}
    for fault in faults:
        found.setdefault(fault.path or "_schema", []).append(fault.message)
    return found
