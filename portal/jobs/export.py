"""The build_export job: a ZIP of audit-trail PDFs, an index.csv and a manifest, committing its
progress as it goes so the page can show it. What goes into the archive is the export
service's (portal.services.exports); this is the work and its stages.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import uuid
import zipfile
from pathlib import Path

from flask import current_app

from portal.extensions import db
from portal.jobs import Claim, Postponed
from portal.models import Export, ExportState
from portal.services import exports, records

logger = logging.getLogger(__name__)


def build_export(claim: Claim, export_id: int) -> None:
    """Build one export, once; Postponed if another worker took it over meanwhile."""
    export = db.session.get(Export, export_id)
    if export is None or export.state == ExportState.DONE:
        return
    export.state, export.done, export.error = ExportState.RUNNING, 0, ""
    requester = export.requested_by
    db.session.commit()
    if not claim.keep():
        raise Postponed(f"export {export_id}: another worker took it over")
    relative = exports.archive_path(export)
    target = Path(current_app.instance_path) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    # This attempt's own file: a second attempt (after a worker was presumed dead) never
    # writes into it, and only a finished archive is renamed into place.
    partial = target.with_suffix(f".{uuid.uuid4().hex[:12]}.partial")
    try:
        manifest: list[tuple[str, str, int]] = []
        index = io.StringIO()
        writer = csv.writer(index)
        writer.writerow(exports.INDEX_COLUMNS)
        with (
            zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive,
            exports.renderers() as pool,
        ):
            for number, (submission, rendering) in enumerate(
                exports.renderings(export.submission_ids, requester, pool), start=1
            ):
                content = records.file_path(rendering).read_bytes()
                name = exports.record_name(submission)
                archive.writestr(name, content)
                manifest.append((name, rendering.sha256, rendering.size))
                writer.writerow(exports.index_row(submission, name, rendering))
                export.done = number
                db.session.commit()
                if not claim.keep():
                    raise _ClaimLost
            index_bytes = index.getvalue().encode("utf-8")
            archive.writestr("index.csv", index_bytes)
            manifest.append(
                ("index.csv", hashlib.sha256(index_bytes).hexdigest(), len(index_bytes))
            )
            lines = [f"{digest}  {name}" for name, digest, _ in manifest]
            archive.writestr("manifest.sha256", "\n".join(lines) + "\n")
        partial.replace(target)
    except _ClaimLost:
        db.session.rollback()
        partial.unlink(missing_ok=True)
        logger.warning("export %s: another worker took it over; this attempt stops", export_id)
        raise Postponed(f"export {export_id}: another worker took it over") from None
    except Exception as exc:
        db.session.rollback()
        partial.unlink(missing_ok=True)
        logger.exception("export %s failed", export_id)
        exports.fail(db.session.get(Export, export_id), exc)
        return  # failed for good: the runner ends the row with the failure's record
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    export = db.session.get(Export, export_id)
    exports.finish(export, relative, digest, target.stat().st_size)


class _ClaimLost(Exception):
    """Another worker holds this export's outbox row now: this attempt must stop."""
