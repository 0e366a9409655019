"""One area per audience; each area's routes.py holds thin views over portal.services."""

import io

from flask import abort, send_file
from werkzeug.routing import IntegerConverter

from portal import previews, uploads
from portal.models import Attachment, AuditPdf, Submission
from portal.services import records

#: The largest row id: id columns are 32-bit integers on PostgreSQL.
MAX_ROW_ID = 2**31 - 1


class RowIdConverter(IntegerConverter):
    """`<int:...>` in a URL names a row, so it is never larger than an id column holds: a larger
    number is a 404 like any other id that is not there, not a database error."""

    def __init__(self, map, fixed_digits=0, min=None, max=None, signed=False):
        super().__init__(map, fixed_digits, min, MAX_ROW_ID if max is None else max, signed)


def send_audit_pdf(submission: Submission, rendering: AuditPdf):
    """The rendered audit trail as a download (the web page's and the API's), never cached;
    X-Baton-Head-Hash names the last event it covers."""
    response = send_file(
        records.file_path(rendering),
        mimetype="application/pdf",
        as_attachment=True,
        download_name=records.download_name(submission),
        max_age=0,
    )
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Baton-Head-Hash"] = rendering.head_hash
    return response


def _private(response):
    """Uploaded bytes: never run as a page, never kept by a shared cache."""
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response


def send_attachment(attachment: Attachment):
    """An attachment, always as a download under its cleaned name, never rendered inline."""
    try:
        stream = uploads.open_blob(attachment.sha256)
    except FileNotFoundError:
        abort(404)
    return _private(
        send_file(
            stream,
            mimetype=attachment.content_type,
            as_attachment=True,
            download_name=uploads.download_name(attachment.name, attachment.content_type),
            max_age=0,
        )
    )


def send_picture(attachment: Attachment, page: int):
    """What the page shows of an attachment: page `page` of a PDF as PNG, or the image itself
    (page 1 only). 404 for any other file, page, or a PDF that cannot be rendered."""
    if attachment.content_type in previews.IMAGES and page == 1:
        try:
            stream = uploads.open_blob(attachment.sha256)
        except FileNotFoundError:
            abort(404)
        return _private(send_file(stream, mimetype=attachment.content_type, max_age=0))
    if attachment.content_type != previews.PDF or attachment.size > previews.MAX_BYTES:
        abort(404)
    png = previews.page_png(attachment.sha256, page)
    if png is None:
        abort(404)
    return _private(send_file(io.BytesIO(png), mimetype="image/png", max_age=0))
