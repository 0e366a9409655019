"""Email: composing messages, signing action links, and talking to the SMTP server.

Action links are signed with itsdangerous under their own salt, name the task and the
assignee, and expire. Opening one changes nothing (mail scanners open links by themselves);
only the POST from the page it shows decides, and a decided task's link is dead.
"""

from __future__ import annotations

import atexit
import logging
import re
import smtplib
import socket
import ssl
import threading
import time
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage as MimeMessage
from email.utils import format_datetime, formataddr, make_msgid

from flask import current_app, render_template, url_for
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from portal import clock

logger = logging.getLogger(__name__)
ACTION_SALT = "baton.task-action"
#: What replaces a signed link in the copy of an email kept in the database.
REDACTED_LINK = "[personal action link]"


class LinkProblem(Exception):
    """An action link that cannot be used; `reason` is expired, invalid."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class ActionLink:
    task_id: int
    assignee_id: int


class _ClockSigner(TimestampSigner):
    """Timestamps from portal.clock, so tests can move time past a link's expiry."""

    def get_timestamp(self) -> int:
        return int(clock.now().timestamp())


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        current_app.config["SECRET_KEY"], salt=ACTION_SALT, signer=_ClockSigner
    )


def action_token(task_id: int, assignee_id: int) -> str:
    """A signed token naming the task and the person it was sent to."""
    return _serializer().dumps(
        {"task": task_id, "assignee": assignee_id, "n": uuid.uuid4().hex[:8]}
    )


def read_action_token(token: str) -> ActionLink:
    """The task and assignee a token names; LinkProblem if it is expired or not ours."""
    try:
        payload = _serializer().loads(token, max_age=current_app.config["ACTION_LINK_MAX_AGE"])
    except SignatureExpired:
        raise LinkProblem("expired") from None
    except BadSignature:
        raise LinkProblem("invalid") from None
    try:
        return ActionLink(int(payload["task"]), int(payload["assignee"]))
    except (KeyError, TypeError, ValueError):
        raise LinkProblem("invalid") from None


def external_url(endpoint: str, **values) -> str:
    """An absolute URL for an email, built from BASE_URL (jobs have no request to go by)."""
    with current_app.test_request_context(base_url=current_app.config["BASE_URL"]):
        return url_for(endpoint, _external=True, **values)


@dataclass(frozen=True)
class Composed:
    subject: str
    text: str
    html: str
    #: The text with secrets (action links) replaced, to keep as the record.
    record: str


def compose(template: str, subject: str, secrets: tuple[str, ...] = (), **context) -> Composed:
    """Render templates/email/<template>.txt and .html into a message."""
    context.setdefault("app_name", "Baton")
    with current_app.test_request_context(base_url=current_app.config["BASE_URL"]):
        text = render_template(f"email/{template}.txt", **context)
        html = render_template(f"email/{template}.html", **context)
    record = text
    for secret in secrets:
        record = record.replace(secret, REDACTED_LINK)
    return Composed(subject, text, html, record)


#: How long to wait for the server's answer to the final dot. RFC 5321 (4.5.3.2.6) asks clients
#: to wait at least 10 minutes; a job may run for 5, so this stays well inside that. Giving up
#: early is what makes a server that was only slow receive a message twice.
FINAL_REPLY_TIMEOUT = 180


class _FinalDotHooks:
    """An SMTP client that calls `before_final_dot()` after the message body has gone out and
    before the "." that ends it, and `after_final_dot()` the moment the dot is written, before
    it reads the server's answer. Until the dot the server has accepted nothing, and a closed
    connection makes it discard the message (RFC 5321, 4.1.1.4)."""

    before_final_dot: Callable[[], None] | None = None
    after_final_dot: Callable[[], None] | None = None

    def data(self, msg: bytes):  # smtplib.SMTP.data, with the hooks around the dot
        self.putcmd("data")
        code, reply = self.getreply()
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        body = re.sub(rb"(?m)^\.", b"..", msg)
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        self.send(body)
        if self.before_final_dot is not None:
            try:
                self.before_final_dot()
            except BaseException:
                self.close()  # no dot: the server drops the half-sent message
                raise
        self.send(b".\r\n")
        if self.after_final_dot is not None:
            self.after_final_dot()
        self.sock.settimeout(max(self.timeout or 0, FINAL_REPLY_TIMEOUT))
        try:
            return self.getreply()
        finally:
            if self.sock is not None:
                self.sock.settimeout(self.timeout)


class _SMTP(_FinalDotHooks, smtplib.SMTP):
    pass


class _SMTPSSL(_FinalDotHooks, smtplib.SMTP_SSL):
    pass


def _connect(config) -> _SMTP | _SMTPSSL:
    """A connection to the configured SMTP server, with Nagle's algorithm off.

    The final dot goes out in a write of its own, after the body (see _FinalDotHooks). With
    Nagle on, the kernel holds that small write back until the server acknowledges the body,
    and servers delay that acknowledgement by up to 40 ms (200 ms on some systems) in case a
    reply can carry it: every message sat out that delay, which made the dot, not the work,
    what an email job waited on (docs/benchmarks.md, "Workers"). Every SMTP command is a
    whole request the client then waits on, so nothing is gained by holding one back.
    """
    host, port = config["MAIL_SERVER"], int(config["MAIL_PORT"])
    if config.get("MAIL_USE_SSL"):
        client = _SMTPSSL(host, port, timeout=30, context=ssl.create_default_context())
    else:
        client = _SMTP(host, port, timeout=30)
    client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return client


#: How long a connection may wait for the next message. Servers close idle connections after a
#: few minutes (RFC 5321, 4.5.3.2.7, suggests 5); a connection older than this is closed
#: politely instead of being tried.
KEEP_SECONDS = 30


class _Kept(threading.local):
    """The connection this thread sent its last message over, for the next one."""

    client: _SMTP | _SMTPSSL | None = None
    server: tuple | None = None
    since: float = 0.0


_kept = _Kept()


def _server(config) -> tuple:
    """What a connection was made for: a kept one is only used for the same server and login."""
    return (
        config["MAIL_SERVER"],
        int(config["MAIL_PORT"]),
        bool(config.get("MAIL_USE_SSL")),
        bool(config.get("MAIL_USE_TLS")),
        config.get("MAIL_USERNAME"),
    )


def _ready_connection(config) -> _SMTP | _SMTPSSL:
    """A connection ready for a message: the kept one if it still answers, else a new one.

    Keeping it spares the server and this process a connection, a greeting, EHLO, STARTTLS
    and a login for every message. A kept connection is checked with RSET before use; one
    the server has closed in the meantime fails that check, before anything is sent, and a
    new connection takes its place.
    """
    client, server = _kept.client, _server(config)
    _kept.client = None
    if client is not None:
        if _kept.server == server and time.monotonic() - _kept.since < KEEP_SECONDS:
            try:
                if client.rset()[0] == 250:
                    return client
            except (smtplib.SMTPException, OSError):
                pass
            client.close()
        else:
            _goodbye(client)
    client = _connect(config)
    try:
        if config.get("MAIL_USE_TLS"):
            client.starttls(context=ssl.create_default_context())
        if config.get("MAIL_USERNAME"):
            client.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD") or "")
    except BaseException:
        client.close()
        raise
    return client


def _keep(client: _SMTP | _SMTPSSL, config) -> None:
    """Keep a connection whose message the server accepted, for this thread's next message."""
    _kept.client, _kept.server, _kept.since = client, _server(config), time.monotonic()


def _goodbye(client: _SMTP | _SMTPSSL) -> None:
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


def close_kept_connection() -> None:
    """Say goodbye on this thread's kept connection, if any (a worker shutting down)."""
    client, _kept.client = _kept.client, None
    if client is not None:
        _goodbye(client)


atexit.register(close_kept_connection)


def header_text(text: str) -> str:
    """`text` fit for one header line: line and paragraph separators (U+2028, U+2029, U+0085,
    and the rest Python's email package refuses in a header) and control characters become
    spaces. A vendor name may hold any of them; the email must still go out."""
    kept = "".join(" " if unicodedata.category(ch) in _NOT_IN_HEADERS else ch for ch in text)
    return " ".join(kept.split())


#: Unicode categories of control characters and line/paragraph separators.
_NOT_IN_HEADERS = frozenset({"Cc", "Zl", "Zp"})


def send(
    to_address: str,
    to_name: str,
    composed: Composed,
    message_id: str | None = None,
    before_final_dot: Callable[[], None] | None = None,
    after_final_dot: Callable[[], None] | None = None,
    on_accepted: Callable[[], None] | None = None,
) -> str:
    """Send one message over SMTP; returns its Message-ID. Raises on any SMTP failure.

    A message is sent the moment the server has its final "."; the sender can only learn that
    from the server's answer, and a sender that dies before recording the answer leaves a sent
    message looking unsent. The hooks let the caller close that gap: `before_final_dot` runs
    when everything but the dot has gone out (prepare the record there, uncommitted),
    `after_final_dot` right after the dot is written and before the answer is read (commit it
    there: the COMMIT leaves a moment after the dot, and the database finishes it even if this
    process dies while waiting), `on_accepted` once the server has said "250".

    The connection stays open for the thread's next message (_ready_connection); one that
    failed in any way is closed instead.
    """
    config = current_app.config
    message = MimeMessage()
    message["Subject"] = header_text(composed.subject)
    message["From"] = header_text(config["MAIL_DEFAULT_SENDER"])
    message["To"] = formataddr((header_text(to_name), to_address))
    message["Message-ID"] = message_id or make_msgid(domain="baton.local")
    message["Date"] = format_datetime(clock.now())
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(composed.text)
    message.add_alternative(composed.html, subtype="html")
    client = _ready_connection(config)
    client.before_final_dot, client.after_final_dot = before_final_dot, after_final_dot
    try:
        client.send_message(message)
        if on_accepted is not None:
            on_accepted()
    except BaseException:
        # Whatever went wrong, this connection is not used again. Before the dot, closing it is
        # what makes the server drop the half-sent message (see _FinalDotHooks).
        client.close()
        raise
    client.before_final_dot = client.after_final_dot = None
    _keep(client, config)
    logger.info("email %s sent to %s", message["Message-ID"], to_address)
    return message["Message-ID"]
