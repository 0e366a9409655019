"""The audit-trail PDF: rendered by a job, cached by head hash, read back with pypdf."""

import hashlib
import io
import json

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select, update

from portal import audit, pdf, storage
from portal.extensions import db
from portal.models import AuditEvent, AuditPdf
from portal.services import records

HOSTILE = 'Call me <img src="file:///etc/passwd"> or see http://127.0.0.1:9/steal.png'


def approved_invoice(approvals):
    submission = approvals.submit_invoice(
        **{"lines-0-unit_price": "6000", "po_number": "PO-004512", "notes": HOSTILE}
    )
    approvals.decide_by_link("bob@example.com", "approve", "Matches the delivery note.")
    (finance, *_) = approvals.open_tasks(submission, "finance")
    approvals.decide_in_inbox(finance.assignee.email, finance, "approve")
    approvals.decide_by_link("carol@example.com", "approve", "Budget line 4711.")
    return approvals.submission(submission.id)


def pdf_bytes(rendering) -> bytes:
    """The rendering's bytes, as kept in the portal's storage."""
    with records.open_pdf(rendering) as opened:
        return opened.read()


class Got:
    """A response read whole and closed (a sent file keeps its file open until closed)."""

    def __init__(self, response):
        self.status_code, self.data = response.status_code, response.get_data()
        self.text, self.mimetype = self.data.decode("utf-8", "replace"), response.mimetype
        self.headers = response.headers
        response.close()


def download(approvals, email: str, submission):
    """What the person gets from the PDF link: first 'being prepared', then the file."""
    approvals.browser.login(email)
    first = Got(approvals.browser.get(f"/submissions/{submission.id}/audit.pdf"))
    approvals.run_jobs()
    second = Got(approvals.browser.get(f"/submissions/{submission.id}/audit.pdf"))
    approvals.browser.post("/logout")
    return first, second


def text_of(content: bytes) -> tuple[PdfReader, str]:
    """The PDF's text with every run of white space (line and cell wrapping) as one space."""
    reader = PdfReader(io.BytesIO(content))
    return reader, " ".join(" ".join(page.extract_text() for page in reader.pages).split())


@pytest.mark.slow
def test_pdf_is_prepared_by_a_job_then_downloaded_with_everything_in_it(
    approvals, org, vendor_invoice
):
    submission = approved_invoice(approvals)
    first, second = download(approvals, "cora@example.com", submission)
    assert first.status_code == 202 and "being prepared" in first.text
    assert second.status_code == 200 and second.mimetype == "application/pdf"
    assert second.headers["Content-Disposition"].startswith("attachment;")
    reader, text = text_of(second.data)
    pages = len(reader.pages)
    assert "Page 1 of" in text and f"Page {pages} of {pages}" in text
    assert "Audit trail: Vendor invoice #1" in text and "version 1" in text
    for value in (
        "Acme Office Supplies GmbH",
        "INV-2026-0042",
        "Ergonomic chairs",
        "12000.00 EUR",
        "12475.00 EUR",
        "PO-004512",
        "CC-100 (CC-100 Operations)",
    ):
        assert value in text, value
    assert "Approved" in text and "bob@example.com" in text and "Matches the delivery note." in text
    assert "carol@example.com" in text and "Budget line 4711." in text
    head = records.head(submission)[0]
    assert head in text  # the chain's head hash, in full
    assert "Audit chain verified" in text
    db.session.expire_all()
    bob_task = next(t for t in submission.tasks if t.assignee.email == "bob@example.com")
    decided = bob_task.decided_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    assert decided in text  # each decision with its actor and its time
    sha = submission.attachments[0].sha256
    assert sha in text.replace(" ", "")  # the hash wraps across lines in its narrow cell


@pytest.mark.slow
def test_pdf_is_pdf_a_3b_with_the_record_embedded(approvals, org, vendor_invoice):
    submission = approved_invoice(approvals)
    rendering = records.render(submission, org.cora)
    db.session.commit()
    reader = PdfReader(io.BytesIO(pdf_bytes(rendering)))
    xmp = reader.xmp_metadata
    assert xmp.pdfaid_part == "3" and xmp.pdfaid_conformance == "B"
    embedded = json.loads(reader.attachments["record.json"][0])
    assert embedded["submission"]["id"] == submission.id
    assert embedded["data"]["invoice_number"] == "INV-2026-0042"
    assert embedded["verification"]["ok"] is True
    assert embedded["verification"]["head_hash"] == rendering.head_hash
    assert [e["seq"] for e in embedded["events"]] == list(range(1, rendering.events + 1))
    assert any(
        t["decision"] == "approve" and t["assignee"] == "bob@example.com" for t in embedded["tasks"]
    )


@pytest.mark.slow
def test_hostile_text_is_printed_not_fetched(approvals, org, vendor_invoice):
    submission = approved_invoice(approvals)
    rendering = records.render(submission, org.cora)
    db.session.commit()
    reader, text = text_of(pdf_bytes(rendering))
    assert '<img src="file:///etc/passwd">' in text
    assert "http://127.0.0.1:9/steal.png" in text.replace("/ ", "/")  # the URL wraps at its slash
    assert "root:x:0:0" not in text
    assert all(not page.images for page in reader.pages)  # nothing was fetched and drawn


@pytest.mark.parametrize(
    "smuggled",
    [
        '<img src="file:///etc/passwd">',
        '<img src="/etc/passwd">',
        '<img src="../../../../etc/passwd">',
        '<img src="http://127.0.0.1:9/x.png">',
        '<img src="https://example.com/x.png">',
        '<link rel="stylesheet" href="file:///etc/passwd">',
        '<style>@import url("file:///etc/passwd");</style>',
        '<div style="background: url(file:///etc/passwd)">x</div>',
        '<object data="file:///etc/passwd"></object>',
        '<img src="data:image/png;base64,iVBORw0KGgo=">',
        '<link rel="attachment" href="file:///etc/passwd">',
    ],
)
def test_the_renderer_reads_nothing_outside_the_static_folder(app, smuggled):
    """Even HTML that is not escaped (a template mistake) cannot make WeasyPrint read a file."""
    head = '<head><link rel="stylesheet" href="css/pdf.css"></head>'
    html = f"<html>{head}<body><p>before</p>{smuggled}<p>after</p></body></html>"
    content, refused = pdf.render(html, app.static_folder)
    assert refused, "the fetcher was not even asked: the test would prove nothing"
    assert not any(url.startswith(pdf.BASE_URL) and "css/pdf.css" in url for url in refused)
    assert b"root:x:0:0" not in content
    reader = PdfReader(io.BytesIO(content))
    assert not reader.attachments
    assert "before" in reader.pages[0].extract_text()


def test_the_fetcher_serves_static_files_only_from_inside_the_folder(app):
    fetcher = pdf.StaticOnlyFetcher(app.static_folder)
    response = fetcher.fetch(pdf.BASE_URL + "css/pdf.css")
    assert b"@page" in response._file_obj.read()
    for url in (
        pdf.BASE_URL + "../portal/config.py",
        pdf.BASE_URL + "css/../../app.py",
        "file:///etc/passwd",
    ):
        with pytest.raises(pdf.FetchRefused):
            fetcher.fetch(url)


@pytest.mark.slow
def test_an_unchanged_record_is_not_rendered_twice(approvals, org, vendor_invoice):
    submission = approved_invoice(approvals)
    download(approvals, "alice@example.com", submission)
    _, again = download(approvals, "alice@example.com", submission)
    assert again.status_code == 200
    assert db.session.scalar(select(func.count()).select_from(AuditPdf)) == 1
    downloads = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "record_downloaded")
    ).all()
    assert len(downloads) == 3 and {e.chain for e in downloads} == {"admin"}


@pytest.mark.slow
def test_a_new_event_makes_a_new_rendering(approvals, org, vendor_invoice):
    submission = approvals.submit_invoice()
    download(approvals, "alice@example.com", submission)
    approvals.decide_by_link("bob@example.com", "approve")
    first, second = download(approvals, "alice@example.com", submission)
    assert first.status_code == 202 and second.status_code == 200
    assert db.session.scalar(select(func.count()).select_from(AuditPdf)) == 2


@pytest.mark.slow
def test_a_300_event_record_renders(approvals, org, vendor_invoice, app):
    submission = approvals.submit_invoice()
    existing = records.head(submission)[1]
    for number in range(300 - existing):
        audit.record(
            audit.submission_chain(submission.id),
            "note_added",
            audit.Actor(system="load test", channel="worker"),
            {"n": number, "text": f"Note {number}: checked against ledger page {number * 7}"},
            submission_id=submission.id,
        )
    db.session.commit()
    rendering = records.render(submission, org.cora)
    db.session.commit()
    reader, text = text_of(pdf_bytes(rendering))
    pages = len(reader.pages)
    assert rendering.events == 300 and pages > 5
    assert f"Page {pages} of {pages}" in text
    assert "Event timeline (300 events)" in text
    assert text.count("note_added") == 300 - existing  # every event is in the timeline


@pytest.mark.slow
def test_a_changed_event_is_found_by_verify_on_the_page_in_the_pdf_and_by_the_command(
    approvals, org, vendor_invoice, tamper, runner
):
    submission = approved_invoice(approvals)
    tamper(
        update(AuditEvent)
        .where(AuditEvent.submission_id == submission.id, AuditEvent.seq == 3)
        .values(details={"forged": True})
    )
    result = runner.invoke(args=["baton", "audit", "verify", str(submission.id)])
    assert result.exit_code == 1
    assert (
        f"submission:{submission.id}: BROKEN at event 3: its content was changed" in result.output
    )
    approvals.browser.login("alice@example.com")
    page = approvals.browser.get(f"/submissions/{submission.id}").text
    assert "Audit trail broken at event 3:" in page
    rendering = records.render(submission, org.cora)
    db.session.commit()
    _, text = text_of(pdf_bytes(rendering))
    assert "AUDIT CHAIN BROKEN at event 3: its content was changed." in text


@pytest.mark.slow
def test_a_cached_verified_pdf_is_not_served_once_the_chain_is_altered(
    approvals, org, vendor_invoice, tamper
):
    submission = approved_invoice(approvals)
    _, before = download(approvals, "cora@example.com", submission)
    assert "Audit chain verified" in text_of(before.data)[1]
    tamper(
        update(AuditEvent)
        .where(AuditEvent.submission_id == submission.id, AuditEvent.seq == 2)
        .values(details={"forged": True})
    )
    assert records.cached(submission) is None  # same head hash, but it no longer verifies
    first, after = download(approvals, "cora@example.com", submission)
    assert first.status_code == 202 and after.status_code == 200
    assert "AUDIT CHAIN BROKEN at event 2" in text_of(after.data)[1]
    rendering = db.session.scalars(select(AuditPdf)).one()
    assert rendering.verified is False
    assert rendering.sha256 == hashlib.sha256(after.data).hexdigest()


@pytest.mark.slow
def test_a_lost_pdf_file_is_rendered_again_and_its_hash_recorded(approvals, org, vendor_invoice):
    submission = approved_invoice(approvals)
    _, first = download(approvals, "alice@example.com", submission)
    lost = db.session.scalars(select(AuditPdf)).one()
    storage.current().delete(lost.path)
    again, second = download(approvals, "alice@example.com", submission)
    assert again.status_code == 202 and second.status_code == 200
    rendering = db.session.scalars(select(AuditPdf)).one()
    db.session.refresh(rendering)
    assert rendering.sha256 == hashlib.sha256(second.data).hexdigest()
    assert rendering.sha256 != hashlib.sha256(first.data).hexdigest()
    assert pdf_bytes(rendering) == second.data
    downloads = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "record_downloaded")
    ).all()
    assert downloads[-1].details["sha256"] == hashlib.sha256(second.data).hexdigest()


def test_verify_command_checks_every_chain(approvals, org, vendor_invoice, runner):
    approved_invoice(approvals)
    result = runner.invoke(args=["baton", "audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "submission:1: ok" in result.output and "admin: ok" in result.output
    assert "2 chain(s) checked, 0 broken." in result.output
    assert runner.invoke(args=["baton", "audit", "verify", "999"]).exit_code != 0


@pytest.mark.parametrize(
    ("email", "allowed"),
    [
        ("alice@example.com", True),  # the submitter
        ("cora@example.com", True),  # compliance
        ("bob@example.com", False),  # an approver: may read the request, not take its record
        ("ivan@example.com", False),  # anyone else
    ],
)
def test_only_the_submitter_compliance_and_admins_get_the_pdf(
    approvals, org, vendor_invoice, email, allowed
):
    submission = approvals.submit_invoice()
    approvals.browser.login(email)
    for path in (
        f"/submissions/{submission.id}/audit.pdf",
        f"/submissions/{submission.id}/audit.pdf/status",
    ):
        response = approvals.browser.get(path)
        assert (response.status_code != 404) is allowed, (path, response.status_code)
    assert (approvals.browser.get("/submissions/999/audit.pdf").status_code) == 404


def test_downloading_does_not_change_the_record(approvals, org, vendor_invoice):
    submission = approvals.submit_invoice()
    before = records.head(submission)
    download(approvals, "alice@example.com", submission)
    assert records.head(submission) == before


def test_drafts_have_no_audit_pdf(approvals, org, vendor_invoice, make_submission):
    make_submission(submitted=False)
    approvals.browser.login("alice@example.com")
    assert approvals.browser.get("/submissions/1/audit.pdf").status_code == 404
