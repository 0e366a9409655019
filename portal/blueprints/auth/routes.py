"""Signing in and out."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_user, logout_user

from portal import limits
from portal.forms import LoginForm
from portal.services import sign_ins, users

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    """Only follow `next` to a path on this site, never to another host."""
    if not target:
        return url_for("staff.home")
    try:
        parts = urlsplit(target)
    except ValueError:  # "//[" and the like: not a path on this site either
        return url_for("staff.home")
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("staff.home")
    return target.rstrip("?") or url_for("staff.home")


@bp.route("/login", methods=["GET", "POST"])
@limits.limiter.limit(limits.LOGIN_PER_CLIENT, methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    form = LoginForm()
    failed = False
    if form.validate_on_submit():
        limits.check_account(form.email.data)
        users.refuse_agent_sign_in(form.email.data)
        user = users.authenticate(form.email.data, form.password.data)
        if user is not None:
            key = sign_ins.start(user, current_app.config["SESSION_MAX_AGE"])
            session.permanent = True  # expires after BATON_SESSION_IDLE_MINUTES without use
            session[sign_ins.COOKIE_KEY] = key
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
        limits.count_failure(form.email.data)
        failed = True
    status = 401 if failed else (422 if form.errors else 200)
    return render_template("auth/login.html", form=form, failed=failed), status


@bp.post("/logout")
def logout():
    # Ended on the server: a copy of this cookie no longer signs anyone in.
    sign_ins.end(session.pop(sign_ins.COOKIE_KEY, None))
    logout_user()
    flash("You have signed out.", "info")
    return redirect(url_for("auth.login"))
