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
    url_for,
)
from flask_login import current_user

from portal import audit, clock, forms
from portal.blueprints import send_attachment, send_audit_pdf, send_picture
from portal.domain.values import Evaluation
from portal.models import Attachment, FormVersion, Submission, SubmissionStatus
from portal.services import access, account, approvals, deadlines, records, submissions
from portal.services.access import Action
from portal.services.forms import find_form, upload_bytes
from portal.web import carries_files, refusals_undone

from .blank_forms import blank_form

bp = Blueprint("staff", __name__)

PAGE_SIZE = 25
_ROW_ACTION = re.compile(r"(add_row|remove_row):([a-z][a-z0-9_]*)(?::([0-9]{1,3}))?")
_CLIENT_TOKEN = re.compile(r"[0-9a-f]{32}")


@bp.get("/")
def home():
    """Forms to start, and the person's latest submissions."""
    return render_template(
        "staff/home.html",
        forms=submissions.open_forms(),
        recent=submissions.recent_of(current_user),
    )


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
    submission = access.visible_submission(current_user, submission_id)
    if not access.allows(current_user, Action.EDIT_SUBMISSION, submission):
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
    version = access.live_version(current_user, version_id)
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
        with refusals_undone():
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
                flash("Draft saved. You can come back to it from My submissions.", "success")
                return redirect(url_for("staff.edit_submission", submission_id=saved.id))
            if action != "submit":
                abort(400, "The form was sent with an unknown button.")
            saved, evaluation = submissions.submit(
                current_user, version, raw, files, submission, client_token
            )
            if saved is None:
                return _render_form(
                    version,
                    raw,
                    submission,
                    evaluation,
                    kept=submissions.kept_choices(current_user, files),
                    client_token=client_token,
                ), 422
            flash(f"Submitted. Your request is {saved.reference}.", "success")
            return redirect(url_for("staff.submission", submission_id=saved.id))
    except submissions.SubmissionRefused as refusal:
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
        # Why it was sent back, shown above the form the submitter corrects.
        rounds=(
            approvals.rounds(submission)
            if submission is not None and submission.status == SubmissionStatus.CHANGES_REQUESTED
            else []
        ),
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
    try:
        wanted = SubmissionStatus(status) if status else None
    except ValueError:
        abort(400, f"There is no status called {status!r}.")
    found = submissions.page_of(
        current_user, wanted, request.args.get("page", 1, type=int), PAGE_SIZE
    )
    return render_template(
        "staff/my_submissions.html",
        rows=found.page.rows,
        status=status,
        page=found.page.number,
        pages=found.page.pages,
        total=found.page.total,
        counts=found.counts,
        statuses=list(SubmissionStatus),
    )


@bp.get("/submissions/<int:submission_id>")
def submission(submission_id: int):
    """One submission as it was submitted, rendered with the form version it was made with."""
    found = access.visible_submission(current_user, submission_id)
    events = []
    if found.submitted_at is not None:
        events = audit.events(audit.submission_chain(found.id))
    return render_template(
        "staff/submission.html",
        submission=found,
        spec=found.form_version.spec,
        data=found.data or {},
        events=events,
        attachments_by_field=_attachments_by_field(found),
        can_edit=access.allows(current_user, Action.EDIT_SUBMISSION, found),
        can_withdraw=access.allows(current_user, Action.WITHDRAW_SUBMISSION, found),
        rounds=approvals.rounds(found),
        my_open_task=next(
            (t for t in found.tasks if t.assignee_id == current_user.id and t.is_open), None
        ),
        now=clock.now(),
        reassign_to=(
            account.colleagues(current_user)
            if access.allows(current_user, Action.REASSIGN_TASK)
            else None
        ),
        verification=audit.verify(audit.submission_chain(found.id)) if events else None,
        can_download=access.allows(current_user, Action.DOWNLOAD_RECORD, found),
    )


@bp.route("/submissions/<int:submission_id>/withdraw", methods=["GET", "POST"])
def withdraw(submission_id: int):
    """The submitter takes back a request in review or sent back for changes, after a page
    that says what will happen (GET) and its button (POST): no JavaScript confirm needed."""
    found = access.visible_submission(current_user, submission_id)
    if request.method == "GET":
        refusal = access.why_not(current_user, Action.WITHDRAW_SUBMISSION, found)
        if refusal:
            flash(refusal, "error")
            return redirect(url_for("staff.submission", submission_id=submission_id))
        open_tasks = [task for task in found.tasks if task.is_open]
        return render_template(
            "staff/withdraw.html",
            submission=found,
            spec=found.form_version.spec,
            waiting_on=sorted({task.assignee.name for task in open_tasks}),
        )
    try:
        with refusals_undone():
            approvals.withdraw(current_user, found)
    except approvals.DecisionRefused as refusal:
        flash(str(refusal), "error")
    else:
        flash(f"{found.reference} was withdrawn. Nobody needs to act on it any more.", "info")
    return redirect(url_for("staff.submission", submission_id=submission_id))


@bp.get("/submissions/<int:submission_id>/audit.pdf")
def audit_pdf(submission_id: int):
    """The audit-trail PDF: sent if rendered for the record as it stands, else queued."""
    found = _downloadable(submission_id)
    rendering = records.take(found, current_user)
    if rendering is None:  # the render job goes out when this request commits
        return render_template("staff/pdf_pending.html", submission=found), 202
    return send_audit_pdf(found, rendering)


@bp.get("/submissions/<int:submission_id>/audit.pdf/status")
def audit_pdf_status(submission_id: int):
    """htmx: polled by the waiting page until the PDF is ready."""
    found = _downloadable(submission_id)
    return render_template(
        "staff/_pdf_status.html", submission=found, ready=records.cached(found) is not None
    )


def _downloadable(submission_id: int) -> Submission:
    found = access.visible_submission(current_user, submission_id)
    access.require(current_user, Action.DOWNLOAD_RECORD, found, hide=True)
    return found


@bp.post("/submissions/<int:submission_id>/discard")
def discard_draft(submission_id: int):
    """Delete a draft the person no longer wants."""
    found = access.visible_submission(current_user, submission_id)
    try:
        with refusals_undone():
            submissions.discard_draft(current_user, found)
    except submissions.SubmissionRefused as refusal:
        flash(str(refusal), "error")
        return redirect(url_for("staff.submission", submission_id=submission_id))
    flash("Draft discarded.", "info")
    return redirect(url_for("staff.my_submissions"))


@bp.get("/submissions/<int:submission_id>/files/<int:attachment_id>")
def download_file(submission_id: int, attachment_id: int):
    """An attachment, always as a download under its cleaned name, never rendered inline."""
    found = access.visible_submission(current_user, submission_id)
    return send_attachment(submissions.attachment_of(found, attachment_id))


@bp.get("/submissions/<int:submission_id>/files/<int:attachment_id>/pages/<int:page>")
def file_page(submission_id: int, attachment_id: int, page: int):
    """A picture of an attachment for the page: a PDF's page rendered to PNG, or the image."""
    found = access.visible_submission(current_user, submission_id)
    return send_picture(submissions.attachment_of(found, attachment_id), page)


def _attachments_by_field(found: Submission) -> dict[str, list[Attachment]]:
    grouped: dict[str, list[Attachment]] = {}
    for attachment in found.attachments:
        grouped.setdefault(attachment.field, []).append(attachment)
    return grouped
