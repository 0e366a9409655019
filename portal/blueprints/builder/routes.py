"""The form builder: build a form and its approval chain by pointing and choosing.

The page holds the schema document in a textarea (the JSON tab shows it); every control posts
one operation with it and gets the whole builder back, checked as publishing checks it.
Publishing shows what changed in words first. Every view is for admins only.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal import clock, forms
from portal.blueprints import after_publishing
from portal.domain import builder as rules
from portal.domain.schema import SchemaInvalid
from portal.services import access, submissions
from portal.services import builder as service
from portal.services import forms as form_service
from portal.services.access import Action
from portal.web import refusals_undone

bp = Blueprint("builder", __name__, url_prefix="/admin/build")
#: As the text editor: real schemas are a few tens of kilobytes.
MAX_SCHEMA_CHARS = 500_000
TABS = ("form", "chain", "json")


@bp.before_request
def _only_admins():
    access.require(current_user, Action.ADMINISTER)


@bp.route("/new", methods=["GET", "POST"])
def new():
    """Name a new form and choose what it starts from: blank or a copy of a published form."""
    slug = request.form.get("slug", "").strip()
    template = request.values.get("template", "")
    error = None
    if request.method == "POST":
        error = form_service.new_form_refusal(slug)
        if error is None:
            return redirect(url_for("builder.build", slug=slug, template=template or None))
    page = render_template(
        "builder/new.html",
        templates=service.templates(),
        slug=slug,
        template=template,
        error=error,
    )
    return page, (422 if error else 200)


@bp.route("/<slug>", methods=["GET", "POST"])
def build(slug: str):
    """The builder for form `slug`: its current version, a new form, or text sent back to it."""
    start = service.start(slug, request.args.get("template"))
    if start.form is None and form_service.new_form_refusal(slug):
        flash(form_service.new_form_refusal(slug), "error")
        return redirect(url_for("builder.new"))
    text, based_on = start.text, start.based_on
    if request.method == "POST":  # back from the publishing page, with the text as it was
        text = _text()
        based_on = _based_on()
    state = service.state(text, slug)
    return render_template("builder/build.html", **_context(slug, start.form, state, based_on))


@bp.post("/<slug>/operate")
def operate(slug: str):
    """htmx: apply one operation to the document and answer with the whole builder again."""
    values = request.form.to_dict(flat=False)
    values.pop("schema_text", None)
    values.pop("csrf_token", None)
    state = service.apply(_text(), slug, request.form.get("op", ""), values)
    form = form_service.find_form(slug)
    return render_template("builder/_workspace.html", **_context(slug, form, state, _based_on()))


@bp.get("/<slug>/people")
def people(slug: str):
    """htmx: the people whose name or email contains what was typed, as a list's options."""
    typed = next((value for value in request.args.values() if value), "")
    return render_template("builder/_people.html", people=service.search_people(typed), groups=[])


@bp.post("/<slug>/review")
def review(slug: str):
    """What publishing would change, in words, and the button that publishes it."""
    text = _text()
    _, errors = form_service.publishable(text, slug)
    return render_template(
        "builder/review.html",
        slug=slug,
        title=_title(slug, text),
        text=text,
        based_on=_based_on(),
        changes=service.changes(slug, text),
        errors=errors,
        note="",
        conflict=None,
    ), (422 if errors else 200)


@bp.post("/<slug>/publish")
def publish(slug: str):
    """Publish the reviewed document as the form's next version."""
    text = _text()
    note = request.form.get("note", "").strip()[:150]
    try:
        with refusals_undone():
            published = service.publish(text, slug, current_user, note, _based_on())
    except SchemaInvalid as refusal:
        return _review_again(slug, text, refusal.errors, None, 422)
    except form_service.PublishConflict as conflict:
        # Publishing again from this page replaces their version with this one, as it says.
        current = conflict.current.number if conflict.current else None
        return _review_again(slug, text, [], str(conflict), 409, current)
    return after_publishing(published, slug)


def _review_again(slug, text, errors, conflict, status, based_on=None):
    return render_template(
        "builder/review.html",
        slug=slug,
        title=_title(slug, text),
        text=text,
        based_on=based_on if based_on is not None else _based_on(),
        changes=service.changes(slug, text),
        errors=errors,
        note=request.form.get("note", ""),
        conflict=conflict,
    ), status


def _text() -> str:
    text = request.form.get("schema_text", "")
    if len(text) > MAX_SCHEMA_CHARS:
        abort(413)
    return text


def _based_on() -> int | None:
    base = request.form.get("based_on", "")
    return int(base) if base.isdigit() else None


def _title(slug: str, text: str) -> str:
    spec, _ = form_service.publishable(text, slug)
    return spec.title if spec is not None else slug


def _context(slug, form, state, based_on) -> dict:
    """Everything the builder's templates read."""
    tab = request.values.get("tab", "")
    if tab not in TABS:
        tab = "chain" if state.selected.startswith(("step", "chain")) else "form"
    if state.document is None:
        tab = "json"
    document = state.document or {}
    fields = document.get("fields") if isinstance(document.get("fields"), list) else []
    context = {
        "slug": slug,
        "form": form,
        "state": state,
        "based_on": based_on,
        "tab": tab,
        "b": rules,
        "fields_by_name": {f.get("name"): f for f in fields if isinstance(f, dict)},
        "groups": service.search_groups("", limit=500) if tab == "chain" else [],
        "people": [],
        "preview": state.preview,
        "too_large": False,
    }
    if state.spec is not None:
        raw = forms.blank_input(state.spec, clock.local_today())
        evaluation = submissions.evaluate(state.spec, raw, submissions.Files())
        evaluation.errors.clear()
        context.update(
            spec=state.spec,
            form_fields=forms.build(state.spec, raw, evaluation),
            evaluation=evaluation,
        )
    return context
