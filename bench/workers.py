"""Worker throughput: approval-chain jobs against RQ's no-op job, per worker class, and a run of
vendor invoices from submission to a final state.

    .venv/bin/python -m bench.workers [--quick] [--invoices N]

Starts its own redis-server and an SMTP server that accepts and discards mail, and makes a
fresh PostgreSQL database (baton_bench_workers). For each worker class (RQ's forking Worker
as Baton runs it, SimpleWorker, SpawnWorker) one worker drains a queue of no-op jobs, then a
queue of chain jobs (start_chain for freshly submitted invoices, and the emails they send);
the rate is jobs done over the time from the worker's start of work to an empty queue.

End to end: N vendor invoices (10,000; 100 with --quick) are submitted through the service
while BATON_WORKERS workers (default 2) of the chosen class run. --users scripted users
(default 3, each a process of its own, as people on the web work at the same time) share the
invoices: each submits its share and decides the tasks of its share as they open (one in
twenty rejected) until every invoice is approved or rejected.
Writes the "workers" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from bench import report
from bench._support import (
    BIN,
    MASTERS,
    PASSWORD,
    ROOT,
    app_env,
    cpu_seconds,
    drop_database,
    exit_cleanly_on_sigterm,
    free_port,
    fresh_database,
    prepare_portal,
    redis_server,
    say,
    verdict,
)

DATABASE = "baton_bench_workers"
QUEUE = "baton"
NOOP_QUEUE = "bench-noop"
GOAL = 0.5
#: name -> (class for chain jobs, how it runs a job)
CLASSES = {
    "Worker (fork per job)": "portal.processes.worker.BatonWorker",
    "SimpleWorker (in process)": "portal.processes.worker.BatonSimpleWorker",
    "SpawnWorker (new interpreter per job)": "bench.jobs.BatonSpawnWorker",
}
SPAWN = "bench.jobs.BatonSpawnWorker"
#: How many times fewer jobs the slow classes get (a forked job takes a third of a second, a
#: spawned one seconds; a few dozen show the rate, and the run stays short).
SCALE_DOWN = {"portal.processes.worker.BatonWorker": 10, SPAWN: 50}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="fewer jobs, 100 invoices, no SpawnWorker"
    )
    parser.add_argument("--invoices", type=int, help="invoices for the end-to-end run")
    parser.add_argument(
        "--users", type=int, default=3, help="scripted users submitting and deciding at once"
    )
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args(argv)
    if args.users < 1 or (args.invoices is not None and args.invoices < 1):
        parser.error("--users and --invoices take a number of at least 1")
    exit_cleanly_on_sigterm()
    noop_jobs, invoices_per_run = (100, 10) if args.quick else (1000, 150)
    invoices = args.invoices or (100 if args.quick else 10_000)
    workers = int(os.environ.get("BATON_WORKERS") or 2)
    with (
        redis_server() as redis_url,
        _smtp_sink() as mail_port,
        tempfile.TemporaryDirectory() as folder,
    ):
        env = app_env(
            fresh_database(DATABASE),
            redis_url,
            Path(folder) / "instance",
            MAIL_SERVER="127.0.0.1",
            MAIL_PORT=str(mail_port),
            BATON_QUEUE=QUEUE,
        )
        prepare_portal(env)
        os.environ.update(env)
        from portal import create_app

        app = create_app()
        try:
            with app.app_context():
                rows = []
                for label, worker_class in CLASSES.items():
                    if args.quick and worker_class == SPAWN:
                        continue  # a job takes seconds: too slow for a smoke run
                    scale = SCALE_DOWN.get(worker_class, 1)
                    noop = _noop_rate(redis_url, worker_class, noop_jobs // scale, env)
                    invoices_here = max(2, invoices_per_run // scale)
                    chain = _chain_rate(app, redis_url, worker_class, invoices_here, env)
                    say(
                        f"{label}: no-op {noop[0]:,.1f} jobs/s, chain {chain[0]:,.1f} jobs/s "
                        f"({chain[1]:,} jobs), ratio {chain[0] / noop[0]:.2f}"
                    )
                    rows.append((label, worker_class, noop, chain))
                chosen = max(rows, key=lambda row: row[3][0])
                say(
                    f"end to end: {invoices:,} invoices, {args.users} scripted users, "
                    f"{workers} x {chosen[0]} ..."
                )
                end_to_end = _end_to_end(
                    app, redis_url, chosen[1], workers, invoices, args.users, env
                )
        finally:
            if not args.keep:
                from portal.extensions import db

                with app.app_context():
                    db.engine.dispose()
                drop_database(DATABASE)
    _write(rows, chosen, end_to_end, workers, args.quick)
    return {"rows": rows, "end_to_end": end_to_end}


# -- one worker, one queue ------------------------------------------------------------------------


def _noop_rate(redis_url: str, worker_class: str, count: int, env) -> tuple[float, int]:
    from redis import Redis
    from rq import Queue

    queue = Queue(NOOP_QUEUE, connection=Redis.from_url(redis_url))
    queue.enqueue_many(
        [Queue.prepare_data("bench.jobs.do_nothing", result_ttl=0) for _ in range(count)]
    )
    return _drain(redis_url, worker_class, NOOP_QUEUE, env)


def _chain_rate(app, redis_url: str, worker_class: str, count: int, env) -> tuple[float, int]:
    _submit_invoices(app, count, random.Random(count))  # each commit queues its start_chain job
    return _drain(redis_url, worker_class, QUEUE, env)


def _drain(redis_url: str, worker_class: str, queue_name: str, env) -> tuple[float, int]:
    """Start one worker on a full queue; (jobs per second, jobs) until the queue is empty."""
    with _workers(redis_url, worker_class, queue_name, 1, env) as started:
        began = started()
        done = _wait_until_idle(redis_url, queue_name)
        seconds = time.perf_counter() - began
    return done / seconds, done


@contextlib.contextmanager
def _workers(redis_url: str, worker_class: str, queue_name: str, number: int, env):
    """`number` workers of `worker_class`; yields a function that waits until they all work."""
    from redis import Redis
    from rq import Worker

    connection = Redis.from_url(redis_url)
    names = [f"bench-{os.getpid()}-{time.monotonic_ns()}-{n}" for n in range(number)]
    processes = [
        subprocess.Popen(
            [
                str(BIN / "rq"),
                "worker",
                "--worker-class",
                worker_class,
                "--url",
                redis_url,
                "--name",
                name,
                "--quiet",
                "--logging_level",
                "WARNING",
                queue_name,
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=_worker_log(),
        )  # fmt: skip
        for name in names
    ]

    def started() -> float:
        deadline = time.monotonic() + 120
        while True:
            found = {worker.name for worker in Worker.all(connection=connection)}
            if all(name in found for name in names):
                # What starting them cost (imports, the app): not the work's (see _CpuMeter).
                started.cpu = cpu_seconds([process.pid for process in processes])
                return time.perf_counter()
            if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                raise SystemExit(f"{worker_class} workers did not start")
            time.sleep(0.005)

    try:
        yield started
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_idle(redis_url: str, queue_name: str, condition=None) -> int:
    """Wait until the queue is empty, every worker idle (and `condition()`); jobs done so far."""
    from redis import Redis
    from rq import Queue, Worker

    connection = Redis.from_url(redis_url)
    queue = Queue(queue_name, connection=connection)
    quiet = 0
    idle_since = None
    while quiet < 2:
        time.sleep(0.01)
        workers = Worker.all(connection=connection)
        idle = queue.count == 0 and all(w.get_state() == "idle" for w in workers)
        if idle and (condition is None or condition()):
            quiet += 1
        else:
            quiet = 0
        idle_since = (idle_since or time.monotonic()) if idle else None
        if idle_since and time.monotonic() - idle_since > 60:
            raise SystemExit("the workers are idle but the work is not done (see workers.log)")
    failed = queue.failed_job_registry.count
    if failed:
        raise SystemExit(f"{failed} jobs failed on {queue_name}: the figures would lie")
    return sum(w.successful_job_count for w in Worker.all(connection=connection))


def _worker_log():
    """Where the workers' own logging goes (a file beside the script's temporary instance)."""
    return open(Path(os.environ["BATON_INSTANCE"]).parent / "workers.log", "ab")  # noqa: SIM115


# -- invoices -------------------------------------------------------------------------------------


def _submit_invoices(app, count: int, rng: random.Random) -> list[int]:
    """Submit `count` vendor invoices, numbered from 0 (see `_submit_numbered`)."""
    return _submit_numbered(range(count), rng)


def _submit_numbered(numbers, rng: random.Random, lines: int | None = None) -> list[int]:
    """Submit one vendor invoice per number through the service, one transaction each (as the
    web does); a mix of totals (some above 10,000 need the CFO) and new vendors (procurement)."""
    from portal.services import users
    from portal.services.forms import find_form

    version = find_form("vendor_invoice").current_version
    people = [users.find_user(email) for email in ("alice@example.com", "sam@example.com")]
    ids = []
    for number in numbers:
        fields = invoice_fields(rng, number, lines or rng.randint(1, 4))
        ids.append(submit_invoice(people[number % len(people)], version, fields).id)
    return ids


def invoice_fields(rng: random.Random, number: int, lines: int) -> dict[str, str]:
    """A valid vendor invoice as a browser posts it (without the file)."""
    fields = {
        "vendor_name": f"Vendor {rng.randint(1, 500)}",
        "vendor_email": "billing@vendor.example",
        "vendor_tax_id": "DE 123456789",
        "invoice_number": f"INV-{number}",
        "invoice_date": "2026-11-02",
        "due_date": "2026-12-02",
        "currency": "EUR",
        "cost_centre": rng.choice(["CC-100", "CC-200", "CC-300", "CC-400", "CC-500"]),
        "po_number": "PO-004512",
        "notes": "",
    }
    if rng.random() < 0.1:
        fields["vendor_is_new"] = "y"
    for line in range(lines):
        fields[f"lines-{line}-description"] = f"Item {line}"
        fields[f"lines-{line}-quantity"] = str(rng.randint(1, 10))
        fields[f"lines-{line}-unit_price"] = str(rng.choice([20, 150, 900, 4000]))
    return fields


def submit_invoice(user, version, fields: dict[str, str], submission=None):
    """Submit (or resubmit) through the service with a PDF attached, and commit."""
    from werkzeug.datastructures import FileStorage, MultiDict

    from portal import forms
    from portal.extensions import db
    from portal.services import submissions

    spec = version.spec
    raw = forms.raw_input(spec, MultiDict(fields))
    upload = FileStorage(io.BytesIO(b"%PDF-1.4\n%%EOF\n"), "invoice.pdf", "invoice_file")
    files = submissions.read_files(spec, user, {"invoice_file": [upload]}, {})
    try:
        saved, evaluation = submissions.submit(user, version, raw, files, submission)
        if saved is None:
            raise SystemExit(f"the benchmark's invoice was refused: {evaluation.errors}")
        db.session.commit()
    finally:
        files.close()
    return saved


#: Which requests one scripted user looks after: (its number, how many users); a request
#: belongs to the user its id leaves as remainder, so no two users decide the same task.
Share = tuple[int, int]


def decide_open_tasks(rng: random.Random, after_id: int = 0, share: Share = (0, 1)) -> int:
    """Scripted approvers: decide the open tasks of this user's share of the submissions after
    `after_id` (one in twenty rejected, signing with their password where a step asks); how
    many. One task per request per pass: a decision can close its siblings (an "any" step, a
    rejection), and the next pass sees what is still open."""
    from sqlalchemy import select

    from portal.domain.chain import Decision, DecisionRefused, TaskState
    from portal.extensions import db
    from portal.models import Task, User
    from portal.services import approvals

    index, users = share
    open_tasks = db.session.execute(
        select(Task.id, Task.assignee_id, Task.submission_id)
        .where(
            Task.state == TaskState.OPEN,
            Task.submission_id > after_id,
            Task.submission_id % users == index,
        )
        .order_by(Task.id)
    ).all()
    db.session.rollback()
    decided = 0
    requests_seen = set()
    for task_id, assignee_id, submission_id in open_tasks:
        if submission_id in requests_seen:
            continue
        requests_seen.add(submission_id)
        actor = db.session.get(User, assignee_id)
        decision = Decision.REJECT if rng.random() < 0.05 else Decision.APPROVE
        try:
            approvals.decide(
                actor, task_id, decision, "Scripted decision (benchmark).", password=PASSWORD
            )
            db.session.commit()
            decided += 1
        except DecisionRefused as refusal:
            db.session.rollback()
            closed = ("already", "closed", "no longer in review", "not part of the request")
            if not any(words in str(refusal) for words in closed):
                raise SystemExit(f"a scripted decision was refused: {refusal}") from None
    return decided


def _final_states() -> tuple:
    """The states an invoice of the run ends in."""
    from portal.models import SubmissionStatus

    return (SubmissionStatus.APPROVED, SubmissionStatus.REJECTED)


def _unfinished(after_id: int, share: Share = (0, 1)) -> int:
    from sqlalchemy import func, select

    from portal.extensions import db
    from portal.models import Submission

    index, users = share
    count = db.session.scalar(
        select(func.count())
        .select_from(Submission)
        .where(
            Submission.id > after_id,
            Submission.id % users == index,
            Submission.status.not_in(_final_states()),
        )
    )
    db.session.rollback()
    return count


#: Invoices a scripted user submits before it turns to its open tasks again.
BATCH = 25


def _scripted_user(index: int, users: int, invoices: int, after_id: int, submitting, results):
    """One scripted user, in a process of its own: submits every `users`-th invoice in batches,
    deciding its share of the open tasks between batches, then decides until every request of
    its share is final and no other user is still submitting. Puts its decision count."""
    from portal import create_app

    exit_cleanly_on_sigterm()
    app = create_app()
    startup = time.process_time()  # what starting cost (imports, the app): not the work's
    share = (index, users)
    rng = random.Random(7 + index)
    decided = 0
    with app.app_context():
        numbers = range(index, invoices, users)
        for start in range(0, len(numbers), BATCH):
            _submit_numbered(numbers[start : start + BATCH], rng)
            decided += decide_open_tasks(rng, after_id, share)
        with submitting.get_lock():
            submitting.value -= 1
        while submitting.value or _unfinished(after_id, share):
            progress = decide_open_tasks(rng, after_id, share)
            decided += progress
            if not progress:
                time.sleep(0.05)
    results.put((decided, startup))


def _end_to_end(
    app, redis_url: str, worker_class: str, workers: int, invoices: int, users: int, env
) -> dict:
    """Submit, let the workers run the chains, decide, until everything is final. The
    submitters and approvers are `users` processes working at once, as people do on the web."""
    import multiprocessing

    from sqlalchemy import func, select

    from portal.extensions import db
    from portal.models import OutboxMessage, Submission

    before = db.session.scalar(select(func.max(Submission.id))) or 0
    first_message = db.session.scalar(select(func.max(OutboxMessage.id))) or 0
    db.session.rollback()
    # spawned, not forked: each user starts clean, without this process's connections
    context = multiprocessing.get_context("spawn")
    submitting = context.Value("i", users)
    results = context.Queue()
    cpu = _CpuMeter(redis_url)
    with _workers(redis_url, worker_class, QUEUE, workers, env) as started:
        started()
        cpu.start()
        cpu.startup = started.cpu
        began = time.perf_counter()
        people = [
            context.Process(
                target=_scripted_user,
                args=(index, users, invoices, before, submitting, results),
                name=f"scripted-user-{index}",
            )
            for index in range(users)
        ]
        for person in people:
            person.start()
        progress = _Progress(before, invoices, began)
        try:
            finished = [_result_of(people, results, progress) for _ in people]
            decided = sum(count for count, _ in finished)
            cpu.startup += sum(startup for _, startup in finished)
        finally:
            for person in people:
                if person.is_alive():
                    person.terminate()
                person.join()
        done = _wait_until_idle(redis_url, QUEUE, condition=lambda: _outbox_left() == 0)
        seconds = time.perf_counter() - began
    cpu_seconds_by_part = cpu.stop()  # the workers have exited: their CPU time is counted
    by_status = dict(
        db.session.execute(
            select(Submission.status, func.count())
            .where(Submission.id > before)
            .group_by(Submission.status)
        ).all()
    )
    total = sum(by_status.values())
    messages = (db.session.scalar(select(func.max(OutboxMessage.id))) or 0) - first_message
    db.session.rollback()
    result = {
        "invoices": total,
        "decisions": decided,
        "jobs": done,
        "outbox_jobs": messages,
        "seconds": seconds,
        "users": users,
        "by_status": {status.value: number for status, number in by_status.items()},
        "cpu": cpu_seconds_by_part,
    }
    say(
        f"  {total:,} invoices final in {seconds:,.1f} s: {done:,} jobs "
        f"({done / seconds:,.1f} jobs/s), {decided:,} decisions; {result['by_status']}"
    )
    return result


#: The benchmark script's own CPU time (waiting for the run to end, sampling): shown, not counted.
HARNESS = "the benchmark script itself (not counted)"
#: What starting the workers and scripted users cost (imports, the app): shown, not counted.
STARTUP = "starting the workers and scripted users (not counted)"


class _CpuMeter:
    """The CPU time every process of the end-to-end run used: this script, its children (the
    workers and the scripted users, once they have exited), the database's backends for the
    benchmark database (sampled from /proc while they live) and the script's Redis."""

    def __init__(self, redis_url: str):
        self.redis_pid = MASTERS.get(redis_url)
        self.startup = 0.0
        self.backends: dict[int, list[float]] = {}
        self.running = False

    def start(self) -> None:
        import resource
        import threading

        self.children = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.own = time.process_time()
        self.redis = cpu_seconds([self.redis_pid]) if self.redis_pid else 0.0
        self._sample(first=True)
        self.running = True
        self.thread = threading.Thread(target=self._keep_sampling, daemon=True)
        self.thread.start()

    def _keep_sampling(self) -> None:
        while self.running:
            time.sleep(0.5)
            self._sample()

    def _sample(self, first: bool = False) -> None:
        from bench._support import _admin

        if first:
            self.connection = _admin()  # one connection for every sample, not one each
        pids = [
            pid
            for (pid,) in self.connection.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", (DATABASE,)
            ).fetchall()
        ]
        for pid in pids:
            used = cpu_seconds([pid])
            seen = self.backends.setdefault(pid, [used if first else 0.0, used])
            seen[1] = max(seen[1], used)

    def stop(self) -> dict[str, float]:
        import resource

        self.running = False
        self.thread.join()
        self._sample()
        self.connection.close()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return {
            "workers and scripted users": (children.ru_utime + children.ru_stime)
            - (self.children.ru_utime + self.children.ru_stime)
            - self.startup,
            "PostgreSQL backends": sum(last - first for first, last in self.backends.values()),
            "Redis": (cpu_seconds([self.redis_pid]) - self.redis) if self.redis_pid else 0.0,
            HARNESS: time.process_time() - self.own,
            STARTUP: self.startup,
        }


def _counted_cpu(e2e: dict) -> float:
    return sum(seconds for part, seconds in e2e["cpu"].items() if part not in (HARNESS, STARTUP))


def _result_of(people, results, progress) -> tuple[int, float]:
    """The next scripted user's decision count and start-up CPU time; exits if one died."""
    import queue

    while True:
        try:
            return results.get(timeout=1)
        except queue.Empty:
            failed = [p.name for p in people if p.exitcode not in (None, 0)]
            if failed:
                raise SystemExit(f"{', '.join(failed)} failed (its error is above)") from None
            progress.every(30)


class _Progress:
    """Says how far the run has got, now and then: a long run should not look stuck."""

    def __init__(self, after_id: int, invoices: int, began: float):
        self.after_id, self.invoices, self.began = after_id, invoices, began
        self.last = began

    def every(self, seconds: float) -> None:
        from sqlalchemy import func, select

        from portal.extensions import db
        from portal.models import Submission

        now = time.perf_counter()
        if now - self.last < seconds:
            return
        self.last = now
        final = db.session.scalar(
            select(func.count())
            .select_from(Submission)
            .where(Submission.id > self.after_id, Submission.status.in_(_final_states()))
        )
        db.session.rollback()
        say(f"  {now - self.began:,.0f} s: {final:,} of {self.invoices:,} invoices final")


def _outbox_left() -> int:
    from sqlalchemy import func, select

    from portal.extensions import db
    from portal.models import OutboxMessage

    count = db.session.scalar(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.run_at.is_(None))
    )
    db.session.rollback()
    return count


# -- mail -----------------------------------------------------------------------------------------


@contextlib.contextmanager
def _smtp_sink():
    """An SMTP server on a free port that accepts every message and keeps none."""
    from aiosmtpd.controller import Controller

    class Discard:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
            return "250 OK"

    port = free_port()
    controller = Controller(Discard(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


# -- report ---------------------------------------------------------------------------------------


def _write(rows, chosen, end_to_end: dict, workers: int, quick: bool) -> None:
    table_rows = []
    for label, _, noop, chain in rows:
        ratio = chain[0] / noop[0]
        table_rows.append(
            [
                label + (" **(chosen)**" if label == chosen[0] else ""),
                f"{noop[0]:,.1f}",
                f"{chain[0]:,.1f} ({chain[1]:,} jobs)",
                f"{ratio:.2f}",
                verdict(ratio, GOAL),
            ]
        )
    e2e = end_to_end
    statuses = ", ".join(f"{n:,} {s}" for s, n in sorted(e2e["by_status"].items()))
    body = (
        report.table(
            [
                "worker class (one worker)",
                "RQ no-op jobs/s",
                "approval-chain jobs/s",
                f"ratio (goal >= {GOAL})",
                "",
            ],
            table_rows,
        )
        + "\n\nApproval-chain jobs are what a submission sets off in the worker: `start_chain` "
        "(resolve assignees, open tasks, plan deadlines, audit) and the emails it sends. "
        "The ratio compares them with RQ's no-op job on the same worker class; the chosen "
        "class is the fastest at chain jobs and is what `make serve` starts "
        "(portal/processes/serve.py).\n\n"
        + report.table(
            ["end to end", "figure"],
            [
                ["vendor invoices submitted and driven to a final state", f"{e2e['invoices']:,}"],
                ["final states", statuses],
                ["scripted decisions", f"{e2e['decisions']:,}"],
                ["scripted users (processes submitting and deciding)", f"{e2e['users']}"],
                ["workers", f"{workers} x {chosen[0]}"],
                ["total time", f"{e2e['seconds']:,.1f} s"],
                ["jobs run", f"{e2e['jobs']:,}"],
                ["jobs per second (all workers)", f"{e2e['jobs'] / e2e['seconds']:,.1f}"],
                ["invoices per second", f"{e2e['invoices'] / e2e['seconds']:,.1f}"],
                [
                    "**CPU per invoice, all processes** (goal <= 100 ms)",
                    f"**{1000 * _counted_cpu(e2e) / e2e['invoices']:,.0f} ms** ("
                    + verdict(_counted_cpu(e2e) / e2e["invoices"], 0.1, at_least=False)
                    + ")",
                ],
                *(
                    [f"... of which {part}", f"{1000 * seconds / e2e['invoices']:,.1f} ms"]
                    for part, seconds in e2e["cpu"].items()
                ),
            ],
        )
        + "\n\nThe end-to-end run submits through the service (one transaction per invoice, "
        "as the web does) while the workers run the chains. The submitters and approvers are "
        "scripted users, each a process of its own working at the same time as the others, "
        "as people do on the web; each decides the tasks of its share of the invoices as they "
        "open (one in twenty rejected). The run ends when every invoice is approved or "
        "rejected and the outbox is empty. "
        "Own Redis, own PostgreSQL database, an SMTP server that discards mail. "
        "CPU per invoice: the user and system time of the workers and the scripted users "
        "(children of the script, counted when they exit, less what each had spent when it "
        "was ready to work: imports and the app, shown apart), of the "
        "database's backends for the run's database and of the script's Redis (sampled from "
        "/proc every half second), over the run, divided by the invoices. The scripted users' "
        "share includes their looking for open tasks between decisions. The web processes"
        "' HTTP and page work is not in it (the scripted users call the services as the views "
        "do; the web section has the web processes' CPU per request)."
        + (" Quick mode: few jobs, noisy figures." if quick else "")
        + (
            f" The goal's run is 10,000 invoices; this one drove {e2e['invoices']:,} "
            f"(`--invoices`), which at this rate puts 10,000 at about "
            f"{10_000 / (e2e['invoices'] / e2e['seconds']) / 60:.0f} minutes."
            if e2e["invoices"] != 10_000 and not quick
            else ""
        )
        + (
            "\n\nWhy the ratio goal is far off: RQ's no-op job costs only RQ's own bookkeeping "
            "(a few Redis round trips). A chain job is a database transaction: `start_chain` "
            "locks the request, resolves assignees, writes steps, tasks, their deadline timers "
            "and hash-chained audit events, and schedules the timers in RQ; an email job "
            "renders the message, talks SMTP and records it. That is tens of SQL statements "
            "per job against none, so a ratio of 0.5 would need chain jobs as cheap as RQ's "
            "overhead itself."
            if all(chain[0] / noop[0] < GOAL for _, _, noop, chain in rows)
            else ""
        )
        + "\nRun: `.venv/bin/python -m bench.workers` (`--quick`: 100 invoices, no SpawnWorker, "
        "`--invoices N`, `--users N` scripted users, default 3; BATON_WORKERS workers, "
        "default 2)."
    )
    report.write_section("workers", "Workers: approval-chain jobs vs RQ's no-op job", body)
    say(body)
    _write_serving(rows, chosen)


def _write_serving(rows, chosen) -> None:
    """The "serving" section: what `make serve` runs, and the figures the choices rest on."""
    from portal.processes import gunicorn_conf

    by_class = {worker_class: chain for _, worker_class, _, chain in rows}
    fork = by_class.get("portal.processes.worker.BatonWorker")
    speedup = (
        f" ({chosen[3][0] / fork[0]:.0f} times the forking Worker's rate on chain jobs)"
        if fork and chosen[1] != "portal.processes.worker.BatonWorker"
        else ""
    )
    body = (
        "`make serve` (portal/processes/serve.py) starts gunicorn with "
        "portal/processes/gunicorn_conf.py, "
        "`BATON_WORKERS` RQ workers and RQ's cron scheduler, against `DATABASE_URL` and "
        "`REDIS_URL`.\n\n"
        + report.table(
            ["choice", "what", "why"],
            [
                [
                    "RQ worker class",
                    f"`{chosen[1]}`",
                    f"fastest on approval-chain jobs in the table above{speedup}: a forked work "
                    "horse starts with cold caches (schemas, compiled SQL and templates, a new "
                    "database connection) for every job",
                ],
                [
                    "gunicorn workers",
                    f"`WEB_CONCURRENCY`, default 2 x cores + 1 ({gunicorn_conf.workers} here), "
                    f"{gunicorn_conf.worker_class}",
                    "pages are CPU-bound Python; one spare process covers database waits",
                ],
                [
                    "app loading",
                    "`preload_app`, templates compiled in the master",
                    "each worker (also a new one after `max_requests`) starts with the app "
                    "built and the templates compiled, instead of paying for it in its first "
                    "requests",
                ],
                [
                    "static files",
                    "`?v=<content hash>` in every `url_for('static')`, served with "
                    "`max-age=31536000, immutable`",
                    "browsers fetch each file once per version; a changed file has a new URL",
                ],
            ],
        )
    )
    report.write_section("serving", "Serving: what `make serve` runs", body)


if __name__ == "__main__":
    main()
