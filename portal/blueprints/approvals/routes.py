"""Approvers: the inbox, deciding a task there, and the page an emailed link opens."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal import clock, display, limits, mail, previews
from portal.blueprints import send_attachment, send_picture
from portal.domain import paging
from portal.domain.chain import Decision
from portal.forms import DecisionForm
from portal.models import Submission, Task, User
from portal.services import access, approvals
from portal.services.access import Action
from portal.web import refusals_undone

bp = Blueprint("approvals", __name__)
#: Tasks per inbox page: an approver with thousands open still gets the page at once.
INBOX_PAGE_SIZE = 50


@bp.get("/inbox")
def inbox():
    """Open tasks for the signed-in person, oldest first, a page at a time."""
    tasks, total, page = approvals.open_tasks_page(
        current_user, request.args.get("page", 1, type=int), INBOX_PAGE_SIZE
    )
    return render_template(
        "approvals/inbox.html",
        tasks=tasks,
        now=clock.now(),
        page=page,
        pages=paging.page_count(total, INBOX_PAGE_SIZE),
        total=total,
    )


@bp.get("/inbox/next")
def next_task():
    """Where a decision made in Baton leads: the next request waiting, else the inbox."""
    waiting = approvals.next_open_task_id(current_user)
    if waiting is not None:
        return redirect(url_for("approvals.task", task_id=waiting))
    return redirect(url_for("approvals.inbox"))


@bp.route("/tasks/<int:task_id>", methods=["GET", "POST"])
def task(task_id: int):
    """Decide one of your tasks from inside Baton."""
    found = access.own_task(current_user, task_id)
    return _decision_page(found, current_user, channel="web", token=None)


@bp.post("/tasks/<int:task_id>/reassign")
def reassign(task_id: int):
    """An admin gives an open task to someone else, with a reason for the audit trail."""
    access.require(current_user, Action.REASSIGN_TASK)
    found = approvals.find_task(task_id) or abort(404)
    try:
        with refusals_undone():
            approvals.reassign(
                current_user,
                task_id,
                request.form.get("user_id", type=int),
                request.form.get("reason", ""),
            )
    except approvals.DecisionRefused as refusal:
        flash(str(refusal), "error")
    else:
        flash(
            "Task reassigned. The new assignee is told by email, or in their daily digest.",
            "success",
        )
    return redirect(url_for("staff.submission", submission_id=found.submission_id))


@bp.route("/act/<token>", methods=["GET", "POST"])
@limits.limiter.limit(limits.ACTION_LINKS_PER_CLIENT)
def act(token: str):
    """The page an emailed link opens. Looking changes nothing; only its form's POST decides."""
    try:
        found, assignee = _linked(token)
    except access.LinkRefused as refusal:
        return _link_problem(refusal.reason)
    return _decision_page(found, assignee, channel="email", token=token)


@bp.get("/act/<token>/files/<int:attachment_id>")
@limits.limiter.limit(limits.ACTION_LINKS_PER_CLIENT)
def link_file(token: str, attachment_id: int):
    """An attachment of the request an emailed link names, while the link still works."""
    try:
        return send_attachment(_linked_attachment(token, attachment_id))
    except access.LinkRefused as refusal:
        return _link_problem(refusal.reason)


@bp.get("/act/<token>/files/<int:attachment_id>/pages/<int:page>")
@limits.limiter.limit(limits.ACTION_LINKS_PER_CLIENT)
def link_file_page(token: str, attachment_id: int, page: int):
    """A picture of an attachment (a PDF's page, or the image) for the emailed-link page."""
    try:
        return send_picture(_linked_attachment(token, attachment_id), page)
    except access.LinkRefused as refusal:
        return _link_problem(refusal.reason)


def _linked(token: str) -> tuple[Task, User]:
    """The task and assignee an emailed link opens; access.LinkRefused if it opens none."""
    link = _read(token)
    return access.linked_task(link.task_id, link.assignee_id, current_user)


def _linked_attachment(token: str, attachment_id: int):
    """A file of the request an emailed link opens, while it does; access.LinkRefused if not."""
    link = _read(token)
    return access.linked_attachment(link.task_id, link.assignee_id, current_user, attachment_id)


def _read(token: str) -> mail.ActionLink:
    try:
        return mail.read_action_token(token)
    except mail.LinkProblem as problem:
        raise access.LinkRefused(problem.reason) from None


def _decision_page(task: Task, assignee: User, channel: str, token: str | None):
    submission = task.submission
    spec = submission.form_version.spec
    step = spec.approval.step(task.step)
    form = DecisionForm()
    if request.method == "GET":
        form.seen.data = submission.data_hash
    elif form.seen.data and form.seen.data != submission.data_hash:
        # The request was changed and resubmitted since this page was shown: whatever the
        # old task's state, show what the request says now (and the task now open, if any).
        return _stale(submission, assignee, channel)
    if not task.is_open:
        status = 200 if request.method == "GET" else 409
        if channel == "email":
            # The link's own assignee (its signature says so): who settled the step, and when.
            return _link_problem("used", status=410 if request.method == "POST" else 200, task=task)
        return render_template(
            "approvals/closed.html",
            task=task,
            submission=submission,
            spec=spec,
            step=step,
            settled_by=approvals.settled_by(task),
        ), status
    error = None
    if request.method == "POST" and not form.seen.data:
        error = "This page was incomplete. Reload it and decide again."
    elif request.method == "POST" and form.validate_on_submit():
        try:
            decision = Decision(request.form.get("decision", ""))
        except ValueError:
            error = "Choose Approve, Request changes or Reject."
        else:
            try:
                with refusals_undone():
                    approvals.decide(
                        assignee,
                        task.id,
                        decision,
                        form.comment.data or "",
                        password=form.password.data,
                        seen_hash=form.seen.data,
                        channel=channel,
                    )
            except approvals.StaleDecision:
                return _stale(task.submission, assignee, channel)
            except approvals.DecisionRefused as refusal:
                error = str(refusal)
            else:
                if channel == "email":
                    return render_template(
                        "approvals/act_done.html",
                        decision=decision,
                        submission=submission,
                        spec=spec,
                        task=task,
                        assignee=assignee,
                        still_waiting=approvals.open_task_count(assignee),
                    )
                flash(
                    f"{decision.label}: {spec.title} {submission.reference}. Recorded as your "
                    f"decision, {display.local_time(task.decided_at)}.",
                    "success",
                )
                # The next request is looked up by the page it leads to, not in this POST,
                # whose statements stay within the decision's budget.
                return redirect(url_for("approvals.next_task"))
    elif request.method == "POST":
        error = " ".join(message for messages in form.errors.values() for message in messages)
    status = 422 if error else 200
    return _render(task, submission, spec, step, form, channel, token, error=error), status


def _stale(submission: Submission, assignee: User, channel: str):
    """Refuse a decision made on an older version; show the current one instead."""
    current = next(
        (t for t in submission.tasks if t.assignee_id == assignee.id and t.is_open), None
    )
    spec = submission.form_version.spec
    if current is None:
        return render_template(
            "approvals/stale.html", submission=submission, spec=spec, data=submission.data or {}
        ), 409
    form = DecisionForm(formdata=None)
    form.seen.data = submission.data_hash
    step = spec.approval.step(current.step)
    token = mail.action_token(current.id, assignee.id) if channel == "email" else None
    return _render(current, submission, spec, step, form, channel, token, stale=True), 409


def _render(task, submission, spec, step, form, channel, token, error=None, stale=False):
    action = (
        url_for("approvals.act", token=token)
        if token
        else url_for("approvals.task", task_id=task.id)
    )
    return render_template(
        "approvals/decide.html",
        task=task,
        submission=submission,
        spec=spec,
        step=step,
        form=form,
        action=action,
        channel=channel,
        error=error,
        stale=stale,
        data=submission.data or {},
        rounds=approvals.rounds(submission),
        approve_meaning=step.meaning(Decision.APPROVE),
        now=clock.now(),
        recommended=approvals.recommendation_for(task),
        previews=previews.describe(submission.attachments),
        token=token,
    )


_LINK_PROBLEMS = {
    "invalid": (
        404,
        "This link does not work",
        "It may have been copied incompletely. Open the request from your Baton inbox instead.",
    ),
    "expired": (
        410,
        "This link has expired",
        "Links in approval emails work for a limited time. "
        "Sign in to Baton and open the request from your inbox.",
    ),
    "used": (
        410,
        "This task is already closed",
        "A decision has been recorded for it, the step was decided without it, "
        "or the request was withdrawn. Nothing more is needed from this link.",
    ),
    "foreign": (
        403,
        "This link is not for you",
        "It was sent to someone else, or the task has since been given to someone else. "
        "Nothing was changed. If you expected to decide this request, open your Baton inbox.",
    ),
}


def _link_problem(reason: str, status: int | None = None, task: Task | None = None):
    """A link that cannot decide. Only a used link of the person's own (`task`) says who
    settled the step; a foreign, tampered or expired link names nobody."""
    code, title, message = _LINK_PROBLEMS[reason]
    return render_template(
        "approvals/link_problem.html",
        title=title,
        message=message,
        task=task,
        settled_by=approvals.settled_by(task) if task is not None else None,
    ), status or code
