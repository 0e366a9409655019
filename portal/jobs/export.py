"""The build_export job: an export's ZIP (what goes into it is portal.services.exports'), built
in stages that commit the progress as it goes, so the page can show it."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from portal import storage
from portal.extensions import db
from portal.jobs import Claim, Postponed
from portal.models import Export, ExportState
from portal.services import exports

logger = logging.getLogger(__name__)


def build_export(claim: Claim, export_id: int) -> None:
    """Build one export, once; Postponed if another worker took it over meanwhile."""
    export = db.session.get(Export, export_id)
    if export is None or export.state == ExportState.DONE:
        return
    export.state, export.done, export.error = ExportState.RUNNING, 0, ""
    db.session.commit()
    if not claim.keep():
        raise Postponed(f"export {export_id}: another worker took it over")
    key = exports.archive_key(export)
    # This attempt's own scratch file: a second attempt (after a worker was presumed dead)
    # never writes into it, and only a finished archive goes into the portal's storage.
    fd, name = tempfile.mkstemp(prefix=f"baton-export-{export_id}-", suffix=".zip.partial")
    partial = Path(name)
    with open(fd, "wb"):
        pass  # zipfile opens it by name

    def progress(done: int) -> None:
        export.done = done
        db.session.commit()  # for the page that shows it
        if not claim.keep():
            raise _ClaimLost

    try:
        exports.write_archive(partial, export, progress)
        with partial.open("rb") as finished:
            written = storage.current().put(key, finished)
    except _ClaimLost:
        db.session.rollback()
        logger.warning("export %s: another worker took it over; this attempt stops", export_id)
        raise Postponed(f"export {export_id}: another worker took it over") from None
    except Exception as exc:
        db.session.rollback()
        logger.exception("export %s failed", export_id)
        exports.fail(db.session.get(Export, export_id), exc)
        return  # failed for good: the runner ends the row with the failure's record
    finally:
        partial.unlink(missing_ok=True)
    export = db.session.get(Export, export_id)
    exports.finish(export, key, written.sha256, written.size)


class _ClaimLost(Exception):
    """Another worker holds this export's outbox row now: this attempt must stop."""
