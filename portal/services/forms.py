"""Publishing form schemas as new versions, from files or from the editor."""

from __future__ import annotations

import difflib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from portal import audit, clock
from portal.domain import schema, schema_changes
from portal.domain.refusal import Refused
from portal.domain.schema import FormSpec, SchemaError, SchemaInvalid
from portal.extensions import db
from portal.models import Form, FormVersion, Submission, SubmissionStatus, User
from portal.presentation import json_lines
from portal.services import catalog, users

logger = logging.getLogger(__name__)
SLUG_PATTERN = r"[a-z][a-z0-9_]{0,62}"


@dataclass(frozen=True)
class Published:
    form: Form
    version: FormVersion
    changed: bool  # False when the schema was the same as the current version
    #: Set when a file was not loaded because the database has moved past it.
    kept_newer: FormVersion | None = None


def check(text: str, slug: str, source: str = "") -> FormSpec:
    """Parse and check schema text; raise SchemaInvalid with every fault and its JSON path."""
    if not re.fullmatch(SLUG_PATTERN, slug):
        raise SchemaInvalid(
            [
                SchemaError(
                    "", f"{slug!r} is not a usable form name: use lower-case letters, digits and _"
                )
            ],
            source,
        )
    return schema.load_text(text, slug, source)


def publish(text: str, slug: str, actor: audit.Actor, source: str = "") -> Published:
    """Make `text` the current version of form `slug`, unless it equals the current one."""
    spec = check(text, slug, source)
    document = schema.decode(text, source)
    digest = schema.content_hash(document)
    form = db.session.scalars(
        select(Form)
        .where(Form.slug == slug)
        .with_for_update()
        .execution_options(populate_existing=True)  # as it is now, not as a kept copy had it
    ).first()
    if form is None:
        form = Form(slug=slug, title=spec.title)
        db.session.add(form)
        db.session.flush()
    current = form.current_version
    if current is not None and current.schema_hash == digest:
        return Published(form, current, changed=False)
    number = (max((v.number for v in form.versions), default=0)) + 1
    version = FormVersion(
        form=form,
        number=number,
        title=spec.title,
        schema_text=text,
        schema_hash=digest,
        created_by_id=actor.user.id if actor.user else None,
        source=source[:200],
    )
    db.session.add(version)
    db.session.flush()
    form.current_version = version
    form.title = spec.title
    audit.record(
        audit.ADMIN_CHAIN,
        "schema_published",
        actor,
        {"form": slug, "version": number, "schema_hash": digest, "source": source},
    )
    logger.info("form %s: published version %s from %s", slug, number, source or "the editor")
    return Published(form, version, changed=True)


def load_directory(folder: str | Path, actor: audit.Actor, force: bool = False) -> list[Published]:
    """Publish every *.json in `folder`; if any file is faulty, publish none, list every fault.

    A file equal to an older version of its form (the form was edited in the browser since) is
    left alone unless `force`: `dump-schemas` brings the folder up to date instead.
    """
    folder = Path(folder)
    files = sorted(folder.glob("*.json"))
    if not files:
        raise SchemaInvalid([SchemaError("", f"no *.json form schemas in {folder}")], str(folder))
    texts: dict[str, tuple[str, str]] = {}
    errors: list[str] = []
    for path in files:
        try:
            text = path.read_text("utf-8")
            check(text, path.stem, path.name)
        except SchemaInvalid as exc:
            errors.extend(exc.lines())
            continue
        except UnicodeDecodeError:
            errors.append(f"{path.name}: not UTF-8 text")
            continue
        texts[path.stem] = (text, path.name)
    if errors:
        raise SchemaInvalid([SchemaError("", line) for line in errors])
    results = []
    for slug, (text, source) in texts.items():
        stale = None if force else _superseded(slug, text)
        if stale is not None:
            results.append(Published(stale.form, stale, changed=False, kept_newer=stale))
        else:
            results.append(publish(text, slug, actor, source))
    return results


def _superseded(slug: str, text: str) -> FormVersion | None:
    """The current version, if `text` is an older version that an admin has since replaced.

    A file that equals version 3 while version 4 was published in the editor is out of date,
    not a change: loading it would silently undo the admin's work.
    """
    form = find_form(slug)
    if form is None or form.current_version is None:
        return None
    digest = schema.content_hash(schema.decode(text))
    if digest == form.current_version.schema_hash:
        return None
    older = {v.schema_hash for v in form.versions if v.id != form.current_version.id}
    return form.current_version if digest in older else None


def find_form(slug: str) -> Form | None:
    """The form called `slug` with its current version (kept per process: see catalog)."""
    return catalog.find_form(slug)


def upload_bytes(
    slug: str | None = None, submission_id: int | None = None, version_id: int | None = None
) -> int:
    """What a post's attachments may add up to: to form `slug`'s current version, to the
    version a submission was made with, or to a version (0 when there is no such thing)."""
    if version_id is not None:
        version = db.session.get(FormVersion, version_id)
    elif submission_id is not None:
        found = db.session.get(Submission, submission_id)
        version = found.form_version if found is not None else None
    else:
        form = find_form(slug or "")
        version = form.current_version if form is not None else None
    return version.spec.upload_bytes if version is not None else 0


# -- what the editor needs beyond the schema's own checks ---------------------------------------


def publishable(text: str, slug: str) -> tuple[FormSpec | None, list[SchemaError]]:
    """Check schema text for publishing from the editor or the API: every fault, with its path.

    Beyond the schema's own checks: a chain condition that names a field this version removes
    is reported as such, and a step that nobody could ever decide (its people and the fallback
    group all missing or empty) is refused.
    """
    previous = find_form(slug)
    try:
        spec = check(text, slug)
    except SchemaInvalid as exc:
        return None, _explain_removed_fields(exc.errors, previous)
    return spec, _undecidable_steps(spec)


def _explain_removed_fields(errors: list[SchemaError], previous: Form | None) -> list[SchemaError]:
    if previous is None or previous.current_version is None:
        return errors
    old_names = {field.name for field in previous.current_version.spec.inputs}
    explained = []
    for error in errors:
        match = re.match(r"unknown name '([a-z][a-z0-9_]*)", error.message)
        if match and error.path.startswith("approval.") and match.group(1) in old_names:
            number = previous.current_version.number
            message = (
                f"uses the field {match.group(1)!r}, which this version removes "
                f"(version {number} has it); keep the field or change the condition"
            )
            explained.append(SchemaError(error.path, message))
        else:
            explained.append(error)
    return explained


def _undecidable_steps(spec: FormSpec) -> list[SchemaError]:
    """Steps whose only assignees cannot be found now, with an empty fallback group too."""
    if spec.approval is None:
        return []
    fallback = users.group_members(spec.approval.fallback_group)
    errors = []
    for index, step in enumerate(spec.approval.steps):
        reasons, possible = [], 0
        for assignee in step.assignees:
            if assignee.user:
                user = users.find_user(assignee.user)
                if user is None or not user.is_active:
                    reasons.append(f"user {assignee.user} does not exist or is disabled")
                else:
                    possible += 1
            elif assignee.group:
                members = users.group_members(assignee.group)
                if not members:
                    reasons.append(f"group {assignee.group} has no active members")
                possible += len(members)
            else:
                possible += 1  # a manager, a field or a lookup depends on the request itself
        if possible == 0 and not fallback:
            errors.append(
                SchemaError(
                    f"approval.steps[{index}]",
                    "nobody could ever decide this step: "
                    + "; ".join(reasons)
                    + f"; and the fallback group {spec.approval.fallback_group}"
                    " has no active members",
                )
            )
        elif step.policy == "quorum" and possible and possible < step.quorum and not fallback:
            errors.append(
                SchemaError(
                    f"approval.steps[{index}].policy",
                    f"a quorum of {step.quorum} can never be reached:"
                    f" only {possible} people can be asked",
                )
            )
    return errors


class PublishConflict(Refused):
    """Someone published the form after the admin opened it; their text is kept, not lost."""

    #: 412: the version the edit was based on is no longer the current one.
    status = 412

    def __init__(self, message: str, current: FormVersion | None):
        super().__init__(message)
        self.current = current


def publish_checked(
    text: str,
    slug: str,
    user: User,
    source: str = "editor",
    based_on: int | None = None,
    check_base: bool = True,
) -> Published:
    """Publish from the editor or the API: refused with every fault if it is not publishable.

    `based_on` is the version number the admin started from (None for a new form); if someone
    else published meanwhile, PublishConflict says who and when instead of overwriting it.
    """
    _, errors = publishable(text, slug)
    if errors:
        raise SchemaInvalid(errors, f"{slug}.json")
    form = db.session.scalars(
        select(Form)
        .where(Form.slug == slug)
        .with_for_update()
        .execution_options(populate_existing=True)  # as it is now, not as a kept copy had it
    ).first()
    if form is not None and form.archived_at is not None:
        raise SchemaInvalid(
            [SchemaError("", "this form is archived: restore it before publishing")]
        )
    current = form.current_version if form is not None else None
    if check_base and (current.number if current else None) != based_on:
        raise PublishConflict(_conflict_message(current, based_on), current)
    return publish(text, slug, audit.Actor(user), source)


def _conflict_message(current: FormVersion | None, based_on: int | None) -> str:
    if current is None:
        return "this form no longer has a published version; reload the editor"
    who = current.created_by.name if current.created_by else "a command-line load"
    started = f"version {based_on}" if based_on else "a new form"
    return (
        f"{who} published version {current.number} at {current.created_at:%Y-%m-%d %H:%M} UTC "
        f"while you were editing (you started from {started}). Compare the versions; "
        "publishing again will replace theirs with yours."
    )


def rollback(slug: str, number: int, user: User) -> Published:
    """Publish an old version's schema again, as a new version."""
    form = find_form(slug)
    old = version_of(form, number) if form else None
    if old is None:
        raise SchemaInvalid([SchemaError("", f"{slug} has no version {number}")])
    return publish_checked(
        old.schema_text, slug, user, source=f"rollback to version {number}", check_base=False
    )


BLANK_SCHEMA = """{
  "title": "New request",
  "description": "What this form is for, in a sentence people see above it.",
  "fields": [
    {"type": "text", "name": "subject", "label": "What do you need?", "required": true,
     "max_length": 200},
    {"type": "textarea", "name": "details", "label": "Details", "rows": 4}
  ],
  "approval": {
    "fallback_group": "admin",
    "steps": [
      {"name": "manager", "title": "Manager approval", "assignees": [{"manager": 1}]}
    ]
  }
}
"""


def starting_text(copy_from: str | None) -> str:
    """The text a new form starts from: a blank template, or an existing form's schema."""
    if copy_from:
        form = find_form(copy_from)
        if form is not None and form.current_version is not None:
            return form.current_version.schema_text
    return BLANK_SCHEMA


def new_form_refusal(slug: str) -> str | None:
    """Why `slug` cannot name a new form, or None if it can."""
    if not re.fullmatch(SLUG_PATTERN, slug):
        return (
            "Use lower-case letters, digits and _ only, starting with a letter "
            "(it becomes the form's address, such as vendor_invoice)."
        )
    if find_form(slug) is not None:
        return f"There is already a form called {slug}."
    return None


@dataclass(frozen=True)
class Preview:
    """What the editor shows for the text being typed: the form and chain, or the faults."""

    spec: FormSpec | None
    errors: list[tuple[SchemaError, int | None]]  # each fault with the line it points at


def preview(text: str, slug: str) -> Preview:
    """Check text as the editor's preview does: every fault with its path and line."""
    spec, errors = publishable(text, slug)
    lines = json_lines.line_numbers(text) if errors else {}
    located = []
    for error in errors:
        line = None
        found = re.match(r"not valid JSON: line (\d+)", error.message)
        if found:
            line = int(found.group(1))
        elif error.path or lines:
            line = json_lines.line_of(lines, error.path)
        located.append((error, line))
    return Preview(spec, located)


def set_archived(form: Form, archived: bool, user: User) -> None:
    """Archive a form (no new requests; records kept) or bring it back."""
    form.archived_at = clock.now() if archived else None
    audit.record(
        audit.ADMIN_CHAIN,
        "form_archived" if archived else "form_restored",
        audit.Actor(user),
        {"form": form.slug},
    )


def dump_directory(folder: str | Path) -> list[Path]:
    """Write each form's current schema to FOLDER/<slug>.json, exactly as it was published."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for form in db.session.scalars(select(Form).order_by(Form.slug)):
        if form.current_version is None:
            continue
        path = folder / f"{form.slug}.json"
        text = form.current_version.schema_text
        path.write_text(text if text.endswith("\n") else text + "\n", "utf-8")
        written.append(path)
    return written


@dataclass(frozen=True)
class Comparison:
    older: FormVersion
    newer: FormVersion
    changes: list  # schema_changes.Change, in words
    lines: list[tuple[str, str]]  # (kind, line) of a unified diff: meta, add, remove or same


def compare(older: FormVersion, newer: FormVersion) -> Comparison:
    """Two versions side by side: what changed in words, and the line diff of their JSON."""
    old_doc, new_doc = json.loads(older.schema_text), json.loads(newer.schema_text)

    def pretty(document: dict) -> list[str]:
        return json.dumps(document, indent=2, ensure_ascii=False).splitlines()

    lines = []
    for line in difflib.unified_diff(
        pretty(old_doc),
        pretty(new_doc),
        f"version {older.number}",
        f"version {newer.number}",
        n=3,
        lineterm="",
    ):
        if line.startswith(("---", "+++")):
            continue
        kind = {"@": "meta", "+": "add", "-": "remove"}.get(line[:1], "same")
        lines.append((kind, line))
    return Comparison(older, newer, schema_changes.changes(old_doc, new_doc), lines)


def version_of(form: Form, number: int) -> FormVersion | None:
    return next((v for v in form.versions if v.number == number), None)


def in_review_on(version: FormVersion) -> int:
    """How many requests made with `version` are still in review (they keep that version)."""
    return db.session.scalar(
        select(func.count())
        .select_from(Submission)
        .where(
            Submission.form_version_id == version.id,
            Submission.status == SubmissionStatus.IN_REVIEW,
        )
    )


def submissions_per_version(form: Form) -> dict[int, int]:
    """How many submissions (drafts left out) each version of `form` carries, by version id."""
    return dict(
        db.session.execute(
            select(Submission.form_version_id, func.count())
            .where(Submission.form_id == form.id, Submission.submitted_at.is_not(None))
            .group_by(Submission.form_version_id)
        ).all()
    )


def overview() -> list[tuple[Form, int]]:
    """Every form with its number of submissions (drafts left out)."""
    counts = dict(
        db.session.execute(
            select(Submission.form_id, func.count())
            .where(Submission.submitted_at.is_not(None))
            .group_by(Submission.form_id)
        ).all()
    )
    forms = db.session.scalars(select(Form).order_by(Form.title)).all()
    return [(form, counts.get(form.id, 0)) for form in forms]
