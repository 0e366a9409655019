"""One area per audience; each area's routes.py holds thin views over portal.services."""

from flask import send_file
from werkzeug.routing import IntegerConverter

from portal.models import AuditPdf, Submission
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
