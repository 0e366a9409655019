"""How fast a what-if replays a form's history, on PostgreSQL.

    .venv/bin/python -m bench.whatif            # 200,000 requests (seeds once, then kept)
    .venv/bin/python -m bench.whatif --quick    # 20,000 requests, only printed

The database baton_bench_whatif_<size> on the PostgreSQL server of BENCH_POSTGRES (default
postgresql://postgres@127.0.0.1:5432) holds one form, "Bench invoice" (manager, then finance:
two people who must both approve, then the CFO above 10,000), and `size` requests of it over
the last size / 200 days, written straight into the tables as the services would have left
them: most approved, some rejected by finance or the CFO, some sent back once and approved on
the second round, some still waiting at finance, some withdrawn. It is seeded once and kept
while its migration head and size stay the same.

It times `portal.services.whatif.compute` over the whole period (every request) three ways:
reading the history alone, the unchanged schema, and a change (the CFO only above 25,000 and
finance deciding on the first answer), and writes the figures with the load average (the
machine is shared) into the "whatif" section of docs/benchmarks.md (not with --quick unless
--write).
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench import report
from bench._support import POSTGRES

ROOT = Path(__file__).resolve().parents[1]
PER_DAY = 200
SLUG = "bench_invoice"
HOUR = 3600

SCHEMA = {
    "title": "Bench invoice",
    "amount_field": "amount",
    "summary_fields": ["purpose"],
    "fields": [
        {"type": "text", "name": "purpose", "label": "Purpose", "required": True},
        {"type": "money", "name": "amount", "label": "Amount", "currency": "EUR", "required": True},
    ],
    "approval": {
        "fallback_group": "finance",
        "after_changes": "restart",
        "steps": [
            {"name": "manager", "title": "Manager approval", "assignees": [{"manager": 1}]},
            {
                "name": "finance",
                "title": "Finance approval",
                "policy": "all",
                "assignees": [{"group": "finance"}],
            },
            {
                "name": "cfo",
                "title": "CFO approval",
                "when": "amount > 10000",
                "assignees": [{"group": "cfo"}],
            },
        ],
    },
}


def changed_schema() -> dict:
    """The change timed: the CFO only above 25,000, finance deciding on the first answer."""
    draft = copy.deepcopy(SCHEMA)
    steps = draft["approval"]["steps"]
    steps[1]["policy"] = "any"
    steps[2]["when"] = "amount > 25000"
    return draft


def database_url(size: int) -> str:
    from portal.config import database_url as normalise

    url = make_url(normalise(POSTGRES + "/postgres"))
    return url.set(database=f"baton_bench_whatif_{size // 1000}k").render_as_string(
        hide_password=False
    )


def _create_app(url: str, instance: Path):
    os.environ["BATON_INSTANCE"] = str(instance)
    from portal import create_app

    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
            "RATELIMIT_ENABLED": False,
            "SECRET_KEY": "bench-whatif",
        }
    )


def _state(url: str):
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
            count = connection.execute(text("SELECT count(*) FROM submission")).scalar()
            return revision, count
    except Exception:  # noqa: BLE001 - no database or no tables yet: seed it
        return None
    finally:
        engine.dispose()


def ensure_seeded(size: int, instance: Path) -> None:
    """Create and fill the database for `size`, unless it is already there."""
    from bench.insight import migration_head

    url = database_url(size)
    name = make_url(url).database
    if _state(url) == (migration_head(), size):
        print(f"{size:,} requests: database kept ({name})", flush=True)
        return
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    from flask_migrate import upgrade

    app = _create_app(url, instance)
    with app.app_context():
        upgrade(directory=str(ROOT / "portal" / "migrations"))
        started = time.perf_counter()
        _seed(size)
        print(f"{size:,} requests: seeded {name} in {time.perf_counter() - started:.0f} s")


def _seed(size: int) -> None:
    """Write `size` requests with their step and task rows straight into the tables."""
    from portal import audit
    from portal.extensions import db
    from portal.models import ApprovalStep, Submission, Task
    from portal.services import forms, users

    people = {}
    for email, name, groups in [
        ("mia@example.com", "Mia Manager", ["managers"]),
        ("fiona@example.com", "Fiona Walsh", ["finance"]),
        ("frank@example.com", "Frank Meyer", ["finance"]),
        ("carol@example.com", "Carol Chen", ["cfo"]),
        ("alice@example.com", "Alice Martin", ["staff"]),
        ("ada@example.com", "Ada Byrne", ["admin"]),
    ]:
        people[email.split("@")[0]], _ = users.save_user(email, name, "baton-demo", groups)
    db.session.flush()
    version = forms.publish(
        json.dumps(SCHEMA), SLUG, audit.Actor(system="bench", channel="cli"), "bench"
    ).version
    db.session.commit()
    ids = {key: person.id for key, person in people.items()}
    form_id, version_id = version.form_id, version.id
    rng = random.Random(23)
    end = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=2)
    days = max(7, size // PER_DAY)
    start = end - dt.timedelta(days=days)
    submissions, steps, tasks = [], [], []

    def flush() -> None:
        with db.engine.begin() as connection:
            if submissions:
                connection.execute(Submission.__table__.insert(), submissions)
            if steps:
                connection.execute(ApprovalStep.__table__.insert(), steps)
            if tasks:
                connection.execute(Task.__table__.insert(), tasks)
        submissions.clear()
        steps.clear()
        tasks.clear()

    for number in range(1, size + 1):
        submitted = start + dt.timedelta(seconds=rng.uniform(0, days * 86400))
        amount = round(min(rng.lognormvariate(8.2, 1.3), 400_000), 2)
        fate = rng.random()
        _request(number, submitted, amount, fate, rng, ids, form_id, version_id,
                 submissions, steps, tasks)  # fmt: skip
        if number % 10_000 == 0:
            flush()
            print(f"  {number:,} written", flush=True)
    flush()
    with db.engine.begin() as connection:
        for table in ("submission", "approval_step", "task"):
            sequence = f"pg_get_serial_sequence('{table}', 'id')"
            connection.execute(text(f"SELECT setval({sequence}, max(id)) FROM {table}"))
        connection.execute(text("ANALYZE"))


def _request(number, submitted, amount, fate, rng, ids, form_id, version_id, subs, steps, tasks):
    """One request's rows: its fate decides its path (see the module docstring)."""

    def wait() -> dt.timedelta:
        return dt.timedelta(seconds=round(rng.expovariate(1 / (10 * HOUR))) + 60)

    at = submitted
    status, finished = "approved", None
    rounds = [1, 2] if 0.90 <= fate < 0.95 else [1]
    task_number = [0]

    def step_row(number_, position, name, title, state, started, ended):
        steps.append(
            {
                "submission_id": number,
                "round": number_,
                "position": position,
                "name": name,
                "title": title,
                "state": state,
                "reason": "",
                "started_at": started,
                "finished_at": ended,
            }
        )

    def task_row(round_, step, who, state, decision, created, decided):
        task_number[0] += 1
        tasks.append(
            {
                "submission_id": number,
                "key": f"{round_}.{step}.{ids[who]}",
                "round": round_,
                "step": step,
                "assignee_id": ids[who],
                "state": state,
                "decision": decision,
                "comment": "",
                "closed_reason": "",
                "created_at": created,
                "decided_at": decided,
                "slot": "",
                "origin": "",
            }
        )

    for round_ in rounds:
        sent_back = round_ == 1 and len(rounds) == 2
        # Manager
        started = at
        if fate >= 0.99:  # withdrawn while the manager had it
            ended = at + wait()
            step_row(round_, 0, "manager", "Manager approval", "cancelled", started, ended)
            step_row(round_, 1, "finance", "Finance approval", "cancelled", None, ended)
            step_row(round_, 2, "cfo", "CFO approval", "cancelled", None, ended)
            task_row(round_, "manager", "mia", "cancelled", None, started, None)
            status, finished = "withdrawn", ended
            break
        at = at + wait()
        if sent_back:
            step_row(round_, 0, "manager", "Manager approval", "changes_requested", started, at)
            step_row(round_, 1, "finance", "Finance approval", "waiting", None, None)
            step_row(round_, 2, "cfo", "CFO approval", "waiting", None, None)
            task_row(round_, "manager", "mia", "changes_requested", "request_changes", started, at)
            at = at + wait() * 2  # with the submitter
            continue
        step_row(round_, 0, "manager", "Manager approval", "approved", started, at)
        task_row(round_, "manager", "mia", "approved", "approve", started, at)
        # Finance: two people, both must approve
        started = at
        if 0.97 <= fate < 0.99:  # still waiting at finance
            step_row(round_, 1, "finance", "Finance approval", "active", started, None)
            step_row(round_, 2, "cfo", "CFO approval", "waiting", None, None)
            task_row(round_, "finance", "fiona", "open", None, started, None)
            task_row(round_, "finance", "frank", "open", None, started, None)
            status = "in_review"
            break
        first, second = sorted([started + wait(), started + wait()])
        rejecting = 0.86 <= fate < 0.90
        task_row(round_, "finance", "fiona", "approved", "approve", started, first)
        if rejecting:
            task_row(round_, "finance", "frank", "rejected", "reject", started, second)
            step_row(round_, 1, "finance", "Finance approval", "rejected", started, second)
            step_row(round_, 2, "cfo", "CFO approval", "waiting", None, None)
            status, finished = "rejected", second
            break
        task_row(round_, "finance", "frank", "approved", "approve", started, second)
        step_row(round_, 1, "finance", "Finance approval", "approved", started, second)
        at = second
        # CFO above 10,000
        if amount <= 10_000:
            step_row(round_, 2, "cfo", "CFO approval", "skipped", at, at)
            finished = at
            break
        started = at
        at = at + wait()
        cfo_rejects = 0.95 <= fate < 0.97
        state = "rejected" if cfo_rejects else "approved"
        step_row(round_, 2, "cfo", "CFO approval", state, started, at)
        task_row(round_, "cfo", "carol", state, "reject" if cfo_rejects else "approve", started, at)
        status, finished = state, at
    subs.append(
        {
            "id": number,
            "form_id": form_id,
            "form_version_id": version_id,
            "submitter_id": ids["alice"],
            "status": status,
            "data": {
                "purpose": f"Invoice {number}",
                "amount": {"amount": f"{amount:.2f}", "currency": "EUR"},
            },
            "amount": amount,
            "currency": "EUR",
            "summary": f"Invoice {number}",
            "submit_count": len(rounds),
            "created_at": submitted,
            "updated_at": finished or submitted,
            "submitted_at": submitted,
            "finished_at": finished if status != "in_review" else None,
        }
    )


def measure(size: int, instance: Path) -> dict:
    """Seconds to read the history, and to replay it unchanged and changed."""
    from portal.domain.insight import Period
    from portal.services import insight, whatif

    app = _create_app(database_url(size), instance)
    found = {}
    with app.app_context():
        form = insight.find_form(SLUG)
        today = insight.today()
        period = Period(today - dt.timedelta(days=3 * 366 - 1), today)
        options = whatif.Options({}, {})
        load_before = os.getloadavg()
        began, cpu = time.perf_counter(), time.process_time()
        read = sum(1 for _ in whatif.histories(form, period, frozenset({"amount"})))
        found["read"] = time.perf_counter() - began
        found["read_cpu"] = time.process_time() - cpu
        for name, document in (("unchanged", SCHEMA), ("changed", changed_schema())):
            spec = whatif.draft_spec(form, json.dumps(document))
            began, cpu = time.perf_counter(), time.process_time()
            result = whatif.compute(form, spec, period, options)
            found[name] = time.perf_counter() - began
            found[f"{name}_cpu"] = time.process_time() - cpu
            found[f"{name}_report"] = result
        found["requests"] = read
        found["load"] = (load_before, os.getloadavg())
    return found


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 requests, only printed")
    parser.add_argument("--write", action="store_true", help="write docs/benchmarks.md anyway")
    args = parser.parse_args(argv)
    size = 20_000 if args.quick else 200_000
    with tempfile.TemporaryDirectory() as instance:
        ensure_seeded(size, Path(instance))
        found = measure(size, Path(instance))
    unchanged, changed = found["unchanged_report"], found["changed_report"]
    assert unchanged.route_changes == 0, "the unchanged schema must reproduce the history"
    (load1, _, _), (load2, _, _) = found["load"]
    what = {
        "read": "Read the history only",
        "unchanged": "Replay, unchanged schema",
        "changed": "Replay, CFO above 25,000 and finance on the first answer",
    }
    rows = [
        [
            words,
            f"{found[key]:.1f} s",
            f"{found[key + '_cpu']:.1f} s",
            f"{found['requests'] / found[key]:,.0f}",
        ]
        for key, words in what.items()
    ]
    body = (
        f"`python -m bench.whatif`: {found['requests']:,} requests of one form "
        "(`portal.services.whatif.compute` over every request: read in chunks of 20,000, "
        "replayed through the pure engine). Load "
        f"average {load1:.1f} before and {load2:.1f} after the runs, on "
        f"{os.cpu_count()} cores (other work on the machine shows there). *Time* is the "
        "wall clock; *CPU time of the process* is "
        "what the replaying process itself used (`time.process_time`); PostgreSQL's work "
        "for the queries comes on top.\n\n"
        + report.table(["What", "Time", "CPU time of the process", "Requests a second"], rows)
        + f"\n\nThe unchanged schema changed {unchanged.route_changes} routes (it must change "
        f"none); the change changed {changed.route_changes:,} routes, saved "
        f"{unchanged.tasks_before - changed.tasks_after:,} tasks and found {changed.risky:,} "
        "requests at risk.\n"
    )
    print(body)
    if not args.quick or args.write:
        report.write_section("whatif", "What if: replaying a form's history", body)


if __name__ == "__main__":
    main(sys.argv[1:])
