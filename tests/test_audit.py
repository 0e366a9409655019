"""The hash-chained audit log: appends link to the previous event, and tampering is found."""

import datetime as dt

import pytest
from sqlalchemy import delete, select, update

from portal import audit, clock
from portal.extensions import db
from portal.models import AuditEvent


def append(count: int, chain: str = "submission:1") -> list[AuditEvent]:
    events = [
        audit.record(chain, f"step_{n}", audit.Actor(system="tests", channel="worker"), {"n": n})
        for n in range(count)
    ]
    db.session.commit()
    return events


def test_events_are_numbered_and_linked(app):
    events = append(3)
    assert [e.seq for e in events] == [1, 2, 3]
    assert events[0].prev_hash == audit.GENESIS
    assert events[1].prev_hash == events[0].hash and events[2].prev_hash == events[1].hash
    result = audit.verify("submission:1")
    assert result.ok and result.events == 3 and result.head_hash == events[2].hash


def test_chains_are_independent(app):
    append(2, "submission:1")
    other = append(1, "submission:2")
    assert other[0].seq == 1 and other[0].prev_hash == audit.GENESIS
    assert audit.verify("submission:1").ok and audit.verify("submission:2").ok


def test_changed_detail_is_found_and_named(app, tamper):
    events = append(4)
    tamper(update(AuditEvent).where(AuditEvent.id == events[2].id).values(details={"n": 99}))
    result = audit.verify("submission:1")
    assert not result.ok and result.broken_seq == 3 and result.reason == "its content was changed"


def test_changed_timestamp_is_found(app, tamper):
    events = append(2)
    moved = events[0].occurred_at - dt.timedelta(hours=1)
    tamper(update(AuditEvent).where(AuditEvent.id == events[0].id).values(occurred_at=moved))
    assert audit.verify("submission:1").broken_seq == 1


def test_removed_event_is_found(app, tamper):
    events = append(3)
    tamper(delete(AuditEvent).where(AuditEvent.id == events[1].id))
    result = audit.verify("submission:1")
    assert not result.ok and result.broken_seq == 2


def test_removed_last_event_is_found_through_the_chain_head(app, tamper):
    events = append(3)
    tamper(delete(AuditEvent).where(AuditEvent.id == events[2].id))
    result = audit.verify("submission:1")
    assert not result.ok and result.reason == "events after it are missing"


def test_rehashed_forgery_is_found_by_the_next_event(app, tamper):
    events = append(3)
    forged = db.session.get(AuditEvent, events[1].id)
    forged.details = {"n": "forged"}
    rehashed = audit.event_hash(forged)  # a forger who recomputes this event's own hash ...
    db.session.rollback()
    tamper(
        update(AuditEvent)
        .where(AuditEvent.id == events[1].id)
        .values(details={"n": "forged"}, hash=rehashed)
    )
    result = audit.verify("submission:1")
    assert not result.ok and result.broken_seq == 3  # ... still breaks the link from the next one


def test_timestamps_come_from_the_clock(app):
    moment = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
    with clock.frozen_at(moment):
        event = append(1)[0]
    stored = db.session.scalars(select(AuditEvent).where(AuditEvent.id == event.id)).one()
    assert stored.occurred_at == moment
    assert audit.verify("submission:1").ok  # the stored time hashes the same as the written one


@pytest.mark.parametrize("change", ["update", "delete"])
def test_the_database_refuses_to_change_or_delete_an_event(app, change):
    from sqlalchemy.exc import DatabaseError

    (event,) = append(1)
    statement = (
        update(AuditEvent).where(AuditEvent.id == event.id).values(action="rewritten")
        if change == "update"
        else delete(AuditEvent).where(AuditEvent.id == event.id)
    )
    with pytest.raises(DatabaseError, match="append-only"):
        db.session.execute(statement)
        db.session.flush()
    db.session.rollback()
    assert db.session.get(AuditEvent, event.id).action == "step_0"


def test_a_transaction_locks_and_reads_a_chain_head_once(app):
    from sqlalchemy import event

    heads_read = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and "FROM audit_chain" in statement:
            heads_read.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        append(1)  # the chain is new: its head is written, not read back
        heads_read.clear()
        events = append(3)
        assert len(heads_read) == 1  # one lock per transaction, not one per event
        append(1)
        assert len(heads_read) == 2  # a new transaction locks the head again
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert [e.seq for e in events] == [2, 3, 4]
    assert audit.verify("submission:1").ok


def test_a_transactions_events_go_out_together_at_its_flush(app):
    from sqlalchemy import event

    writes = []

    def note(conn, cursor, statement, parameters, context, executemany):
        words = statement.split()
        if words[:3] == ["INSERT", "INTO", "audit_event"] or words[:2] == ["UPDATE", "audit_chain"]:
            writes.append(" ".join(words[:3]))

    append(1)
    event.listen(db.engine, "before_cursor_execute", note)
    try:
        events = append(4)
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    assert writes.count("UPDATE audit_chain SET") == 1  # not once per event
    # PostgreSQL takes the four rows in one INSERT; SQLAlchemy sends SQLite one per row.
    inserts = 1 if db.engine.dialect.name == "postgresql" else 4
    assert writes.count("INSERT INTO audit_event") == inserts
    assert [e.seq for e in events] == [2, 3, 4, 5] and all(e.id for e in events)
    assert audit.verify("submission:1").ok


def test_a_rolled_back_event_leaves_no_trace_in_the_next_one(app):
    append(1)
    audit.record("submission:1", "undone", audit.Actor(system="tests"))
    db.session.rollback()
    (event,) = append(1)
    assert event.seq == 2
    result = audit.verify("submission:1")
    assert result.ok and result.events == 2 and result.head_hash == event.hash
