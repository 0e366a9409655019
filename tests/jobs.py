"""Job functions for tests, importable by an RQ worker (as RQ's own test suite does)."""


def add(a: int, b: int) -> int:
    return a + b


def postponing(claim, submission_id: int) -> None:
    """An outbox handler whose work is not done: it writes, then gives way."""
    from portal.extensions import db
    from portal.jobs import Postponed
    from portal.models import Submission

    db.session.get(Submission, submission_id).summary = "written by a postponed job"
    raise Postponed("not now")


def summarising(claim, submission_id: int) -> None:
    """An outbox handler that changes a row and returns: the runner commits it."""
    from portal.extensions import db
    from portal.models import Submission

    db.session.get(Submission, submission_id).summary = "written by a job that finished"
