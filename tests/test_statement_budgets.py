"""Statement budgets: how many SQL statements a request or a job may send to the database.

Times are noise on a shared machine; statement counts are not. Every statement is a round trip
(and, under load, a wait for a connection's turn), so each budget below is what the request
must do plus nothing: docs/benchmarks.md measures what these counts cost. A change that adds a
query to one of these paths fails here and has to say why the budget should grow.

Counted: every statement SQLAlchemy sends through the app's engine (`before_cursor_execute`),
on any connection: the request's own, and any other a hook opens (the outbox relay's, say).
An executemany (one UPDATE for several rows, which psycopg pipelines) counts once. On SQLite,
which has no round trips, SQLAlchemy sends a multi-row INSERT ... RETURNING as one statement
per row (SQLite does not promise RETURNING's order); there, a run of the same INSERT counts as
the one statement it is on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import contextvars

import pytest
from sqlalchemy import event, select

from portal import jobs
from portal.extensions import db
from portal.jobs.registry import JobKind
from portal.models import EmailMessage, OutboxMessage, Task
from tests.fixtures.web import csrf_token_in, invoice_post, seen_in

#: The most statements each path may send (see the module's docstring).
BUDGETS = {
    "form GET": 3,
    "submission POST": 8,
    "inbox GET": 5,
    "decision POST": 15,
    "start_chain job": 12,
    "send_email job": 8,
}


class Statements:
    """The SQL statements sent through the app's engine while `counting()` is open."""

    def __init__(self):
        self.sent: list[str] = []

    def _note(self, conn, cursor, statement, parameters, context, executemany):
        text = " ".join(statement.split())
        one_row_at_a_time = conn.dialect.name == "sqlite" and text.startswith("INSERT")
        if one_row_at_a_time and self.sent and self.sent[-1] == text:
            return
        self.sent.append(text)

    @contextlib.contextmanager
    def counting(self):
        self.sent.clear()
        event.listen(db.engine, "before_cursor_execute", self._note)
        try:
            yield self
        finally:
            event.remove(db.engine, "before_cursor_execute", self._note)

    def __len__(self) -> int:
        return len(self.sent)

    def listing(self) -> str:
        return "\n".join(f"{n:3}. {sql[:220]}" for n, sql in enumerate(self.sent, start=1))


@pytest.fixture
def statements(app):
    """statements.counting() around what is measured; len(statements), statements.listing()."""
    jobs.use_app(app)
    return Statements()


def within_budget(path: str, statements: Statements) -> None:
    """Assert the path's budget, listing every statement when it is over."""
    budget = BUDGETS[path]
    assert len(statements) <= budget, (
        f"{path}: {len(statements)} statements, budget {budget}:\n{statements.listing()}"
    )


def _waiting_job(kind: JobKind) -> int:
    """The oldest waiting outbox job of this kind."""
    message_id = db.session.scalar(
        select(OutboxMessage.id)
        .where(OutboxMessage.job == kind.value)
        .order_by(OutboxMessage.id)
        .limit(1)
    )
    db.session.rollback()
    assert message_id is not None, f"no {kind.value} job is waiting"
    return message_id


def _run_outbox_job(kind: JobKind, message_id: int) -> None:
    """Run an outbox job as a worker process would (in a context of its own)."""
    outcome = contextvars.Context().run(jobs.run_outbox, message_id)
    assert outcome == f"{kind.value} done", outcome


@pytest.fixture
def signed_in(browser, org, vendor_invoice):
    """Alice, signed in, who has opened the vendor invoice form once (what is kept per process
    is kept: a budget is for the request a busy server answers, not its first)."""
    browser.login(org.alice.email)
    assert browser.get("/forms/vendor_invoice/new").status_code == 200
    return browser


def test_the_form_page_stays_within_its_budget(signed_in, statements):
    with statements.counting():
        page = signed_in.get("/forms/vendor_invoice/new")
    assert page.status_code == 200
    assert 'name="vendor_name"' in page.text
    within_budget("form GET", statements)


def test_a_submission_stays_within_its_budget(signed_in, statements, run_jobs):
    page = signed_in.get("/forms/vendor_invoice/new")
    token = csrf_token_in(page.text)
    with statements.counting():
        response = signed_in.client.post(
            "/forms/vendor_invoice/new",
            data={**invoice_post(), "csrf_token": token},
            content_type="multipart/form-data",
        )
    assert response.status_code == 302, response.text
    assert "/submissions/" in response.headers["Location"]
    within_budget("submission POST", statements)


def _submitted_to_bob(signed_in, run_jobs, count: int = 1):
    """`count` invoices submitted by Alice, their chains started: Bob has a task for each."""
    for _ in range(count):
        page = signed_in.get("/forms/vendor_invoice/new")
        response = signed_in.client.post(
            "/forms/vendor_invoice/new",
            data={**invoice_post(), "csrf_token": csrf_token_in(page.text)},
            content_type="multipart/form-data",
        )
        assert response.status_code == 302, response.text
    run_jobs()
    signed_in.post("/logout")


def test_the_inbox_stays_within_its_budget(signed_in, statements, run_jobs, mailbox, org):
    _submitted_to_bob(signed_in, run_jobs, count=3)
    signed_in.login(org.bob.email)
    assert signed_in.get("/inbox").status_code == 200
    with statements.counting():
        page = signed_in.get("/inbox")
    assert page.status_code == 200
    assert page.text.count("Acme Office Supplies GmbH") >= 3
    within_budget("inbox GET", statements)


def test_a_decision_that_opens_the_next_step_stays_within_its_budget(
    signed_in, statements, run_jobs, mailbox, org
):
    _submitted_to_bob(signed_in, run_jobs)
    signed_in.login(org.bob.email)
    task = db.session.scalars(select(Task).where(Task.assignee_id == org.bob.id)).one()
    db.session.rollback()
    page = signed_in.get(f"/tasks/{task.id}")
    assert page.status_code == 200, page.text
    data = {"decision": "approve", "comment": "", "seen": seen_in(page.text)}
    with statements.counting():
        response = signed_in.post(f"/tasks/{task.id}", data)
    assert response.status_code == 302, response.text
    opened = db.session.scalars(select(Task).where(Task.step == "finance")).all()
    assert {t.assignee_id for t in opened} == {org.fiona.id, org.frank.id, org.carol.id}
    within_budget("decision POST", statements)


def test_the_start_chain_job_stays_within_its_budget(signed_in, statements, mailbox, org):
    page = signed_in.get("/forms/vendor_invoice/new")
    response = signed_in.client.post(
        "/forms/vendor_invoice/new",
        data={**invoice_post(), "csrf_token": csrf_token_in(page.text)},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, response.text
    waiting = _waiting_job(JobKind.START_CHAIN)
    with statements.counting():
        _run_outbox_job(JobKind.START_CHAIN, waiting)
    task = db.session.scalars(select(Task)).one()
    assert task.assignee_id == org.bob.id and task.step == "cost_centre_owner"
    within_budget("start_chain job", statements)


def test_the_send_email_job_stays_within_its_budget(signed_in, statements, mailbox, org):
    page = signed_in.get("/forms/vendor_invoice/new")
    response = signed_in.client.post(
        "/forms/vendor_invoice/new",
        data={**invoice_post(), "csrf_token": csrf_token_in(page.text)},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, response.text
    _run_outbox_job(JobKind.START_CHAIN, _waiting_job(JobKind.START_CHAIN))
    waiting = _waiting_job(JobKind.SEND_EMAIL)
    with statements.counting():
        _run_outbox_job(JobKind.SEND_EMAIL, waiting)
    assert [m["To"] for m in mailbox.messages] == ["Bob Okafor <bob@example.com>"]
    sent = db.session.scalars(select(EmailMessage)).one()
    assert sent.state.value == "sent"
    within_budget("send_email job", statements)
