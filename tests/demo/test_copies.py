"""Copies of a generated sample: N requests, each copy a valid record of its own whose chain
verifies, and bad input refused before anything is written."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import pytest
from sqlalchemy import func, select

from portal import audit, clock
from portal.demo import copies, history
from portal.extensions import db
from portal.models import (
    ApprovalStep,
    Attachment,
    AuditChain,
    AuditEvent,
    Submission,
    Task,
    Timer,
    User,
)

MOMENT = dt.datetime(2026, 6, 15, 10, 0, tzinfo=dt.UTC)
#: Characters COPY's text format and %-formatting must both carry through unchanged.
AWKWARD = 'back\\slash\ttab\nnew line "quoted" 100% %s “curly” ünïcødé'


def postgresql_only(app) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("copying a sample is PostgreSQL only (COPY, indexes dropped while loading)")


@pytest.fixture
def demo_users(runner):
    result = runner.invoke(args=["baton", "seed-demo"])
    assert result.exit_code == 0, result.output


@pytest.fixture
def sample(app, demo_users):
    """40 generated requests, one of them with an extra event of awkward text naming a task."""
    postgresql_only(app)
    with clock.frozen_at(MOMENT):
        history.generate(40, password="baton-demo", days=30, seed=3)
        submission = db.session.scalar(select(Submission).order_by(Submission.id.desc()))
        task = db.session.scalar(select(Task).where(Task.submission_id == submission.id))
        audit.record(
            audit.submission_chain(submission.id),
            "comment_added",
            audit.Actor(system="a test", channel="cli"),
            {"task": task.id, "comment": AWKWARD, "round": 1},
            submission_id=submission.id,
        )
    db.session.commit()
    return submission.id


def test_copies_make_n_requests_whose_audit_chains_verify(app, runner, sample):
    summary = copies.copy_sample(1, sample, 130 - 40)
    assert summary.submissions == 130 and summary.copies == 90
    assert db.session.scalar(select(func.count()).select_from(Submission)) == 130
    chains = db.session.scalars(
        select(AuditChain.chain).where(AuditChain.chain.like("submission:%"))
    ).all()
    assert len(chains) == 130
    for chain in chains:
        verified = audit.verify(chain)  # the head row matches too, or this fails
        assert verified.ok, (chain, verified.reason)
    result = runner.invoke(args=["baton", "audit", "verify"])
    assert result.exit_code == 0, result.output
    # New rows can still be added: the id sequences continue after the copies.
    for model in (Submission, Task, AuditEvent, Timer, ApprovalStep):
        next_id = db.session.execute(
            select(func.nextval(func.pg_get_serial_sequence(model.__tablename__, "id")))
        ).scalar()
        assert next_id > db.session.scalar(select(func.max(model.id)))


def test_each_copy_is_its_original_with_its_own_rows(app, sample):
    copies.copy_sample(1, sample, 130 - 40)
    originals = {s.id: s for s in db.session.scalars(select(Submission).where(Submission.id <= 40))}
    copies_of: dict[int, list[Submission]] = defaultdict(list)
    by_moment = {(s.submitted_at, s.submitter_id): s.id for s in originals.values()}
    for copy in db.session.scalars(select(Submission).where(Submission.id > 40)):
        copies_of[by_moment[(copy.submitted_at, copy.submitter_id)]].append(copy)
    # 90 copies of 40: two of each, and ten of them (spread out) a third time.
    assert sorted(len(found) for found in copies_of.values()) == [2] * 30 + [3] * 10
    thrice = sorted(original for original, found in copies_of.items() if len(found) == 3)
    assert thrice[0] < 10 and thrice[-1] > 30
    for original_id, found in copies_of.items():
        expected = story(original_id)
        for copy in found:
            assert story(copy.id) == expected


def story(submission_id: int) -> tuple:
    """A request and its rows, with every id replaced by what it points at in the request."""
    submission = db.session.get(Submission, submission_id)
    tasks = {
        t.id: t for t in db.session.scalars(select(Task).where(Task.submission_id == submission_id))
    }
    steps = db.session.scalars(
        select(ApprovalStep).where(ApprovalStep.submission_id == submission_id)
    ).all()
    timers = db.session.scalars(select(Timer).where(Timer.task_id.in_(list(tasks)))).all()
    attachments = db.session.scalars(
        select(Attachment).where(Attachment.submission_id == submission_id)
    ).all()
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.submission_id == submission_id).order_by(AuditEvent.seq)
    ).all()
    assert {e.chain for e in events} == {audit.submission_chain(submission_id)}
    for event in events:
        if "task" in event.details:  # the task named is this request's own
            assert event.details["task"] in tasks, (submission_id, event.details)

    def plain(details: dict) -> dict:
        return {k: tasks[v].key if k == "task" else v for k, v in details.items()}

    return (
        (
            submission.form_id,
            submission.form_version_id,
            submission.submitter_id,
            submission.status,
            submission.data,
            submission.amount,
            submission.data_hash,
            submission.created_at,
            submission.submitted_at,
            submission.finished_at,
        ),
        sorted(
            (t.key, t.state, t.assignee_id, t.on_behalf_of_id, t.created_at, t.decided_at, t.due_at)
            for t in tasks.values()
        ),
        sorted((s.round, s.name, s.state, s.reason, s.started_at, s.finished_at) for s in steps),
        sorted(
            (tasks[t.task_id].key, t.kind, t.sequence, t.fire_at, t.fired_at, t.outcome)
            for t in timers
        ),
        sorted((a.field, a.name, a.sha256) for a in attachments),
        [
            (e.seq, e.occurred_at, e.actor_id, e.actor, e.action, e.channel, plain(e.details))
            for e in events
        ],
    )


def test_a_copied_events_canonical_json_is_portal_audits(app, sample):
    copies.copy_sample(1, sample, 40)
    plan = copies._Plan.read(1, sample, 40)
    plan.measure()  # the ids it would hand out do not matter here: only the template's text
    original = db.session.scalar(
        select(AuditEvent).where(
            AuditEvent.action == "comment_added", AuditEvent.submission_id == sample
        )
    )
    copied = db.session.scalar(
        select(AuditEvent).where(
            AuditEvent.action == "comment_added", AuditEvent.submission_id != sample
        )
    )
    assert copied.details["comment"] == AWKWARD and original.details["comment"] == AWKWARD
    template = copies._event_template(plan, original)
    filled = template.canonical % (
        str(copied.submission_id),
        str(copied.details["task"]),
        copied.prev_hash,
        str(copied.submission_id),
    )
    assert filled.encode() == audit.canonical(copied).encode()
    assert audit.event_hash(copied) == copied.hash
    assert db.session.get(Task, copied.details["task"]).submission_id == copied.submission_id


def test_a_number_in_details_not_known_as_an_id_or_not_is_refused():
    with pytest.raises(copies.CopyRefused, match="'timer_id'"):
        copies._detail_ids({"task": 1, "round": 2, "timer_id": 3})
    assert copies._detail_ids({"task": 1, "round": 2, "flag": True}) == {"task": 1}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--submissions", "10", "--sample", "20"], "cannot be larger"),
        (["--sample", "5"], "--sample needs --submissions"),
        (["--submissions", "10", "--sample", "0"], "0 is not in the range x>=1"),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(app, runner, args, message):
    result = runner.invoke(args=["baton", "seed-demo", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert db.session.scalar(select(func.count()).select_from(User)) == 0
    assert db.session.scalar(select(func.count()).select_from(Submission)) == 0


def test_another_database_than_postgresql_is_refused_and_nothing_written(app, runner):
    if db.engine.dialect.name == "postgresql":
        pytest.skip("this database is PostgreSQL")
    result = runner.invoke(args=["baton", "seed-demo", "--submissions", "10", "--sample", "5"])
    assert result.exit_code == 2, result.output
    assert "needs PostgreSQL" in result.output and "this database is sqlite" in result.output
    assert db.session.scalar(select(func.count()).select_from(User)) == 0
