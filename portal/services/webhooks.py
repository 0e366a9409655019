"""Webhooks: tell other systems what happened, signed, after commit, with retries.

An event in a submission's audit trail (submitted, a task opened, approved...) becomes one
delivery row per subscribed endpoint, in the same transaction, and an outbox job that sends it
after the commit. A failed attempt is tried again later, waiting longer each time; a dead
endpoint only ever delays its own deliveries, never a chain. Receivers check the signature:

    X-Baton-Signature: t=1764100000,v1=<hex HMAC-SHA256 of "1764100000.<body>" with the secret>
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import select

from portal import audit, clock, outbox
from portal.domain.refusal import NotFound, Refused
from portal.extensions import db, transaction_cache
from portal.models import (
    AuditEvent,
    DeliveryState,
    Submission,
    Task,
    User,
    WebhookDelivery,
    WebhookEndpoint,
)
from portal.services import submissions

logger = logging.getLogger(__name__)

#: What an endpoint can subscribe to, and the audit action each one follows.
EVENTS = {
    "submission.created": ("submitted", "A request was submitted."),
    "submission.resubmitted": ("resubmitted", "A request sent back for changes came back."),
    "task.created": ("task_opened", "Someone was asked to decide a step."),
    "task.decided": ("task_decided", "Someone approved, rejected or asked for changes."),
    "submission.changes_requested": ("changes_requested", "A request was sent back for changes."),
    "submission.approved": ("approved", "A request was approved at the end of its chain."),
    "submission.rejected": ("rejected", "A request was rejected."),
    "submission.withdrawn": ("withdrawn", "The submitter withdrew a request."),
}
_BY_ACTION = {action: name for name, (action, _) in EVENTS.items()}
PING = "ping"
#: Seconds to wait before each retry: 30 s, 2 min, 10 min, 30 min, 2 h, 6 h, 12 h.
DEFAULT_BACKOFF = (30, 120, 600, 1800, 7200, 21600, 43200)
TIMEOUT_SECONDS = 5
SIGNATURE_TOLERANCE = 300
USER_AGENT = "Baton-Webhooks/1"


class WebhookRefused(Refused, ValueError):
    """An endpoint cannot be saved as given; the message says why."""


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
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookRefused("The URL must start with https:// (or http://) and name a host.")
    if len(url) > 2000:
        raise WebhookRefused("The URL can be at most 2,000 characters.")
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


# -- events -> deliveries -----------------------------------------------------------------------


def on_audit_event(event: AuditEvent) -> None:
    """audit.record calls this for every event; those that are webhook events are queued."""
    name = _BY_ACTION.get(event.action)
    if name is None or event.submission_id is None:
        return
    subscribed = [endpoint for endpoint in _active_endpoints() if name in endpoint.events]
    if not subscribed:
        return
    body = _body(name, _payload(event))
    for endpoint in subscribed:
        _queue(endpoint, name, body)


#: transaction_cache key of the active endpoints the transaction has read.
_ENDPOINTS = "webhook endpoints"


def _active_endpoints() -> list[WebhookEndpoint]:
    """The active endpoints, read once per transaction (a decision records several events);
    the next transaction reads them again, so a change counts from then on.

    Read without flushing: the transaction's pending events have no bearing on which endpoints
    are active, and audit.record leaves them to go out together at the next flush.
    """
    kept = transaction_cache()
    if _ENDPOINTS not in kept:
        with db.session.no_autoflush:
            kept[_ENDPOINTS] = db.session.scalars(
                select(WebhookEndpoint).where(WebhookEndpoint.active.is_(True))
            ).all()
    return kept[_ENDPOINTS]


def ping(admin: User, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """A test delivery an admin sends to check the receiver and its signature check."""
    body = _body(PING, {"message": "A test from Baton.", "sent_by": admin.email})
    return _queue(endpoint, PING, body)


def redeliver(admin: User, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again (the same body, signed afresh), whatever became of it."""
    delivery.state, delivery.attempts = DeliveryState.PENDING, 0
    delivery.next_attempt_at = clock.now()
    outbox.add("deliver_webhook", delivery_id=delivery.id)
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
    outbox.add("deliver_webhook", delivery_id=delivery.id)
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
    from portal.mail import external_url

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

    The delivery row stays locked while the request is made (at most TIMEOUT_SECONDS), so two
    workers handed the same job never both send it.
    """
    delivery = db.session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id)
        .with_for_update(skip_locked=True)
    ).first()
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
    attempt = _post(endpoint, delivery)
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
    outbox.add("deliver_webhook", run_at=delivery.next_attempt_at, delivery_id=delivery.id)
    return f"failed ({attempt.error}); next attempt at {delivery.next_attempt_at:%H:%M:%S}"


def _post(endpoint: WebhookEndpoint, delivery: WebhookDelivery) -> Attempt:
    body = delivery.body.encode("utf-8")
    request = urllib.request.Request(
        endpoint.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Baton-Event": delivery.event,
            "X-Baton-Delivery": str(delivery.id),
            "X-Baton-Signature": sign(endpoint.secret, delivery.body, int(time.time())),
        },
    )
    started = time.monotonic()
    try:
        with _opener().open(request, timeout=TIMEOUT_SECONDS) as response:
            response.read(65536)
            status, error = response.status, ""
    except urllib.error.HTTPError as exc:
        status, error = exc.code, f"HTTP {exc.code} {exc.reason}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        status, error = None, f"{type(reason).__name__}: {reason}"[:500]
    return Attempt(status, error, int((time.monotonic() - started) * 1000))


def _opener() -> urllib.request.OpenerDirector:
    """No redirects (a 3xx is a failure to fix, not a hop to follow) and no proxies."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    return urllib.request.build_opener(NoRedirect, urllib.request.ProxyHandler({}))


def init_app(app) -> None:
    audit.subscribe(on_audit_event)
