"""Admin pages: the form editor (edit a schema beside its live preview, publish, compare, roll
back) and webhooks (endpoints, their secrets and delivery logs).

Every view is for members of the `admin` group; everyone else gets a 403. The views parse the
request and call portal.services.forms, which owns the checks and the transaction.
"""

from __future__ import annotations

import json

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal import clock, forms
from portal.blueprints import after_publishing
from portal.domain import insight as insight_rules
from portal.domain import schema_changes
from portal.domain.schema import SchemaInvalid
from portal.presentation import whatif as whatif_words
from portal.services import access, insight, sso, submissions, users, webhooks, whatif
from portal.services import forms as form_service
from portal.services.access import Action
from portal.web import refusals_undone

bp = Blueprint("admin", __name__, url_prefix="/admin")
#: The editor refuses text larger than this; real schemas are a few tens of kilobytes.
MAX_SCHEMA_CHARS = 500_000


@bp.before_request
def _only_admins():
    access.require(current_user, Action.ADMINISTER)


@bp.get("/people")
def people():
    """Everyone who can take part: people, and agents (software) listed apart."""
    found_people, found_agents = users.people_and_agents()
    return render_template("admin/people.html", people=found_people, agents=found_agents)


@bp.get("/forms")
def form_list():
    """Every form with its current version, submissions and last change."""
    return render_template("admin/forms.html", rows=form_service.overview())


@bp.route("/forms/new", methods=["GET", "POST"])
def new_form():
    """Name a new form and choose what it starts from: a blank template or another form."""
    existing = [form for form, _ in form_service.overview() if form.current_version]
    slug = request.form.get("slug", "").strip()
    copy_from = request.values.get("copy_from", "")
    error = None
    if request.method == "POST":
        error = form_service.new_form_refusal(slug)
        if error is None:
            return redirect(url_for("admin.edit_form", slug=slug, copy_from=copy_from or None))
    return render_template(
        "admin/new.html", existing=existing, slug=slug, copy_from=copy_from, error=error
    ), (422 if error else 200)


@bp.get("/forms/<slug>/edit")
def edit_form(slug: str):
    """The schema as JSON beside its live preview."""
    form = form_service.find_form(slug)
    if form is None:
        refusal = form_service.new_form_refusal(slug)
        if refusal:
            flash(refusal, "error")
            return redirect(url_for("admin.new_form"))
        text = form_service.starting_text(request.args.get("copy_from"))
    else:
        text = form.current_version.schema_text if form.current_version else ""
    based_on = form.current_version.number if form and form.current_version else None
    return _editor(slug, form, text, based_on)


@bp.post("/forms/<slug>/preview")
def preview(slug: str):
    """htmx: the preview of the text in the editor, re-rendered as the admin types."""
    text = _schema_text()
    if text is None:
        return render_template("admin/_preview.html", too_large=True, slug=slug), 413
    return render_template("admin/_preview.html", slug=slug, **_preview_context(text, slug))


@bp.post("/forms/<slug>/publish/review")
def review_publish(slug: str):
    """What publishing the editor's text would change, with the button that does it (or,
    with "Keep editing", the editor again with the text as it was)."""
    text = _schema_text()
    if text is None:
        abort(413)
    base = request.form.get("based_on", "")
    based_on = int(base) if base.isdigit() else None
    form = form_service.find_form(slug)
    checked = form_service.preview(text, slug)
    if request.form.get("_action") == "edit":
        return _editor(slug, form, text, based_on)
    if checked.errors:
        flash("Not published: fix the problems listed beside the editor first.", "error")
        return _editor(slug, form, text, based_on, status=422)
    current = form.current_version if form else None
    changes = []
    if current is not None:
        changes = schema_changes.changes(json.loads(current.schema_text), json.loads(text))
    return render_template(
        "admin/publish_review.html",
        slug=slug,
        form=form,
        spec=checked.spec,
        current=current,
        text=text,
        based_on=based_on,
        note=request.form.get("note", "").strip()[:150],
        changes=changes,
        in_review=form_service.in_review_on(current) if current else 0,
        next_number=(form.versions[-1].number + 1) if form and form.versions else 1,
    )


@bp.post("/forms/<slug>/publish")
def publish(slug: str):
    """Publish the editor's text as the form's next version, if it passes every check."""
    text = _schema_text()
    if text is None:
        abort(413)
    base = request.form.get("based_on", "")
    based_on = int(base) if base.isdigit() else None
    note = request.form.get("note", "").strip()[:150]
    form = form_service.find_form(slug)
    try:
        with refusals_undone():
            published = form_service.publish_checked(
                text, slug, current_user, f"editor: {note}" if note else "editor", based_on
            )
    except SchemaInvalid as refusal:
        if form_service.preview(text, slug).errors:
            flash("Not published: fix the problems listed beside the editor first.", "error")
        else:  # a refusal about the form, not the text (it is archived)
            flash("Not published: " + "; ".join(e.message for e in refusal.errors), "error")
        return _editor(slug, form, text, based_on, status=422)
    except form_service.PublishConflict as conflict:
        flash(f"Not published: {conflict}", "error")
        current = conflict.current.number if conflict.current else None
        return _editor(slug, form, text, current, status=409, conflict_with=based_on)
    return after_publishing(published, slug)


@bp.get("/forms/<slug>/versions")
def versions(slug: str):
    """Who published what and when; compare any two versions; roll back to one."""
    form = form_service.find_form(slug) or abort(404)
    return render_template(
        "admin/versions.html",
        form=form,
        versions=list(reversed(form.versions)),
        usage=form_service.submissions_per_version(form),
    )


@bp.get("/forms/<slug>/compare")
def compare(slug: str):
    """A readable diff between two versions: the changes in words, then the JSON lines."""
    form = form_service.find_form(slug) or abort(404)
    newest = form.versions[-1].number if form.versions else 0
    older_number = request.args.get("from", type=int) or max(1, newest - 1)
    newer_number = request.args.get("to", type=int) or newest
    older = form_service.version_of(form, older_number)
    newer = form_service.version_of(form, newer_number)
    if older is None or newer is None:
        abort(404)
    return render_template(
        "admin/compare.html", form=form, comparison=form_service.compare(older, newer)
    )


@bp.get("/forms/<slug>/versions/<int:number>")
def version(slug: str, number: int):
    """One version's schema exactly as it was published, and its form as people saw it."""
    form = form_service.find_form(slug) or abort(404)
    found = form_service.version_of(form, number) or abort(404)
    context = _preview_context(found.schema_text, slug, spec=found.spec)
    return render_template("admin/version.html", form=form, version=found, **context)


@bp.route("/forms/<slug>/versions/<int:number>/rollback", methods=["GET", "POST"])
def rollback(slug: str, number: int):
    """Publish an old version again, as a new version: GET says what that will do and
    asks; the POST of its button does it."""
    if request.method == "GET":
        form = form_service.find_form(slug) or abort(404)
        found = form_service.version_of(form, number) or abort(404)
        current = form.current_version
        changes = []
        if current is not None:
            changes = schema_changes.changes(
                json.loads(current.schema_text), json.loads(found.schema_text)
            )
        return render_template(
            "admin/rollback.html",
            form=form,
            version=found,
            current=current,
            changes=changes,
            in_review=form_service.in_review_on(current) if current else 0,
            next_number=form.versions[-1].number + 1,
        )
    try:
        with refusals_undone():
            published = form_service.rollback(slug, number, current_user)
    except SchemaInvalid as refusal:
        flash(f"Version {number} cannot be published again: " + "; ".join(refusal.lines()), "error")
        return redirect(url_for("admin.versions", slug=slug))
    if published.changed:
        flash(
            f"Rolled back: version {published.version.number} is a copy of version {number} "
            "and is now the current version.",
            "success",
        )
    else:
        flash(f"Version {number} is the same as the current version; nothing changed.", "info")
    return redirect(url_for("admin.versions", slug=slug))


@bp.post("/forms/<slug>/archive")
def archive(slug: str):
    form = form_service.find_form(slug) or abort(404)
    archiving = request.form.get("archived") == "1"
    form_service.set_archived(form, archiving, current_user)
    if archiving:
        flash(
            f"Archived {form.title}: nobody can start a new request with it. "
            "Its records, and requests already in review, are kept.",
            "success",
        )
    else:
        flash(f"Restored {form.title}: people can start requests with it again.", "success")
    if request.form.get("next") == "versions":
        return redirect(url_for("admin.versions", slug=slug))
    return redirect(url_for("admin.form_list"))


@bp.route("/forms/<slug>/what-if", methods=["GET", "POST"])
def what_if(slug: str):
    """Try a draft of the form's chain on past requests: the draft (from the editor, or the
    current version), a period, and what to assume where history is silent."""
    form = form_service.find_form(slug)
    if form is None or form.current_version is None:
        abort(404)
    text = _schema_text() if request.method == "POST" else form.current_version.schema_text
    if text is None:
        abort(413)
    return _what_if_page(form, text)


@bp.post("/forms/<slug>/what-if/start")
def start_what_if(slug: str):
    """Start the replay of the draft over the chosen period; its page shows the progress."""
    form = form_service.find_form(slug)
    if form is None or form.current_version is None:
        abort(404)
    text = _schema_text()
    if text is None:
        abort(413)
    fields = request.form
    minutes = fields.get("minutes_per_task", "").strip()
    try:
        if fields.get("period") == "dates":
            asked = {"from": fields.get("from", ""), "to": fields.get("to", "")}
            if not (asked["from"] or asked["to"]):
                raise insight_rules.PeriodInvalid("Give the first and the last day of the period.")
        else:
            asked = {"period": fields.get("period", "")}
        period = insight_rules.parse_period(asked, insight.today())
        if not minutes.isdigit():
            raise whatif.DraftInvalid("Minutes per task must be a whole number, such as 10.")
        options = whatif.Options(
            {
                key.removeprefix("assume:"): value
                for key, value in fields.items()
                if key.startswith("assume:") and value != "approve"
            },
            {
                key.removeprefix("similar:"): value
                for key, value in fields.items()
                if key.startswith("similar:") and value
            },
            int(minutes),
        )
        with refusals_undone():
            started = whatif.start(current_user, form, text, period, options)
    except (whatif.DraftInvalid, insight_rules.PeriodInvalid) as refusal:
        return _what_if_page(form, text, problem=str(refusal), status=422)
    return redirect(url_for("admin.what_if_result", what_if_id=started.id))


@bp.get("/what-if/<int:what_if_id>")
def what_if_result(what_if_id: int):
    """A replay's report, or its progress while the worker is at it (the page polls)."""
    found = whatif.find(current_user, what_if_id)
    return render_template(
        "admin/what_if_result.html",
        what_if=found,
        period=whatif.period_of(found),
        result=found.result,
        words=whatif_words,
    )


def _what_if_page(form, text: str, problem: str | None = None, status: int = 200):
    fields = request.form if request.method == "POST" else request.args
    return render_template(
        "admin/what_if.html",
        form=form,
        text=text,
        setup=whatif.setup(current_user, form, text),
        problem=problem,
        presets=insight_rules.PRESETS,
        chosen=fields.get("period", "90d"),
        first=fields.get("from", ""),
        last=fields.get("to", ""),
        minutes=fields.get("minutes_per_task", "10"),
        chosen_assume={
            k.removeprefix("assume:"): v for k, v in fields.items() if k.startswith("assume:")
        },
        chosen_similar={
            k.removeprefix("similar:"): v for k, v in fields.items() if k.startswith("similar:")
        },
    ), status


def _schema_text() -> str | None:
    text = request.form.get("schema_text", "")
    return None if len(text) > MAX_SCHEMA_CHARS else text


def _editor(slug, form, text, based_on, status=200, conflict_with=None):
    return render_template(
        "admin/editor.html",
        slug=slug,
        form=form,
        text=text,
        based_on=based_on,
        conflict_with=conflict_with,
        **_preview_context(text, slug),
    ), status


def _preview_context(text: str, slug: str, spec=None) -> dict:
    """The preview of `text`; given the `spec` of a published version, it is shown as it was."""
    result = form_service.Preview(spec, []) if spec else form_service.preview(text, slug)
    context = {"preview": result, "too_large": False}
    if result.spec is not None:
        today = clock.local_today()
        raw = forms.blank_input(result.spec, today)
        evaluation = submissions.evaluate(result.spec, raw, submissions.Files())
        evaluation.errors.clear()
        context.update(
            spec=result.spec,
            form_fields=forms.build(result.spec, raw, evaluation),
            evaluation=evaluation,
        )
    return context


# -- webhooks ---------------------------------------------------------------------------------


@bp.get("/group-changes")
def group_changes():
    """People single sign-on took out of a group while tasks waited for them."""
    return render_template("admin/group_changes.html", rows=sso.left_groups_with_open_tasks())


@bp.route("/webhooks", methods=["GET", "POST"])
def webhooks_list():
    """Every endpoint with its latest deliveries; register a new one."""
    error = None
    if request.method == "POST":
        try:
            with refusals_undone():
                endpoint = webhooks.save_endpoint(
                    current_user,
                    request.form.get("url", ""),
                    request.form.getlist("events"),
                    request.form.get("description", ""),
                )
        except webhooks.WebhookRefused as refusal:
            error = str(refusal)
        else:
            flash(
                "Registered. Give the receiver the signing secret below, then send a test.",
                "success",
            )
            return redirect(url_for("admin.webhook", endpoint_id=endpoint.id))
    return render_template(
        "admin/webhooks.html",
        endpoints=webhooks.endpoints(),
        events=webhooks.EVENTS,
        error=error,
        form=request.form,
    ), (422 if error else 200)


@bp.route("/webhooks/<int:endpoint_id>", methods=["GET", "POST"])
def webhook(endpoint_id: int):
    """One endpoint: its settings, its secret, and the log of its deliveries."""
    endpoint = webhooks.find_endpoint(endpoint_id)
    error = None
    if request.method == "POST":
        try:
            with refusals_undone():
                webhooks.save_endpoint(
                    current_user,
                    request.form.get("url", ""),
                    request.form.getlist("events"),
                    request.form.get("description", ""),
                    active=request.form.get("active") == "1",
                    endpoint=endpoint,
                )
        except webhooks.WebhookRefused as refusal:
            error = str(refusal)
        else:
            flash("Saved.", "success")
            return redirect(url_for("admin.webhook", endpoint_id=endpoint.id))
    return render_template(
        "admin/webhook.html",
        hook=endpoint,
        deliveries=webhooks.deliveries_of(endpoint),
        events=webhooks.EVENTS,
        error=error,
    ), (422 if error else 200)


@bp.post("/webhooks/<int:endpoint_id>/ping")
def webhook_ping(endpoint_id: int):
    endpoint = webhooks.find_endpoint(endpoint_id)
    webhooks.ping(current_user, endpoint)
    flash("A test delivery is on its way; its outcome shows in the log below.", "success")
    return redirect(url_for("admin.webhook", endpoint_id=endpoint.id))


@bp.post("/webhooks/<int:endpoint_id>/rotate")
def webhook_rotate(endpoint_id: int):
    endpoint = webhooks.find_endpoint(endpoint_id)
    webhooks.rotate_secret(current_user, endpoint)
    flash("A new signing secret is in use from now on. Give it to the receiver.", "success")
    return redirect(url_for("admin.webhook", endpoint_id=endpoint.id))


@bp.get("/webhooks/deliveries/<int:delivery_id>")
def webhook_delivery(delivery_id: int):
    delivery = webhooks.find_delivery(delivery_id)
    return render_template("admin/delivery.html", delivery=delivery)


@bp.post("/webhooks/deliveries/<int:delivery_id>/redeliver")
def webhook_redeliver(delivery_id: int):
    delivery = webhooks.find_delivery(delivery_id)
    webhooks.redeliver(current_user, delivery)
    flash(f"Delivery {delivery.id} will be sent again now.", "success")
    return redirect(url_for("admin.webhook_delivery", delivery_id=delivery.id))
