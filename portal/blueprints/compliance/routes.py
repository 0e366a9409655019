"""Compliance officers (and admins): search every record, download PDFs, bulk exports."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from portal.blueprints import open_or_404, send_kept
from portal.domain import paging
from portal.models import ExportState, SubmissionStatus
from portal.services import access, exports, text_search
from portal.services.access import Action
from portal.web import refusals_undone

bp = Blueprint("compliance", __name__, url_prefix="/compliance")
PAGE_SIZE = 50


@bp.before_request
def _only_compliance():
    """Every page here is for compliance officers and admins; everyone else gets a 403."""
    access.require(current_user, Action.SEARCH_RECORDS)


@bp.get("/")
def search():
    """Every submitted record, filtered by words in it, form, status, dates, amount and person,
    sorted by any column."""
    error = None
    try:
        filters = exports.Filters.parse(request.args)
    except exports.SearchRefused as refusal:
        error, filters = str(refusal), exports.Filters()
    asked = request.args.get("page", 1, type=int)
    sort = text_search.Sort.parse(request.args.get("sort"))
    if error:  # a search that could not be run lists nothing, not everything
        found = paging.Page([], 1, PAGE_SIZE, 0)
    else:
        found = exports.search_page(filters, asked, PAGE_SIZE, sort)
    return render_template(
        "compliance/search.html",
        filters=filters,
        rows=found.rows,
        total=found.total,
        page=found.number,
        pages=found.pages,
        more=found.total > exports.MAX_EXPORT,
        limit=exports.MAX_EXPORT,
        forms=exports.searchable_forms(),
        statuses=[s for s in SubmissionStatus if s != SubmissionStatus.DRAFT],
        error=error,
        recent=exports.recent_exports(),
        args={k: v for k, v in request.args.items() if k != "page"},
        sort=sort,
    ), (422 if error else 200)


@bp.post("/exports")
def start_export():
    """Export every record the current filters match."""
    try:
        with refusals_undone():
            filters = exports.Filters.parse(request.form)
            export = exports.start(current_user, filters)
    except exports.SearchRefused as refusal:
        flash(str(refusal), "error")
        return redirect(url_for("compliance.search", **request.form.to_dict()))
    return redirect(url_for("compliance.export", export_id=export.id))


@bp.get("/exports/<int:export_id>")
def export(export_id: int):
    """One export: its progress while it is built, then its download."""
    found = exports.find_export(export_id)
    return render_template("compliance/export.html", export=found)


@bp.get("/exports/<int:export_id>/progress")
def export_progress(export_id: int):
    """htmx: the progress bar, polled every second until the export is done."""
    found = exports.find_export(export_id)
    return render_template("compliance/_export_progress.html", export=found)


@bp.get("/exports/<int:export_id>/download")
def download_export(export_id: int):
    found = exports.find_export(export_id)
    if found.state != ExportState.DONE or not found.path:
        abort(404)
    opened = open_or_404(exports.open_archive, found)
    exports.note_download(found, current_user)
    return send_kept(opened, "application/zip", exports.archive_name(found))
