"""Webhooks: tell other systems what happened, signed, after commit, with retries.

An event in a submission's audit trail (submitted, a task opened, approved...) becomes one
delivery row per subscribed endpoint, in the same transaction, and an outbox job that sends it
after the commit. A failed attempt is tried again later, waiting longer each time; a dead
endpoint only ever delays its own deliveries, never a chain. Receivers check the signature:

    X-Baton-Signature: t=1764100000,v1=<hex HMAC-SHA256 of "1764100000.<body>" with the secret>

Webhooks are a way into the network Baton runs in, so a target must be a public address: a URL
whose host is (or resolves to) a loopback, private, link-local or otherwise non-public address,
or that names the portal itself, is refused when saved and again at each delivery, where the
host is resolved afresh and the connection goes to the address that was checked.
BATON_WEBHOOK_ALLOW_PRIVATE=1 lifts the address check for development.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import re
import secrets
import socket
import time
import unicodedata
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import select

from portal import audit, clock, outbox
from portal.domain.refusal import NotFound, Refused
from portal.extensions import claim, db
from portal.jobs.registry import JobKind
from portal.mail import external_url
from portal.models import (
    AuditEvent,
    DeliveryState,
    Submission,
    Task,
    User,
    WebhookDelivery,
    WebhookEndpoint,
)
from portal.services import catalog, submissions

logger = logging.getLogger(__name__)

#: What an endpoint can subscribe to, and the audit action each one follows.
EVENTS = {
    "submission.created": ("submitted", "A request was submitted."),
    "submission.resubmitted": ("resubmitted", "A request sent back for changes came back."),
    "task.created": ("task_opened", "Someone was asked to decide a step."),
    "task.assigned": (
        "task_opened",
        "A person or an agent was asked to decide a step (sent with task.created).",
    ),
    "task.decided": ("task_decided", "Someone approved, rejected or asked for changes."),
    "task.recommended": (
        "task_recommended",
        "An agent recommended a decision that a person must confirm or override.",
    ),
    "submission.changes_requested": ("changes_requested", "A request was sent back for changes."),
    "submission.approved": ("approved", "A request was approved at the end of its chain."),
    "submission.rejected": ("rejected", "A request was rejected."),
    "submission.withdrawn": ("withdrawn", "The submitter withdrew a request."),
}
#: The events each audit action is sent as (task_opened is both task.created and task.assigned).
_BY_ACTION: dict[str, list[str]] = {}
for _name, (_action, _) in EVENTS.items():
    _BY_ACTION.setdefault(_action, []).append(_name)
PING = "ping"
#: Seconds to wait before each retry: 30 s, 2 min, 10 min, 30 min, 2 h, 6 h, 12 h.
DEFAULT_BACKOFF = (30, 120, 600, 1800, 7200, 21600, 43200)
TIMEOUT_SECONDS = 5
SIGNATURE_TOLERANCE = 300
USER_AGENT = "Baton-Webhooks/1"


class WebhookRefused(Refused, ValueError):
    """An endpoint cannot be saved as given; the message says why."""


class TargetRefused(WebhookRefused):
    """Baton does not send to this URL; `reason` is the delivery log's short word for why."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


# -- endpoints (admins) -----------------------------------------------------------------------


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(24)


def save_endpoint(
    admin: User,
    url: str,
    events: list[str],
    description: str = "",
    active: bool = True,
    endpoint: WebhookEndpoint | None = None,
) -> WebhookEndpoint:
    """Register an endpoint, or change one; refused with a reason for a bad URL or event."""
    url = url.strip()
    target = check_target(url)
    try:
        addresses = _resolve(target)
    except (OSError, UnicodeError):
        pass  # not resolvable now: each delivery resolves it again and checks what it finds
    else:
        _refuse_private(addresses)
    unknown = sorted(set(events) - set(EVENTS))
    if unknown:
        raise WebhookRefused(f"There is no event called {', '.join(unknown)}.")
    if not events:
        raise WebhookRefused("Choose at least one event to send.")
    created = endpoint is None
    if created:
        endpoint = WebhookEndpoint(secret=new_secret(), created_by_id=admin.id)
        db.session.add(endpoint)
    endpoint.url, endpoint.events = url, sorted(set(events))
    endpoint.description, endpoint.active = description.strip()[:200], active
    db.session.flush()
    audit.record(
        audit.ADMIN_CHAIN,
        "webhook_created" if created else "webhook_changed",
        audit.Actor(admin),
        {"webhook": endpoint.id, "url": url, "events": endpoint.events, "active": active},
    )
    return endpoint


def rotate_secret(admin: User, endpoint: WebhookEndpoint) -> str:
    endpoint.secret = new_secret()
    audit.record(
        audit.ADMIN_CHAIN, "webhook_secret_rotated", audit.Actor(admin), {"webhook": endpoint.id}
    )
    return endpoint.secret


def endpoints() -> list[WebhookEndpoint]:
    return list(db.session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))


def find_endpoint(endpoint_id: int) -> WebhookEndpoint:
    found = db.session.get(WebhookEndpoint, endpoint_id)
    if found is None:
        raise NotFound("There is no such webhook endpoint.")
    return found


def find_delivery(delivery_id: int) -> WebhookDelivery:
    found = db.session.get(WebhookDelivery, delivery_id)
    if found is None:
        raise NotFound("There is no such delivery.")
    return found


def deliveries_of(endpoint: WebhookEndpoint, limit: int = 100) -> list[WebhookDelivery]:
    return list(
        db.session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint.id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        )
    )


# -- targets ----------------------------------------------------------------------------------

#: Where the delivery log says a target was refused, without trying it (nothing about its ports).
PRIVATE_ADDRESS = "private address"
_DEFAULT_PORTS = {"http": 80, "https": 443}
#: A host name the resolver takes: labels of 1 to 63 characters (it fails on others).
_HOST_NAME = re.compile(r"[a-z0-9_-]{1,63}(\.[a-z0-9_-]{1,63})*")
#: IPv6 ranges that carry an IPv4 address in their last 32 bits (IPv4-compatible, NAT64).
_EMBEDS_IPV4 = [ipaddress.ip_network(net) for net in ("::/96", "64:ff9b::/96", "64:ff9b:1::/48")]


@dataclass(frozen=True)
class Target:
    """Where a delivery goes: the URL taken apart, checked for what a request line can carry."""

    scheme: str
    host: str
    port: int
    path: str


def check_target(url: str) -> Target:
    """The URL as a target, or TargetRefused: malformed, or the portal's own address."""
    if len(url) > 2000:
        raise TargetRefused("The URL can be at most 2,000 characters.", "invalid URL")
    if any(char.isspace() or unicodedata.category(char)[0] == "C" for char in url):
        raise TargetRefused(
            "The URL cannot contain spaces, line breaks or other control characters.",
            "invalid URL",
        )
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = parts = None
    if parts is None or parts.scheme not in _DEFAULT_PORTS or not host:
        raise TargetRefused(
            "The URL must start with https:// (or http://) and name a host.", "invalid URL"
        )
    if parts.username is not None or parts.password is not None:
        raise TargetRefused(
            "The URL cannot carry a user name or password: receivers check the signature.",
            "invalid URL",
        )
    if not url.isascii():
        raise TargetRefused(
            "Write the URL in ASCII: percent-encode other characters, and an international "
            "host name as its xn-- form.",
            "invalid URL",
        )
    host = host.rstrip(".").lower()
    if not _is_address(host) and not (len(host) <= 253 and _HOST_NAME.fullmatch(host)):
        raise TargetRefused(f"{host!r} is not a host name or an IP address.", "invalid URL")
    port = port or _DEFAULT_PORTS[parts.scheme]
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    target = Target(parts.scheme, host, port, path)
    if _is_the_portal(target):
        raise TargetRefused("Webhooks cannot be sent to Baton itself.", "the portal itself")
    return target


def _is_the_portal(target: Target) -> bool:
    """The portal's own host (BASE_URL); with private targets allowed, only its own port, so
    that a developer's receiver may listen on 127.0.0.1 beside it."""
    base = urlsplit(current_app.config["BASE_URL"])
    base_port = base.port or _DEFAULT_PORTS.get(base.scheme)
    if not _same_host((base.hostname or "").rstrip(".").lower(), target.host):
        return False
    return not _private_allowed() or target.port == base_port


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _same_host(one: str, other: str) -> bool:
    try:
        return ipaddress.ip_address(one) == ipaddress.ip_address(other)
    except ValueError:
        return one == other


def _resolve(target: Target) -> list[str]:
    """Every address the host resolves to now (numeric spellings such as 0x7f000001 too)."""
    found = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(sockaddr[0] for *_, sockaddr in found))


def is_public(address: str) -> bool:
    """True for an address anyone on the internet could reach; an IPv6 address that carries an
    IPv4 one (::ffff:127.0.0.1, 2002:7f00:1::, 64:ff9b::7f00:1) is judged by that one."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip.is_global and any(ip in net for net in _EMBEDS_IPV4):
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public(str(embedded))
    return ip.is_global and not ip.is_multicast


def _private_allowed() -> bool:
    return bool(current_app.config.get("BATON_WEBHOOK_ALLOW_PRIVATE"))


def _refuse_private(addresses: list[str]) -> None:
    if _private_allowed() or all(is_public(address) for address in addresses):
        return
    raise TargetRefused(
        "Webhooks go to public addresses only: this host is (or resolves to) a loopback, "
        "private or link-local address. For development, BATON_WEBHOOK_ALLOW_PRIVATE=1 "
        "allows them.",
        PRIVATE_ADDRESS,
    )


# -- events -> deliveries -----------------------------------------------------------------------


def on_audit_event(event: AuditEvent) -> None:
    """audit.record calls this for every event; those that are webhook events are queued."""
    if event.submission_id is None:
        return
    for name in _BY_ACTION.get(event.action, ()):
        subscribed = [
            db.session.get(WebhookEndpoint, endpoint_id)
            for endpoint_id, events in _active_endpoints()
            if name in events
        ]
        if not subscribed:
            continue
        body = _body(name, _payload(event))
        for endpoint in subscribed:
            _queue(endpoint, name, body)


def _active_endpoints() -> tuple[tuple[int, frozenset[str]], ...]:
    """The active endpoints' ids and events, read once per process and state of the admin
    chain (portal.services.catalog): every change to an endpoint is an admin audit event, so a
    change counts from the next transaction on, in every process. Most events go to no
    endpoint, and then cost no query at all.

    Read without flushing: the transaction's pending events have no bearing on which endpoints
    are active, and audit.record leaves them to go out together at the next flush.
    """
    return catalog.kept("webhook endpoints", _read_active_endpoints)


def _read_active_endpoints() -> tuple[tuple[int, frozenset[str]], ...]:
    with db.session.no_autoflush:
        rows = db.session.execute(
            select(WebhookEndpoint.id, WebhookEndpoint.events).where(
                WebhookEndpoint.active.is_(True)
            )
        ).all()
    return tuple((endpoint_id, frozenset(events or ())) for endpoint_id, events in rows)


def ping(admin: User, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """A test delivery an admin sends to check the receiver and its signature check."""
    body = _body(PING, {"message": "A test from Baton.", "sent_by": admin.email})
    return _queue(endpoint, PING, body)


def redeliver(admin: User, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again (the same body, signed afresh), whatever became of it."""
    delivery.state, delivery.attempts = DeliveryState.PENDING, 0
    delivery.next_attempt_at = clock.now()
    outbox.add(JobKind.DELIVER_WEBHOOK, delivery_id=delivery.id)
    audit.record(
        audit.ADMIN_CHAIN,
        "webhook_redelivered",
        audit.Actor(admin),
        {"webhook": delivery.endpoint_id, "delivery": delivery.id, "event": delivery.event},
    )
    return delivery


def _queue(endpoint: WebhookEndpoint, name: str, body: str) -> WebhookDelivery:
    delivery = WebhookDelivery(
        endpoint=endpoint, event=name, body=body, next_attempt_at=clock.now()
    )
    db.session.add(delivery)
    db.session.flush()
    outbox.add(JobKind.DELIVER_WEBHOOK, delivery_id=delivery.id)
    return delivery


def _body(name: str, data: dict) -> str:
    envelope = {
        "id": uuid.uuid4().hex,
        "event": name,
        "created_at": clock.now().isoformat().replace("+00:00", "Z"),
        "data": data,
    }
    return json.dumps(envelope, ensure_ascii=False, sort_keys=True, default=str)


def _payload(event: AuditEvent) -> dict:
    """What a receiver needs to act, without the request's data (fetch it with the API)."""
    submission = db.session.get(Submission, event.submission_id)
    data = {
        "submission": {
            **submissions.described(submission),
            "url": external_url("staff.submission", submission_id=submission.id),
            "api_url": external_url("api.get_submission", submission_id=submission.id),
        },
        "audit": {"seq": event.seq, "hash": event.hash, "actor": event.actor},
    }
    task_id = event.details.get("task")
    task = db.session.get(Task, task_id) if isinstance(task_id, int) else None
    if task is not None:
        data["task"] = {
            "id": task.id,
            "step": task.step,
            "assignee": task.assignee.email,
            "agent": task.assignee.is_agent,
            "state": task.state.value,
            "decision": task.decision.value if task.decision else None,
            "due_at": task.due_at.isoformat().replace("+00:00", "Z") if task.due_at else None,
        }
    return data


# -- sending ----------------------------------------------------------------------------------


def sign(secret: str, body: str, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def signature_is_valid(
    secret: str, header: str, body: str, now: float | None = None, tolerance: int = 300
) -> bool:
    """What a receiver does: the HMAC matches, and the timestamp is recent (no replays)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


@dataclass(frozen=True)
class Attempt:
    status: int | None
    error: str
    milliseconds: int

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def send(delivery_id: int) -> str:
    """The deliver_webhook job: one attempt, recorded; the next one scheduled if it failed.

    A target Baton does not send to (a malformed URL, a private address, the portal itself)
    is not tried: the delivery fails at once, with the reason in its log, and is not retried.
    The delivery row stays locked while the request is made (at most TIMEOUT_SECONDS), so two
    workers handed the same job never both send it.
    """
    delivery = claim(WebhookDelivery, delivery_id)
    if delivery is None:
        return "gone, or another worker is sending it"
    if delivery.state != DeliveryState.PENDING:
        return f"already {delivery.state.value}"
    if delivery.next_attempt_at is not None and delivery.next_attempt_at > clock.now():
        return "not due yet: a later job sends it"  # a stale job from before a redelivery
    endpoint = delivery.endpoint
    if not endpoint.active:
        delivery.state, delivery.last_error = DeliveryState.FAILED, "the endpoint is disabled"
        return "endpoint disabled"
    try:
        target = check_target(endpoint.url)
        attempt = _post(target, endpoint, delivery)
    except TargetRefused as refusal:
        _record(delivery, Attempt(None, f"refused: {refusal.reason}", 0))
        delivery.state, delivery.next_attempt_at = DeliveryState.FAILED, None
        logger.warning(
            "webhook delivery %s to endpoint %s not sent: refused (%s)",
            delivery.id,
            endpoint.id,
            refusal.reason,
        )
        return f"refused: {refusal.reason}"
    now = _record(delivery, attempt)
    if attempt.ok:
        delivery.state, delivery.delivered_at, delivery.next_attempt_at = (
            DeliveryState.DELIVERED,
            now,
            None,
        )
        return f"delivered ({attempt.status})"
    backoff = current_app.config.get("WEBHOOK_BACKOFF", DEFAULT_BACKOFF)
    if delivery.attempts > len(backoff):
        delivery.state, delivery.next_attempt_at = DeliveryState.FAILED, None
        logger.warning(
            "webhook delivery %s to %s failed %d times; giving up: %s",
            delivery.id,
            endpoint.url,
            delivery.attempts,
            attempt.error,
        )
        return "failed; no attempts left"
    delivery.next_attempt_at = now + dt.timedelta(seconds=backoff[delivery.attempts - 1])
    outbox.add(JobKind.DELIVER_WEBHOOK, run_at=delivery.next_attempt_at, delivery_id=delivery.id)
    return f"failed ({attempt.error}); next attempt at {delivery.next_attempt_at:%H:%M:%S}"


def _record(delivery: WebhookDelivery, attempt: Attempt) -> dt.datetime:
    """Write an attempt into the delivery's log; returns when it was recorded."""
    now = clock.now()
    delivery.attempts += 1
    delivery.last_attempt_at, delivery.last_status = now, attempt.status
    delivery.last_error = attempt.error
    delivery.history = [
        *delivery.history,
        {
            "at": now.isoformat(),
            "status": attempt.status,
            "error": attempt.error,
            "ms": attempt.milliseconds,
        },
    ]
    return now


def _post(target: Target, endpoint: WebhookEndpoint, delivery: WebhookDelivery) -> Attempt:
    """POST the delivery to addresses checked just now, or TargetRefused before trying.

    No redirects (a 3xx is a failure to fix, not a hop to follow) and no proxies.
    """
    started = time.monotonic()
    try:
        addresses = _resolve(target)
    except (OSError, UnicodeError) as exc:
        return Attempt(None, f"could not resolve {target.host}: {exc}"[:500], 0)
    _refuse_private(addresses)
    kind = _CheckedHTTPSConnection if target.scheme == "https" else _CheckedHTTPConnection
    connection = kind(target.host, target.port, timeout=TIMEOUT_SECONDS)
    connection.addresses = addresses
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Baton-Event": delivery.event,
        "X-Baton-Delivery": str(delivery.id),
        "X-Baton-Signature": sign(endpoint.secret, delivery.body, int(time.time())),
    }
    try:
        connection.request("POST", target.path, delivery.body.encode("utf-8"), headers)
        response = connection.getresponse()
        response.read(65536)
        status = response.status
        error = "" if 200 <= status < 300 else f"HTTP {status} {response.reason}"
    except (OSError, http.client.HTTPException, ValueError) as exc:
        # Any answer that is not HTTP (a reset, garbage, a TLS failure) is a failed attempt,
        # never a crashed job: a crashed job is retried by the sweep for ever.
        status, error = None, f"{type(exc).__name__}: {exc}"[:500]
    finally:
        connection.close()
    return Attempt(status, error, int((time.monotonic() - started) * 1000))


def _connect(addresses: list[str], port: int, timeout: float) -> socket.socket:
    """A connection to the first of `addresses` that answers."""
    failure: OSError = OSError("no address to connect to")
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout)
        except OSError as exc:
            failure = exc
    raise failure


class _CheckedHTTPConnection(http.client.HTTPConnection):
    """Connects to the addresses checked for this attempt, never to what the host name
    resolves to a moment later (DNS rebinding)."""

    addresses: list[str] = []

    def connect(self):
        self.sock = _connect(self.addresses, self.port, self.timeout)


class _CheckedHTTPSConnection(http.client.HTTPSConnection, _CheckedHTTPConnection):
    """The same with TLS: HTTPSConnection wraps the socket that connect() opened, with the
    URL's host name for SNI and the certificate check."""


def init_app(app) -> None:
    audit.subscribe(on_audit_event)
