"""Compliance officers (and admins): search every record, download PDFs, bulk exports."""

from __future__ import annotations

from pathlib import Path

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
from sqlalchemy.orm import selectinload

from portal.domain import paging
from portal.extensions import db
from portal.models import Export, ExportState, Form, Submission, SubmissionStatus
from portal.services import exports

bp = Blueprint("compliance", __name__, url_prefix="/compliance")
PAGE_SIZE = 50


@bp.before_request
def _only_compliance():
    """Every page here is for compliance officers and admins; everyone else gets a 403."""
    if not exports.can_search(current_user):
        abort(403)


@bp.get("/")
def search():
    """Every submitted record, filtered by form, status, dates, amount and person."""
    error = None
    try:
        filters = exports.Filters.parse(request.args)
    except exports.SearchRefused as refusal:
        error, filters = str(refusal), exports.Filters()
    asked = request.args.get("page", 1, type=int)
    if error:
        total, rows, page = 0, [], 1  # a search that could not be run lists nothing, not everything
    else:
        query = exports.search(filters)
        # Counted up to the export limit only: past it the number changes nothing one can do,
        # and counting a million rows on every page would cost more than the page itself.
        # Unordered: any 10,001 matches tell "more than 10,000", and sorting them (requests
        # submitted in the same moment tie on the index's order) cost a fifth of the count.
        capped = query.with_only_columns(Submission.id).order_by(None).limit(exports.MAX_EXPORT + 1)
        total = db.session.scalar(select(func.count()).select_from(capped.subquery()))
        page = paging.page_to_show(asked, total, PAGE_SIZE)
        rows = db.session.scalars(
            query.options(selectinload(Submission.form), selectinload(Submission.submitter))
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        ).all()
    forms = db.session.scalars(select(Form).order_by(Form.title)).all()
    recent = db.session.scalars(
        select(Export).order_by(Export.created_at.desc(), Export.id.desc()).limit(5)
    ).all()
    return render_template(
        "compliance/search.html",
        filters=filters,
        rows=rows,
        total=total,
        page=page,
        pages=paging.page_count(total, PAGE_SIZE),
        more=total > exports.MAX_EXPORT,
        limit=exports.MAX_EXPORT,
        forms=forms,
        statuses=[s for s in SubmissionStatus if s != SubmissionStatus.DRAFT],
        error=error,
        recent=recent,
        args={k: v for k, v in request.args.items() if k != "page"},
    ), (422 if error else 200)


@bp.post("/exports")
def start_export():
    """Export every record the current filters match."""
    try:
        filters = exports.Filters.parse(request.form)
        export = exports.start(current_user, filters)
    except exports.SearchRefused as refusal:
        db.session.rollback()
        flash(str(refusal), "error")
        return redirect(url_for("compliance.search", **request.form.to_dict()))
    db.session.commit()
    return redirect(url_for("compliance.export", export_id=export.id))


@bp.get("/exports/<int:export_id>")
def export(export_id: int):
    """One export: its progress while it is built, then its download."""
    found = db.session.get(Export, export_id) or abort(404)
    return render_template("compliance/export.html", export=found)


@bp.get("/exports/<int:export_id>/progress")
def export_progress(export_id: int):
    """htmx: the progress bar, polled every second until the export is done."""
    found = db.session.get(Export, export_id) or abort(404)
    return render_template("compliance/_export_progress.html", export=found)


@bp.get("/exports/<int:export_id>/download")
def download_export(export_id: int):
    found = db.session.get(Export, export_id) or abort(404)
    if found.state != ExportState.DONE or not found.path:
        abort(404)
    path = Path(current_app.instance_path) / found.path
    if not path.exists():
        abort(404)
    exports.note_download(found, current_user)
    db.session.commit()
    response = send_file(
        path, mimetype="application/zip", as_attachment=True, download_name=path.name, max_age=0
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response
