"""Who may see and change which record. Every view that loads a record by id asks here."""

from __future__ import annotations

from sqlalchemy import exists, select

from portal.extensions import db
from portal.models import Submission, Task, User

#: Groups whose members may read every submission.
READ_ALL_GROUPS = ("compliance", "admin")


def can_view_submission(user: User, submission: Submission) -> bool:
    """The submitter, anyone asked to decide it (now or before), compliance and admins."""
    if not user.is_authenticated or not user.is_active:
        return False
    if submission.submitter_id == user.id:
        return True
    if submission.status.value == "draft":
        return False  # a draft is private to the person writing it
    return user.in_group(*READ_ALL_GROUPS) or was_asked(user, submission)


def was_asked(user: User, submission: Submission) -> bool:
    """True if the user has, or had, a task on this submission."""
    return db.session.scalar(
        select(exists().where(Task.submission_id == submission.id, Task.assignee_id == user.id))
    )


def can_edit_submission(user: User, submission: Submission) -> bool:
    """Only the submitter edits, and only while it is a draft or sent back for changes."""
    return user.is_authenticated and submission.submitter_id == user.id and submission.is_editable
