"""Where a request's CPU goes: Baton's form page, submission and decision under cProfile.

    .venv/bin/python -m bench.profile [--requests N]

Runs the three requests bench/web.py loads, in this process through Flask's test client
against a PostgreSQL database of its own (baton_bench_profile), after a warm-up, and sums the
profile's own time (tottime) by the library each function belongs to, with the functions that
take most. Writes the "profile" section of docs/benchmarks.md. The profiler's clock is the
process's CPU time, so waiting for PostgreSQL counts nothing (its own CPU is bench/web.py's
"database CPU" column). cProfile slows Python down about twofold, evenly enough that the shares
hold; the absolute milliseconds do not.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from bench import report
from bench._support import (
    PASSWORD,
    ROOT,
    app_env,
    drop_database,
    exit_cleanly_on_sigterm,
    fresh_database,
    prepare_portal,
    redis_server,
    say,
)

DATABASE = "baton_bench_profile"
FORM_PATH = "/forms/vendor_invoice/new"
_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
_SEEN = re.compile(r'name="seen" type="hidden" value="([^"]*)"')
#: Which library a profiled function belongs to, by a piece of its file's path.
LIBRARIES = [
    ("/sqlalchemy/", "SQLAlchemy"),
    ("/psycopg", "psycopg (the driver)"),
    ("/jinja2/", "Jinja2"),
    ("/markupsafe/", "Jinja2"),
    ("/werkzeug/", "Werkzeug"),
    ("/flask_wtf/", "WTForms / Flask-WTF"),
    ("/wtforms/", "WTForms / Flask-WTF"),
    ("/flask_login/", "Flask and extensions"),
    ("/flask_sqlalchemy/", "Flask and extensions"),
    ("/flask/", "Flask and extensions"),
    ("/itsdangerous/", "Flask and extensions"),
    ("/redis/", "Redis client (outbox relay)"),
    ("/rq/", "Redis client (outbox relay)"),
    ("/bench/floor/templates/", "Jinja2"),
    ("/bench/floor/", "the floor app"),
    ("/portal/domain/", "Baton: domain rules"),
    ("/portal/", "Baton: services, views, audit"),
    ("/templates/", "Jinja2"),
]


def library(filename: str) -> str:
    for piece, name in LIBRARIES:
        if piece in filename:
            return name
    if filename.startswith("~") or "/lib/python3" in filename:
        return "Python standard library and builtins"
    return "other"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, help="requests of each kind (default 200)")
    parser.add_argument("--quick", action="store_true", help="30 requests of each kind")
    args = parser.parse_args(argv)
    args.requests = args.requests or (30 if args.quick else 200)
    exit_cleanly_on_sigterm()
    results = {}
    with redis_server() as redis_url, tempfile.TemporaryDirectory() as folder:
        env = app_env(fresh_database(DATABASE), redis_url, Path(folder) / "instance")
        prepare_portal(env)
        subprocess.run([sys.executable, "-m", "bench.floor", "init"], cwd=ROOT, env=env, check=True)
        os.environ.update(env)
        from portal import create_app

        app = create_app()
        try:
            results = _profile(app, args.requests)
            results.update(_profile_floor(args.requests))
        finally:
            from portal.extensions import db

            with app.app_context():
                db.engine.dispose()
            drop_database(DATABASE)
    _write(results, args.requests)
    return results


def _client(app, email: str):
    client = app.test_client()
    page = client.get("/login").text
    token = _token(page)
    response = client.post(
        "/login", data={"csrf_token": token, "email": email, "password": PASSWORD}
    )
    assert response.status_code == 302, response.text
    return client


def _token(page: str) -> str:
    match = _TOKEN.search(page)
    return match.group(1) or match.group(2)


def _invoice(token: str) -> dict:
    from io import BytesIO

    from bench._support import PDF_BYTES

    return {
        "csrf_token": token,
        "vendor_name": "Acme Office Supplies GmbH",
        "vendor_email": "billing@acme.example",
        "invoice_number": "INV-2026-0042",
        "invoice_date": "2026-11-02",
        "due_date": "2026-12-02",
        "currency": "EUR",
        "cost_centre": "CC-100",
        "po_number": "",
        "lines-0-description": "Ergonomic chairs",
        "lines-0-quantity": "2",
        "lines-0-unit_price": "450.00",
        "lines-1-description": "Desk lamps",
        "lines-1-quantity": "5",
        "lines-1-unit_price": "55",
        "lines-2-description": "Delivery",
        "lines-2-quantity": "1",
        "lines-2-unit_price": "200",
        "notes": "",
        "_action": "submit",
        "invoice_file": (BytesIO(PDF_BYTES), "invoice.pdf"),
    }


def _profile(app, count: int) -> dict:
    from sqlalchemy import select

    from portal import jobs
    from portal.extensions import db
    from portal.models import OutboxMessage, Task, User

    alice = _client(app, "alice@example.com")
    token = _token(alice.get(FORM_PATH).text)
    for _ in range(20):  # warm-up: kept forms, compiled templates, pooled connections
        alice.get(FORM_PATH)
        alice.post(FORM_PATH, data=_invoice(token), content_type="multipart/form-data")
    results = {}
    results["form page (GET)"] = _run(lambda: alice.get(FORM_PATH), count, 200)
    results["submission (POST)"] = _run(
        lambda: alice.post(FORM_PATH, data=_invoice(token), content_type="multipart/form-data"),
        count,
        302,
    )
    jobs.use_app(app)
    with app.app_context():
        waiting = db.session.scalars(
            select(OutboxMessage.id).where(OutboxMessage.job == "start_chain")
        ).all()
        db.session.rollback()
    for message_id in waiting:
        jobs.run_outbox(message_id)
    bob = _client(app, "bob@example.com")
    with app.app_context():
        bob_id = db.session.scalar(select(User.id).where(User.email == "bob@example.com"))
        tasks = db.session.scalars(
            select(Task.id).where(Task.assignee_id == bob_id, Task.state == "open")
        ).all()
        db.session.rollback()
    pages = []
    for task_id in tasks[: count + 20]:
        page = bob.get(f"/tasks/{task_id}").text
        pages.append((task_id, _token(page), _SEEN.search(page).group(1)))
    for task_id, csrf, seen in pages[:20]:
        bob.post(
            f"/tasks/{task_id}", data={"csrf_token": csrf, "decision": "approve", "seen": seen}
        )
    queue = iter(pages[20:])

    def decide():
        task_id, csrf, seen = next(queue)
        return bob.post(
            f"/tasks/{task_id}", data={"csrf_token": csrf, "decision": "approve", "seen": seen}
        )

    results["decision (POST)"] = _run(decide, min(count, len(pages) - 20), 302)
    return results


def _profile_floor(count: int) -> dict:
    """The floor app's page (fields kept, as Baton keeps them) and POST, the same way."""
    from bench import floor

    os.environ["FLOOR_KEEP_FIELDS"] = "1"
    app = floor.create_app()
    client = app.test_client()
    token = _token(client.get("/login").text)
    response = client.post(
        "/login", data={"csrf_token": token, "email": floor.EMAIL, "password": PASSWORD}
    )
    assert response.status_code == 302, response.text
    token = _token(client.get(FORM_PATH).text)
    for _ in range(20):
        client.get(FORM_PATH)
        client.post(FORM_PATH, data=_invoice(token), content_type="multipart/form-data")
    return {
        "floor: form page (GET, fields kept)": _run(lambda: client.get(FORM_PATH), count, 200),
        "floor: submission (POST)": _run(
            lambda: client.post(
                FORM_PATH, data=_invoice(token), content_type="multipart/form-data"
            ),
            count,
            302,
        ),
    }


def _run(request, count: int, status: int) -> dict:
    profiler = cProfile.Profile(time.process_time)  # CPU, not waiting
    for _ in range(count):
        profiler.enable()
        response = request()
        profiler.disable()
        assert response.status_code == status, response.status_code
    stats = pstats.Stats(profiler)
    by_library: dict[str, float] = defaultdict(float)
    functions = []
    for (filename, line, name), (_, calls, own, _cumulative, _) in stats.stats.items():
        by_library[library(filename)] += own
        functions.append((own, f"{library(filename)}: {Path(filename).name}:{line} {name}", calls))
    total = sum(by_library.values())
    say(f"{count} requests, {1000 * total / count:.1f} ms profiled CPU each")
    return {
        "count": count,
        "ms": 1000 * total / count,
        "libraries": sorted(by_library.items(), key=lambda item: -item[1]),
        "top": sorted(functions, reverse=True)[:8],
        "total": total,
    }


def _write(results: dict, count: int) -> None:
    parts = []
    for label, found in results.items():
        total = found["total"]
        rows = [
            [name, f"{1000 * seconds / found['count']:.2f}", f"{100 * seconds / total:.0f} %"]
            for name, seconds in found["libraries"]
            if seconds / total >= 0.01
        ]
        top = "; ".join(
            f"{where} {1000 * own / found['count']:.2f} ms" for own, where, _ in found["top"][:5]
        )
        parts.append(
            f"**{label}**: {found['ms']:.1f} ms of profiled CPU per request "
            f"({found['count']} requests).\n\n"
            + report.table(["where (own time)", "ms per request", "share"], rows)
            + f"\n\nFunctions taking most: {top}."
        )
    body = (
        "\n\n".join(parts)
        + "\n\nIn-process (Flask's test client, no HTTP server), against PostgreSQL, under "
        "cProfile with the process's CPU time as its clock (waiting for PostgreSQL counts "
        "nothing), which about doubles Python's time evenly: read the shares, not the "
        "milliseconds.\n"
        f"Run: `.venv/bin/python -m bench.profile` (`--requests N`, default {count})."
    )
    report.write_section("profile", "Profile: where a request's CPU goes", body)
    say(body)


if __name__ == "__main__":
    main()
