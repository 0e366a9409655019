"""Who may see and do what: Baton's one access policy.

Every rule is here, one function per `Action`, each answering with the reason a person reads
when they may not (None when they may). Code that acts asks `require(user, action, subject)`,
which raises a `Refused`; pages ask `allows(...)` to decide which buttons to show. Records
loaded by id from a URL come through `visible_submission` and `own_task`, which answer "not
found" for what the person may not see, so ids reveal nothing.

tests/test_authorization_matrix.py is the proof: every route against every kind of person.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import exists, select
from sqlalchemy.orm import joinedload

from portal.domain.chain import ChainSpec
from portal.domain.refusal import Forbidden, NotFound, Refused
from portal.extensions import db
from portal.models import (
    Attachment,
    Form,
    FormVersion,
    Submission,
    SubmissionStatus,
    Task,
    User,
)
from portal.services import catalog

#: Groups whose members may read every submitted record (and search and export them).
READ_ALL_GROUPS = ("compliance", "admin")
#: Groups whose members edit forms and webhooks and reassign tasks.
ADMIN_GROUPS = ("admin",)
#: Groups whose members see every insight figure of every form; only admins each approver's.
WHOLE_INSIGHT_GROUPS = ("admin", "compliance")
APPROVER_INSIGHT_GROUPS = ("admin",)
NO_SUCH_SUBMISSION = "There is no such submission, or it is not yours to see."
NO_SUCH_FORM = "There is no such form, or it is no longer open."
NOT_YOURS_TO_CHANGE = "There is no such submission, or it is not yours to change."
NO_SUCH_TASK = "There is no such task."
NO_SUCH_FILE = "There is no such file on this request."
#: A request can be withdrawn while it waits on someone.
WITHDRAWABLE = (SubmissionStatus.IN_REVIEW, SubmissionStatus.CHANGES_REQUESTED)


class Action(StrEnum):
    """What someone may ask to do; the subject each takes is in its rule's signature."""

    VIEW_SUBMISSION = "view_submission"
    EDIT_SUBMISSION = "edit_submission"
    WITHDRAW_SUBMISSION = "withdraw_submission"
    DOWNLOAD_RECORD = "download_record"
    FILL_FORM = "fill_form"
    DECIDE_TASK = "decide_task"
    REASSIGN_TASK = "reassign_task"
    SEARCH_RECORDS = "search_records"
    SEE_INSIGHT = "see_insight"
    ADMINISTER = "administer"


def _signed_in(user) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and user.is_active


def _view_submission(user: User, submission: Submission) -> str | None:
    """The submitter; anyone asked to decide it (now or before); compliance and admins."""
    refusal = NO_SUCH_SUBMISSION
    if not _signed_in(user):
        return refusal
    if submission.submitter_id == user.id:
        return None
    if submission.status == SubmissionStatus.DRAFT:
        return refusal  # a draft is private to the person writing it
    if user.in_group(*READ_ALL_GROUPS) or was_asked(user, submission):
        return None
    return refusal


def _edit_submission(user: User, submission: Submission) -> str | None:
    """Only the submitter edits, and only while it is a draft or sent back for changes."""
    if not _signed_in(user) or submission.submitter_id != user.id:
        return "Only the person who submitted a request can change it."
    if not submission.is_editable:
        status = submission.status.label.lower()
        return f"{submission.reference} is {status}; it can no longer be edited."
    return None


def _withdraw_submission(user: User, submission: Submission) -> str | None:
    """The submitter, while the request is in review or sent back for changes."""
    if not _signed_in(user) or submission.submitter_id != user.id:
        return "Only the person who submitted a request can withdraw it."
    if submission.status not in WITHDRAWABLE:
        return f"A request that is {submission.status.label.lower()} cannot be withdrawn."
    return None


def _download_record(user: User, submission: Submission) -> str | None:
    """The audit trail: the submitter, compliance officers and admins, once it is submitted."""
    refusal = "Only the submitter, compliance officers and admins can have the audit trail."
    if not _signed_in(user) or submission.submitted_at is None:
        return refusal
    if submission.submitter_id == user.id or user.in_group(*READ_ALL_GROUPS):
        return None
    return refusal


def _fill_form(user: User, version: FormVersion) -> str | None:
    """Anyone signed in, on a version of a form that is open for new requests."""
    if not _signed_in(user) or not version.form.is_open:
        return NO_SUCH_FORM
    return None


def _decide_task(user: User, task: Task) -> str | None:
    """Only the person the task is assigned to."""
    if not _signed_in(user) or task.assignee_id != user.id:
        return "This task is not assigned to you."
    return None


@dataclass(frozen=True)
class Scope:
    """What one person may see of one form's insight."""

    #: The steps they may see; None for every step and the form-wide figures.
    steps: frozenset[str] | None = None
    #: Whether they see each approver's figures (admins only).
    approvers: bool = False

    @property
    def whole_form(self) -> bool:
        return self.steps is None


def step_groups(spec: ChainSpec | None) -> dict[str, frozenset[str]]:
    """Each step's name -> the groups its assignees name (a step asking a person names none)."""
    if spec is None:
        return {}
    return {step.name: frozenset(a.group for a in step.assignees if a.group) for step in spec.steps}


def insight_scope(user: User, form: Form) -> Scope | None:
    """What `user` may see of `form`'s insight, or None if nothing.

    Admins see everything; compliance officers everything but the per-approver figures; a
    member of a group that a step of the form's chain asks sees that step's figures only.
    """
    if not _signed_in(user):
        return None
    if user.in_group(*WHOLE_INSIGHT_GROUPS):
        return Scope(None, approvers=user.in_group(*APPROVER_INSIGHT_GROUPS))
    if form.current_version is None:
        return None
    mine = user.group_names
    steps = frozenset(
        name
        for name, groups in step_groups(form.current_version.spec.approval).items()
        if groups & mine
    )
    return Scope(steps) if steps else None


def _see_insight(user: User, form: Form) -> str | None:
    """See `insight_scope`."""
    if insight_scope(user, form) is None:
        return "Your account cannot see this form's figures."
    return None


def _in_groups(groups: tuple[str, ...], refusal: str) -> Callable[[User, object], str | None]:
    def rule(user: User, subject=None) -> str | None:
        return None if _signed_in(user) and user.in_group(*groups) else refusal

    rule.__doc__ = f"Members of {', '.join(groups)}."
    return rule


_RULES: dict[Action, Callable] = {
    Action.VIEW_SUBMISSION: _view_submission,
    Action.EDIT_SUBMISSION: _edit_submission,
    Action.WITHDRAW_SUBMISSION: _withdraw_submission,
    Action.DOWNLOAD_RECORD: _download_record,
    Action.FILL_FORM: _fill_form,
    Action.DECIDE_TASK: _decide_task,
    Action.REASSIGN_TASK: _in_groups(ADMIN_GROUPS, "Only admins can reassign tasks."),
    Action.SEARCH_RECORDS: _in_groups(
        READ_ALL_GROUPS, "Only compliance officers and admins can search every record."
    ),
    Action.SEE_INSIGHT: _see_insight,
    Action.ADMINISTER: _in_groups(ADMIN_GROUPS, "Only admins can change forms and webhooks."),
}
#: What a refusal of each action answers when the person should not learn the record exists.
_HIDDEN = {Action.VIEW_SUBMISSION, Action.FILL_FORM}


def why_not(user: User, action: Action, subject=None) -> str | None:
    """The reason `user` may not do `action` (on `subject`), for them to read; None if they may."""
    return _RULES[Action(action)](user, subject)


def allows(user: User, action: Action, subject=None) -> bool:
    """True if `user` may do `action` (on `subject`): for pages deciding what to show."""
    return why_not(user, action, subject) is None


def require(user: User, action: Action, subject=None, *, hide: bool = False) -> None:
    """Refuse unless `user` may do `action`: 404 for what they may not even see (or when
    `hide` says a page should not tell that the record exists), 403 otherwise."""
    reason = why_not(user, action, subject)
    if reason is not None:
        raise (NotFound if hide or action in _HIDDEN else Forbidden)(reason)


def visible_submission(user: User, submission_id: int) -> Submission:
    """The submission with this id if `user` may see it; NotFound otherwise."""
    return _load(user, Submission, submission_id, Action.VIEW_SUBMISSION, NO_SUCH_SUBMISSION)


def own_submission(user: User, submission_id: int) -> Submission:
    """The submission with this id if `user` submitted it (only they change or withdraw one);
    NotFound otherwise, so another person learns nothing from the id."""
    found = db.session.get(Submission, submission_id)
    if found is None or not _signed_in(user) or found.submitter_id != user.id:
        raise NotFound(NOT_YOURS_TO_CHANGE)
    return found


def live_version(user: User, version_id: int) -> FormVersion:
    """The form version a person is filling in, if its form is open; NotFound otherwise."""
    return _load(user, FormVersion, version_id, Action.FILL_FORM, NO_SUCH_FORM)


def own_task(user: User, task_id: int) -> Task:
    """The task with this id if it is assigned to `user`; NotFound otherwise (web pages).

    Its request and the request's form version come with it: the decision page shows them."""
    found = db.session.get(Task, task_id, options=[joinedload(Task.submission)])
    if found is None or not allows(user, Action.DECIDE_TASK, found):
        raise NotFound(NO_SUCH_TASK)
    catalog.version(found.submission.form_version_id)
    return found


def _load(user: User, model, row_id: int, action: Action, missing: str):
    """The row by id if `user` may do `action` on it; NotFound if it is not there or they may
    not (the same answer, so an id tells nothing)."""
    found = db.session.get(model, row_id)
    if found is None or not allows(user, action, found):
        raise NotFound(missing)
    return found


def decidable_task(user: User, task_id: int) -> Task:
    """The task with this id for the API: NotFound unless its request is visible to `user`,
    Forbidden unless it is assigned to them."""
    found = db.session.get(Task, task_id)
    if found is None or not allows(user, Action.VIEW_SUBMISSION, found.submission):
        raise NotFound(NO_SUCH_TASK)
    require(user, Action.DECIDE_TASK, found)
    return found


def was_asked(user: User, submission: Submission) -> bool:
    """True if the user has, or had, a task on this submission."""
    return db.session.scalar(
        select(exists().where(Task.submission_id == submission.id, Task.assignee_id == user.id))
    )


class LinkRefused(Refused):
    """An emailed action link that does not open its task: `reason` is "invalid", "expired",
    "used" or "foreign" (each has its own page in the approvals blueprint)."""

    STATUS = {"invalid": 404, "expired": 410, "used": 410, "foreign": 403}

    def __init__(self, reason: str):
        super().__init__(reason, status=self.STATUS[reason])
        self.reason = reason


def linked_task(task_id: int, assignee_id: int, viewer) -> tuple[Task, User]:
    """The task an emailed link names and the person it was sent to, if the link opens it:
    the task is still theirs, they are active, and nobody else is signed in in this browser.
    LinkRefused otherwise. Whether the task is still open is the caller's question."""
    task = db.session.get(Task, task_id)
    if task is None:
        raise LinkRefused("invalid")
    if task.assignee_id != assignee_id or (_signed_in(viewer) and viewer.id != assignee_id):
        raise LinkRefused("foreign")
    assignee = db.session.get(User, assignee_id)
    if assignee is None or not assignee.is_active:
        raise LinkRefused("invalid")
    return task, assignee


def linked_attachment(task_id: int, assignee_id: int, viewer, attachment_id: int) -> Attachment:
    """An attachment of the request an emailed link names. The link itself is the permission,
    so only while it would still let its assignee decide: the task open and theirs. A used
    link (the task closed), a foreign one, or another request's file: refused."""
    task, _ = linked_task(task_id, assignee_id, viewer)
    if not task.is_open:
        raise LinkRefused("used")
    found = db.session.get(Attachment, attachment_id)
    if found is None or found.submission_id != task.submission_id:
        raise NotFound(NO_SUCH_FILE)
    return found
