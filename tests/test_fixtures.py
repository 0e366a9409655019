"""The test factories write what the product writes: a test that uses them tests the real thing."""

import json
import re

from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, OutboxMessage, Task
from tests.fixtures.web import invoice_post

#: Audit details that name rows by id or carry a request's reference: different for any two.
_IDS = {"submission", "submission_id", "task", "task_id", "message_id", "email", "email_id"}


def what_was_written(submission) -> dict:
    """Everything a submission left in the database, without ids, times and hashes."""
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.submission_id == submission.id).order_by(AuditEvent.seq)
    )
    tasks = db.session.scalars(
        select(Task).where(Task.submission_id == submission.id).order_by(Task.id)
    )
    return {
        "status": submission.status,
        "data": submission.data,
        "draft": submission.draft,
        "amount": (submission.amount, submission.currency),
        "summary": submission.summary,
        "data_hash": submission.data_hash,
        "submit_count": submission.submit_count,
        "version": submission.form_version_id,
        "files": sorted(
            (a.field, a.name, a.content_type, a.size, a.sha256) for a in submission.attachments
        ),
        "events": [
            (e.action, e.actor, e.channel, _without_ids(e.details, submission.reference))
            for e in events
        ],
        "tasks": [(t.round, t.step, t.assignee.email, t.state) for t in tasks],
        "outbox": db.session.scalars(select(OutboxMessage.job)).all(),
    }


def _without_ids(details: dict, reference: str) -> dict:
    """An event's details without the ids of rows, and with the request's reference as REF."""
    kept = {key: value for key, value in details.items() if key not in _IDS}
    return json.loads(json.dumps(kept).replace(reference, "REF"))


def posted_through_the_form(approvals, values, action="submit"):
    approvals.browser.login("alice@example.com")
    response = approvals.browser.post("/forms/vendor_invoice/new", {**values, "_action": action})
    assert response.status_code == 302, response.text
    approvals.browser.post("/logout")
    return int(re.search(r"/submissions/([0-9]+)", response.location).group(1))


def test_a_made_submission_is_what_posting_the_form_and_running_the_job_make(
    approvals, org, vendor_invoice, make_submission
):
    posted_id = posted_through_the_form(
        approvals, invoice_post(vendor_is_new="y", vendor_tax_id="DE 123456789")
    )
    approvals.run_jobs()
    posted = what_was_written(approvals.submission(posted_id))

    made = make_submission(values=invoice_post(vendor_is_new="y", vendor_tax_id="DE 123456789"))
    assert "start_chain" not in what_was_written(made)["outbox"]  # done: the job removes its row
    approvals.run_jobs()
    assert what_was_written(approvals.submission(made.id)) == posted
    assert posted["tasks"] and posted["outbox"] == []


def test_a_made_submission_whose_chain_waits_leaves_the_start_job_in_the_outbox(
    approvals, org, vendor_invoice, make_submission
):
    posted_id = posted_through_the_form(approvals, invoice_post())
    posted = what_was_written(approvals.submission(posted_id))
    approvals.run_jobs()  # the posted one's chain starts; the made one must start from nothing

    made = make_submission(chain_started=False)
    assert what_was_written(approvals.submission(made.id)) == posted
    assert posted["tasks"] == [] and posted["outbox"] == ["start_chain"]


def test_a_made_draft_is_what_saving_the_form_makes(
    approvals, org, vendor_invoice, make_submission
):
    posted_id = posted_through_the_form(approvals, invoice_post(), action="save_draft")
    posted = what_was_written(approvals.submission(posted_id))
    made = make_submission(submitted=False)
    assert what_was_written(approvals.submission(made.id)) == posted
    assert posted["draft"]["vendor_name"] == "Acme Office Supplies GmbH" and posted["events"] == []
