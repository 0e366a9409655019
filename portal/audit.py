"""The single writer and verifier of audit events.

Each chain (one per submission, one for admin actions) is a sequence of events where every
event stores the SHA-256 of its own canonical JSON, and that JSON includes the previous event's
hash. Changing, removing or reordering any row breaks every hash after it, and `verify` names
the first event where the chain no longer holds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from flask import g, has_request_context, request
from sqlalchemy import select

from portal import clock
from portal.extensions import db, transaction_cache
from portal.models import AuditChain, AuditEvent, User

GENESIS = "0" * 64
ADMIN_CHAIN = "admin"
#: transaction_cache key: the chain heads this transaction has locked, by chain name.
_HEADS = "audit heads"
#: transaction_cache key: the admin chain's head hash as this transaction read it (None before
#: its first event). Whatever admins change records an event there, so portal.services.catalog
#: checks what it keeps by it; reading a head brings it along, so that costs no query.
ADMIN_HEAD = "admin head"
#: transaction_cache key: set once this transaction records an admin event itself.
ADMIN_CHANGED = "admin changed"


def admin_head_column():
    """The admin chain's head hash, as a scalar subquery to read along with other rows."""
    return select(AuditChain.head_hash).where(AuditChain.chain == ADMIN_CHAIN).scalar_subquery()


def submission_chain(submission_id: int) -> str:
    return f"submission:{submission_id}"


@dataclass(frozen=True)
class Actor:
    """Who did something: a user, or the system naming the rule or job that acted."""

    user: User | None = None
    system: str | None = None
    channel: str = "web"

    @property
    def label(self) -> str:
        if self.user is not None:
            return self.user.email
        return f"system ({self.system})" if self.system else "system"


def events(chain: str) -> list[AuditEvent]:
    """The chain's events, oldest first."""
    return list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.chain == chain).order_by(AuditEvent.seq)
        )
    )


def record(
    chain: str,
    action: str,
    actor: Actor,
    details: dict | None = None,
    submission_id: int | None = None,
    new_chain: bool = False,
) -> AuditEvent:
    """Append an event to `chain` in the current transaction (the caller commits).

    `new_chain`: the caller knows the chain cannot exist yet (it names a submission inserted
    in this very transaction), so its head is not looked for; if it did exist, the head's
    INSERT would fail the transaction rather than fork the chain."""
    head = _locked_head(chain, new_chain)
    if chain == ADMIN_CHAIN:
        # What portal.services.catalog keeps may be changing: this transaction reads afresh.
        transaction_cache()[ADMIN_CHANGED] = True
    ip, user_agent = _client()
    channel, details = _through_api(actor, details or {})
    event = AuditEvent(
        chain=chain,
        seq=head.seq + 1,
        occurred_at=clock.now(),
        submission_id=submission_id,
        actor_id=actor.user.id if actor.user is not None else None,
        actor=actor.label,
        action=action,
        channel=channel,
        details=details,
        ip=ip,
        user_agent=user_agent,
        prev_hash=head.head_hash,
    )
    event.hash = event_hash(event)
    head.seq = event.seq
    head.head_hash = event.hash
    # Not flushed here: a transaction's events and its head go out together at its next flush
    # (a query, or the commit), in one multi-row INSERT and one UPDATE of the head, instead of
    # an INSERT and an UPDATE for every event. The hash needs nothing the database assigns.
    db.session.add(event)
    for listener in _LISTENERS:
        listener(event)
    return event


def _locked_head(chain: str, new_chain: bool = False) -> AuditChain:
    """The head of `chain`, locked until the transaction ends.

    The first event of a transaction locks the head row (FOR UPDATE) and reads it; the lock is
    held until commit or rollback, so no other writer can move the head meanwhile, and the
    transaction's later events on the same chain go on from the head it keeps in session.info
    (the same identity-mapped row) instead of locking and reading it again. The kept heads are
    forgotten when the transaction ends, whichever way it ends (extensions.transaction_cache).
    """
    heads = transaction_cache().setdefault(_HEADS, {})
    head = heads.get(chain)
    if head is not None:
        return head
    head = None
    if not new_chain:
        found = db.session.execute(
            select(AuditChain, admin_head_column())
            .where(AuditChain.chain == chain)
            .with_for_update(of=AuditChain)
        ).first()
        if found is not None:
            head, admin_head = found
            transaction_cache().setdefault(ADMIN_HEAD, admin_head or "")
    if head is None:
        head = AuditChain(chain=chain, seq=0, head_hash=GENESIS)
        db.session.add(head)
    heads[chain] = head
    return head


#: Called with every event as it is recorded, in the same transaction (webhooks, for one).
_LISTENERS: list = []


def subscribe(listener) -> None:
    """Have `listener(event)` called for every event recorded from now on (once per listener)."""
    if listener not in _LISTENERS:
        _LISTENERS.append(listener)


def _through_api(actor: Actor, details: dict) -> tuple[str, dict]:
    """A person acting through an API token: channel "api", and the token named in the details;
    an agent: channel "agent".

    The API sets `g.api_token`; services need not know which door the request came through.
    """
    token = g.get("api_token") if has_request_context() else None
    # Whatever an agent does is on channel "agent" (the API, or MCP through the same services).
    agent = actor.user is not None and actor.user.is_agent
    if token is None or actor.channel not in ("web", "api", "agent"):
        return ("agent" if agent else actor.channel), details
    return ("agent" if agent else "api"), {**details, "api_token": token.name}


def _client() -> tuple[str | None, str | None]:
    if not has_request_context():
        return None, None
    agent = request.headers.get("User-Agent")
    return request.remote_addr, agent[:1000] if agent else None


def canonical(event: AuditEvent) -> str:
    """The event's hashed content as canonical JSON (sorted keys, no spaces, UTC timestamp)."""
    return json.dumps(
        {
            "chain": event.chain,
            "seq": event.seq,
            "occurred_at": _timestamp(event.occurred_at),
            "submission_id": event.submission_id,
            "actor_id": event.actor_id,
            "actor": event.actor,
            "action": event.action,
            "channel": event.channel,
            "details": event.details,
            "ip": event.ip,
            "user_agent": event.user_agent,
            "prev_hash": event.prev_hash,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )


def _timestamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(event: AuditEvent) -> str:
    return hashlib.sha256(canonical(event).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Verification:
    chain: str
    events: int
    ok: bool
    head_hash: str
    broken_seq: int | None = None
    reason: str = ""


def verify(chain: str) -> Verification:
    """Recompute every hash of `chain` in order and report the first event that does not fit."""
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.chain == chain).order_by(AuditEvent.seq)
    )
    previous = GENESIS
    count = 0
    for expected_seq, event in enumerate(events, start=1):
        count += 1
        if event.seq != expected_seq:
            return Verification(chain, count, False, previous, expected_seq, "an event is missing")
        if event.prev_hash != previous:
            return Verification(
                chain, count, False, previous, event.seq, "does not follow the event before it"
            )
        if event_hash(event) != event.hash:
            return Verification(chain, count, False, previous, event.seq, "its content was changed")
        previous = event.hash
    head = db.session.get(AuditChain, chain)
    if head is not None and (head.seq != count or head.head_hash != previous):
        return Verification(chain, count, False, previous, count + 1, "events after it are missing")
    return Verification(chain, count, True, previous)
