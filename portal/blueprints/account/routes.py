"""A person's own settings: out of office, delegate, daily digest, API tokens."""

from __future__ import annotations

from flask import (
    Blueprint,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from portal import audit, clock
from portal.forms import SettingsForm
from portal.services import account, approvals, tokens
from portal.web import refusals_undone

bp = Blueprint("account", __name__)


def _form() -> SettingsForm:
    form = SettingsForm(obj=None)
    form.delegate.choices = [SelectChoice(0, "Nobody")] + [
        SelectChoice(person.id, f"{person.name} ({person.email})")
        for person in account.colleagues(current_user)
    ]
    return form


@bp.route("/settings", methods=["GET", "POST"])
def settings():
    """Out of office with a delegate, and how to be told about tasks."""
    form = _form()
    error = None
    if form.validate_on_submit():
        try:
            with refusals_undone():
                account.save_settings(
                    current_user,
                    form.away_from.data,
                    form.away_until.data,
                    form.delegate.data or None,
                    form.daily_digest.data,
                )
        except account.SettingsRefused as refusal:
            error = str(refusal)
        else:
            flash("Settings saved.", "success")
            return redirect(url_for("account.settings"))
    elif not form.is_submitted():
        form.away_from.data = current_user.away_from
        form.away_until.data = current_user.away_until
        form.delegate.data = current_user.delegate_id or 0
        form.daily_digest.data = current_user.daily_digest
    else:
        error = " ".join(m for messages in form.errors.values() for m in messages)
    return render_template(
        "account/settings.html",
        form=form,
        error=error,
        open_count=approvals.open_task_count(current_user),
        away_now=current_user.is_away_on(clock.local_today()),
    ), (422 if error else 200)


@bp.post("/settings/hand-over")
def hand_over():
    """Give every open task to the delegate now (for someone already away)."""
    try:
        with refusals_undone():
            moved = approvals.hand_over(current_user)
    except approvals.DecisionRefused as refusal:
        flash(str(refusal), "error")
        return redirect(url_for("account.settings"))
    count = len(moved)
    plural = "s" if count != 1 else ""
    flash(f"{count} open task{plural} handed over to {current_user.delegate.name}.", "success")
    return redirect(url_for("account.settings"))


@bp.route("/settings/tokens", methods=["GET", "POST"])
def api_tokens():
    """The person's API tokens: create one (shown once), see when each was used, revoke."""
    error = None
    if request.method == "POST":
        try:
            with refusals_undone():
                _, token = tokens.create(
                    current_user, request.form.get("name", ""), audit.Actor(current_user)
                )
        except tokens.TokenRefused as refusal:
            error = str(refusal)
        else:
            # Post/redirect/get, so a reload cannot make a second token; the new token rides
            # in the (signed, HttpOnly) session to the next page only, and is gone after it.
            session[_NEW_TOKEN] = token
            return redirect(url_for("account.api_tokens"))
    created = session.pop(_NEW_TOKEN, None)
    response = make_response(
        render_template(
            "account/tokens.html",
            tokens=tokens.tokens_of(current_user),
            created=created,
            error=error,
            name=request.form.get("name", "") if error else "",
        ),
        422 if error else 200,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


_NEW_TOKEN = "new_api_token"


@bp.post("/settings/tokens/<int:token_id>/revoke")
def revoke_token(token_id: int):
    try:
        with refusals_undone():
            row = tokens.revoke(current_user, token_id)
    except tokens.TokenRefused as refusal:
        flash(str(refusal), "error")
    else:
        flash(f"Revoked “{row.name}”: it no longer works.", "success")
    return redirect(url_for("account.api_tokens"))
