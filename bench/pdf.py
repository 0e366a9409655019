"""Audit trail PDF: Baton's rendering of a big record against WeasyPrint alone on the same HTML.

    .venv/bin/python -m bench.pdf [--quick]

Makes its own PostgreSQL database (baton_bench_pdf) and Redis, and builds one vendor invoice
with 20 line items whose audit trail holds about 50 events (sent back for changes and
resubmitted until it does, then approved by every step). Then it times:

- Baton: `records.render` as the render_pdf job runs it (gather the record and verify its
  chain, render the template, the JSON inside, PDF/A-3b with the attachment, store the file);
- WeasyPrint alone: `HTML(string=same_html).write_pdf()` with the same stylesheet.

The overhead is Baton's median time over WeasyPrint's, minus one (goal: under 30%). Then one
worker of the class `make serve` runs renders it as a job; its peak resident memory (the
work horse included) is reported next to the same worker's after starting with no job.
Writes the "pdf" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import report
from bench._support import (
    BIN,
    PASSWORD,
    ROOT,
    app_env,
    drop_database,
    exit_cleanly_on_sigterm,
    fresh_database,
    prepare_portal,
    redis_server,
    say,
    verdict,
)

DATABASE = "baton_bench_pdf"
LINES = 20
EVENTS = 50
GOAL = 0.30


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 rendering each, no warm-up")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args(argv)
    exit_cleanly_on_sigterm()
    rounds, warmups = (1, 0) if args.quick else (5, 1)
    with redis_server() as redis_url, tempfile.TemporaryDirectory() as folder:
        env = app_env(fresh_database(DATABASE), redis_url, Path(folder) / "instance")
        prepare_portal(env)
        os.environ.update(env)
        from portal import create_app
        from portal.extensions import db

        app = create_app()
        try:
            with app.app_context():
                submission_id, events = _big_record()
                say(f"record {submission_id}: {LINES} line items, {events} audit events")
                figures = _time_renderings(submission_id, rounds, warmups)
                figures["events"] = events
                db.session.rollback()
                from portal.processes.serve import WORKER_CLASS

                figures["worker_class"] = WORKER_CLASS
                _empty_queue(redis_url, env)  # the jobs building the record set off
                figures["idle_rss"] = _worker_peak_rss(redis_url, env, WORKER_CLASS)
                _queue_render(submission_id)
                figures["render_rss"] = _worker_peak_rss(redis_url, env, WORKER_CLASS)
                _check_rendered(submission_id)
                db.session.remove()
                db.engine.dispose()
        finally:
            if not args.keep:
                drop_database(DATABASE)
    _write(figures, rounds, warmups, args.quick)
    return figures


def _big_record() -> tuple[int, int]:
    """A vendor invoice with LINES lines, sent back until its trail holds about EVENTS events,
    then approved by every step; (its id, its number of events)."""
    from sqlalchemy import select

    from bench.workers import invoice_fields, submit_invoice
    from portal.domain.chain import Decision, TaskState
    from portal.extensions import db
    from portal.models import Submission, SubmissionStatus, Task, User
    from portal.services import approvals, records, users
    from portal.services.forms import find_form

    rng = random.Random(20)
    version = find_form("vendor_invoice").current_version
    alice = users.find_user("alice@example.com")
    fields = invoice_fields(rng, 1, LINES)
    fields.update({"cost_centre": "CC-100", "vendor_is_new": "y"})
    for line in range(LINES):  # above 10,000: the CFO is asked too
        fields[f"lines-{line}-unit_price"] = "900"
    submission = submit_invoice(alice, version, fields)
    submission_id = submission.id

    def open_tasks() -> list[Task]:
        return list(
            db.session.scalars(
                select(Task)
                .where(Task.submission_id == submission_id, Task.state == TaskState.OPEN)
                .order_by(Task.id)
            )
        )

    def decide(decision: Decision, comment: str) -> None:
        for task in open_tasks():
            actor = db.session.get(User, task.assignee_id)
            try:
                approvals.decide(actor, task.id, decision, comment, password=PASSWORD)
                db.session.commit()
            except Exception:  # noqa: BLE001 - closed by the decision before it ("any")
                db.session.rollback()

    approvals.start_chain(submission_id)
    db.session.commit()
    while records.head(db.session.get(Submission, submission_id))[1] < EVENTS - 12:
        decide(Decision.REQUEST_CHANGES, "Please attach the signed delivery note as well.")
        fields["notes"] = f"Resubmitted ({rng.randint(1, 1000)})."
        submit_invoice(alice, version, fields, db.session.get(Submission, submission_id))
        approvals.start_chain(submission_id)
        db.session.commit()
    while db.session.get(Submission, submission_id).status == SubmissionStatus.IN_REVIEW:
        decide(Decision.APPROVE, "Checked against the purchase order.")
    return submission_id, records.head(db.session.get(Submission, submission_id))[1]


def _time_renderings(submission_id: int, rounds: int, warmups: int) -> dict:
    from flask import current_app
    from weasyprint import HTML

    from portal import pdf
    from portal.extensions import db
    from portal.models import Submission
    from portal.services import records, users

    compliance = users.find_user("cora@example.com")
    static = Path(current_app.static_folder)
    ours, alone, gather, weasy_ours = [], [], [], []
    for _ in range(rounds + warmups):  # warm-ups fill caches (fonts, templates); dropped
        submission = db.session.get(Submission, submission_id)
        started = time.perf_counter()
        rendering = records.render(submission, compliance)
        ours.append(time.perf_counter() - started)
        size = rendering.size
        db.session.rollback()  # the next round renders again (nothing cached on record)

        submission = db.session.get(Submission, submission_id)
        started = time.perf_counter()
        doc = records.document(submission, compliance)
        gather.append(time.perf_counter() - started)
        started = time.perf_counter()
        pdf.render(doc.html, static, doc.attachments)
        weasy_ours.append(time.perf_counter() - started)
        db.session.rollback()

        html = doc.html.replace('href="css/', f'href="{static.as_uri()}/css/')
        started = time.perf_counter()
        HTML(string=html, base_url=static.as_uri() + "/").write_pdf()
        alone.append(time.perf_counter() - started)
    median = statistics.median
    figures = {
        "ours": median(ours[warmups:]),
        "alone": median(alone[warmups:]),
        "gather": median(gather[warmups:]),
        "weasy_ours": median(weasy_ours[warmups:]),
        "size": size,
    }
    figures["overhead"] = figures["ours"] / figures["alone"] - 1
    say(
        f"  Baton {figures['ours']:.3f} s, WeasyPrint alone {figures['alone']:.3f} s: "
        f"overhead {figures['overhead']:.0%} (gathering and template {figures['gather']:.3f} s, "
        f"WeasyPrint with PDF/A-3b and the attachment {figures['weasy_ours']:.3f} s)"
    )
    return figures


def _queue_render(submission_id: int) -> None:
    """A render_pdf job through the outbox, as the download button queues it."""
    from portal.extensions import db
    from portal.models import AuditPdf, Submission
    from portal.services import records, users

    db.session.query(AuditPdf).filter_by(submission_id=submission_id).delete()
    records.request(db.session.get(Submission, submission_id), users.find_user("cora@example.com"))
    db.session.commit()  # the relay hands it to RQ


def _empty_queue(redis_url: str, env: dict) -> None:
    from redis import Redis
    from rq import Queue

    from portal.jobs.registry import QueueKind
    from portal.queue import named

    for kind in QueueKind:
        name = named(env.get("BATON_QUEUE", "baton"), kind)
        Queue(name, connection=Redis.from_url(redis_url)).empty()


def _check_rendered(submission_id: int) -> None:
    from portal.extensions import db
    from portal.models import AuditPdf

    db.session.rollback()
    if not db.session.query(AuditPdf).filter_by(submission_id=submission_id).count():
        raise SystemExit("the worker did not render the PDF: its memory figure would lie")


def _worker_peak_rss(redis_url: str, env: dict, worker_class: str) -> float:
    """MiB: the peak resident memory of a burst worker (and its work horses) over its run, on
    the queue PDFs are rendered from."""
    from portal.jobs.registry import QueueKind
    from portal.queue import named

    probe = (
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    command = [
        sys.executable, "-c", probe, str(BIN / "rq"), "worker", "--burst", "--worker-class",
        worker_class, "--url", redis_url, "--quiet",
        named(env.get("BATON_QUEUE", "baton"), QueueKind.BULK),
    ]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"the worker failed:\n{result.stderr[-2000:]}")
    return int(result.stdout.strip().splitlines()[-1]) / 1024


def _write(figures: dict, rounds: int, warmups: int, quick: bool) -> None:
    rows = [
        ["WeasyPrint alone, same HTML and stylesheet (baseline)", f"{figures['alone']:.3f}", ""],
        [
            "Baton: `records.render` (what the render_pdf job does)",
            f"{figures['ours']:.3f}",
            f"{figures['overhead']:+.0%} (goal < +{GOAL:.0%}: "
            f"{verdict(figures['overhead'], GOAL, at_least=False)})",
        ],
        ["  of which: gather, verify the chain, template, JSON", f"{figures['gather']:.3f}", ""],
        [
            "  of which: WeasyPrint with PDF/A-3b and record.json",
            f"{figures['weasy_ours']:.3f}",
            "",
        ],
    ]
    body = (
        report.table(["rendering", "seconds (median)", "overhead"], rows)
        + "\n\n"
        + report.table(
            ["worker memory (peak RSS)", "MiB"],
            [
                [f"{figures['worker_class']}, started, no job", f"{figures['idle_rss']:.0f}"],
                [f"{figures['worker_class']}, rendering this PDF", f"{figures['render_rss']:.0f}"],
            ],
        )
        + f"\n\nThe record: a vendor invoice with {LINES} line items and {figures['events']} audit "
        f"events (sent back for changes and resubmitted, then approved by every step); the PDF "
        f"is {figures['size'] / 1024:.0f} KiB. Median of {rounds} rendering(s) each after "
        f"{warmups} warm-up(s). Peak RSS is the largest process of the worker's tree (for "
        "the forking Worker, the work horse that rendered)."
        + (
            " Rendering did not raise the worker's peak above what loading the app already takes."
            if figures["render_rss"] - figures["idle_rss"] < 2
            else ""
        )
        + (" Quick mode: few renderings, noisy figures." if quick else "")
        + "\nRun: `.venv/bin/python -m bench.pdf` (`--quick`: one rendering each)."
    )
    report.write_section("pdf", "Audit trail PDF: Baton vs WeasyPrint alone", body)
    say(body)


if __name__ == "__main__":
    main()
