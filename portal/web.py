"""HTTP plumbing every area shares: blueprints, the sign-in gate, the commit point, error pages
and headers.

The commit point: a request commits once, after its view has answered, and only when the
answer is a success (2xx) or a redirect (3xx). Any other answer (a 422 page showing the form's
errors, a 409, a refusal's page or JSON) and any exception roll back, so nothing a refused or
failed request flushed is kept. Views and services never commit or roll back themselves.
"""

from __future__ import annotations

import hashlib
import logging
import os
from contextlib import contextmanager

from flask import (
    Flask,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.exceptions import HTTPException

from portal import display
from portal.domain.refusal import Refused
from portal.extensions import csrf, db, login_manager
from portal.models import User
from portal.services import sign_ins

logger = logging.getLogger(__name__)

#: Everything under here is the JSON API: its own authentication, JSON errors.
API_PREFIX = "/api"
#: Endpoints anyone may reach without signing in.
PUBLIC_ENDPOINTS = frozenset(
    {
        "auth.login",
        "auth.oidc_start",
        "auth.oidc_callback",
        "static",
        "health",
        "approvals.act",
        "approvals.link_file",
        "approvals.link_file_page",
    }
)

ERROR_MESSAGES = {
    400: (
        "Something in that request was not right",
        "The page sent something Baton could not read. Go back, reload the page and try again.",
    ),
    403: ("You cannot do that", "Your account does not have access to this page or action."),
    404: (
        "Not found",
        "There is nothing here, or you do not have access to it. "
        "Check the address, or start from the home page.",
    ),
    405: ("Not allowed", "This address does not accept that kind of request."),
    409: ("That cannot be done now", "The record is not in a state that allows it."),
    412: ("That was changed meanwhile", "Someone changed it after you opened it."),
    413: (
        "Too large",
        "What you sent is larger than Baton accepts in one go. "
        "Attach smaller files, or fewer at a time.",
    ),
    422: ("That was not accepted", "Something in what you sent cannot be accepted."),
    429: ("Too many attempts", "Please wait a moment before trying again."),
    500: (
        "Something went wrong on our side",
        "Nothing you sent was saved. Please try again; if it keeps happening, "
        "tell your administrator the time it happened.",
    ),
}


def init_app(app: Flask) -> None:
    from portal.blueprints.account.routes import bp as account_bp
    from portal.blueprints.admin.routes import bp as admin_bp
    from portal.blueprints.api.routes import bp as api_bp
    from portal.blueprints.approvals.routes import bp as approvals_bp
    from portal.blueprints.auth.routes import bp as auth_bp
    from portal.blueprints.builder.routes import bp as builder_bp
    from portal.blueprints.compliance.routes import bp as compliance_bp
    from portal.blueprints.insight.routes import bp as insight_bp
    from portal.blueprints.staff.routes import bp as staff_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(staff_bp)
    app.register_blueprint(approvals_bp)
    app.register_blueprint(account_bp)
    app.register_blueprint(compliance_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(builder_bp)
    app.register_blueprint(insight_bp)
    app.register_blueprint(api_bp)
    csrf.exempt(api_bp)  # bearer tokens only: no cookie, so nothing for a CSRF to ride on
    if app.config.get("DEV_MAILBOX"):
        from portal.blueprints.devtools.routes import bp as devtools_bp

        app.register_blueprint(devtools_bp)
    display.init_app(app)
    if app.config.get("TRUSTED_PROXIES"):
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    # Ahead of CSRFProtect's check: a visitor whose session expired should be sent to sign in,
    # not told that their (session-bound) form token is invalid.
    app.before_request_funcs.setdefault(None, []).insert(0, _require_login)
    # Ahead of everything, since CSRFProtect reads a posted form: the limit must be set first.
    app.before_request_funcs[None].insert(0, _limit_body)
    app.after_request(_security_headers)
    # Registered after _security_headers so that it runs before it (Flask runs them in
    # reverse): a failed commit's 500 page gets the headers too.
    app.after_request(_commit_point)
    app.register_error_handler(Refused, _refused)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    app.add_url_rule("/health", "health", _health)
    app.context_processor(_page_context)
    _cache_static_files(app)


#: How long browsers may keep a static file whose URL names its content (a year, never checked).
STATIC_MAX_AGE = 365 * 24 * 3600


def _cache_static_files(app: Flask) -> None:
    """`url_for('static', ...)` adds `?v=<content hash>`; a request carrying the current hash
    may be cached for a year, since a changed file gets a new URL. Other requests for static
    files keep Flask's default (revalidate)."""
    digests: dict[str, tuple[float, str]] = {}

    def digest(filename: str) -> str | None:
        path = os.path.join(app.static_folder, filename)
        try:
            modified = os.stat(path).st_mtime
        except OSError:
            return None
        known = digests.get(filename)
        if known is None or known[0] != modified:
            with open(path, "rb") as handle:
                known = (modified, hashlib.sha256(handle.read()).hexdigest()[:12])
            digests[filename] = known
        return known[1]

    @app.url_defaults
    def _version_static_url(endpoint: str, values: dict) -> None:
        if endpoint == "static" and "filename" in values and "v" not in values:
            version = digest(values["filename"])
            if version:
                values["v"] = version

    serve_static = app.view_functions["static"]

    def static(filename: str):
        response = serve_static(filename=filename)
        version = request.args.get("v")
        if response.status_code == 200 and version and version == digest(filename):
            response.cache_control.public = True
            response.cache_control.max_age = STATIC_MAX_AGE
            response.cache_control.immutable = True
            response.cache_control.no_cache = None
        return response

    app.view_functions["static"] = static


def carries_files(allowance):
    """Mark a view that takes a form's attachments: `allowance(**view_args)` gives their bytes.

    Such a request may carry the attachments (as base64 in a JSON body: a third more) on top of
    MAX_BODY_BYTES; every other request only MAX_BODY_BYTES. MAX_CONTENT_LENGTH caps both.
    """

    def mark(view):
        view.upload_allowance = allowance
        return view

    return mark


def _limit_body():
    """Bound the request body before anything reads it, so a huge one costs no memory."""
    config = current_app.config
    limit = config["MAX_BODY_BYTES"]
    view = current_app.view_functions.get(request.endpoint)
    allowance = getattr(view, "upload_allowance", None)
    if allowance is not None and request.method in ("POST", "PATCH"):
        # The signed-in person first: their row brings what tells the kept forms are current,
        # so the form the allowance looks up costs no query of its own.
        _ = current_user.is_authenticated
        files = allowance(**(request.view_args or {}))
        limit += files if request.mimetype == "multipart/form-data" else files * 4 // 3
    request.max_content_length = min(limit, config["MAX_CONTENT_LENGTH"])


def _page_context() -> dict:
    """What every page's frame shows: the count of open tasks beside Inbox, and `may(action)`
    for the links a person may follow (portal.services.access decides)."""
    from portal.services import access
    from portal.services.approvals import open_task_count

    # Outside a request (a job rendering a PDF) there is no user at all.
    signed_in = getattr(current_user, "is_authenticated", False)
    count = open_task_count(current_user) if signed_in else 0
    return {
        "app_name": "Baton",
        "inbox_count": count,
        "may": lambda action, subject=None: access.allows(current_user, action, subject),
    }


@login_manager.user_loader
def _load_user(session_id: str) -> User | None:
    """The signed-in user, unless disabled, signed in before their session epoch moved on, or
    in a session that was signed out or is older than BATON_SESSION_MAX_HOURS."""
    user_id, _, epoch = session_id.partition(".")
    if not (user_id.isdigit() and epoch.isdigit()):
        return None
    return sign_ins.signed_in(
        int(user_id),
        int(epoch),
        session.get(sign_ins.COOKIE_KEY),
        current_app.config["SESSION_MAX_AGE"],
    )


def _require_login():
    if request.endpoint in PUBLIC_ENDPOINTS or current_user.is_authenticated:
        return None
    if _is_api():
        return None  # the API checks its own bearer tokens and answers in JSON
    if request.headers.get("HX-Request"):
        response = make_response("", 401)
        response.headers["HX-Redirect"] = url_for("auth.login")
        return response
    return redirect(
        url_for(
            "auth.login", next=request.full_path.rstrip("?") if request.method == "GET" else None
        )
    )


#: No inline script or style anywhere: htmx is configured for it (see base.html's htmx-config).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)


def _security_headers(response):
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if current_app.config.get("SESSION_COOKIE_SECURE"):
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if request.endpoint != "static":
        # Everything but a static file depends on who asks (a page, a form's CSRF token, a
        # record, an API answer): no browser or proxy may keep a copy for the next person.
        response.cache_control.no_store = True
    return response


def _commit_point(response):
    """Commit what the request did if it answered 2xx or 3xx; roll back anything else."""
    if response.status_code >= 400:
        db.session.rollback()
        return response
    try:
        db.session.commit()
    except Exception as error:  # noqa: BLE001 (answered as any unexpected error is)
        return current_app.make_response(_unexpected_error(error))
    return response


@contextmanager
def refusals_undone():
    """Around a service call whose refusal the view answers itself (a flash and a redirect,
    the form again with the message): if the call refuses, everything the request flushed is
    undone before the view goes on, so the answer's 2xx or 3xx commits nothing of it."""
    try:
        yield
    except Refused:
        db.session.rollback()
        raise


def _refused(refusal: Refused):
    """A refusal nobody answered: its message as a page, or under /api as JSON (the commit
    point rolls back what the request did)."""
    if _is_api():
        body = {"message": refusal.message}
        body.update(getattr(refusal, "details", None) or {})
        return _api_error(refusal.status, body, getattr(refusal, "headers", None))
    title, _ = ERROR_MESSAGES.get(refusal.status, ERROR_MESSAGES[422])
    return render_template(
        "errors/error.html", code=refusal.status, title=title, message=refusal.message
    ), refusal.status


def _csrf_error(error: CSRFError):
    return (
        render_template(
            "errors/error.html",
            code=400,
            title="This form has expired",
            message="The page was open too long or came from somewhere else, "
            "so it was not accepted. "
            "Nothing was saved. Go back, reload the page and send it again.",
        ),
        400,
    )


def _is_api() -> bool:
    return request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/")


def _api_error(code: int, message: str | dict, headers=None):
    body = message if isinstance(message, dict) else {"message": message}
    response = make_response(body, code)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _http_error(error: HTTPException):
    if _is_api():
        message = error.description or error.name
        if error.code == 405:
            message = f"{request.method} is not allowed here; allowed: " + ", ".join(
                sorted(m for m in (error.valid_methods or []) if m not in ("HEAD", "OPTIONS"))
            )
        if error.code == 413:
            message = (
                f"The body is larger than Baton accepts here ({request.max_content_length:,} "
                "bytes); see the limits in docs/security.md."
            )
        headers = dict(error.get_headers()) if error.code in (401, 405, 429) else {}
        headers.pop("Content-Type", None)
        return _api_error(error.code, message, headers)
    title, message = ERROR_MESSAGES.get(error.code, (error.name, error.description))
    if error.code == 400 and error.description and not error.description.startswith("The browser"):
        message = error.description
    if error.code == 429 and error.description and "per" not in error.description.split():
        message = error.description  # ours, not the limiter's "5 per 15 minute"
    page = render_template("errors/error.html", code=error.code, title=title, message=message)
    retry_after = dict(error.get_headers()).get("Retry-After") if error.code == 429 else None
    return page, error.code, {"Retry-After": retry_after} if retry_after else {}


def _unexpected_error(error: Exception):
    if isinstance(error, HTTPException):
        return _http_error(error)
    logger.exception("unhandled error on %s %s", request.method, request.path)
    db.session.rollback()
    if _is_api():
        return _api_error(500, "Something went wrong on our side; nothing was saved.")
    title, message = ERROR_MESSAGES[500]
    return render_template("errors/error.html", code=500, title=title, message=message), 500


def _health():
    """For load balancers: 200 if the database answers."""
    db.session.execute(db.text("SELECT 1"))
    return {"status": "ok"}


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    """SQLite: enforce foreign keys, and let readers run beside a writer (WAL)."""
    if dbapi_connection.__class__.__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()
