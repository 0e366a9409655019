"""The run_what_if job: a draft chain replayed over past requests (portal.services.whatif),
committing its progress as it goes so the page's progress bar moves."""

from __future__ import annotations

import logging

from portal.extensions import db
from portal.jobs import Claim, Postponed
from portal.models import WhatIf, WhatIfState
from portal.services import whatif

logger = logging.getLogger(__name__)


def run_what_if(claim: Claim, what_if_id: int) -> None:
    """Replay one what-if, once; Postponed if another worker took it over meanwhile."""
    found = db.session.get(WhatIf, what_if_id)
    if found is None or found.is_finished:
        return
    found.state, found.done, found.error = WhatIfState.RUNNING, 0, ""
    db.session.commit()
    if not claim.keep():
        raise Postponed(f"what-if {what_if_id}: another worker took it over")

    def progress(done: int) -> None:
        db.session.get(WhatIf, what_if_id).done = done
        db.session.commit()  # for the page's progress bar
        if not claim.keep():
            raise _ClaimLost

    try:
        whatif.run(db.session.get(WhatIf, what_if_id), progress)
    except _ClaimLost:
        db.session.rollback()
        raise Postponed(f"what-if {what_if_id}: another worker took it over") from None
    except Exception as problem:
        db.session.rollback()
        logger.exception("what-if %s failed", what_if_id)
        whatif.fail(db.session.get(WhatIf, what_if_id), problem)


class _ClaimLost(Exception):
    """Another worker holds this what-if's outbox row now: this attempt must stop."""
