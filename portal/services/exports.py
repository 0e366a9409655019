"""Searching every record, and bulk exports: a ZIP of audit-trail PDFs, a CSV index and a
manifest with the SHA-256 of every file, built by a job while the page shows its progress."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import logging
import os
import time
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from multiprocessing import get_context
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import selectinload

from portal import audit, clock, outbox, pdf, storage
from portal.domain import paging, spreadsheet
from portal.domain.refusal import NotFound, Refused
from portal.extensions import db
from portal.jobs.registry import JobKind
from portal.models import (
    AuditPdf,
    Export,
    ExportState,
    Form,
    Submission,
    SubmissionStatus,
    Task,
    User,
)
from portal.services import records, text_search

logger = logging.getLogger(__name__)
EXPORT_FOLDER = "exports"
MAX_EXPORT = 10_000


class SearchRefused(Refused, ValueError):
    """A search that cannot be run as given; the message says which filter is wrong."""


@dataclass(frozen=True)
class Filters:
    form: str = ""
    status: str = ""
    submitted_from: dt.date | None = None
    submitted_to: dt.date | None = None
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None
    person: str = ""
    #: Words that must all appear in what was submitted (portal.services.text_search).
    text: str = ""

    @classmethod
    def parse(cls, args) -> Filters:
        """From a query string (or a posted form), with a clear error for a bad value."""

        def date(key: str) -> dt.date | None:
            text = (args.get(key) or "").strip()
            if not text:
                return None
            try:
                return dt.date.fromisoformat(text)
            except ValueError:
                raise SearchRefused(f"{text!r} is not a date like 2026-11-25.") from None

        def amount(key: str) -> Decimal | None:
            text = (args.get(key) or "").strip().replace(",", "")
            if not text:
                return None
            try:
                value = Decimal(text)
            except InvalidOperation:
                raise SearchRefused(f"{text!r} is not an amount like 1000 or 1250.50.") from None
            if not value.is_finite() or abs(value) >= Decimal("1e15"):
                raise SearchRefused(f"{text!r} is not an amount like 1000 or 1250.50.")
            return value

        status = (args.get("status") or "").strip()
        if status and status not in {s.value for s in SubmissionStatus}:
            raise SearchRefused(f"There is no status called {status!r}.")
        filters = cls(
            form=(args.get("form") or "").strip()[:64],
            status=status,
            submitted_from=date("submitted_from"),
            submitted_to=date("submitted_to"),
            amount_min=amount("amount_min"),
            amount_max=amount("amount_max"),
            person=(args.get("person") or "").strip()[:200],
            text=" ".join(_words(args.get("text") or "")),
        )
        if (
            filters.submitted_from
            and filters.submitted_to
            and filters.submitted_from > filters.submitted_to
        ):
            raise SearchRefused("The 'from' date is after the 'to' date.")
        return filters

    def as_dict(self) -> dict:
        return {
            key: (
                value.isoformat()
                if isinstance(value, dt.date)
                else str(value)
                if value is not None
                else ""
            )
            for key, value in self.__dict__.items()
        }


def _words(phrase: str) -> list[str]:
    try:
        return text_search.words(phrase)
    except text_search.TextRefused as refusal:
        raise SearchRefused(str(refusal)) from None


def search(filters: Filters) -> Select:
    """Submitted records (never drafts) matching the filters, newest first."""
    query = select(Submission).where(Submission.submitted_at.is_not(None))
    if filters.form:
        # The form's id as a value of its own (an InitPlan), not a join: then PostgreSQL reads
        # (form_id, status, submitted_at) in index order instead of sorting every match.
        form_id = select(Form.id).where(Form.slug == filters.form).scalar_subquery()
        query = query.where(Submission.form_id == form_id)
    if filters.status:
        query = query.where(Submission.status == SubmissionStatus(filters.status))
    zone = clock.local_zone()
    if filters.submitted_from:
        query = query.where(Submission.submitted_at >= _start_of(filters.submitted_from, zone))
    if filters.submitted_to:
        query = query.where(
            Submission.submitted_at < _start_of(filters.submitted_to + dt.timedelta(days=1), zone)
        )
    if filters.amount_min is not None:
        query = query.where(Submission.amount >= filters.amount_min)
    if filters.amount_max is not None:
        query = query.where(Submission.amount <= filters.amount_max)
    if filters.person:
        like = f"%{filters.person.lower()}%"
        people = select(User.id).where(
            or_(func.lower(User.email).like(like), func.lower(User.name).like(like))
        )
        asked = select(Task.submission_id).where(Task.assignee_id.in_(people))
        query = query.where(or_(Submission.submitter_id.in_(people), Submission.id.in_(asked)))
    if filters.text:
        query = query.where(text_search.condition(filters.text))
    return query.order_by(Submission.submitted_at.desc(), Submission.id.desc())


def search_page(
    filters: Filters, asked: int | None, size: int, sort: text_search.Sort | None = None
) -> paging.Page[Submission]:
    """One page of the records the filters match, each with its form and submitter loaded.

    The total is counted up to the export limit only: past it the number changes nothing one
    can do, and counting a million rows on every page would cost more than the page itself.
    Unordered: any MAX_EXPORT + 1 matches tell "more than MAX_EXPORT", and sorting them
    (requests submitted in the same moment tie on the index's order) cost a fifth of the count.
    """
    query = search(filters)
    capped = query.with_only_columns(Submission.id).order_by(None).limit(MAX_EXPORT + 1)
    total = db.session.scalar(select(func.count()).select_from(capped.subquery()))
    number = paging.page_to_show(asked, total, size)
    if sort is not None:
        query = sort.apply(query)
    rows = db.session.scalars(
        query.options(selectinload(Submission.form), selectinload(Submission.submitter))
        .offset((number - 1) * size)
        .limit(size)
    ).all()
    return paging.Page(list(rows), number, size, total)


def searchable_forms() -> list[Form]:
    """Every form, by title: what the search's form filter offers."""
    return list(db.session.scalars(select(Form).order_by(Form.title)))


def recent_exports(limit: int = 5) -> list[Export]:
    """The latest exports (one officer's export is the team's)."""
    return list(
        db.session.scalars(
            select(Export).order_by(Export.created_at.desc(), Export.id.desc()).limit(limit)
        )
    )


def find_export(export_id: int) -> Export:
    found = db.session.get(Export, export_id)
    if found is None:
        raise NotFound("There is no such export.")
    return found


def _start_of(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=zone).astimezone(dt.UTC)


def start(user: User, filters: Filters) -> Export:
    """Queue an export of every record the filters match now: one at a time per person."""
    # Their row locked first (FOR NO KEY UPDATE on PostgreSQL): two requests at once from one
    # person are checked one after the other, so both cannot find nothing running.
    db.session.scalar(select(User.id).where(User.id == user.id).with_for_update(key_share=True))
    running = db.session.scalar(
        select(Export.id)
        .where(
            Export.requested_by_id == user.id,
            Export.state.in_((ExportState.QUEUED, ExportState.RUNNING)),
        )
        .limit(1)
    )
    if running is not None:
        raise SearchRefused(
            f"Your export {running} is still being built. Wait until it is done (its page "
            "shows the progress), then start the next: one export at a time per person."
        )
    ids = list(
        db.session.scalars(search(filters).with_only_columns(Submission.id).limit(MAX_EXPORT + 1))
    )
    if not ids:
        raise SearchRefused("Nothing matches these filters, so there is nothing to export.")
    if len(ids) > MAX_EXPORT:
        raise SearchRefused(f"More than {MAX_EXPORT:,} records match; narrow the search first.")
    export = Export(
        requested_by_id=user.id,
        filters=filters.as_dict(),
        submission_ids=ids,
        total=len(ids),
        state=ExportState.QUEUED,
        created_at=clock.now(),
    )
    db.session.add(export)
    db.session.flush()
    outbox.add(JobKind.BUILD_EXPORT, export_id=export.id)
    audit.record(
        audit.ADMIN_CHAIN,
        "export_started",
        audit.Actor(user),
        {"export": export.id, "filters": export.filters, "records": len(ids)},
    )
    return export


def archive_name(export: Export) -> str:
    """The export's ZIP's file name: what it is downloaded as, and kept under."""
    return f"baton-export-{export.id}.zip"


def archive_key(export: Export) -> str:
    """The storage key a finished export's ZIP is kept under."""
    return f"{EXPORT_FOLDER}/{archive_name(export)}"


def open_archive(export: Export) -> storage.Opened:
    """A finished export's ZIP, opened for reading from the portal's storage."""
    return storage.current().open(export.path)


def write_archive(path: Path, export: Export, progress: Callable[[int], None]) -> None:
    """Write the export's ZIP at `path` (a scratch file of the worker's): each record's
    audit-trail PDF, index.csv and manifest.sha256. `progress(n)` is called once the nth
    record is in."""
    requester = export.requested_by
    manifest: list[tuple[str, str, int]] = []
    index = io.StringIO()
    writer = spreadsheet.writer(index)  # summaries and names are people's text
    writer.writerow(
        [
            "submission",
            "form",
            "version",
            "status",
            "submitter",
            "submitted_at",
            "amount",
            "currency",
            "summary",
            "file",
            "file_sha256",
            "audit_head_hash",
            "audit_verified",
        ]
    )
    with (
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        _renderers() as pool,
    ):
        for number, (submission, rendering) in enumerate(
            _renderings(export.submission_ids, requester, pool), start=1
        ):
            name = f"records/{submission.form.slug}-{submission.id:06d}.pdf"
            with records.open_pdf(rendering) as source:
                archive.writestr(name, source.read())  # one record's PDF: tens of kilobytes
            manifest.append((name, rendering.sha256, rendering.size))
            writer.writerow(
                [
                    submission.id,
                    submission.form.slug,
                    submission.form_version.number,
                    submission.status.value,
                    submission.submitter.email,
                    submission.submitted_at.isoformat(),
                    "" if submission.amount is None else f"{submission.amount:f}",
                    submission.currency or "",
                    submission.summary,
                    name,
                    rendering.sha256,
                    rendering.head_hash,
                    "yes" if rendering.verified else "NO",
                ]
            )
            progress(number)
        index_bytes = index.getvalue().encode("utf-8")
        archive.writestr("index.csv", index_bytes)
        manifest.append(("index.csv", hashlib.sha256(index_bytes).hexdigest(), len(index_bytes)))
        lines = [f"{digest}  {name}" for name, digest, _ in manifest]
        archive.writestr("manifest.sha256", "\n".join(lines) + "\n")


def finish(export: Export, key: str, digest: str, size: int) -> None:
    """A built export: done, with its file, and audited."""
    export.state, export.path, export.sha256 = ExportState.DONE, key, digest
    export.size, export.finished_at = size, clock.now()
    audit.record(
        audit.ADMIN_CHAIN,
        "export_finished",
        audit.Actor(system="build_export job", channel="worker"),
        {"export": export.id, "records": export.total, "sha256": digest, "size": export.size},
    )


def fail(export: Export, exc: Exception) -> None:
    """An export that could not be built: failed, saying why, and audited."""
    export.state, export.error = ExportState.FAILED, f"{type(exc).__name__}: {exc}"[:2000]
    audit.record(
        audit.ADMIN_CHAIN,
        "export_failed",
        audit.Actor(system="build_export job", channel="worker"),
        {"export": export.id, "records_done": export.done, "error": export.error[:500]},
    )


@contextlib.contextmanager
def _renderers():
    """Processes that turn HTML into PDF in parallel (WeasyPrint is CPU-bound, one core each).

    Spawned, not forked: a forked child would inherit this job's database connections.
    """
    workers = current_app.config.get("EXPORT_WORKERS") or min(4, os.cpu_count() or 1)
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        yield pool


def _renderings(ids: list[int], requester: User, pool) -> Iterator[tuple[Submission, AuditPdf]]:
    """(submission, rendering) for each id, in order; cached renderings are reused, the rest
    rendered a batch at a time across the pool, and stored as they come back."""
    batch = max(4, pool._max_workers * 4)
    static = current_app.static_folder
    for start in range(0, len(ids), batch):
        pending = []
        for submission_id in ids[start : start + batch]:
            submission = db.session.get(Submission, submission_id)
            ready = records.cached(submission)
            if ready is not None:
                pending.append((submission, ready, None, None))
                continue
            doc = records.document(submission, requester)
            future = pool.submit(pdf.render, doc.html, static, doc.attachments)
            pending.append((submission, None, doc, (future, time.monotonic())))
        for submission, ready, doc, work in pending:
            if ready is None:
                future, started = work
                content, _ = future.result()
                ready = records.store(
                    submission, doc, content, requester, time.monotonic() - started
                )
            yield submission, ready


def note_download(export: Export, user: User) -> None:
    audit.record(
        audit.ADMIN_CHAIN,
        "export_downloaded",
        audit.Actor(user),
        {"export": export.id, "sha256": export.sha256},
    )
