"""One area per audience; each area's routes.py holds thin views over portal.services."""

import io
import unicodedata
from urllib.parse import quote

from flask import Response, abort, flash, redirect, send_file, url_for
from werkzeug.routing import IntegerConverter

from portal import previews, storage, uploads
from portal.models import Attachment, AuditPdf, Submission
from portal.services import records

#: The largest row id: id columns are 32-bit integers on PostgreSQL.
MAX_ROW_ID = 2**31 - 1
#: RFC 5987 attr-char: what a UTF-8 file name keeps unquoted.
_SAFE = "!#$&+-.^_`|~"


class RowIdConverter(IntegerConverter):
    """`<int:...>` in a URL names a row, so it is never larger than an id column holds: a larger
    number is a 404 like any other id that is not there, not a database error."""

    def __init__(self, map, fixed_digits=0, min=None, max=None, signed=False):
        super().__init__(map, fixed_digits, min, MAX_ROW_ID if max is None else max, signed)


def send_kept(opened: storage.Opened, mimetype: str, download_name: str) -> Response:
    """A kept file as a download, streamed from the portal's storage a chunk at a time (never
    read whole into memory, and never a public URL of the store), never cached."""
    response = Response(_Streamed(opened), mimetype=mimetype, direct_passthrough=True)
    response.call_on_close(opened.close)  # a HEAD request never iterates the body
    response.content_length = opened.size
    response.headers.set("Content-Disposition", "attachment", **_names(download_name))
    response.headers["Cache-Control"] = "private, no-store"
    return response


class _Streamed:
    """A kept file's chunks as a WSGI body, whose close() (the server calls it, however the
    response ended) closes the file."""

    def __init__(self, opened: storage.Opened):
        self.opened = opened

    def __iter__(self):
        return iter(self.opened.chunks())

    def close(self) -> None:
        self.opened.close()


def _names(download_name: str) -> dict[str, str]:
    """Content-Disposition's file name as Werkzeug's send_file gives it: an ASCII fallback and
    the UTF-8 name (RFC 5987) when the name is not plain ASCII."""
    try:
        download_name.encode("ascii")
    except UnicodeEncodeError:
        simple = unicodedata.normalize("NFKD", download_name).encode("ascii", "ignore").decode()
        return {"filename": simple, "filename*": f"UTF-8''{quote(download_name, safe=_SAFE)}"}
    return {"filename": download_name}


def open_or_404(open_file, *args) -> storage.Opened:
    """open_file(*args), or a 404 when the file is not in storage."""
    try:
        return open_file(*args)
    except storage.MissingFile:
        abort(404)


def send_audit_pdf(submission: Submission, rendering: AuditPdf):
    """The rendered audit trail as a download (the web page's and the API's), never cached;
    X-Baton-Head-Hash names the last event it covers."""
    response = send_kept(
        open_or_404(records.open_pdf, rendering),
        "application/pdf",
        records.download_name(submission),
    )
    response.headers["X-Baton-Head-Hash"] = rendering.head_hash
    return response


def _private(response):
    """Uploaded bytes: never run as a page, never kept by a shared cache."""
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response


def send_attachment(attachment: Attachment):
    """An attachment, always as a download under its cleaned name, never rendered inline."""
    return _private(
        send_kept(
            open_or_404(uploads.open_blob, attachment.sha256),
            attachment.content_type,
            uploads.download_name(attachment.name, attachment.content_type),
        )
    )


def send_picture(attachment: Attachment, page: int):
    """What the page shows of an attachment: page `page` of a PDF as PNG, or the image itself
    (page 1 only). 404 for any other file, page, or a PDF that cannot be rendered."""
    if attachment.content_type in previews.IMAGES and page == 1:
        try:
            content = uploads.read_blob(attachment.sha256, limit=previews.MAX_BYTES)
        except (FileNotFoundError, ValueError):
            abort(404)
        return _private(send_file(io.BytesIO(content), mimetype=attachment.content_type, max_age=0))
    if attachment.content_type != previews.PDF or attachment.size > previews.MAX_BYTES:
        abort(404)
    png = previews.page_png(attachment.sha256, page)
    if png is None:
        abort(404)
    return _private(send_file(io.BytesIO(png), mimetype="image/png", max_age=0))


def after_publishing(published, slug: str):
    """Where publishing leads, from the JSON editor and the builder alike: the form's versions,
    with a message saying whether a new version was made."""
    if published.changed:
        flash(
            f"Published {published.form.title} version {published.version.number}. "
            "New requests use it; requests already started keep their version.",
            "success",
        )
    else:
        flash(f"Nothing to publish: this is already version {published.version.number}.", "info")
    return redirect(url_for("admin.versions", slug=slug))
