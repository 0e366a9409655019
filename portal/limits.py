"""Abuse limits: how often a client (and an account) may try to sign in, open action links,
or call the API. Counted in the same Redis that carries the jobs (in memory when Baton runs
with its embedded Redis, which has one web process).

    LOGIN_PER_CLIENT       any sign-in attempts from one address
    LOGIN_FAILURES_PER_ACCOUNT   failed attempts for one email, wherever they come from: after
                           these, that account's sign-in waits (a password guesser slows down,
                           the owner is not locked out for long). A wrong password given as an
                           electronic signature on a decision counts the same, and waits the same
    ACTION_LINKS_PER_CLIENT  emailed decision links opened or used from one address
    API_PER_TOKEN          API calls per token (per address without a valid-looking token)

Each can be changed with RATE_LIMIT_<NAME> in the app's config (tests make them small).
"""

from __future__ import annotations

import hashlib
import logging
import time

from flask import Flask, after_this_request, current_app, g, request
from flask_limiter import Limiter
from limits import parse_many
from werkzeug.exceptions import TooManyRequests

logger = logging.getLogger(__name__)

DEFAULTS = {
    "LOGIN_PER_CLIENT": "30 per minute",
    "LOGIN_FAILURES_PER_ACCOUNT": "5 per 15 minutes; 20 per day",
    "ACTION_LINKS_PER_CLIENT": "60 per minute",
    "API_PER_TOKEN": "600 per minute",
}


def _setting(name: str):
    """The limit named `name`: RATE_LIMIT_<name> in the app's config, else the default."""

    def value() -> str:
        return current_app.config.get(f"RATE_LIMIT_{name}", DEFAULTS[name])

    return value


LOGIN_PER_CLIENT = _setting("LOGIN_PER_CLIENT")
LOGIN_FAILURES_PER_ACCOUNT = _setting("LOGIN_FAILURES_PER_ACCOUNT")
ACTION_LINKS_PER_CLIENT = _setting("ACTION_LINKS_PER_CLIENT")
API_PER_TOKEN = _setting("API_PER_TOKEN")


def _key(*parts: str) -> str:
    """A limiter key, inside this installation's namespace (its queue name), so that several
    portals, or test runs, on one Redis never share counts."""
    return ":".join((current_app.config["RQ_QUEUE"], *parts))


def _hashed(text: str) -> str:
    """Keys are not a list of emails or tokens: store a hash."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def client_address() -> str:
    """The client's address (behind a proxy, what BATON_TRUSTED_PROXIES lets ProxyFix read)."""
    return _key("client", request.remote_addr or "unknown")


def api_caller() -> str:
    """The bearer token an API call carries, or the client's address without one."""
    token = request.headers.get("Authorization", "").partition(" ")[2].strip()
    return _key("token", _hashed(token)) if token else client_address()


#: What a person reads when their account must wait.
ACCOUNT_WAITS = (
    "Too many failed sign-ins for this account. Wait a few minutes and try again, "
    "or ask an administrator to set a new password."
)


def _account(email: str) -> str:
    """The key failed passwords for this account (its email) are counted under."""
    return _key("account", _hashed(email.strip().lower()))


def _counting() -> bool:
    return bool(current_app.config.get("RATELIMIT_ENABLED", True) and limiter.enabled)


def check_account(email: str) -> None:
    """Raise 429 (with Retry-After) if the account has had too many wrong passwords lately:
    at sign-in and for an electronic signature alike, even when this one is right."""
    if not _counting():
        return
    key = _account(email)
    try:
        waits = [
            limiter.limiter.get_window_stats(item, key).reset_time - time.time()
            for item in parse_many(LOGIN_FAILURES_PER_ACCOUNT())
            if not limiter.limiter.test(item, key)
        ]
    except Exception:  # as Flask-Limiter does (swallow_errors): Redis down locks nobody out
        logger.exception("could not read the failed sign-ins of an account")
        return
    if waits:
        raise TooManyRequests(ACCOUNT_WAITS, retry_after=max(1, int(max(waits)) + 1))


def count_failure(email: str) -> None:
    """Count a wrong password for the account: at sign-in, or as an electronic signature."""
    if not _counting():
        return
    key = _account(email)
    try:
        for item in parse_many(LOGIN_FAILURES_PER_ACCOUNT()):
            limiter.limiter.hit(item, key)
    except Exception:
        logger.exception("could not count a failed sign-in")


limiter = Limiter(key_func=client_address, headers_enabled=True, swallow_errors=True)


def init_app(app: Flask) -> None:
    from portal.queue import redis_url

    if app.config.get("REDIS_URL"):
        storage = redis_url(app)
        if storage.startswith("unix://"):  # make run's embedded Redis, shared by its processes
            storage = "redis+" + storage
    else:
        storage = "memory://"  # the embedded Redis serves one development web process
    app.config.setdefault("RATELIMIT_STORAGE_URI", storage)
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "limits")
    app.config.setdefault("RATELIMIT_HEADER_RETRY_AFTER_VALUE", "delta-seconds")
    limiter.init_app(app)
    # after_request functions run last-registered first: at the front of the list, this one
    # runs after Flask-Limiter's header injection, however often the limiter is initialised.
    app.after_request_funcs.setdefault(None, []).insert(0, _only_own_retry_after)
    app.before_request_funcs.setdefault(None, []).insert(0, _note_own_retry_after)


def _note_own_retry_after() -> None:
    """Keep the Retry-After a view sets itself (the audit PDF's 202), before the limiter's
    headers replace it (a this-request callback runs before every after_request function)."""

    @after_this_request
    def note(response):
        g.own_retry_after = response.headers.get("Retry-After")
        return response


def _only_own_retry_after(response):
    """Flask-Limiter puts its window's Retry-After on every response it counts; only a 429
    keeps that one, any other response only the value its view chose, if any."""
    if response.status_code == 429:
        return response
    own = g.get("own_retry_after")
    if own is None:
        response.headers.pop("Retry-After", None)
    else:
        response.headers["Retry-After"] = own
    return response
