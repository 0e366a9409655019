"""How fast the process insight dashboard answers as the history grows, on PostgreSQL.

    .venv/bin/python -m bench.insight            # 10,000 and 200,000 requests (seeds once)
    .venv/bin/python -m bench.insight --quick    # 2,000 and 10,000, well under a minute

Each size has a database of its own on the PostgreSQL server of DATABASE_URL (default
postgresql://postgres@127.0.0.1:5432), named baton_bench_insight_<size>. A database is seeded
with `flask --app app baton seed-demo --submissions N` once and kept between runs; it is seeded
again only if it is missing, has another number of requests, or is at an older migration head.

For each size it times, several times over, the busiest form's dashboard for the last 90 days
and the last 12 months: the service alone (portal.services.insight.compute: every figure, from
SQL aggregates) and the whole page as a signed-in admin gets it through the test client. It
prints the medians and the ratio of the large size to the small one, and writes them into the
"insight" section of docs/benchmarks.md (with --quick it only prints, unless --write).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench import report

ROOT = Path(__file__).resolve().parents[1]
SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
FORM = "vendor_invoice"
#: Requests a day across the four forms: a mid-sized organisation. The history grows by going
#: further back at that rate (10,000 requests are 50 days, 200,000 about 2.7 years), as a real
#: portal's does, while the dashboard's period stays the same.
PER_DAY = 200
PERIODS = ("90d", "12m")
ADMIN = "ada@example.com"


def _server_url() -> str:
    configured = os.environ.get("DATABASE_URL", "")
    if configured.startswith(("postgres://", "postgresql")):
        return configured
    return SERVER


def database_url(size: int) -> str:
    """The URL of the benchmark database for `size` requests."""
    from portal.config import database_url as normalise

    url = make_url(normalise(_server_url()))
    name = f"baton_bench_insight_{size // 1000}k"
    return url.set(database=name).render_as_string(hide_password=False)


def days_for(size: int) -> int:
    return max(7, size // PER_DAY)


def migration_head() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(ROOT / "portal" / "migrations"))
    return ScriptDirectory.from_config(config).get_current_head()


def _state(url: str) -> tuple[str | None, int] | None:
    """(migration revision, requests) of an existing database, or None if there is none."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
            count = connection.execute(text("SELECT count(*) FROM submission")).scalar()
            return revision, count
    except Exception:  # noqa: BLE001 - missing database or tables: seed it
        return None
    finally:
        engine.dispose()


def _create_app(url: str, instance: Path):
    os.environ["BATON_INSTANCE"] = str(instance)
    from portal import create_app

    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
            "RATELIMIT_ENABLED": False,
            "WTF_CSRF_ENABLED": False,
            "SECRET_KEY": "bench-insight",
        }
    )


def ensure_seeded(size: int, instance: Path) -> float | None:
    """Seed the database for `size` unless it is already there; the seconds seeding took."""
    url = database_url(size)
    head = migration_head()
    state = _state(url)
    if state == (head, size):
        print(f"{size:>9,} requests: database kept ({make_url(url).database})", flush=True)
        return None
    name = make_url(url).database
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    from flask_migrate import upgrade

    app = _create_app(url, instance)
    with app.app_context():
        upgrade(directory=str(ROOT / "portal" / "migrations"))
    print(f"{size:>9,} requests: seeding {name} ...", flush=True)
    started = time.perf_counter()
    result = app.test_cli_runner().invoke(
        args=[
            "baton",
            "seed-demo",
            "--submissions",
            str(size),
            "--days",
            str(days_for(size)),
            "--seed",
            "1",
        ]
    )
    seconds = time.perf_counter() - started
    if result.exit_code != 0:
        print(result.output, file=sys.stderr)
        raise SystemExit(f"seeding {name} failed: {result.exception!r}")
    print(result.output.strip().splitlines()[-1], flush=True)
    load = os.getloadavg()[0]
    note = f"seeded {size} requests in {seconds:.0f} s (load average {load:.1f} at the end)"
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        # Kept with the database, so a later run that reuses it can still say what seeding took.
        connection.execute(text(f"COMMENT ON DATABASE \"{name}\" IS '{note}'"))
    admin.dispose()
    with app.app_context():
        from portal.extensions import db

        with db.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
        db.engine.dispose()
    return seconds


def seeding_note(size: int) -> str:
    """What seeding the database for `size` took, as its comment recorded it (or '')."""
    url = make_url(database_url(size))
    admin = create_engine(url.set(database="postgres"))
    try:
        with admin.connect() as connection:
            note = connection.execute(
                text(
                    "SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                    "WHERE datname = :name"
                ),
                {"name": url.database},
            ).scalar()
    finally:
        admin.dispose()
    found = re.fullmatch(r"seeded (\d+) requests in (\d+) s \(load average ([\d.]+).*", note or "")
    if not found:
        return ""
    count, seconds, load = int(found[1]), int(found[2]), found[3]
    return (
        f"{count:,} requests in {seconds:,} s, {count / seconds:,.0f} requests a second "
        f"(load average {load} on 2 cores)"
    )


def measure(size: int, instance: Path, repeat: int) -> tuple[dict[str, float], dict[str, int]]:
    """Median seconds of the service and of the page per period for the seeded `size`, and
    how many requests of the form were submitted in each period."""
    from portal.domain import insight as rules
    from portal.extensions import db
    from portal.models import User
    from portal.services import insight

    app = _create_app(database_url(size), instance)
    found: dict[str, float] = {}
    counts: dict[str, int] = {}
    with app.app_context():
        form = insight.find_form(FORM)
        admin = db.session.scalar(db.select(User).where(User.email == ADMIN))
        scope = insight.scope_for(admin, form)
        today = insight.today()
        client = app.test_client()
        response = client.post("/login", data={"email": ADMIN, "password": "baton-demo"})
        assert response.status_code == 302, response.status_code
        for preset in PERIODS:
            period = rules.parse_period({"period": preset}, today)
            warm = insight.compute(form, period, scope)  # warm the caches once
            counts[preset] = warm.total("submitted")
            db.session.rollback()
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                insight.compute(form, period, scope)
                times.append(time.perf_counter() - started)
                db.session.rollback()
            found[f"compute {preset}"] = statistics.median(times)
            url = f"/insight/{FORM}?period={preset}"
            assert client.get(url).status_code == 200
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                response = client.get(url)
                times.append(time.perf_counter() - started)
                assert response.status_code == 200, response.status_code
            found[f"page {preset}"] = statistics.median(times)
        db.session.remove()
        db.engine.dispose()
    return found, counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 and 10,000 requests")
    parser.add_argument("--repeat", type=int, default=0, help="timings per figure (default 7)")
    parser.add_argument("--write", action="store_true", help="write docs/benchmarks.md too")
    parser.add_argument("--seed-only", action="store_true", help="seed the databases and stop")
    args = parser.parse_args(argv)
    small, large = (2_000, 10_000) if args.quick else (10_000, 200_000)
    repeat = args.repeat or (3 if args.quick else 7)
    instance = Path(tempfile.mkdtemp(prefix="baton-bench-insight-"))
    for size in (small, large):
        ensure_seeded(size, instance)
    if args.seed_only:
        return
    load_before = os.getloadavg()[0]
    measured = {size: measure(size, instance, repeat) for size in (small, large)}
    load_after = os.getloadavg()[0]
    results = {size: found for size, (found, _) in measured.items()}
    counts = {size: numbers for size, (_, numbers) in measured.items()}
    rows = [
        [
            f"vendor invoices submitted in the {preset}",
            f"{counts[small][preset]:,}",
            f"{counts[large][preset]:,}",
            f"{counts[large][preset] / max(1, counts[small][preset]):.2f}×",
        ]
        for preset in PERIODS
    ]
    for what in results[small]:
        before, after = results[small][what], results[large][what]
        rows.append(
            [
                what.replace("compute", "service: every figure,").replace(
                    "page", "whole page (admin),"
                ),
                f"{before * 1000:,.0f} ms",
                f"{after * 1000:,.0f} ms",
                f"{after / before:.2f}×",
            ]
        )
    header = ["what (form vendor_invoice)", f"{small:,} requests", f"{large:,} requests", "ratio"]
    # 90d and 12m are the preset names; the table says them in words.
    rows = [
        [
            cell.replace("90d", "last 90 days").replace("12m", "last 12 months")
            if isinstance(cell, str)
            else cell
            for cell in row
        ]
        for row in rows
    ]
    body = [
        f"`.venv/bin/python -m bench.insight{' --quick' if args.quick else ''}` seeds "
        f"{small:,} and {large:,} requests (four forms; vendor invoices are 40%) "
        "with `seed-demo --submissions`, then times the vendor invoice dashboard: the service "
        "that computes every figure, and the whole page with its charts through the test "
        f"client. Median of {repeat} runs after one warm-up; PostgreSQL. The history grows "
        f"backwards at {PER_DAY} requests a day ({small:,} requests are {days_for(small):,} "
        f"days, {large:,} are {days_for(large):,}): what grows is the history behind the "
        "period, and the first rows of the table say how many requests each period holds. "
        "Load average "
        f"(1 min) on the machine while timing: {load_before:.1f} before, {load_after:.1f} after.",
        "",
        report.table(header, rows),
    ]
    notes = [seeding_note(size) for size in (small, large)]
    if any(notes):
        body += ["", "Seeding with `seed-demo --submissions`: " + "; ".join(filter(None, notes))]
    markdown = "\n".join(body)
    print()
    print(markdown)
    if args.write or not args.quick:
        report.write_section("insight", "Process insight dashboard", markdown)
        print(f"\nwritten to {report.DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
