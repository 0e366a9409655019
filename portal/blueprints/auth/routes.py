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

from portal import limits, oidc
from portal.domain.refusal import Refused
from portal.forms import LoginForm
from portal.services import sign_ins, sso, users

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


def _start_session(user) -> None:
    """Sign `user` in on this browser: a server-side session, as every way of signing in does."""
    # Whoever was signed in on this browser before is signed out first, on the server too.
    sign_ins.end(session.pop(sign_ins.COOKIE_KEY, None))
    key = sign_ins.start(user, current_app.config["SESSION_MAX_AGE"])
    session.permanent = True  # expires after BATON_SESSION_IDLE_MINUTES without use
    session[sign_ins.COOKIE_KEY] = key
    login_user(user)


@bp.route("/login", methods=["GET", "POST"])
@limits.limiter.limit(limits.LOGIN_PER_CLIENT, methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    form = LoginForm()
    passwords = current_app.config["PASSWORD_SIGN_IN"]
    failed = only_sso = False
    if form.validate_on_submit():
        limits.check_account(form.email.data)
        users.refuse_agent_sign_in(form.email.data)
        user = users.authenticate(form.email.data, form.password.data)
        if user is not None and not (passwords or user.local):
            # BATON_PASSWORD_SIGN_IN=off: the password was right, but this account signs in
            # through the provider only.
            only_sso = True
        elif user is not None:
            _start_session(user)
            return redirect(_safe_next(request.args.get("next")))
        else:
            limits.count_failure(form.email.data)
            failed = True
    status = 401 if failed else (403 if only_sso else (422 if form.errors else 200))
    page = render_template(
        "auth/login.html",
        form=form,
        failed=failed,
        only_sso=only_sso,
        sso_name=oidc.provider_name() if oidc.enabled() else None,
        # With passwords off, the form is one click away for the accounts marked local.
        show_password=passwords or bool(request.args.get("password")) or form.is_submitted(),
        next=request.args.get("next"),
    )
    return page, status


@bp.get("/login/oidc")
@limits.limiter.limit(limits.LOGIN_PER_CLIENT)
def oidc_start():
    """Send the browser to the identity provider to sign in there.

    A link, not a form: browsers hold a form's redirects to the page's CSP form-action, and a
    provider may pass the browser through hosts of its own. Only the signed session cookie
    changes (this sign-in's state, nonce and PKCE verifier); the database does not."""
    if not oidc.enabled():
        return redirect(url_for("auth.login"))
    session["oidc_next"] = _safe_next(request.args.get("next"))
    return oidc.redirect_to_provider()


@bp.get("/login/oidc/callback")
@limits.limiter.limit(limits.LOGIN_PER_CLIENT)
def oidc_callback():
    """The provider sends the browser back here: sign the person it vouches for in."""
    if not oidc.enabled():
        return redirect(url_for("auth.login"))
    try:
        claims = oidc.claims_from_callback()
        user = sso.sign_in(claims, sso.Settings.from_config(current_app.config))
    except Refused as refusal:
        # Answered with its status: the commit point keeps nothing of this request.
        page = render_template(
            "auth/oidc_failed.html", message=refusal.message, sso_name=oidc.provider_name()
        )
        return page, refusal.status
    _start_session(user)
    return redirect(session.pop("oidc_next", None) or url_for("staff.home"))


@bp.post("/logout")
def logout():
    # Ended on the server: a copy of this cookie no longer signs anyone in.
    sign_ins.end(session.pop(sign_ins.COOKIE_KEY, None))
    logout_user()
    flash("You have signed out.", "info")
    return redirect(url_for("auth.login"))
