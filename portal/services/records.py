"""A submission's whole record, for auditors: the audit-trail PDF and the JSON inside it.

The PDF is rendered by a job, never in a web request, and kept per head hash of the
submission's audit chain: until another event is written, the record has not changed and the
same file is served. Downloads are written to the admin chain, not the submission's own, so
looking at a record does not change it.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from portal import audit, clock, outbox, pdf, storage, uploads
from portal.extensions import db
from portal.jobs.registry import JobKind
from portal.models import AuditChain, AuditEvent, AuditPdf, Submission, Task, Timer, User
from portal.services import access, approvals

logger = logging.getLogger(__name__)
PDF_FOLDER = "pdfs"
#: The original files of one record embedded in its PDF, at most (the rest are listed).
MAX_EMBEDDED_BYTES = 50 * 2**20


@dataclass
class Record:
    submission: Submission
    events: list[AuditEvent]
    verification: audit.Verification
    rounds: list
    timers: list[Timer]

    @property
    def next_pending(self) -> list[Timer]:
        """The next pending timer of each kind for each task (the rest follow on schedule)."""
        seen, found = set(), []
        for timer in self.timers:
            key = (timer.task_id, timer.kind)
            if timer.is_pending and key not in seen:
                seen.add(key)
                found.append(timer)
        return found

    @property
    def pending_count(self) -> int:
        return sum(1 for timer in self.timers if timer.is_pending)


def head(submission: Submission) -> tuple[str, int]:
    """The submission's audit chain head: (hash, number of events)."""
    row = db.session.get(AuditChain, audit.submission_chain(submission.id))
    return (row.head_hash, row.seq) if row is not None else (audit.GENESIS, 0)


def gather(submission: Submission) -> Record:
    events = list(
        db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.chain == audit.submission_chain(submission.id))
            .order_by(AuditEvent.seq)
        )
    )
    timers = list(
        db.session.scalars(
            select(Timer)
            .join(Task, Timer.task_id == Task.id)
            .where(Task.submission_id == submission.id)
            .order_by(Timer.fire_at, Timer.id)
        )
    )
    return Record(
        submission=submission,
        events=events,
        verification=audit.verify(audit.submission_chain(submission.id)),
        rounds=approvals.rounds(submission),
        timers=timers,
    )


def as_json(record: Record, generated_at, generated_by: str) -> dict:
    """The record as plain JSON: what is embedded in the PDF, for machines to read."""
    submission = record.submission
    version = submission.form_version
    tasks = []
    for task in submission.tasks:
        tasks.append(
            {
                "id": task.id,
                "round": task.round,
                "step": task.step,
                "assignee": task.assignee.email,
                "agent": task.assignee.is_agent,
                "on_behalf_of": task.on_behalf_of.email if task.on_behalf_of else None,
                "state": task.state.value,
                "decision": task.decision.value if task.decision else None,
                "comment": task.comment,
                "signature_meaning": task.signature_meaning,
                "channel": task.channel,
                "created_at": _iso(task.created_at),
                "due_at": _iso(task.due_at),
                "decided_at": _iso(task.decided_at),
                "closed_reason": task.closed_reason,
                "recommendation": task.recommendation.value if task.recommendation else None,
                "output": task.output,
            }
        )
    return {
        "generated_at": _iso(generated_at),
        "generated_by": generated_by,
        "submission": {
            "id": submission.id,
            "status": submission.status.value,
            "submitter": submission.submitter.email,
            "submitted_at": _iso(submission.submitted_at),
            "submit_count": submission.submit_count,
            "data_hash": submission.data_hash,
        },
        "form": {
            "slug": version.form.slug,
            "title": version.title,
            "version": version.number,
            "schema_hash": version.schema_hash,
        },
        "data": submission.data,
        "attachments": [
            {
                "field": a.field,
                "name": a.name,
                "content_type": a.content_type,
                "size": a.size,
                "sha256": a.sha256,
            }
            for a in submission.attachments
        ],
        "tasks": tasks,
        "timers": [
            {
                "task": t.task_id,
                "kind": t.kind.value,
                "sequence": t.sequence,
                "fire_at": _iso(t.fire_at),
                "fired_at": _iso(t.fired_at),
                "cancelled_at": _iso(t.cancelled_at),
                "outcome": t.outcome,
            }
            for t in record.timers
        ],
        "events": [json.loads(audit.canonical(e)) | {"hash": e.hash} for e in record.events],
        "verification": {
            "ok": record.verification.ok,
            "events": record.verification.events,
            "head_hash": record.verification.head_hash,
            "broken_seq": record.verification.broken_seq,
            "reason": record.verification.reason,
        },
    }


def _iso(moment) -> str | None:
    return moment.isoformat() if moment is not None else None


def cached(submission: Submission) -> AuditPdf | None:
    """The rendering of the record as it stands now, if there is one (and its file is there).

    "As it stands" is the chain head and the verification result now: a row altered in the
    database behind Baton's back leaves the head as it was, and a PDF that said "verified"
    must not be handed out for a chain that no longer verifies.
    """
    head_hash, _ = head(submission)
    verified = audit.verify(audit.submission_chain(submission.id)).ok
    found = db.session.scalars(
        select(AuditPdf).where(
            AuditPdf.submission_id == submission.id, AuditPdf.head_hash == head_hash
        )
    ).first()
    if found is None or found.verified != verified or not storage.current().exists(found.path):
        return None
    return found


def open_pdf(rendering: AuditPdf) -> storage.Opened:
    """The rendering's PDF, opened for reading from the portal's storage."""
    return storage.current().open(rendering.path)


@dataclass
class Document:
    """Everything needed to render a record, gathered from the database (rendering needs none)."""

    submission_id: int
    html: str
    attachments: list[tuple[str, bytes, str]]
    head_hash: str
    events: int
    verified: bool
    generated_at: object


def originals(submission: Submission) -> tuple[list[tuple[int, str, bytes, str]], dict[int, str]]:
    """The attachments to embed in the PDF: (attachment id, name in the PDF, bytes, description)
    each, under a name unique in the PDF; and why any other is not embedded (by id)."""
    found, refused, names, total = [], {}, {"record.json"}, 0
    for attachment in submission.attachments:
        if total + attachment.size > MAX_EMBEDDED_BYTES:
            refused[attachment.id] = (
                f"the files of one record are embedded up to {MAX_EMBEDDED_BYTES // 2**20} MB; "
                "download it from the request"
            )
            continue
        try:
            content = uploads.read_blob(attachment.sha256, limit=attachment.size)
        except (OSError, ValueError):
            refused[attachment.id] = "the stored file is missing or not what was recorded"
            continue
        if hashlib.sha256(content).hexdigest() != attachment.sha256:
            refused[attachment.id] = "the stored file no longer matches its SHA-256"
            continue
        name = uploads.download_name(attachment.name, attachment.content_type)
        if name in names:
            name = f"{len(found) + 1}-{name}"
        names.add(name)
        total += attachment.size
        description = f"{attachment.field}: {attachment.name}, SHA-256 {attachment.sha256}"
        found.append((attachment.id, name, content, description))
    return found, refused


def document(submission: Submission, requested_by: User | None) -> Document:
    """The HTML, the embedded JSON and the original attachments of the record as it stands."""
    record = gather(submission)
    now = clock.now()
    who = requested_by.email if requested_by else "system"
    files, refused = originals(submission)
    html = pdf.audit_trail_html(
        record, submission, now, who, {item[0]: item[1] for item in files}, refused
    )
    as_text = json.dumps(as_json(record, now, who), indent=2, ensure_ascii=False, sort_keys=True)
    return Document(
        submission_id=submission.id,
        html=html,
        attachments=[
            ("record.json", as_text.encode("utf-8"), f"Record of submission {submission.reference}")
        ]
        + [(name, content, description) for _, name, content, description in files],
        head_hash=head(submission)[0],
        events=record.verification.events,
        verified=record.verification.ok,
        generated_at=now,
    )


def store(
    submission: Submission, doc: Document, content: bytes, requested_by: User | None, seconds: float
) -> AuditPdf:
    """Keep a rendering in the portal's storage (visible only once whole) and on record.

    The file is named by the chain head and its own content, so a second rendering of the same
    head (the first one's file was lost) never takes the name a recorded SHA-256 belongs to.
    """
    digest = hashlib.sha256(content).hexdigest()
    key = f"{PDF_FOLDER}/{submission.id}/{doc.head_hash}-{digest[:16]}.pdf"
    kept = storage.current()
    kept.put(key, io.BytesIO(content), sha256=digest)
    rendering = db.session.scalars(
        select(AuditPdf)
        .where(AuditPdf.submission_id == submission.id, AuditPdf.head_hash == doc.head_hash)
        .with_for_update()
    ).first()
    if rendering is None:
        rendering = AuditPdf(submission_id=submission.id, head_hash=doc.head_hash)
        db.session.add(rendering)
    elif rendering.path != key:
        # The earlier rendering of this head lost its file, or no longer tells the truth
        # about the chain (an event was altered behind Baton's back): this one replaces it.
        kept.delete(rendering.path)
    rendering.events = doc.events
    rendering.verified = doc.verified
    rendering.sha256 = digest
    rendering.size = len(content)
    rendering.path = key
    rendering.rendered_at = doc.generated_at
    rendering.rendered_for_id = requested_by.id if requested_by else None
    rendering.render_seconds = round(seconds, 3)
    db.session.flush()
    logger.info(
        "submission %s: audit trail PDF rendered (%d events, %.2fs)",
        submission.id,
        doc.events,
        seconds,
    )
    return rendering


def render(submission: Submission, requested_by: User | None) -> AuditPdf:
    """Render the record as it stands now (or return the rendering already made for it)."""
    existing = cached(submission)
    if existing is not None:
        return existing
    started = time.monotonic()
    doc = document(submission, requested_by)
    content, refused = pdf.render(doc.html, current_app.static_folder, doc.attachments)
    if refused:
        logger.warning(
            "submission %s: the PDF renderer refused %d URL(s)", submission.id, len(refused)
        )
    return store(submission, doc, content, requested_by, time.monotonic() - started)


def request(submission: Submission, user: User) -> AuditPdf | None:
    """The PDF if it is ready; otherwise queue its rendering and return None."""
    ready = cached(submission)
    if ready is None and not _render_pending(submission):
        outbox.add(JobKind.RENDER_PDF, submission_id=submission.id, user_id=user.id)
    return ready


def take(submission: Submission, user: User) -> AuditPdf | None:
    """A copy of the audit trail for `user`, noted in the admin chain; None while it is
    rendered (the render job is queued). Refused unless they may have it."""
    access.require(user, access.Action.DOWNLOAD_RECORD, submission)
    ready = request(submission, user)
    if ready is not None:
        note_download(submission, ready, user)
    return ready


def download_name(submission: Submission) -> str:
    return f"baton-{submission.form.slug}-{submission.id}-audit-trail.pdf"


def _render_pending(submission: Submission) -> bool:
    """True if a render_pdf job for this submission is already waiting (the page reloads)."""
    return outbox.waiting(JobKind.RENDER_PDF, submission_id=submission.id)


def note_download(submission: Submission, rendering: AuditPdf, user: User) -> None:
    """Who took a copy of which rendering (in the admin chain: the record itself is unchanged)."""
    audit.record(
        audit.ADMIN_CHAIN,
        "record_downloaded",
        audit.Actor(user),
        {
            "submission": submission.id,
            "head_hash": rendering.head_hash,
            "sha256": rendering.sha256,
        },
    )
