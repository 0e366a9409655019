"""A real worker process killed in the middle of a job: a new one finishes the work, once."""

import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from rq.registry import StartedJobRegistry
from sqlalchemy import create_engine, select, text

from portal import clock, outbox, queue
from portal.extensions import db
from portal.models import AuditEvent, EmailMessage, OutboxMessage, Submission, Task
from tests.fixtures.rows import count

pytestmark = pytest.mark.slow
RQ = str(Path(sys.executable).parent / "rq")


def start_worker(app, tmp_path, burst: bool = False) -> subprocess.Popen:
    """`rq worker` as make run starts it, on the test's database, Redis and SMTP server."""
    env = dict(
        os.environ,
        DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        REDIS_URL=queue.redis_url(app),
        BATON_QUEUE=app.config["RQ_QUEUE"],
        SECRET_KEY=app.config["SECRET_KEY"],
        BATON_INSTANCE=str(tmp_path / "worker-instance"),
        BATON_TIMEZONE=app.config["BATON_TIMEZONE"],
        MAIL_SERVER=app.config["MAIL_SERVER"],
        MAIL_PORT=str(app.config["MAIL_PORT"]),
    )
    command = [RQ, "worker", "-w", "portal.processes.worker.BatonWorker", "--url", env["REDIS_URL"]]
    command += ["--burst"] if burst else []
    command.append(app.config["RQ_QUEUE"])
    with open(tmp_path / "worker.log", "a") as log:  # the child keeps its own copy of the file
        return subprocess.Popen(
            command, env=env, start_new_session=True, stdout=log, stderr=subprocess.STDOUT
        )


@contextmanager
def row_locked(app, table: str, row_id: int):
    """Hold a write lock on one row (PostgreSQL) or on the database (SQLite) for the block."""
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if url.startswith("sqlite"):
        connection = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            connection.execute("ROLLBACK")
            connection.close()
        return
    engine = create_engine(url)
    with engine.connect() as connection:
        transaction = connection.begin()
        connection.execute(
            text(f'SELECT id FROM "{table}" WHERE id = :id FOR UPDATE'), {"id": row_id}
        )
        try:
            yield
        finally:
            transaction.rollback()
    engine.dispose()


def wait_until(condition, seconds: float = 30, what: str = "condition"):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def kill(worker: subprocess.Popen) -> None:
    """kill -9 the worker and its work horse, as a crashed machine would."""
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)


def finish_with_a_new_worker(app, tmp_path) -> None:
    """What the cron sweep does a few minutes later, then a fresh worker working it all off."""
    with clock.frozen_at(clock.now() + dt.timedelta(minutes=5)):
        assert outbox.relay_due() >= 1
    replacement = start_worker(app, tmp_path, burst=True)
    assert replacement.wait(timeout=60) == 0, (tmp_path / "worker.log").read_text()[-3000:]


def test_worker_killed_while_starting_a_chain(
    make_submission, org, vendor_invoice, app, mailbox, tmp_path
):
    submission_id = make_submission(chain_started=False).id
    start = db.session.scalars(select(OutboxMessage)).one()
    registry = StartedJobRegistry(app.config["RQ_QUEUE"], connection=queue.connection(app))
    with row_locked(app, "submission", submission_id):
        worker = start_worker(app, tmp_path)
        wait_until(
            lambda: outbox.job_id("outbox", start.id) in registry.get_job_ids(),
            what="the job to start",
        )
        time.sleep(0.5)  # inside start_chain, waiting for the lock
        kill(worker)
    assert count(Task) == 0  # the killed job's work was rolled back with its connection
    finish_with_a_new_worker(app, tmp_path)

    db.session.expire_all()
    assert count(Task) == 1 and count(OutboxMessage) == 0
    assert count(AuditEvent, AuditEvent.action == "round_started") == 1
    assert len(mailbox.to("bob@example.com")) == 1
    assert db.session.get(Submission, submission_id).status.value == "in_review"


def test_worker_killed_while_sending_an_email_sends_it_once(
    make_submission, org, vendor_invoice, app, mailbox, tmp_path, run_jobs
):
    make_submission(chain_started=False)
    start = db.session.scalars(select(OutboxMessage)).one()
    from portal import jobs

    jobs.use_app(app)
    import contextvars

    contextvars.Context().run(jobs.run_outbox, start.id)  # the chain starts; an email is queued
    email = db.session.scalars(select(EmailMessage)).one()
    send = db.session.scalars(select(OutboxMessage)).one()
    registry = StartedJobRegistry(app.config["RQ_QUEUE"], connection=queue.connection(app))
    with row_locked(app, "email_message", email.id):
        worker = start_worker(app, tmp_path)
        wait_until(
            lambda: outbox.job_id("outbox", send.id) in registry.get_job_ids(), what="the email job"
        )
        time.sleep(0.5)
        kill(worker)
    assert mailbox.messages == []
    finish_with_a_new_worker(app, tmp_path)
    assert len(mailbox.messages) == 1
    db.session.expire_all()
    assert db.session.get(EmailMessage, email.id).state.value == "sent"
    assert count(OutboxMessage) == 0
    assert count(AuditEvent, AuditEvent.action == "email_sent") == 1
    jobs.use_app(None)


def test_worker_killed_during_an_escalation_sends_one_email_and_one_audit_event(
    approvals, org, vendor_invoice, app, mailbox, tmp_path, make_submission
):
    import contextvars

    from portal import jobs
    from portal.domain.sla import TimerKind
    from portal.models import Timer

    make_submission(chain_started=False)
    approvals.run_jobs()  # the chain starts: Bob's task and its timers
    escalation = db.session.scalars(select(Timer).where(Timer.kind == TimerKind.ESCALATION)).one()
    submission_id = escalation.task.submission_id
    for reminder in db.session.scalars(select(Timer).where(Timer.kind == TimerKind.REMINDER)):
        reminder.cancelled_at = clock.now()  # only the escalation is due: it is the job to kill
    db.session.commit()
    registry = StartedJobRegistry(app.config["RQ_QUEUE"], connection=queue.connection(app))
    jobs.use_app(app)
    with clock.frozen_at(escalation.fire_at + dt.timedelta(minutes=1)):
        with row_locked(app, "submission", submission_id):
            contextvars.Context().run(jobs.sweep)  # hands the due escalation to RQ
            worker = start_worker(app, tmp_path)
            wait_until(
                lambda: outbox.timer_job_id(escalation.id) in registry.get_job_ids(),
                what="the escalation job",
            )
            time.sleep(0.5)
            kill(worker)
        assert count(AuditEvent, AuditEvent.action == "escalated") == 0
    with clock.frozen_at(escalation.fire_at + dt.timedelta(minutes=10)):
        contextvars.Context().run(jobs.sweep)  # RQ still thinks it runs; past the lease, resent
    replacement = start_worker(app, tmp_path, burst=True)
    assert replacement.wait(timeout=60) == 0, (tmp_path / "worker.log").read_text()[-3000:]
    approvals.run_jobs()
    assert count(AuditEvent, AuditEvent.action == "escalated") == 1
    assert (
        len([m for m in mailbox.to("carol@example.com") if "Escalated to you" in m["Subject"]]) == 1
    )
    assert (
        len([m for m in mailbox.to("bob@example.com") if m["Subject"].startswith("Escalated:")])
        == 1
    )
    jobs.use_app(None)
