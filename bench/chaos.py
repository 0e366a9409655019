"""Fault injection: invoices submitted and decided through the API while workers are killed.

    .venv/bin/python -m bench.chaos [--quick] [--invoices N] [--workers N]

With its own PostgreSQL database (baton_bench_chaos, made afresh each run), its own
redis-server on a free port and its own SMTP sink (in this process, counting every message),
it starts gunicorn, N RQ workers and `rq cron` (the every-minute sweep), then submits vendor
invoices through the JSON API while scripted approvers decide them through the API. Meanwhile
it kills workers with SIGKILL (the worker and the job it is running) and starts new ones,
restarts Redis once and FLUSHALLs it once. When everything has settled it checks, and prints
the counts of what it checked:

- every submission is in the final state its decisions imply (and the one the script meant);
- every task is closed, each decided task has exactly one decision (one `task_decided` event),
  each cancelled one none;
- no email reached the SMTP sink twice for one task (or for one outcome), and every email the
  database calls sent arrived;
- every audit chain verifies (`flask baton audit verify`);
- the outbox is empty.

It exits with status 1 on any violation. `--quick` is a smoke run: 200 invoices, fewer kills.
Each invoice's fate follows from its number: every 10th (n % 10 == 3) is rejected by its
first approver, every 10th (n % 10 == 7) is sent back for changes by finance, the rest are
approved; every 7th is above EUR 10,000 (the CFO is asked) and every 11th is from a new vendor
(procurement is asked).
"""

from __future__ import annotations

import argparse
import base64
import collections
import json
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from email import message_from_bytes, policy
from pathlib import Path

from bench._support import (
    BIN,
    PDF_BYTES,
    ROOT,
    app_env,
    drop_database,
    flask,
    free_port,
    fresh_database,
    gunicorn,
    prepare_portal,
    say,
)

DATABASE = "baton_bench_chaos"
SUBMITTERS = ["alice@example.com", "sam@example.com"]
APPROVERS = [
    "bob@example.com",
    "ivan@example.com",
    "carol@example.com",
    "fiona@example.com",
    "frank@example.com",
    "pat@example.com",
]
COST_CENTRES = ["CC-100", "CC-300", "CC-500"]  # owned by Bob, Ivan, Carol
MESSAGE_KEY = re.compile(r"<baton-\d+-(.+)@baton\.local>")


def intended(number: int) -> str:
    """The status invoice `number` should end in, by the decisions the approvers make."""
    return {3: "rejected", 7: "changes_requested"}.get(number % 10, "approved")


def decision_for(number: int, step: str) -> tuple[str, str]:
    if number % 10 == 3:
        return "reject", f"Chaos invoice {number}: rejected."
    if number % 10 == 7 and step == "finance":
        return "request_changes", f"Chaos invoice {number}: attach the PO."
    return "approve", ""


def invoice(number: int) -> dict:
    big = number % 7 == 0
    data = {
        "vendor_name": f"Chaos Supplies {number}",
        "vendor_email": "billing@chaos.example",
        "vendor_is_new": number % 11 == 0,
        "invoice_number": f"CHAOS-{number:05d}",
        "invoice_date": "2026-11-02",
        "due_date": "2026-12-02",
        "currency": "EUR",
        "cost_centre": COST_CENTRES[number % 3],
        "lines": [
            {
                "description": "Chairs",
                "quantity": 20 if big else 2,
                "unit_price": "600.00" if big else "450.00",
            }
        ],
        "invoice_file": {
            "filename": f"CHAOS-{number:05d}.pdf",
            "content_base64": base64.b64encode(PDF_BYTES).decode(),
        },
    }
    if data["vendor_is_new"]:
        data["vendor_tax_id"] = "DE 123456789"
    if big:
        data["po_number"] = f"PO-{number:06d}"
    return {"data": data}


# -- the SMTP sink ------------------------------------------------------------------------------


class Sink:
    """Every message the workers send, by the email key in its Message-ID."""

    def __init__(self):
        self.keys: collections.Counter[str] = collections.Counter()
        self.arrivals: dict[str, list[str]] = collections.defaultdict(list)
        self.total = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        message = message_from_bytes(envelope.content, policy=policy.default)
        match = MESSAGE_KEY.match(message.get("Message-ID", ""))
        with self.lock:
            self.total += 1
            key = match.group(1) if match else f"unknown:{message['Subject']}"
            self.keys[key] += 1
            self.arrivals[key].append(time.strftime("%H:%M:%S"))
        return "250 OK"


# -- Redis that can be restarted -----------------------------------------------------------------


class Redis:
    """A redis-server of our own on a free port, with no persistence: a restart loses all."""

    def __init__(self, folder: Path):
        self.port = free_port()
        self.folder = folder
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(self.port),
             "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.folder), "--logfile", ""],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while not self.answers():
            if time.monotonic() > deadline:
                raise SystemExit("redis-server did not start")
            time.sleep(0.1)

    def answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port).ping())
        except redis.ConnectionError:
            return False

    def restart(self) -> None:
        self.stop()
        time.sleep(1)
        self.start()

    def flushall(self) -> None:
        import redis

        redis.Redis(port=self.port).flushall()

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()


# -- workers ------------------------------------------------------------------------------------


class Processes:
    """The RQ workers and the cron process; each in its own session, so kill -9 takes the
    worker and the work horse running its job together."""

    def __init__(self, env: dict[str, str], redis_url: str, logs: Path, worker_class: str):
        self.env, self.redis_url, self.logs = env, redis_url, logs
        self.worker_class = worker_class
        self.workers: list[subprocess.Popen] = []
        self.cron: subprocess.Popen | None = None
        self.started = self.killed = self.replaced = 0

    def _spawn(self, command: list[str], name: str) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it open
        return subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=log, stderr=log, start_new_session=True
        )

    def start_worker(self) -> None:
        self.started += 1
        command = [str(BIN / "rq"), "worker", "-w", self.worker_class,
                   "--with-scheduler", "--url", self.redis_url, "baton"]  # fmt: skip
        self.workers.append(self._spawn(command, f"worker-{self.started}"))

    def start_cron(self) -> None:
        command = [str(BIN / "rq"), "cron", "portal.processes.cron_config", "--url", self.redis_url]
        self.cron = self._spawn(command, "cron")

    def kill_one(self, rng: random.Random) -> None:
        alive = [w for w in self.workers if w.poll() is None]
        if not alive:
            return
        victim = rng.choice(alive)
        _kill_group(victim)
        self.killed += 1

    def keep_up(self, count: int) -> None:
        """Replace workers that died (killed, or gone with Redis), and the cron process."""
        self.workers = [w for w in self.workers if w.poll() is None]
        while len(self.workers) < count:
            self.start_worker()
            self.replaced += 1
        if self.cron is None or self.cron.poll() is not None:
            self.start_cron()

    def stop(self) -> None:
        for process in [*self.workers, self.cron]:
            if process is not None and process.poll() is None:
                _kill_group(process, signal.SIGTERM)
        for process in [*self.workers, self.cron]:
            if process is not None:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    _kill_group(process)


def _kill_group(process: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass
    if sig == signal.SIGKILL:
        process.wait()


# -- the API clients ----------------------------------------------------------------------------


def call(base: str, token: str, method: str, path: str, body: dict | None = None):
    """(status, JSON answer) of one API call; (0, error) if the server could not be reached."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + "/api/v1" + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        text = error.read()
        try:
            return error.code, json.loads(text)
        except ValueError:
            return error.code, text.decode(errors="replace")
    except OSError as error:
        return 0, str(error)


class Load:
    """Submitters and approvers working through the API, and what they saw."""

    def __init__(self, base: str, tokens: dict[str, str], count: int, submit_threads: int):
        self.base, self.tokens, self.count = base, tokens, count
        self.next_number = 0
        self.numbers: dict[int, int] = {}  # submission id -> invoice number
        self.lock = threading.Lock()
        self.stop_deciding = threading.Event()
        self.statuses: collections.Counter[str] = collections.Counter()
        self.problems: list[str] = []
        self.decisions = 0
        self.threads = [
            threading.Thread(target=self.submitter, daemon=True) for _ in range(submit_threads)
        ] + [threading.Thread(target=self.approver, args=(a,), daemon=True) for a in APPROVERS]

    @property
    def submitted(self) -> int:
        return len(self.numbers)

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def _take(self) -> int | None:
        with self.lock:
            if self.next_number >= self.count:
                return None
            self.next_number += 1
            return self.next_number - 1

    def submitter(self) -> None:
        while (number := self._take()) is not None:
            token = self.tokens[SUBMITTERS[number % 2]]
            for attempt in range(20):
                status, answer = call(
                    self.base, token, "POST", "/forms/vendor_invoice/submissions", invoice(number)
                )
                with self.lock:
                    self.statuses[f"submit {status}"] += 1
                if status == 201:
                    with self.lock:
                        self.numbers[answer["id"]] = number
                    break
                if status not in (0, 502, 503):
                    with self.lock:
                        self.problems.append(f"invoice {number}: submit answered {status} {answer}")
                    break
                time.sleep(0.5 * (attempt + 1))

    def approver(self, email: str) -> None:
        token = self.tokens[email]
        while not self.stop_deciding.is_set():
            status, tasks = call(self.base, token, "GET", "/tasks")
            if status != 200:
                with self.lock:
                    self.statuses[f"tasks {status}"] += 1
                time.sleep(1)
                continue
            acted = 0
            for task in tasks:
                number = self.numbers.get(task["submission"])
                if number is None:
                    continue  # its submitter has not heard the 201 yet
                decision, comment = decision_for(number, task["step"])
                status, answer = call(
                    self.base,
                    token,
                    "POST",
                    f"/tasks/{task['id']}/decision",
                    {"decision": decision, "comment": comment},
                )
                with self.lock:
                    self.statuses[f"decide {status}"] += 1
                    if status == 200:
                        self.decisions += 1
                    elif status not in (0, 409):  # 409: a colleague's answer came first
                        self.problems.append(
                            f"task {task['id']}: decide answered {status} {answer}"
                        )
                acted += 1
            if not acted:
                time.sleep(0.5)


# -- checking the outcome -----------------------------------------------------------------------


def query(database: str, sql: str, *args):
    import psycopg

    with psycopg.connect(database) as connection:
        return connection.execute(sql, args).fetchall()


def progress(database: str) -> dict[str, int]:
    (row,) = query(
        database,
        """SELECT
             (SELECT count(*) FROM submission WHERE status = 'in_review'),
             (SELECT count(*) FROM task WHERE state = 'open'),
             (SELECT count(*) FROM outbox_message),
             (SELECT count(*) FROM email_message WHERE state <> 'sent'),
             (SELECT count(*) FROM submission)""",
    )
    names = ("in_review", "open_tasks", "outbox", "unsent_emails", "submissions")
    return dict(zip(names, row, strict=True))


def check(database: str, env: dict[str, str], load: Load, sink: Sink) -> list[str]:
    """Every property the issue names; prints the counts checked, returns the violations."""
    violations: list[str] = list(load.problems)
    by_number = {number: sid for sid, number in load.numbers.items()}
    missing = [n for n in range(load.count) if n not in by_number]
    if missing:
        violations.append(f"{len(missing)} invoices were never accepted: {missing[:10]}")

    submissions = query(database, "SELECT id, status, submit_count FROM submission ORDER BY id")
    steps = collections.defaultdict(list)
    for sid, name, state, reason in query(
        database,
        "SELECT s.submission_id, s.name, s.state, s.reason FROM approval_step s "
        "WHERE s.round = (SELECT max(round) FROM approval_step WHERE submission_id = "
        "s.submission_id) ORDER BY s.submission_id, s.position",
    ):
        steps[sid].append((name, state, reason))
    tasks = query(database, "SELECT id, submission_id, step, state, decision, slot, key FROM task")
    by_submission = collections.defaultdict(list)
    for task in tasks:
        by_submission[task[1]].append(task)
    status_counts = collections.Counter()
    for sid, status, _ in submissions:
        status_counts[status] += 1
        wanted = intended(load.numbers[sid]) if sid in load.numbers else None
        if wanted and status != wanted:
            violations.append(f"submission {sid}: {status}, but its decisions meant {wanted}")
        implied = _implied(steps[sid], by_submission[sid])
        if implied != status:
            violations.append(f"submission {sid}: {status}, but its steps and tasks say {implied}")
    say(f"  submissions checked: {len(submissions)} ({dict(status_counts)})")

    decided_events = collections.Counter(
        int(task) for (task,) in query(
            database, "SELECT details->>'task' FROM audit_event WHERE action = 'task_decided'"
        )
    )  # fmt: skip
    cancelled_events = collections.Counter(
        int(task) for (task,) in query(
            database, "SELECT details->>'task' FROM audit_event WHERE action = 'task_cancelled'"
        )
    )  # fmt: skip
    states = collections.Counter()
    for task_id, sid, _step, state, decision, _slot, _key in tasks:
        states[state] += 1
        if state == "open":
            violations.append(f"task {task_id} (submission {sid}) is still open")
        elif state == "cancelled":
            if decision is not None or decided_events[task_id] or cancelled_events[task_id] != 1:
                violations.append(
                    f"task {task_id}: cancelled with {decided_events[task_id]} decisions and "
                    f"{cancelled_events[task_id]} cancellations"
                )
        elif decided_events[task_id] != 1 or decision is None or cancelled_events[task_id]:
            violations.append(f"task {task_id}: {state} with {decided_events[task_id]} decisions")
    recorded = sum(decided_events.values())
    say(f"  tasks checked: {len(tasks)} ({dict(states)}); decisions recorded: {recorded}; "
        f"made by the approvers (200s): {load.decisions}")  # fmt: skip

    emails = query(database, "SELECT key, kind, state FROM email_message")
    sent_keys = {key.replace(":", "-") for key, _, state in emails if state == "sent"}
    twice = {key: n for key, n in sink.keys.items() if n > 1}
    for key, n in sorted(twice.items())[:20]:
        rows = query(
            database,
            "SELECT attempts, last_error, claimed_at, sent_at FROM email_message"
            " WHERE replace(key, ':', '-') = %s",
            key,
        )
        violations.append(
            f"email {key} reached the mail server {n} times (at {', '.join(sink.arrivals[key])};"
            f" attempts, last error, claimed, sent: {rows})"
        )
    if twice:
        violations.append(f"{len(twice)} emails reached the mail server more than once")
    never = sent_keys - set(sink.keys)
    if never:
        violations.append(f"{len(never)} emails marked sent never arrived: {sorted(never)[:5]}")
    unsent = [key for key, _, state in emails if state != "sent"]
    if unsent:
        violations.append(f"{len(unsent)} emails not sent: {unsent[:5]}")
    task_emails = sum(1 for key in sink.keys if key.startswith("task-"))
    say(f"  emails checked: {len(emails)} in the database, {sink.total} messages at the sink "
        f"({task_emails} task emails, {len(twice)} duplicated)")  # fmt: skip

    verify = subprocess.run(
        [str(BIN / "flask"), "--app", "app", "baton", "audit", "verify"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    (chains,) = query(database, "SELECT count(DISTINCT chain) FROM audit_event")[0]
    (events,) = query(database, "SELECT count(*) FROM audit_event")[0]
    if verify.returncode:
        violations.append(f"audit verify failed:\n{verify.stdout[-2000:]}{verify.stderr[-2000:]}")
    say(f"  audit chains verified: {chains} ({events} events): "
        f"{'ok' if not verify.returncode else 'BROKEN'}")  # fmt: skip

    (outbox,) = query(database, "SELECT count(*) FROM outbox_message")[0]
    if outbox:
        violations.append(f"the outbox still holds {outbox} rows")
    say(f"  outbox rows left: {outbox}")
    return violations


def _implied(steps: list[tuple[str, str, str]], tasks: list[tuple]) -> str:
    """The status a submission's last round implies, from its steps and their tasks."""
    by_step = collections.defaultdict(list)
    for _id, _sid, step, state, _decision, slot, key in tasks:
        by_step[step].append((state, slot or key))
    for name, state, _reason in steps:
        decided = {st for st, _seat in by_step[name]} - {"open", "cancelled"}
        if state == "changes_requested" and "changes_requested" in decided:
            return "changes_requested"
        if state == "rejected" and "rejected" in decided:
            return "rejected"
        if state in ("active", "blocked", "waiting"):
            return "in_review"
        if state == "approved" and "approved" not in decided:
            return f"approved without an approval on {name}"
    return "approved" if steps else "in_review"


# -- the run ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 invoices, fewer kills")
    parser.add_argument("--invoices", type=int, help="how many invoices (default 2000)")
    parser.add_argument("--workers", type=int, default=3, help="RQ workers kept running")
    parser.add_argument(
        "--worker-class",
        default="portal.processes.worker.BatonWorker",
        help="the RQ worker class (make serve runs portal.processes.worker.BatonSimpleWorker)",
    )
    parser.add_argument("--kill-every", type=float, help="seconds between kills (default 10)")
    parser.add_argument(
        "--settle-minutes", type=float, help="how long to wait at most (15, or 90 for 2,000)"
    )
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args(argv)
    # Stopped with a signal (even when started in the background, where SIGINT is ignored),
    # it still stops its workers, Redis and gunicorn and drops its database.
    signal.signal(signal.SIGTERM, _interrupted)
    signal.signal(signal.SIGINT, _interrupted)
    count = args.invoices or (200 if args.quick else 2000)
    kill_every = args.kill_every or 10.0
    rng = random.Random(args.seed)
    folder = Path(tempfile.mkdtemp(prefix="baton-chaos-"))
    logs = folder / "logs"
    logs.mkdir()
    say(f"chaos: {count} invoices, {args.workers} workers ({args.worker_class}), a kill every "
        f"{kill_every:.0f} s; "
        f"logs in {logs}")  # fmt: skip

    from aiosmtpd.controller import Controller

    sink = Sink()
    smtp = Controller(sink, hostname="127.0.0.1", port=free_port())
    smtp.start()
    redis = Redis(folder)
    database = fresh_database(DATABASE)
    env = app_env(
        database,
        redis.url,
        folder / "instance",
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=str(smtp.port),
        BATON_RATE_LIMITS_OFF="1",
        BATON_LOG_LEVEL="ERROR",  # Redis down: "could not hand outbox message ..." is expected
        WEB_CONCURRENCY="3",
    )
    processes = Processes(env, redis.url, logs, args.worker_class)
    try:
        prepare_portal(env)
        tokens = {
            email: flask(env, "baton", "create-token", email, "--name", "chaos").split()[-1]
            for email in SUBMITTERS + APPROVERS
        }
        for _ in range(args.workers):
            processes.start_worker()
        processes.start_cron()
        with gunicorn("app:create_app()", env) as base:
            load = Load(base, tokens, count, submit_threads=4)
            started = time.monotonic()
            load.start()
            violations = _inflict(load, processes, redis, rng, args.workers, kill_every)
            say(f"all {load.submitted} invoices submitted in {time.monotonic() - started:.0f} s; "
                "waiting for it to settle ...")  # fmt: skip
            settle = args.settle_minutes or (15 if count <= 200 else 90)
            settled = _settle(database, load, processes, args.workers, settle * 60)
            load.stop_deciding.set()
            time.sleep(1)
            answers = dict(sorted(load.statuses.items()))
            say(f"settled: {settled}; killed {processes.killed} workers, started "
                f"{processes.started}; HTTP answers: {answers}")  # fmt: skip
            say("checking:")
            violations += check(database, env, load, sink)
            if not settled:
                violations.append("it did not settle in time")
    finally:
        processes.stop()
        redis.stop()
        smtp.stop()
        if not args.keep:
            drop_database(DATABASE)
    if violations:
        say(f"{len(violations)} violation(s):")
        for violation in violations[:60]:
            say(f"  - {violation}")
        say(f"(worker logs kept in {logs})")
        return 1
    shutil.rmtree(folder, ignore_errors=True)
    say("no violations")
    return 0


def _interrupted(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _inflict(load: Load, processes: Processes, redis: Redis, rng, workers: int, every: float):
    """Kill workers while the invoices go in; restart Redis at a third, FLUSHALL at two thirds."""
    restarted = flushed = False
    last_kill = last_report = time.monotonic()
    while any(t.is_alive() for t in load.threads[:4]):
        time.sleep(0.5)
        now = time.monotonic()
        done = load.submitted / load.count
        if now - last_kill >= every:
            processes.kill_one(rng)
            last_kill = now
        if not restarted and done >= 1 / 3:
            say("  restarting Redis (everything it held is lost)")
            redis.restart()
            restarted = True
        if not flushed and done >= 2 / 3:
            say("  FLUSHALL")
            redis.flushall()
            flushed = True
        processes.keep_up(workers)
        if now - last_report >= 10:
            say(f"  {load.submitted}/{load.count} submitted, {load.decisions} decisions, "
                f"{processes.killed} workers killed")  # fmt: skip
            last_report = now
    return []


def _settle(database: str, load: Load, processes: Processes, workers: int, seconds: float) -> bool:
    """Wait (workers kept up, no more kills) until nothing is in review, open or unsent."""
    deadline = time.monotonic() + seconds
    last_report = 0.0
    while time.monotonic() < deadline:
        processes.keep_up(workers)
        state = progress(database)
        if (
            state["in_review"] == state["open_tasks"] == state["outbox"] == 0
            and state["unsent_emails"] == 0
        ):
            return True
        if time.monotonic() - last_report >= 10:
            say(f"  settling: {state}")
            last_report = time.monotonic()
        time.sleep(2)
    return False


if __name__ == "__main__":
    raise SystemExit(main())
