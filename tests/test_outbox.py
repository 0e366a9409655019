"""The outbox and its jobs: nothing lost when Redis loses work, nothing done twice."""

import datetime as dt

from sqlalchemy import select, update

from portal import clock, jobs, outbox, queue
from portal.extensions import db
from portal.jobs.registry import JobKind
from portal.models import (
    AuditEvent,
    EmailMessage,
    EmailState,
    OutboxMessage,
    SubmissionStatus,
    Task,
)
from tests.fixtures.rows import count


def run_outbox_in_a_worker(message_id: int) -> str:
    """Call the job as a worker would, in a context of its own."""
    import contextvars

    return contextvars.Context().run(jobs.run_outbox, message_id)


def test_submitting_queues_exactly_one_start_job_after_commit(
    make_submission, mailbox, org, vendor_invoice, app
):
    make_submission(chain_started=False)
    (message,) = db.session.scalars(select(OutboxMessage)).all()
    assert message.job == "start_chain" and message.enqueued_at is not None  # relayed on commit
    q = queue.queue(app)
    assert q.job_ids == [outbox.job_id("outbox", message.id)]


def test_every_job_delivered_twice_does_its_work_once(
    org, vendor_invoice, app, mailbox, make_submission
):
    """Duplicate delivery: each outbox job runs again after it finished: nothing changes."""
    jobs.use_app(app)
    make_submission(chain_started=False)
    start = db.session.scalars(select(OutboxMessage)).one()
    start_id = start.id
    assert run_outbox_in_a_worker(start_id) == "start_chain done"
    email = db.session.scalars(select(OutboxMessage).where(OutboxMessage.job == "send_email")).one()
    email_id = email.id
    assert run_outbox_in_a_worker(email_id) == "send_email done"
    state = (count(Task), count(EmailMessage), count(AuditEvent), len(mailbox.messages))

    for message_id in (start_id, email_id, start_id, email_id):
        assert run_outbox_in_a_worker(message_id).startswith("nothing to do")
    assert (count(Task), count(EmailMessage), count(AuditEvent), len(mailbox.messages)) == state
    assert len(mailbox.messages) == 1

    # The same work asked for again under a new outbox row (a resent job) also changes nothing.
    from portal.services import approvals as service

    with app.app_context():
        assert service.start_chain(1) is False
    assert count(Task) == state[0]
    jobs.use_app(None)


def test_redis_flushed_before_the_worker_ran_loses_nothing(
    make_submission, mailbox, org, vendor_invoice, app, run_jobs
):
    make_submission(chain_started=False)
    q = queue.queue(app)
    q.empty()  # as good as FLUSHALL for this queue: the job is gone from Redis
    run_jobs()
    assert count(Task) == 0  # nothing ran ...
    with clock.frozen_at(clock.now() + dt.timedelta(minutes=3)):
        assert outbox.relay_due() == 1  # ... until the sweep finds the row whose lease ran out
    run_jobs()
    assert count(Task) == 1
    assert count(OutboxMessage) == 0  # every job removed its row when its work committed


def test_the_sweep_leaves_fresh_work_alone(make_submission, mailbox, org, vendor_invoice, app):
    make_submission(chain_started=False)
    assert outbox.relay_due() == 0  # just handed to RQ: not the sweep's business yet


def test_redis_down_at_commit_keeps_the_row_for_the_sweep(
    approvals, org, vendor_invoice, app, run_jobs
):
    good = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"  # nothing listens there
    approvals.browser.login("alice@example.com")
    from tests.fixtures.web import invoice_post

    response = approvals.browser.post("/forms/vendor_invoice/new", invoice_post())
    assert response.status_code == 302  # the person's submission is safe regardless
    (message,) = db.session.scalars(select(OutboxMessage)).all()
    assert message.enqueued_at is None
    app.config["REDIS_URL"] = good
    assert outbox.relay_due() == 1
    run_jobs()
    assert count(Task) == 1 and count(OutboxMessage) == 0


def test_a_refused_email_is_recorded_and_sent_by_a_later_sweep(
    make_submission, org, vendor_invoice, app, run_jobs, mailbox
):
    port = app.config["MAIL_PORT"]
    app.config["MAIL_PORT"] = 1  # the mail server is unreachable for a while
    make_submission(chain_started=False)
    run_jobs()
    email = db.session.scalars(select(EmailMessage)).one()
    assert email.state == EmailState.FAILED and "ConnectionRefused" in email.last_error
    assert count(OutboxMessage) == 1
    app.config["MAIL_PORT"] = port
    with clock.frozen_at(clock.now() + dt.timedelta(minutes=3)):
        outbox.relay_due()
    run_jobs()
    db.session.expire_all()
    assert db.session.get(EmailMessage, email.id).state == EmailState.SENT
    assert len(mailbox.messages) == 1 and count(OutboxMessage) == 0


def test_a_message_being_sent_by_another_job_is_left_to_it(
    make_submission, org, vendor_invoice, app, mailbox
):
    jobs.use_app(app)
    make_submission(chain_started=False)
    run_outbox_in_a_worker(db.session.scalars(select(OutboxMessage)).one().id)
    email = db.session.scalars(select(EmailMessage)).one()
    email.state, email.claimed_at = EmailState.SENDING, clock.now()  # another worker's claim
    db.session.commit()
    message_id = db.session.scalars(select(OutboxMessage)).one().id
    run_outbox_in_a_worker(message_id)
    assert mailbox.messages == [] and count(OutboxMessage) == 1  # waits; the sweep retries
    with clock.frozen_at(clock.now() + dt.timedelta(minutes=10)):
        run_outbox_in_a_worker(message_id)  # that worker died: its claim has run out
    assert len(mailbox.messages) == 1 and count(OutboxMessage) == 0
    jobs.use_app(None)


def test_sweep_job_runs_in_the_worker(app, run_jobs):
    jobs.use_app(app)
    import contextvars

    assert contextvars.Context().run(jobs.sweep) == "relayed 0, timers 0, digests 0"
    jobs.use_app(None)


def test_approved_request_leaves_an_empty_outbox(approvals, org, vendor_invoice):
    submission = approvals.submit_invoice()
    approvals.decide_by_link("bob@example.com", "approve")
    (task, *_) = approvals.open_tasks(submission, "finance")
    approvals.decide_in_inbox(task.assignee.email, task, "approve")
    assert approvals.submission(submission.id).status == SubmissionStatus.APPROVED
    assert count(OutboxMessage) == 0
    assert count(EmailMessage, EmailMessage.state != EmailState.SENT) == 0


def test_a_job_that_waits_is_scheduled_and_left_alone_by_the_sweep_until_lost(app):
    """run_at: RQ's scheduler holds it; the sweep hands it over only a lease after its time."""
    from rq.registry import ScheduledJobRegistry

    later = clock.now() + dt.timedelta(minutes=30)
    message = outbox.add(JobKind.DELIVER_WEBHOOK, run_at=later, delivery_id=1)
    db.session.commit()
    q = queue.queue(app)
    scheduled = ScheduledJobRegistry(queue=q)
    assert outbox.job_id("outbox", message.id) in scheduled.get_job_ids()
    assert q.count == 0  # nothing to run yet
    assert outbox.relay_due() == 0  # handed to the scheduler: not lost
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message.id)
        .values(
            run_at=clock.now() - dt.timedelta(minutes=10),
            enqueued_at=clock.now() - dt.timedelta(minutes=40),
        )
    )
    db.session.commit()
    assert outbox.relay_due() == 1  # its time passed a lease ago and it is still here: lost


def test_a_waiting_job_whose_process_died_at_commit_is_handed_over_a_lease_after_its_time(app):
    """The row is written as handed over (no second transaction after the commit), so a
    process that dies between its commit and RQ leaves a row that looks handed: the sweep
    takes it for lost, and hands it over, once its time has passed by a lease."""
    later = clock.now() + dt.timedelta(minutes=30)
    message = outbox.add(JobKind.DELIVER_WEBHOOK, run_at=later, delivery_id=1)
    db.session.flush()
    db.session.info.pop("baton.outbox.pending", None)  # as if the process died at its commit
    db.session.commit()
    q = queue.queue(app)
    assert outbox.job_id("outbox", message.id) not in q.get_job_ids()
    assert outbox.relay_due() == 0  # not yet: it says it was handed over a moment ago
    with clock.frozen_at(later + outbox.DEFAULT_LEASE + dt.timedelta(seconds=1)):
        assert outbox.relay_due() == 1
    assert outbox.job_id("outbox", message.id) in q.get_job_ids()  # due by then: queued


class WorkerKilled(BaseException):
    """Stands in for SIGKILL: nothing after it runs, no except clause catches it."""


def test_a_send_is_on_record_before_the_connection_is_kept_for_the_next(
    make_submission, org, vendor_invoice, app, mailbox, monkeypatch
):
    """The worker dies right after the server accepted the message, as it keeps the connection
    for its next message: it is recorded as sent already, so no later job sends it again."""
    from portal import mail

    send = _first_send(make_submission, app)

    def die(client, config):
        client.close()  # as the kernel would for a killed process
        raise WorkerKilled

    monkeypatch.setattr(mail, "_keep", die)
    _run_until_killed(send.id, "keeping the connection")
    monkeypatch.undo()

    db.session.expire_all()
    email = db.session.scalars(select(EmailMessage)).one()
    assert email.state == EmailState.SENT and len(mailbox.messages) == 1
    assert count(AuditEvent, AuditEvent.action == "email_sent") == 1
    assert count(OutboxMessage) == 0
    with clock.frozen_at(clock.now() + dt.timedelta(hours=1)):  # past every lease
        assert outbox.relay_due() == 0
    assert len(mailbox.messages) == 1


def _first_send(make_submission, app):
    """Alice submits; the chain starts; the send_email job for Bob's task is waiting."""
    jobs.use_app(app)
    make_submission(chain_started=False)
    run_outbox_in_a_worker(db.session.scalars(select(OutboxMessage)).one().id)  # start_chain
    (send,) = db.session.scalars(select(OutboxMessage)).all()
    assert send.job == "send_email"
    return send


def test_a_message_refused_at_its_final_dot_is_not_recorded_as_sent(
    make_submission, org, vendor_invoice, app, monkeypatch
):
    """What was prepared before the dot is rolled back when the server answers 554."""
    from aiosmtpd.controller import Controller

    from tests.fixtures.jobs import Mailbox, free_port

    class Refusing(Mailbox):
        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            return "554 5.7.1 Message refused by content filter"

    controller = Controller(Refusing(), hostname="127.0.0.1", port=free_port())
    controller.start()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=controller.port, MAIL_USE_TLS=False)
    try:
        send = _first_send(make_submission, app)
        run_outbox_in_a_worker(send.id)
    finally:
        controller.stop()
    db.session.expire_all()
    email = db.session.scalars(select(EmailMessage)).one()
    assert email.state == EmailState.FAILED and email.sent_at is None
    assert "554" in email.last_error and "content filter" in email.last_error
    assert count(AuditEvent, AuditEvent.action == "email_sent") == 0
    assert count(OutboxMessage) == 1  # the sweep hands it out again


def test_a_record_that_cannot_be_prepared_sends_nothing_and_is_retried(
    make_submission, org, vendor_invoice, app, mailbox, monkeypatch
):
    from portal.jobs import email as email_job

    send = _first_send(make_submission, app)

    def database_gone(email_id):
        raise ConnectionError("database connection lost")

    monkeypatch.setattr(email_job, "_mark_sent", database_gone)
    run_outbox_in_a_worker(send.id)
    monkeypatch.undo()
    db.session.expire_all()
    email = db.session.scalars(select(EmailMessage)).one()
    assert mailbox.messages == []  # the message never got its final dot
    assert email.state == EmailState.FAILED and "database connection lost" in email.last_error
    with clock.frozen_at(clock.now() + dt.timedelta(minutes=3)):
        assert outbox.relay_due() == 1
    run_outbox_in_a_worker(send.id)
    db.session.expire_all()
    assert db.session.get(EmailMessage, email.id).state == EmailState.SENT
    assert len(mailbox.messages) == 1
    assert count(AuditEvent, AuditEvent.action == "email_sent") == 1
    assert count(OutboxMessage) == 0


def test_a_worker_that_dies_right_after_the_final_dot_has_the_send_on_record(
    make_submission, org, vendor_invoice, app, mailbox, monkeypatch
):
    """Killed after the dot and the COMMIT went out, before the server's answer was read: the
    server delivers the message, the database says sent, and the next job only writes the
    audit event and clears the outbox row; it sends nothing."""
    import smtplib

    send = _first_send(make_submission, app)
    real_send, real_getreply = smtplib.SMTP.send, smtplib.SMTP.getreply

    def send_and_note_the_dot(self, data):
        real_send(self, data)
        if data == b".\r\n":
            self.dot_sent = True

    def die_at_the_answer(self):
        if getattr(self, "dot_sent", False):
            self.close()  # as the kernel would for a killed process: the dot is already out
            raise WorkerKilled
        return real_getreply(self)

    monkeypatch.setattr(smtplib.SMTP, "send", send_and_note_the_dot)
    monkeypatch.setattr(smtplib.SMTP, "getreply", die_at_the_answer)
    _run_until_killed(send.id, "the answer to the dot")
    monkeypatch.undo()

    db.session.expire_all()
    email = db.session.scalars(select(EmailMessage)).one()
    assert email.state == EmailState.SENT and email.sent_at is not None
    _wait_for(lambda: len(mailbox.messages) == 1)
    assert count(AuditEvent, AuditEvent.action == "email_sent") == 0  # not yet
    assert count(OutboxMessage) == 1
    with clock.frozen_at(clock.now() + dt.timedelta(minutes=3)):
        assert outbox.relay_due() == 1
    run_outbox_in_a_worker(send.id)
    run_outbox_in_a_worker(send.id)  # and once more: still one event, still one message
    assert count(AuditEvent, AuditEvent.action == "email_sent") == 1
    assert count(OutboxMessage) == 0
    assert len(mailbox.messages) == 1


def _run_until_killed(message_id: int, moment: str) -> None:
    try:
        run_outbox_in_a_worker(message_id)
    except WorkerKilled:
        return
    raise AssertionError(f"the worker never reached {moment}")


def _wait_for(condition, seconds: float = 5.0) -> None:
    import time

    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.01)


def test_each_job_is_handed_to_the_queue_its_kind_names(app, org, run_jobs):
    """Chain steps and emails on BATON_QUEUE, PDFs and exports on "<BATON_QUEUE>-bulk"."""
    from portal.jobs.registry import QueueKind

    chain = outbox.add(JobKind.START_CHAIN, submission_id=1)
    render = outbox.add(JobKind.RENDER_PDF, submission_id=1, user_id=org.cora.id)
    db.session.commit()
    default, bulk = queue.queue(app, QueueKind.DEFAULT), queue.queue(app, QueueKind.BULK)
    assert bulk.name == app.config["RQ_QUEUE"] + "-bulk" and default.name == app.config["RQ_QUEUE"]
    assert default.job_ids == [outbox.job_id("outbox", chain.id)]
    assert bulk.job_ids == [outbox.job_id("outbox", render.id)]
    # The sweep hands a lost one back to the same queue.
    bulk.empty()
    with clock.frozen_at(clock.now() + dt.timedelta(minutes=10)):
        assert outbox.relay_due() == 2
    assert bulk.job_ids == [outbox.job_id("outbox", render.id)]
