"""Pages at scale: inbox, My submissions, compliance search and the insight dashboard at
10,000 and at 1,000,000 submissions on PostgreSQL.

    .venv/bin/python -m bench.scale [--quick] [--small N] [--large N] [--no-seed]

Each size has its own database (baton_bench_10k, baton_bench_1m, ...), kept between runs: it
is seeded again only when it is missing or was seeded with another count, and upgraded with
`flask db upgrade` when the migrations moved on. The small database is filled by the demo
history generator (`flask --app app baton seed-demo --submissions N`), which runs every event
of every request through the real services (tens a second at best: a million would take most
of a day). The large one is filled with
`seed-demo --submissions N --sample S`: the generator makes a sample as large as the small
database, and portal.demo.copies copies those histories (new ids, chains renamed and
hashed again) until there are N, in minutes. `--quick` compares 200 with 2,000: a smoke run
that seeds in seconds, not a measurement.

Every page is requested through the Flask test client as the person it is busiest for (the
approver with most open tasks, the submitter with most requests, a compliance officer, an
admin), in rounds that alternate the sizes, after a warm-up; the figure is the median.
Writes the "scale" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

from bench import report
from bench._support import (
    PASSWORD,
    ROOT,
    app_env,
    database_exists,
    database_url,
    exit_cleanly_on_sigterm,
    flask,
    fresh_database,
    redis_server,
    say,
    verdict,
)

GOAL = 2.0
#: Where generated uploads (one demo PDF) of the kept databases live.
INSTANCE = ROOT / "instance" / "bench"
_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def database_name(count: int) -> str:
    """baton_bench_10k, baton_bench_1m, baton_bench_2500 ..."""
    if count % 1_000_000 == 0:
        return f"baton_bench_{count // 1_000_000}m"
    if count % 1000 == 0:
        return f"baton_bench_{count // 1000}k"
    return f"baton_bench_{count}"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 vs 2,000, 3 rounds (a smoke run)")
    parser.add_argument("--small", type=int, help="submissions in the small database")
    parser.add_argument("--large", type=int, help="submissions in the large database")
    parser.add_argument(
        "--no-seed", action="store_true", help="measure the databases as they are (never seed)"
    )
    args = parser.parse_args(argv)
    exit_cleanly_on_sigterm()
    small = args.small or (200 if args.quick else 10_000)
    large = args.large or (2_000 if args.quick else 1_000_000)
    rounds = 3 if args.quick else 7
    # The large database is the small one's history, copied: what differs is only how much.
    sizes = [
        _ensure(small, args.no_seed),
        _ensure(large, args.no_seed, sample=small if large > small else None),
    ]
    # A Redis of its own for the insight snapshots' jobs (never an earlier script's, whose
    # server `python -m bench` has stopped by now).
    with redis_server() as redis_url:
        return _measure(sizes, redis_url, rounds, args.quick)


def _measure(sizes: list[dict], redis_url: str, rounds: int, quick: bool) -> dict:
    apps = [_signed_in_clients(size, redis_url) for size in sizes]
    pages = list(apps[0]["pages"])
    times: dict[tuple[int, str], list[float]] = {}
    for round_number in range(rounds + 1):
        for size, app in zip(sizes, apps, strict=True):
            for page in pages:
                client, url = app["pages"][page]
                started = time.perf_counter()
                response = client.get(url)
                elapsed = time.perf_counter() - started
                if response.status_code != 200:
                    raise SystemExit(f"{page} at {size['count']:,} answered {response.status_code}")
                if round_number:  # round 0 warms caches (PostgreSQL's included)
                    times.setdefault((size["count"], page), []).append(elapsed)
        if round_number == 0:
            for size, app in zip(sizes, apps, strict=True):
                size["worker_seconds"] = _run_queued_jobs(app["app"])
    figures = {
        (size["count"], page): statistics.median(times[(size["count"], page)])
        for size in sizes
        for page in pages
    }
    for size, app in zip(sizes, apps, strict=True):
        size["people"] = app["people"]
    _write(sizes, pages, figures, rounds, quick)
    return figures


# -- databases --------------------------------------------------------------------------------


def _ensure(count: int, no_seed: bool, sample: int | None = None) -> dict:
    """The database for `count` submissions, seeded if need be (with `sample`, by copying a
    generated sample of that many); what is known about it."""
    name = database_name(count)
    env = app_env(database_url(name), None, INSTANCE)
    marker = _marker(name) if database_exists(name) else None
    if marker is None and database_exists(name):
        if _writers(name):
            raise SystemExit(f"{name} is being written by another process (seeding?); wait")
        if _count(name) == count:  # seeded completely by hand: adopt it
            marker = _adopt(name, count)
    if marker is None or marker["submissions"] != count:
        if no_seed:
            if not database_exists(name):
                raise SystemExit(f"{name} does not exist (run without --no-seed to seed it)")
        else:
            marker = _seed(name, count, env, sample)
    elif _current_revision(name) != _head(env):
        say(f"{name}: the migrations moved on; upgrading (the data stays) ...")
        flask(env, "db", "upgrade")
    found = _count(name)
    say(f"{name}: {found:,} submissions")
    return {
        "name": name,
        "count": found,
        "env": env,
        "seed_seconds": (marker or {}).get("seconds"),
        "sample": (marker or {}).get("sample"),
    }


def _seed(name: str, count: int, env: dict, sample: int | None = None) -> dict:
    how = f" ({sample:,} generated, the rest copies of them)" if sample else ""
    say(f"{name}: seeding {count:,} submissions{how} (kept for later runs) ...")
    fresh_database(name)
    started = time.monotonic()
    flask(env, "db", "upgrade")
    flask(env, "baton", "load-schemas", "form_schemas")
    copies = ["--sample", str(sample)] if sample else []
    flask(env, "baton", "seed-demo", "--submissions", str(count), *copies)
    seconds = time.monotonic() - started
    _finish_seeding(name, count, round(seconds, 1), sample)
    say(f"  seeded in {seconds / 60:.1f} min (VACUUM ANALYZE included)")
    return {"submissions": count, "seconds": seconds, "sample": sample}


def _adopt(name: str, count: int) -> dict:
    say(f"{name}: complete ({count:,} submissions) but not seeded by this script; adopting it")
    _finish_seeding(name, count, None)
    return {"submissions": count, "seconds": None}


def _finish_seeding(
    name: str, count: int, seconds: float | None, sample: int | None = None
) -> None:
    """Statistics for the planner (autovacuum would get there later), then the marker.

    `seconds` includes the VACUUM ANALYZE; `sample` is how many requests were generated when
    the rest are copies (NULL: all generated)."""
    started = time.monotonic()
    with _connect(name) as connection:
        connection.execute("VACUUM ANALYZE")
        if seconds is not None:
            seconds = round(seconds + time.monotonic() - started, 1)
        connection.execute(
            "CREATE TABLE bench_seed (submissions integer, seconds real, seeded_at timestamptz, "
            "sample integer)"
        )
        connection.execute(
            "INSERT INTO bench_seed VALUES (%s, %s, now(), %s)", (count, seconds, sample)
        )


def _writers(name: str) -> int:
    """Other sessions on the database that are inside a transaction (a seeding, say)."""
    with _connect("postgres") as connection:
        return connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
            "AND state IN ('active', 'idle in transaction')",
            (name,),
        ).fetchone()[0]


def _connect(name: str):
    import psycopg

    return psycopg.connect(database_url(name), autocommit=True)


def _marker(name: str) -> dict | None:
    """What bench_seed says of the database: it was seeded completely, with how many."""
    import psycopg

    with _connect(name) as connection:
        try:
            # to_jsonb: markers written before the sample column was added lack it.
            row = connection.execute("SELECT to_jsonb(b) FROM bench_seed b").fetchone()
        except psycopg.errors.UndefinedTable:
            return None
    return row[0] if row else None


def _count(name: str) -> int:
    with _connect(name) as connection:
        return connection.execute("SELECT count(*) FROM submission").fetchone()[0]


def _current_revision(name: str) -> str | None:
    with _connect(name) as connection:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    return row[0] if row else None


def _head(env: dict) -> str:
    out = flask(env, "db", "heads")
    return next(line.split()[0] for line in out.splitlines() if "(head)" in line)


# -- pages ------------------------------------------------------------------------------------


def _signed_in_clients(size: dict, redis_url: str) -> dict:
    """An app on the size's database and, per page, a client signed in as its busiest user."""
    from portal import create_app

    with tempfile.TemporaryDirectory() as folder:
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": size["env"]["DATABASE_URL"].replace(
                    "postgresql://", "postgresql+psycopg://"
                ),
                "RATELIMIT_ENABLED": False,
                "STORAGE_URL": Path(folder).as_uri(),
                # Each size's jobs and insight snapshots apart (both share the script's Redis).
                "RQ_QUEUE": f"bench-{size['name']}",
                "REDIS_URL": redis_url,
            }
        )
    people = _people(app)
    pages = {
        "inbox": (people["approver"], "/inbox"),
        "My submissions": (people["submitter"], "/submissions"),
        "compliance search": ("cora@example.com", "/compliance/"),
        "compliance search, filtered": (
            "cora@example.com",
            "/compliance/?form=vendor_invoice&status=approved&amount_min=5000",
        ),
        # Words in what was submitted: a vendor many requests name, one invoice number (each
        # copy repeats its original's), and a word nobody wrote (the index says so at once).
        "records search: vendor words": ("cora@example.com", "/compliance/?text=Acme+Office"),
        "records search: invoice number": (
            "cora@example.com",
            f"/compliance/?text={people['invoice_number']}",
        ),
        "records search: no match": ("cora@example.com", "/compliance/?text=Zyxwvutsr"),
        "insight dashboard (90 days)": ("ada@example.com", "/insight/vendor_invoice"),
    }
    clients = {}
    for email in {email for email, _ in pages.values()}:
        client = app.test_client()
        page = client.get("/login")
        match = _TOKEN.search(page.text)
        response = client.post(
            "/login",
            data={
                "csrf_token": match.group(1) or match.group(2),
                "email": email,
                "password": PASSWORD,
            },
        )
        if response.status_code != 302:
            raise SystemExit(f"signing in as {email} failed ({response.status_code})")
        clients[email] = client
    return {
        "app": app,
        "people": people,
        "pages": {name: (clients[email], url) for name, (email, url) in pages.items()},
    }


def _run_queued_jobs(app) -> float:
    """Run what the warm-up round queued (the insight snapshot of a busy period), as the
    worker would; the seconds it took."""
    import contextvars

    from rq import SimpleWorker

    from portal import jobs, queue

    jobs.use_app(app)
    q = queue.queue(app)
    if not len(q):
        return 0.0
    started = time.perf_counter()
    worker = SimpleWorker([q], connection=q.connection)
    contextvars.Context().run(worker.work, burst=True, with_scheduler=False)
    if q.failed_job_registry.count:
        raise SystemExit(f"a job failed on {app.config['RQ_QUEUE']}")
    return time.perf_counter() - started


def _people(app) -> dict[str, str]:
    """The approver with the most open tasks and the submitter with the most requests."""
    from sqlalchemy import func, select

    from portal.domain.chain import TaskState
    from portal.extensions import db
    from portal.models import Submission, Task, User

    with app.app_context():
        approver = db.session.execute(
            select(User.email, func.count())
            .join(Task, Task.assignee_id == User.id)
            .where(Task.state == TaskState.OPEN)
            .group_by(User.email)
            .order_by(func.count().desc())
            .limit(1)
        ).first()
        submitter = db.session.execute(
            select(User.email, func.count())
            .join(Submission, Submission.submitter_id == User.id)
            .group_by(User.email)
            .order_by(func.count().desc())
            .limit(1)
        ).first()
        invoice_number = db.session.scalar(
            select(Submission.data["invoice_number"].as_string())
            .where(Submission.data["invoice_number"].as_string().is_not(None))
            .order_by(Submission.id)
            .limit(1)
        )
    return {
        "invoice_number": invoice_number or "INV-2026-1042",
        "approver": approver[0],
        "approver_tasks": approver[1],
        "submitter": submitter[0],
        "submitter_requests": submitter[1],
    }


# -- report -----------------------------------------------------------------------------------


def _snapshot_words(small: dict, large: dict) -> str:
    """What the insight figures are: live, or a worker's snapshot (docs/insight.md)."""
    parts = []
    for size in (small, large):
        seconds = size.get("worker_seconds") or 0.0
        if seconds:
            parts.append(
                f"at {size['count']:,} from the snapshot a worker computed in {seconds:.1f} s "
                "(asked for by the warm-up round)"
            )
        else:
            parts.append(f"at {size['count']:,} computed live in the request")
    return (
        " Insight figures of a period with more than BATON_INSIGHT_LIVE_REQUESTS requests come "
        "from a worker's snapshot (docs/insight.md), and the dashboard was timed as people get "
        "it: " + "; ".join(parts) + "."
    )


def _write(sizes: list[dict], pages: list[str], figures: dict, rounds: int, quick: bool) -> None:
    small, large = sizes
    rows = []
    for page in pages:
        before, after = figures[(small["count"], page)], figures[(large["count"], page)]
        ratio = after / before
        rows.append(
            [
                page,
                f"{before * 1000:.0f}",
                f"{after * 1000:.0f}",
                f"{ratio:.2f}",
                verdict(ratio, GOAL, at_least=False),
            ]
        )
    filled = " ".join(_filled(size) for size in sizes)
    people_small, people_large = small["people"], large["people"]
    body = (
        report.table(
            [
                "page",
                f"ms at {small['count']:,}",
                f"ms at {large['count']:,}",
                f"ratio (goal < {GOAL:.0f})",
                "",
            ],
            rows,
        )
        + f"\n\nMedian of {rounds} requests per page and size through the Flask test client "
        "(server time, no network), after a warm-up round, sizes alternating. Each page is "
        "asked for by the person it is busiest for: the inbox of the approver with most open "
        f"tasks ({people_small['approver_tasks']:,} and {people_large['approver_tasks']:,}), "
        "My submissions of the submitter with most requests "
        f"({people_small['submitter_requests']:,} and {people_large['submitter_requests']:,}), "
        "the compliance search unfiltered and filtered (vendor invoices, approved, "
        "from 5,000) for a compliance officer, the records search by words in what was "
        "submitted (a vendor's name, one invoice number, a word nobody wrote; PostgreSQL's "
        "trigram index), the vendor invoice insight dashboard for an admin."
        + _snapshot_words(small, large)
        + f" {filled} The databases are kept between runs."
        + (" Quick mode: 200 vs 2,000, a smoke run, noisy figures." if quick else "")
        + (
            f" The goal is set for 10,000 against 1,000,000 submissions; this run compared "
            f"{small['count']:,} with {large['count']:,}."
            if (small["count"], large["count"]) != (10_000, 1_000_000) and not quick
            else ""
        )
        + "\nRun: `.venv/bin/python -m bench.scale` (`--quick`: 200 vs 2,000)."
    )
    title = f"Scale: pages at {small['count']:,} and {large['count']:,} submissions"
    report.write_section("scale", title, body)
    say(body)


def _filled(size: dict) -> str:
    """How a database was filled, and how long it took, as its marker says."""
    count, sample, seconds = size["count"], size["sample"], size["seed_seconds"]
    took = f" in {seconds / 60:.1f} min (VACUUM ANALYZE included)" if seconds else ""
    if sample and sample < count:
        whole, extra = divmod(count - sample, sample)
        more = f", and {extra:,} of them once more" if extra else ""
        return (
            f"The {count:,} database was filled{took} by copying: `seed-demo --submissions "
            f"{count} --sample {sample}` generated {sample:,} requests (the same seed and span as "
            f"the small database), then made {whole:,} copies of each{more} "
            "(portal/demo/copies.py: new ids, every audit chain renamed and hashed "
            "again, times unchanged)."
        )
    if seconds is None:
        return f"The {count:,} database was filled by hand (seeding time not known)."
    return f"The {count:,} database was generated request by request{took}."


if __name__ == "__main__":
    main()
