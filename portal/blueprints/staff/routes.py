"""Staff: start a request, save and resume drafts, submit, and follow what they submitted."""

from __future__ import annotations

import re
import uuid

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user
from sqlalchemy import func, select

from portal import audit, clock, forms, uploads
from portal.domain import paging
from portal.domain.values import Evaluation
from portal.extensions import db
from portal.models import Attachment, FormVersion, Submission, SubmissionStatus
from portal.services import account, approvals, deadlines, records, submissions
from portal.services.access import can_edit_submission, can_view_submission
from portal.services.forms import find_form, upload_bytes
from portal.web import carries_files

from .blank_forms import blank_form

bp = Blueprint("staff", __name__)

PAGE_SIZE = 25
_ROW_ACTION = re.compile(r"(add_row|remove_row):([a-z][a-z0-9_]*)(?::([0-9]{1,3}))?")
_CLIENT_TOKEN = re.compile(r"[0-9a-f]{32}")


@bp.get("/")
def home():
    """Forms to start, and the person's latest submissions."""
    recent = db.session.scalars(
        select(Submission)
        .where(Submission.submitter_id == current_user.id)
        .order_by(Submission.updated_at.desc())
        .limit(5)
    ).all()
    return render_template("staff/home.html", forms=submissions.open_forms(), recent=recent)


@bp.route("/forms/<slug>/new", methods=["GET", "POST"])
@carries_files(upload_bytes)
def new_submission(slug: str):
    """A blank form for a new request (GET), or its first post: submit, save draft, add a row."""
    form_row = find_form(slug)
    if form_row is None or form_row.current_version is None:
        abort(404)
    if not form_row.is_open:
        return render_template("staff/form_closed.html", form_row=form_row), 410
    version = form_row.current_version
    if request.method == "GET":
        blank = blank_form(version, clock.local_today())
        return _fill_page(version, blank.evaluation, None, uuid.uuid4().hex, form_grid=blank.grid)
    return _post_form(version, submission=None)


@bp.route("/submissions/<int:submission_id>/edit", methods=["GET", "POST"])
@carries_files(upload_bytes)
def edit_submission(submission_id: int):
    """Resume a draft (or a request sent back for changes) and submit it."""
    submission = _visible_submission(submission_id)
    if not can_edit_submission(current_user, submission):
        flash(
            f"{submission.reference} is {submission.status.label.lower()}; "
            "it can no longer be edited.",
            "info",
        )
        return redirect(url_for("staff.submission", submission_id=submission.id))
    version = submission.form_version
    if request.method == "GET":
        raw, kept = submissions.draft_input(version, submission, current_user)
        return _render_form(version, raw, submission=submission, kept=kept)
    return _post_form(version, submission=submission)


@bp.post("/versions/<int:version_id>/live")
@carries_files(upload_bytes)  # htmx posts the whole form, with any file chosen, as multipart
def live_form(version_id: int):
    """htmx: re-evaluate the form as the person types; add or remove a line-item row."""
    version = db.session.get(FormVersion, version_id) or abort(404)
    spec = version.spec
    raw = forms.raw_input(spec, request.form)
    action = request.form.get("_action", "")
    table = None
    match = _ROW_ACTION.fullmatch(action)
    if match:
        table = _apply_row_action(spec, raw, match)
        if table is None:
            abort(400, "That table cannot take another row, or the row does not exist.")
    evaluation = submissions.evaluate(spec, raw, submissions.Files())
    evaluation.errors.clear()  # errors show when the person submits, not while they type
    form = forms.build(spec, raw)
    return render_template(
        "staff/_live.html",
        spec=spec,
        form=form,
        evaluation=evaluation,
        table=spec.field(table) if table else None,
        version=version,
    )


def _post_form(version: FormVersion, submission: Submission | None):
    spec = version.spec
    raw = forms.raw_input(spec, request.form)
    action = request.form.get("_action", "submit")
    token = request.form.get("_client_token", "")
    client_token = token if _CLIENT_TOKEN.fullmatch(token) else None
    files = submissions.read_files(
        spec,
        current_user,
        forms.uploaded_files(spec, request.files),
        forms.kept_tokens(spec, request.form),
    )
    try:
        row_action = _ROW_ACTION.fullmatch(action)
        if row_action or action == "update":
            # Without JavaScript, Add/Remove row and Update (also what Enter presses) post the
            # whole form: show it again, recalculated and unsaved.
            if row_action:
                _apply_row_action(spec, raw, row_action)
            evaluation = submissions.evaluate(spec, raw, files)
            evaluation.errors.clear()
            return _render_form(
                version,
                raw,
                submission,
                evaluation,
                kept=submissions.kept_choices(current_user, files),
                client_token=client_token,
            )
        if action == "save_draft":
            saved = submissions.save_draft(
                current_user, version, raw, files, submission, client_token
            )
            db.session.commit()
            flash("Draft saved. You can come back to it from My submissions.", "success")
            return redirect(url_for("staff.edit_submission", submission_id=saved.id))
        if action != "submit":
            abort(400, "The form was sent with an unknown button.")
        saved, evaluation = submissions.submit(
            current_user, version, raw, files, submission, client_token
        )
        if saved is None:
            db.session.rollback()
            return _render_form(
                version,
                raw,
                submission,
                evaluation,
                kept=submissions.kept_choices(current_user, files),
                client_token=client_token,
            ), 422
        db.session.commit()
        flash(f"Submitted. Your request is {saved.reference}.", "success")
        return redirect(url_for("staff.submission", submission_id=saved.id))
    except submissions.SubmissionRefused as refusal:
        db.session.rollback()
        flash(str(refusal), "error")
        if submission is not None:
            return redirect(url_for("staff.submission", submission_id=submission.id))
        return redirect(url_for("staff.home"))
    finally:
        files.close()


def _apply_row_action(spec, raw: dict, match: re.Match) -> str | None:
    verb, table, index = match.group(1), match.group(2), match.group(3)
    if verb == "add_row":
        return table if forms.add_row(spec, raw, table, clock.local_today()) else None
    if index is None:
        return None
    return table if forms.remove_row(spec, raw, table, int(index)) else None


def _render_form(
    version: FormVersion,
    raw: dict,
    submission: Submission | None = None,
    evaluation: Evaluation | None = None,
    kept: dict | None = None,
    client_token: str | None = None,
):
    spec = version.spec
    if evaluation is None:
        evaluation = submissions.evaluate(spec, raw, submissions.Files())
        evaluation.errors.clear()
    return _fill_page(
        version,
        evaluation,
        submission,
        client_token,
        form=forms.build(spec, raw, evaluation),
        kept=kept or {},
        keep_suffix=forms.KEEP_SUFFIX,
    )


def _fill_page(
    version: FormVersion,
    evaluation: Evaluation,
    submission: Submission | None,
    client_token: str | None,
    **fields,
):
    """The form page around its fields: `fields` are what staff/_form_grid.html needs (form,
    kept, keep_suffix), or `form_grid`, those fields rendered already (a blank form)."""
    action = (
        url_for("staff.edit_submission", submission_id=submission.id)
        if submission is not None
        else url_for("staff.new_submission", slug=version.form.slug)
    )
    return render_template(
        "staff/fill_form.html",
        spec=version.spec,
        version=version,
        evaluation=evaluation,
        submission=submission,
        action=action,
        client_token=client_token,
        error_anchor=forms.error_anchor,
        error_label=forms.error_label,
        **fields,
    )


@bp.get("/forms/<slug>/timeline")
def timeline(slug: str):
    """What happens after submitting: each step's deadline, reminders, escalation and timeout."""
    form_row = find_form(slug)
    if form_row is None or form_row.current_version is None:
        abort(404)
    spec = form_row.current_version.spec
    now = clock.now()
    rows = deadlines.preview(spec.approval, now) if spec.approval else []
    return render_template(
        "staff/timeline.html",
        form_row=form_row,
        spec=spec,
        rows=rows,
        now=now,
        holidays=current_app.config.get("BATON_HOLIDAYS", ()),
    )


@bp.get("/submissions")
def my_submissions():
    """Everything the person has submitted or drafted, newest first, filterable by status."""
    status = request.args.get("status", "")
    query = select(Submission).where(Submission.submitter_id == current_user.id)
    if status:
        try:
            query = query.where(Submission.status == SubmissionStatus(status))
        except ValueError:
            abort(400, f"There is no status called {status!r}.")
    counts = dict(
        db.session.execute(
            select(Submission.status, func.count())
            .where(Submission.submitter_id == current_user.id)
            .group_by(Submission.status)
        ).all()
    )
    # The tabs' counts already hold the total: one pass over the person's requests, not two.
    total = counts.get(SubmissionStatus(status), 0) if status else sum(counts.values())
    page = paging.page_to_show(request.args.get("page", 1, type=int), total, PAGE_SIZE)
    rows = db.session.scalars(
        query.order_by(Submission.updated_at.desc(), Submission.id.desc())
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    ).all()
    return render_template(
        "staff/my_submissions.html",
        rows=rows,
        status=status,
        page=page,
        pages=paging.page_count(total, PAGE_SIZE),
        total=total,
        counts=counts,
        statuses=list(SubmissionStatus),
    )


@bp.get("/submissions/<int:submission_id>")
def submission(submission_id: int):
    """One submission as it was submitted, rendered with the form version it was made with."""
    found = _visible_submission(submission_id)
    events = []
    if found.submitted_at is not None:
        events = db.session.scalars(
            select(audit.AuditEvent)
            .where(audit.AuditEvent.chain == audit.submission_chain(found.id))
            .order_by(audit.AuditEvent.seq)
        ).all()
    return render_template(
        "staff/submission.html",
        submission=found,
        spec=found.form_version.spec,
        data=found.data or {},
        events=events,
        attachments_by_field=_attachments_by_field(found),
        can_edit=can_edit_submission(current_user, found),
        can_withdraw=found.submitter_id == current_user.id
        and found.status in (SubmissionStatus.IN_REVIEW, SubmissionStatus.CHANGES_REQUESTED),
        rounds=approvals.rounds(found),
        my_open_task=next(
            (t for t in found.tasks if t.assignee_id == current_user.id and t.is_open), None
        ),
        now=clock.now(),
        reassign_to=account.colleagues(current_user) if current_user.in_group("admin") else None,
        verification=audit.verify(audit.submission_chain(found.id)) if events else None,
        can_download=records.can_download(current_user, found),
    )


@bp.post("/submissions/<int:submission_id>/withdraw")
def withdraw(submission_id: int):
    """The submitter takes back a request in review or sent back for changes."""
    found = _visible_submission(submission_id)
    try:
        approvals.withdraw(current_user, found)
    except approvals.DecisionRefused as refusal:
        db.session.rollback()
        flash(str(refusal), "error")
    else:
        db.session.commit()
        flash(f"{found.reference} was withdrawn. Nobody needs to act on it any more.", "info")
    return redirect(url_for("staff.submission", submission_id=submission_id))


@bp.get("/submissions/<int:submission_id>/audit.pdf")
def audit_pdf(submission_id: int):
    """The audit-trail PDF: sent if rendered for the record as it stands, else queued."""
    found = _downloadable(submission_id)
    rendering = records.request(found, current_user)
    if rendering is None:
        db.session.commit()  # the render job goes out after this commit
        return render_template("staff/pdf_pending.html", submission=found), 202
    records.note_download(found, rendering, current_user)
    db.session.commit()
    response = send_file(
        records.file_path(rendering),
        mimetype="application/pdf",
        as_attachment=True,
        download_name=f"baton-{found.form.slug}-{found.id}-audit-trail.pdf",
        max_age=0,
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/submissions/<int:submission_id>/audit.pdf/status")
def audit_pdf_status(submission_id: int):
    """htmx: polled by the waiting page until the PDF is ready."""
    found = _downloadable(submission_id)
    return render_template(
        "staff/_pdf_status.html", submission=found, ready=records.cached(found) is not None
    )


def _downloadable(submission_id: int) -> Submission:
    found = _visible_submission(submission_id)
    if not records.can_download(current_user, found):
        abort(404)
    return found


@bp.post("/submissions/<int:submission_id>/discard")
def discard_draft(submission_id: int):
    """Delete a draft the person no longer wants."""
    found = _visible_submission(submission_id)
    try:
        submissions.discard_draft(current_user, found)
    except submissions.SubmissionRefused as refusal:
        db.session.rollback()
        flash(str(refusal), "error")
        return redirect(url_for("staff.submission", submission_id=submission_id))
    db.session.commit()
    flash("Draft discarded.", "info")
    return redirect(url_for("staff.my_submissions"))


@bp.get("/submissions/<int:submission_id>/files/<int:attachment_id>")
def download_file(submission_id: int, attachment_id: int):
    """An attachment, always as a download under its cleaned name, never rendered inline."""
    found = _visible_submission(submission_id)
    attachment = db.session.get(Attachment, attachment_id)
    if attachment is None or attachment.submission_id != found.id:
        abort(404)
    path = uploads.blob_path(current_app.config["UPLOAD_FOLDER"], attachment.sha256)
    if not path.exists():
        abort(404)
    response = send_file(
        path,
        mimetype=attachment.content_type,
        as_attachment=True,
        download_name=uploads.download_name(attachment.name, attachment.content_type),
        max_age=0,
    )
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _visible_submission(submission_id: int) -> Submission:
    """The submission if the current user may see it; 404 otherwise, so ids reveal nothing."""
    found = db.session.get(Submission, submission_id)
    if found is None or not can_view_submission(current_user, found):
        abort(404)
    return found


def _attachments_by_field(found: Submission) -> dict[str, list[Attachment]]:
    grouped: dict[str, list[Attachment]] = {}
    for attachment in found.attachments:
        grouped.setdefault(attachment.field, []).append(attachment)
    return grouped
