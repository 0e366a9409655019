"""Saving drafts and submitting forms."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload
from werkzeug.datastructures import FileStorage

from portal import audit, clock, outbox, uploads
from portal.domain import paging, values
from portal.domain.refusal import Conflict, NotFound
from portal.domain.schema import FieldKind, FormSpec
from portal.domain.values import Evaluation, FileValue
from portal.extensions import db, insert_unless_present
from portal.jobs.registry import JobKind
from portal.models import (
    Attachment,
    Form,
    FormVersion,
    StoredFile,
    Submission,
    SubmissionStatus,
    User,
)
from portal.services import access, approvals

logger = logging.getLogger(__name__)


class SubmissionRefused(Conflict):
    """The action is not allowed in the submission's current state; the message says why."""


@dataclass
class Files:
    """The files posted with a form: raw values per field, and new uploads waiting to be stored."""

    raw: dict[str, list[FileValue]] = field(default_factory=dict)
    new: dict[str, uploads.Upload] = field(default_factory=dict)  # by sha256
    #: Problems with individual files, by field, found before the form was evaluated.
    faults: dict[str, list[str]] = field(default_factory=dict)

    def close(self) -> None:
        for upload in self.new.values():
            if upload.contents is not None:
                upload.contents.close()


def read_files(
    spec: FormSpec,
    user: User,
    posted: dict[str, list[FileStorage]],
    kept: dict[str, list[str]],
) -> Files:
    """Read new uploads and the kept-file tokens posted with a form, checking each file.

    A file that passes its own checks is stored at once (storage is by content, so this is
    harmless if the form is then refused) and can be kept across a re-displayed form.
    """
    secret = current_app.config["SECRET_KEY"]
    found = Files()
    for spec_field in spec.inputs:
        if spec_field.kind != FieldKind.FILE:
            continue
        chosen: list[FileValue] = []
        for token in kept.get(spec_field.name, []):
            value = uploads.kept_file(secret, user.id, token)
            if value is not None and not values.file_faults(spec_field, value):
                chosen.append(value)
        new_files = posted.get(spec_field.name, [])[: spec_field.max_files + 1]
        if new_files and not spec_field.multiple:
            chosen = []  # a new file replaces the one kept from before
        for storage in new_files:
            upload = uploads.read(storage.stream, storage.filename, spec_field.max_size_bytes)
            faults = values.file_faults(spec_field, upload.value)
            if faults:
                found.faults.setdefault(spec_field.name, []).extend(faults)
                if upload.contents is not None:
                    upload.contents.close()
                continue
            uploads.store(upload)
            if upload.value.sha256 in found.new and upload.contents is not None:
                upload.contents.close()  # the same bytes posted twice: the first copy is kept
            else:
                found.new[upload.value.sha256] = upload
            chosen.append(upload.value)
        unique = list({value.sha256: value for value in chosen}.values())
        found.raw[spec_field.name] = unique
    return found


def evaluate(spec: FormSpec, raw: dict, files: Files, strict: bool = False) -> Evaluation:
    """Evaluate a posted form, its files included, against the form's rules.

    `strict` (the API) also refuses keys the form does not have; a browser only posts fields.
    """
    merged = dict(raw)
    for name, items in files.raw.items():
        # Two files for a one-file field stay a list, which the field refuses (never the first).
        single = not spec.field(name).multiple and len(items) <= 1
        merged[name] = (items[0] if items else None) if single else items
    today = clock.local_today()
    evaluation = values.evaluate(spec, merged, today, strict=strict)
    for name, faults in files.faults.items():
        for message in faults:
            evaluation.add_error(name, message)
    return evaluation


def save_draft(
    user: User,
    version: FormVersion,
    raw: dict,
    files: Files,
    submission: Submission | None = None,
    client_token: str | None = None,
) -> Submission:
    """Keep what the person has typed so far, valid or not, as their draft.

    Drafts are private working copies: they are not audited, and a discarded one is deleted.
    A submission's audit chain starts when it is submitted.
    """
    draft = _storable(raw)
    for name, items in files.raw.items():
        draft[name] = [item.as_record() for item in items]
    if submission is None:
        submission = _existing(user, client_token) or _new_submission(user, version, client_token)
        if submission.status != SubmissionStatus.DRAFT:
            return submission  # the same page posted twice; the first post already went further
    else:
        submission = _lock_editable(user, submission)
    submission.draft = draft
    submission.updated_at = clock.now()
    _attach(submission, files.raw)
    db.session.flush()
    return submission


def submit(
    user: User,
    version: FormVersion,
    raw: dict,
    files: Files,
    submission: Submission | None = None,
    client_token: str | None = None,
    strict: bool = False,
) -> tuple[Submission | None, Evaluation]:
    """Submit the form if it is valid; if not, change nothing and return the evaluation."""
    never_submitted = submission is None or submission.submitted_at is None
    if not version.form.is_open and never_submitted:
        raise SubmissionRefused(
            f"“{version.form.title}” no longer accepts requests: it was archived."
        )
    spec = version.spec
    evaluation = evaluate(spec, raw, files, strict)
    if not evaluation.ok:
        return None, evaluation
    fresh = False
    if submission is None:
        existing = _existing(user, client_token)
        if existing is not None and existing.status != SubmissionStatus.DRAFT:
            return existing, evaluation  # a double-clicked Submit: the first click already did it
        submission = existing
        if submission is None:
            # Not added to the session until it is complete: one INSERT, not INSERT and UPDATE.
            submission, fresh = _new_submission(user, version, client_token, added=False), True
    else:
        submission = _lock_editable(user, submission)
    now = clock.now()
    resubmitted = submission.status == SubmissionStatus.CHANGES_REQUESTED
    submission.data = evaluation.data
    submission.draft = None
    submission.status = SubmissionStatus.IN_REVIEW
    submission.submitted_at = submission.submitted_at or now
    submission.updated_at = now
    submission.submit_count += 1
    submission.data_hash = approvals.data_hash(evaluation.data, submission.submit_count)
    submission.amount, submission.currency = values.amount(spec, evaluation.data)
    submission.summary = values.summary(spec, evaluation.data)
    _attach(submission, _files_in(spec, evaluation.data))
    if fresh:
        db.session.add(submission)
    db.session.flush()
    audit.record(
        audit.submission_chain(submission.id),
        "resubmitted" if resubmitted else "submitted",
        audit.Actor(user),
        {
            "form": version.form.slug,
            "version": version.number,
            "data": evaluation.data,
            "data_hash": submission.data_hash,
        },
        submission_id=submission.id,
        new_chain=fresh,
    )
    outbox.add(JobKind.START_CHAIN, submission_id=submission.id)
    logger.info("submission %s submitted by user %s", submission.id, user.id)
    return submission, evaluation


def discard_draft(user: User, submission: Submission) -> None:
    """Delete a draft that was never submitted."""
    submission = _lock_editable(user, submission)
    if submission.status != SubmissionStatus.DRAFT or submission.submitted_at is not None:
        raise SubmissionRefused("Only a draft that was never submitted can be discarded.")
    db.session.delete(submission)
    db.session.flush()


def draft_input(version: FormVersion, submission: Submission, user: User) -> tuple[dict, dict]:
    """A saved draft (or a sent-back submission) as raw input, plus keep tokens for its files."""
    spec = version.spec
    if submission.draft is not None:
        raw = dict(submission.draft)
    else:
        raw = values.to_raw(spec, submission.data or {})
    secret = current_app.config["SECRET_KEY"]
    tokens: dict[str, list[tuple[FileValue, str]]] = {}
    for spec_field in spec.inputs:
        if spec_field.kind != FieldKind.FILE:
            continue
        records = raw.pop(spec_field.name, None) or []
        records = records if isinstance(records, list) else [records]
        items = [r if isinstance(r, FileValue) else FileValue.from_record(r) for r in records]
        tokens[spec_field.name] = [
            (item, uploads.keep_token(secret, user.id, item)) for item in items
        ]
    return raw, tokens


def kept_choices(user: User, files: Files) -> dict[str, list[tuple[FileValue, str]]]:
    """Files to offer as 'keep' checkboxes when a form is shown again after a refused post."""
    secret = current_app.config["SECRET_KEY"]
    return {
        name: [(item, uploads.keep_token(secret, user.id, item)) for item in items]
        for name, items in files.raw.items()
    }


def _storable(value):
    """Raw input made safe to keep as JSON in any database: no NUL, no lone surrogates.

    A draft keeps what the person typed, valid or not; these two cannot be stored (PostgreSQL
    refuses them) and no keyboard produces them, so they are dropped or replaced.
    """
    if isinstance(value, str):
        return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {_storable(key): _storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_storable(item) for item in value]
    return value


def _files_in(spec: FormSpec, data: dict) -> dict[str, list[FileValue]]:
    found = {}
    for spec_field in spec.inputs:
        if spec_field.kind == FieldKind.FILE and data.get(spec_field.name):
            records = data[spec_field.name]
            records = records if isinstance(records, list) else [records]
            found[spec_field.name] = [FileValue.from_record(record) for record in records]
    return found


def _attach(submission: Submission, by_field: dict[str, list[FileValue]]) -> None:
    """Make the submission's attachment rows match `by_field`, adding StoredFile rows as needed
    (one INSERT ... ON CONFLICT DO NOTHING each: a file already stored is left as it is)."""
    submission.attachments.clear()
    stored = set()
    for name, items in by_field.items():
        for item in items:
            if item.sha256 not in stored:
                _store_file_row(item)
                stored.add(item.sha256)
            submission.attachments.append(
                Attachment(
                    field=name,
                    name=item.name,
                    content_type=item.content_type,
                    size=item.size,
                    sha256=item.sha256,
                )
            )


def _store_file_row(item: FileValue) -> None:
    """Insert the file's row unless it exists: two people may upload the same file at once,
    and the second insert must not fail the second submission."""
    insert_unless_present(
        StoredFile, "sha256", sha256=item.sha256, size=item.size, content_type=item.content_type
    )


def _existing(user: User, client_token: str | None) -> Submission | None:
    if not client_token:
        return None
    return db.session.scalars(
        select(Submission)
        .where(Submission.submitter_id == user.id, Submission.client_token == client_token)
        .with_for_update(key_share=True)  # see approvals.lock
    ).first()


def _new_submission(
    user: User, version: FormVersion, client_token: str | None, added: bool = True
) -> Submission:
    """A new draft; added to the session and flushed, unless `added` is False (the caller
    adds it once it is complete)."""
    now = clock.now()
    submission = Submission(
        form_id=version.form_id,
        form_version=version,
        submitter=user,
        status=SubmissionStatus.DRAFT,
        client_token=client_token,
        created_at=now,
        updated_at=now,
        submit_count=0,
        summary="",
    )
    if added:
        db.session.add(submission)
        db.session.flush()
    return submission


def refuse_unless_editable(user: User, submission: Submission) -> None:
    """SubmissionRefused unless the user may edit it now: theirs, a draft or sent back."""
    if not access.allows(user, access.Action.EDIT_SUBMISSION, submission):
        raise SubmissionRefused(
            f"Submission {submission.reference} is {submission.status.label.lower()} "
            "and can no longer be edited."
        )


def _lock_editable(user: User, submission: Submission) -> Submission:
    locked = db.session.scalars(
        select(Submission)
        .where(Submission.id == submission.id)
        .with_for_update(key_share=True)  # see approvals.lock
        .execution_options(populate_existing=True)
    ).one()
    refuse_unless_editable(user, locked)
    return locked


def open_forms() -> list[Form]:
    """Forms that accept new submissions, by title."""
    return list(
        db.session.scalars(
            select(Form)
            .where(Form.archived_at.is_(None), Form.current_version_id.is_not(None))
            .order_by(Form.title)
        )
    )


# -- a person's own submissions ---------------------------------------------------------------


def recent_of(user: User, limit: int = 5) -> list[Submission]:
    """The person's latest submissions and drafts, with their forms."""
    return list(
        db.session.scalars(
            select(Submission)
            .where(Submission.submitter_id == user.id)
            .options(selectinload(Submission.form))
            .order_by(Submission.updated_at.desc())
            .limit(limit)
        )
    )


@dataclass(frozen=True)
class OwnPage:
    """One page of "My submissions": the rows (their forms loaded), and the count by status."""

    page: paging.Page[Submission]
    counts: dict[SubmissionStatus, int]


def page_of(user: User, status: SubmissionStatus | None, asked: int | None, size: int) -> OwnPage:
    """One page of the person's submissions (of one status, if given), newest change first."""
    mine = Submission.submitter_id == user.id
    counts = dict(
        db.session.execute(
            select(Submission.status, func.count()).where(mine).group_by(Submission.status)
        ).all()
    )
    # The tabs' counts already hold the total: one pass over the person's requests, not two.
    total = counts.get(status, 0) if status else sum(counts.values())
    number = paging.page_to_show(asked, total, size)
    query = select(Submission).where(mine)
    if status:
        query = query.where(Submission.status == status)
    rows = db.session.scalars(
        query.options(selectinload(Submission.form))
        .order_by(Submission.updated_at.desc(), Submission.id.desc())
        .offset((number - 1) * size)
        .limit(size)
    ).all()
    return OwnPage(paging.Page(list(rows), number, size, total), counts)


def attachment_of(submission: Submission, attachment_id: int) -> Attachment:
    """One of the submission's attachments; NotFound for any other id."""
    found = db.session.get(Attachment, attachment_id)
    if found is None or found.submission_id != submission.id:
        raise NotFound("There is no such file on this request.")
    return found


# -- what outside systems see -----------------------------------------------------------------


def described(found: Submission) -> dict:
    """The submission as the API's representation and webhooks' payloads both begin it, so
    the two cannot drift: ids, form, status, people and the amount as stored."""
    return {
        "id": found.id,
        "reference": found.reference,
        "form": found.form.slug,
        "version": found.form_version.number,
        "status": found.status.value,
        "submitter": found.submitter.email,
        "summary": found.summary,
        "amount": money(found),
    }


def money(found: Submission) -> dict | None:
    """The amount at the column's scale, as it reads back once stored (flushed or not yet)."""
    if found.amount is None:
        return None
    scale = Decimal(1).scaleb(-Submission.amount.type.scale)
    return {"amount": f"{found.amount.quantize(scale):f}", "currency": found.currency}
