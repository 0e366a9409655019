"""Web throughput: Baton's form page, submission and decision against a floor app on the same
stack (bench/floor), measured side by side in interleaved rounds.

    .venv/bin/python -m bench.web [--quick]

Starts its own Redis and PostgreSQL database (baton_bench_web, made afresh), serves Baton, the
floor app twice (rendering its fields every time, and keeping them rendered as Baton keeps a
blank form's) and a bare Flask endpoint (context only) with the same gunicorn settings
(portal/processes/gunicorn_conf.py, what `make serve` runs), signs in to each and loads each
with the same wrk scripts (keep-alive clients, the session cookie, for a POST the CSRF token
and the same multipart body with a PDF). Rounds interleave the endpoints, so a burst of load
from elsewhere on the machine hits them alike; each figure is the median of the rounds, each
ratio the median of the rounds' ratios. Also measured per request: the CPU time of the web
processes and of the database's backends (from /proc), and the load average.
Writes the "web" section of docs/benchmarks.md.

Needs wrk (Debian: `apt-get install -y wrk`; the script installs it when it can).
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from bench import report
from bench._support import (
    MASTERS,
    PASSWORD,
    ROOT,
    app_env,
    cpu_seconds,
    drop_database,
    ensure_wrk,
    exit_cleanly_on_sigterm,
    fresh_database,
    gunicorn,
    invoice_multipart,
    prepare_portal,
    redis_server,
    run_wrk,
    say,
    verdict,
)

DATABASE = "baton_bench_web"
FORM_PATH = "/forms/vendor_invoice/new"
#: Concurrent clients: twice the gunicorn processes on 2 cores, so none waits for work.
CONNECTIONS = 10
GOALS = {"form": 0.8, "submit": 0.7, "decide": 0.5}
_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
_SEEN = re.compile(r'name="seen" type="hidden" value="([^"]*)"')


@dataclass
class Series:
    """One endpoint's measurements, a round each."""

    label: str
    rates: list[float] = field(default_factory=list)
    p50: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    web_cpu_ms: list[float] = field(default_factory=list)
    db_cpu_ms: list[float] = field(default_factory=list)

    def median(self, name: str) -> float:
        values = getattr(self, name)
        return statistics.median(values) if values else float("nan")


@dataclass
class Target:
    """An endpoint as wrk loads it: the URL, the Lua script, and the server it runs on."""

    url: str
    script: Path
    server: str


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 round of 3 s instead of 3 of 10 s")
    parser.add_argument("--rounds", type=int, help="rounds of every endpoint (default 3)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args(argv)
    exit_cleanly_on_sigterm()
    seconds, warmup = (3, 2) if args.quick else (10, 3)
    rounds = args.rounds or (1 if args.quick else 3)
    ensure_wrk()
    series: dict[str, Series] = {}
    loads: list[tuple[float, float, float]] = []
    with redis_server() as redis_url, tempfile.TemporaryDirectory() as folder:
        env = app_env(fresh_database(DATABASE), redis_url, Path(folder) / "instance")
        prepare_portal(env)
        _init_floor(env)
        scripts = Path(folder)
        kept_env = dict(env, FLOOR_KEEP_FIELDS="1")
        try:
            with (
                gunicorn("bench.bare_app:app", env) as bare_url,
                gunicorn("app:create_app()", env) as baton_url,
                gunicorn("bench.floor:create_app()", env) as floor_url,
                gunicorn("bench.floor:create_app()", kept_env) as kept_url,
            ):
                targets, sizes = _targets(scripts, bare_url, baton_url, floor_url, kept_url)
                first = ["bare", "form", "floor_form", "kept_form", "submit", "floor_submit"]
                _rounds(targets, first, rounds, seconds, warmup, series, loads)
                submitted = series["submit"].median("rates")
                decider = _Decider(scripts, baton_url, env, targets["submit"], submitted)
                _decision_rounds(decider, targets, rounds, seconds, warmup, series, loads)
                gunicorn_workers = _gunicorn_workers(env)
        finally:
            if not args.keep:
                drop_database(DATABASE)
    figures = _figures(series)
    _write(figures, series, sizes, loads, rounds, seconds, gunicorn_workers, args.quick)
    return figures


LABELS = {
    "bare": "bare Flask endpoint (context only)",
    "form": "Baton: vendor invoice form page (GET, signed in)",
    "floor_form": "floor: the same page, fields rendered every time",
    "kept_form": "floor: the same page, rendered fields kept",
    "submit": "Baton: vendor invoice submission (POST, CSRF, PDF)",
    "floor_submit": "floor: the same submission (POST, CSRF, PDF)",
    "decide": "Baton: a decision that opens the next step (POST)",
}


def _targets(folder: Path, bare_url: str, baton_url: str, floor_url: str, kept_url: str):
    """Sign in to each app; the wrk scripts for every endpoint, and the pages' sizes."""
    targets = {"bare": Target(bare_url + "/", _script(folder, "bare", "GET"), bare_url)}
    sizes = {}
    apps = {
        "": (baton_url, "alice@example.com", PASSWORD),
        "floor_": (floor_url, "floor@example.com", PASSWORD),
        "kept_": (kept_url, "floor@example.com", PASSWORD),
    }
    for prefix, (base, email, password) in apps.items():
        cookie, token, page = _sign_in(base, email, password)
        sizes[prefix or "baton_"] = len(page.encode())
        body, content_type = _invoice_body(token)
        _check_submission(base, cookie, body, content_type)
        name = prefix + "form"
        targets[name] = Target(base + FORM_PATH, _script(folder, name, "GET", cookie=cookie), base)
        if prefix != "kept_":
            name = prefix + "submit"
            script = _script(
                folder, name, "POST", cookie=cookie, body=body, content_type=content_type
            )
            targets[name] = Target(base + FORM_PATH, script, base)
    return targets, sizes


def _rounds(targets, names, rounds, seconds, warmup, series, loads) -> None:
    """Each endpoint once per round, in an order that moves on by one each round."""
    for name in names:
        target = targets[name]
        say(f"warming up {LABELS[name]} ...")
        run_wrk(target.url, target.script, warmup, CONNECTIONS)
    for number in range(rounds):
        loads.append(os.getloadavg())
        order = names[number % len(names) :] + names[: number % len(names)]
        say(f"round {number + 1} of {rounds} (load average {loads[-1][0]:.1f}) ...")
        for name in order:
            _measure(name, targets[name], seconds, series)


def _decision_rounds(decider, targets, rounds, seconds, warmup, series, loads) -> None:
    """Decisions beside the floor's POST, each round deciding tasks nobody decided before
    (each Bob's first decision on an invoice, which opens the finance step)."""
    say(f"warming up {LABELS['decide']} ...")
    rate = decider.warm_up(warmup)
    # Enough open tasks that no round runs out: three times what the warm-up's rate decides (a
    # warmed-up round decides faster than the warm-up did, and a round that runs out decides
    # tasks twice, which answer 409 and stop the run).
    decider.supply(int(rate * seconds * 3) + 50, rounds)
    for number in range(rounds):
        loads.append(os.getloadavg())
        say(f"decision round {number + 1} of {rounds} (load average {loads[-1][0]:.1f}) ...")
        pair = [
            ("decide", decider.target(number)),
            ("floor_post", targets["floor_submit"]),
        ]
        for name, target in pair if number % 2 == 0 else pair[::-1]:
            _measure(name, target, seconds, series)


class _Decider:
    """Bob, deciding his open tasks from wrk scripts: each script decides a slice of them, one
    task per request, so no task is decided twice."""

    def __init__(
        self, folder: Path, base: str, env: dict[str, str], submit: Target, submit_rate: float
    ):
        self.folder, self.base, self.env, self.submit = folder, base, env, submit
        self.submit_rate = max(submit_rate, 1.0)
        self.cookie = _sign_in(base, "bob@example.com", PASSWORD)[0]
        self.token = None
        self.slices: list[Path] = []
        self._start_chains()

    def _start_chains(self) -> None:
        say("starting the chains of the submitted invoices (the start_chain jobs) ...")
        say(f"  {_start_chains(self.env):,} chains started")

    def _open(self) -> dict[int, str]:
        """Bob's open tasks, oldest first, with what each decision page shows as `seen`."""
        import psycopg

        from bench._support import database_url

        with psycopg.connect(database_url(DATABASE)) as connection:
            rows = connection.execute(
                "SELECT t.id, s.data_hash FROM task t "
                'JOIN "user" u ON u.id = t.assignee_id '
                "JOIN submission s ON s.id = t.submission_id "
                "WHERE u.email = 'bob@example.com' AND t.state = 'open' ORDER BY t.id"
            ).fetchall()
        if rows and self.token is None:
            # The decision page's CSRF token, as Bob's browser would post it back.
            self.token = _csrf(_request(self.base, "GET", f"/tasks/{rows[0][0]}", self.cookie)[1])
        return dict(rows)

    def _script(self, name: str, tasks: dict[int, str]) -> Path:
        body = _lua("csrf_token=" + self.token + "&decision=approve&comment=&seen=")
        lines = [
            'wrk.method = "POST"',
            f'wrk.headers["Cookie"] = {_lua(self.cookie)}',
            'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"',
            "tasks = {" + ",".join(f"{{{i},{_lua(h)}}}" for i, h in tasks.items()) + "}",
            "n = 0",
            "request = function()",
            "  n = n + 1",
            "  local t = tasks[((n - 1) % #tasks) + 1]",
            f'  return wrk.format(nil, "/tasks/" .. t[1], nil, {body} .. t[2])',
            "end",
        ]
        path = self.folder / f"{name}.lua"
        path.write_text("\n".join(lines) + "\n")
        return path

    def warm_up(self, seconds: int) -> float:
        """Decide for `seconds` (workers warm, statements compiled); the rate it reached."""
        tasks = self._open()
        if not tasks:
            raise SystemExit("Bob has no open tasks to decide")
        chosen = dict(list(tasks.items())[: max(10, len(tasks) // 4)])
        result = run_wrk(self.base + "/", self._script("decide_warm", chosen), seconds, CONNECTIONS)
        return result.requests_per_second

    def supply(self, per_round: int, rounds: int) -> None:
        """A script for each round with `per_round` open tasks of its own, submitting (through
        the benchmark's own submission script) and starting more invoices first if needed."""
        tasks = self._open()
        short = per_round * rounds - len(tasks)
        if short > 0:
            say(f"  {short:,} more invoices for Bob to decide ...")
            seconds = int(short / self.submit_rate * 1.3) + 2
            run_wrk(self.submit.url, self.submit.script, seconds, CONNECTIONS)
            self._start_chains()
            tasks = self._open()
        ids = list(tasks)
        size = min(per_round, len(ids) // rounds)
        self.slices = [
            self._script(f"decide_{n}", {i: tasks[i] for i in ids[n * size : (n + 1) * size]})
            for n in range(rounds)
        ]
        say(f"  Bob has {len(ids):,} open tasks: {size:,} per round")

    def target(self, number: int) -> Target:
        return Target(self.base + "/", self.slices[number], self.base)


def _measure(name: str, target: Target, seconds: int, series: dict[str, Series]) -> None:
    """One wrk run of `seconds`, with the CPU the web processes and the database used."""
    web = [MASTERS[target.server]]
    backends = _backends()
    web_before, db_before = cpu_seconds(web), cpu_seconds(backends)
    result = run_wrk(target.url, target.script, seconds, CONNECTIONS)
    web_cpu, db_cpu = cpu_seconds(web) - web_before, cpu_seconds(backends) - db_before
    if result.failures:
        raise SystemExit(
            f"{result.failures} requests to {target.url} failed: the figures would lie"
        )
    entry = series.setdefault(name, Series(LABELS.get(name, LABELS["floor_submit"])))
    entry.rates.append(result.requests_per_second)
    entry.p50.append(result.p50_ms)
    entry.p99.append(result.p99_ms)
    entry.web_cpu_ms.append(1000 * web_cpu / max(result.requests, 1))
    entry.db_cpu_ms.append(1000 * db_cpu / max(result.requests, 1))
    say(
        f"  {entry.label}: {result.requests_per_second:,.0f} requests/s, "
        f"p50 {result.p50_ms:.1f} ms, CPU per request {entry.web_cpu_ms[-1]:.1f} ms web + "
        f"{entry.db_cpu_ms[-1]:.1f} ms database"
    )


def _backends() -> list[int]:
    """The PostgreSQL backends connected to the benchmark's database."""
    from bench._support import _admin

    with _admin() as connection:
        rows = connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", (DATABASE,)
        ).fetchall()
    return [pid for (pid,) in rows]


def _figures(series: dict[str, Series]) -> dict:
    def ratio(top: str, bottom: str) -> float:
        pairs = zip(series[top].rates, series[bottom].rates, strict=False)
        return statistics.median(a / b for a, b in pairs)

    def by_cpu(top: str, bottom: str) -> float:
        """The floor's CPU per request over Baton's (web and database): the throughput ratio
        a machine busy with nothing else reaches when both are CPU-bound."""
        spent = [
            (a_web + a_db, b_web + b_db)
            for a_web, a_db, b_web, b_db in zip(
                series[top].web_cpu_ms,
                series[top].db_cpu_ms,
                series[bottom].web_cpu_ms,
                series[bottom].db_cpu_ms,
                strict=False,
            )
        ]
        return statistics.median(floor / baton for baton, floor in spent)

    pairs = {
        "form_vs_every": ("form", "floor_form"),
        "form_vs_kept": ("form", "kept_form"),
        "submit": ("submit", "floor_submit"),
        "decide": ("decide", "floor_post"),
    }
    figures = {name: ratio(*pair) for name, pair in pairs.items()}
    figures.update({f"{name}_cpu": by_cpu(*pair) for name, pair in pairs.items()})
    return figures


def _init_floor(env: dict[str, str]) -> None:
    """The floor app's tables and user, in the same database (tables named floor_*)."""
    subprocess.run([sys.executable, "-m", "bench.floor", "init"], cwd=ROOT, env=env, check=True)


def _start_chains(env: dict[str, str]) -> int:
    """Run every waiting start_chain job, as a worker would: Bob gets a task per invoice."""
    code = (
        "from sqlalchemy import select\n"
        "from portal import create_app, jobs\n"
        "from portal.extensions import db\n"
        "from portal.models import OutboxMessage\n"
        "app = create_app()\n"
        "jobs.use_app(app)\n"
        "with app.app_context():\n"
        "    ids = db.session.scalars(select(OutboxMessage.id)"
        ".where(OutboxMessage.job == 'start_chain').order_by(OutboxMessage.id)).all()\n"
        "    db.session.rollback()\n"
        "for message_id in ids:\n"
        "    jobs.run_outbox(message_id)\n"
        "print(len(ids))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout
    return int(out.split()[-1])


def _decision_scripts(folder: Path, base: str, rounds: int) -> list[Path]:
    """Bob signs in; his open tasks, split into a slice per round (and one to warm up), each
    slice a wrk script that decides its tasks one after the other."""
    cookie, _, _ = _sign_in(base, "bob@example.com", PASSWORD)
    import psycopg

    from bench._support import database_url

    with psycopg.connect(database_url(DATABASE)) as connection:
        tasks = connection.execute(
            'SELECT t.id FROM task t JOIN "user" u ON u.id = t.assignee_id '
            "WHERE u.email = 'bob@example.com' AND t.state = 'open' ORDER BY t.id"
        ).fetchall()
    if not tasks:
        raise SystemExit("Bob has no open tasks to decide")
    # The decision page's hidden fields, as Bob's browser would post them.
    response, page = _request(base, "GET", f"/tasks/{tasks[0][0]}", cookie)
    token = _csrf(page)
    with psycopg.connect(database_url(DATABASE)) as connection:
        seen = dict(
            connection.execute(
                "SELECT t.id, s.data_hash FROM task t JOIN submission s ON s.id = t.submission_id "
                "WHERE t.id = ANY(%s)",
                ([task_id for (task_id,) in tasks],),
            ).fetchall()
        )
    ids = [task_id for (task_id,) in tasks]
    size = len(ids) // (rounds + 1)
    scripts = []
    for number in range(rounds + 1):
        chunk = ids[number * size : (number + 1) * size]
        lines = [
            'wrk.method = "POST"',
            f'wrk.headers["Cookie"] = {_lua(cookie)}',
            'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"',
            "tasks = {" + ",".join(f"{{{i},{_lua(seen[i])}}}" for i in chunk) + "}",
            "n = 0",
            "request = function()",
            "  n = n + 1",
            "  local t = tasks[((n - 1) % #tasks) + 1]",
            f"  local body = {_lua('csrf_token=' + token + '&decision=approve&comment=&seen=')}"
            " .. t[2]",
            '  return wrk.format(nil, "/tasks/" .. t[1], nil, body)',
            "end",
        ]
        path = folder / f"decide_{number}.lua"
        path.write_text("\n".join(lines) + "\n")
        scripts.append(path)
    say(f"  Bob has {len(ids):,} open tasks: {size:,} per round")
    return scripts


def _script(folder: Path, name: str, method: str, cookie=None, body=None, content_type=None):
    lines = [f'wrk.method = "{method}"']
    if cookie:
        lines.append(f'wrk.headers["Cookie"] = {_lua(cookie)}')
    if body is not None:
        lines.append(f'wrk.headers["Content-Type"] = {_lua(content_type)}')
        lines.append(f"wrk.body = {_lua(body)}")
    path = folder / f"{name}.lua"
    path.write_text("\n".join(lines) + "\n")
    return path


def _lua(value: str | bytes) -> str:
    """A Lua string literal for any bytes (decimal escapes, so nothing needs quoting rules)."""
    data = value.encode() if isinstance(value, str) else value
    return '"' + "".join(f"\\{byte:03d}" if byte < 32 or byte in b'"\\' or byte > 126 else chr(byte)
                         for byte in data) + '"'  # fmt: skip


def _request(base: str, method: str, path: str, cookie: str = "", body=b"", headers=None):
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    all_headers = {"Cookie": cookie} if cookie else {}
    all_headers.update(headers or {})
    connection.request(method, path, body=body, headers=all_headers)
    response = connection.getresponse()
    text = response.read().decode("utf-8", "replace")
    connection.close()
    return response, text


def _session_cookie(response, cookie: str) -> str:
    for header in response.headers.get_all("Set-Cookie") or []:
        name_value = header.split(";", 1)[0]
        if name_value.startswith("session="):
            return name_value
    return cookie


def _csrf(text: str) -> str:
    match = _TOKEN.search(text)
    if match is None:
        raise SystemExit("the page has no CSRF token")
    return match.group(1) or match.group(2)


def _sign_in(base: str, email: str, password: str) -> tuple[str, str, str]:
    """Sign in through the login form; the session cookie, and the CSRF token and text of the
    form page."""
    response, text = _request(base, "GET", "/login")
    cookie = _session_cookie(response, "")
    body = urlencode({"csrf_token": _csrf(text), "email": email, "password": password})
    response, text = _request(
        base, "POST", "/login", cookie, body,
        {"Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    if response.status != 302:
        raise SystemExit(f"signing in as {email} failed ({response.status}): {text[:300]}")
    cookie = _session_cookie(response, cookie)
    response, text = _request(base, "GET", FORM_PATH, cookie)
    if response.status != 200:
        raise SystemExit(f"the form page answered {response.status}")
    return _session_cookie(response, cookie), _csrf(text), text


def _invoice_body(token: str) -> tuple[bytes, str]:
    """A valid vendor invoice as a browser posts it: three lines and the invoice as a PDF."""
    fields = {
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
    }
    return invoice_multipart(fields)


def _check_submission(base: str, cookie: str, body: bytes, content_type: str) -> None:
    """The body wrk will send really submits an invoice (a redirect to the new request)."""
    response, text = _request(base, "POST", FORM_PATH, cookie, body, {"Content-Type": content_type})
    location = response.headers.get("Location", "")
    if response.status != 302 or not re.search(r"/(submissions|records)/", location):
        raise SystemExit(f"the benchmark's invoice was not accepted ({response.status}): {text}")


def _gunicorn_workers(env: dict[str, str]) -> int:
    """What portal.processes.gunicorn_conf chose (app_env leaves WEB_CONCURRENCY unset)."""
    return int(env.get("WEB_CONCURRENCY") or 2 * (os.cpu_count() or 1) + 1)


def _write(figures, series, sizes, loads, rounds, seconds, workers, quick) -> None:
    def row(
        name: str, ratio: str = "", by_cpu: str = "", goal: str = "", met: str = ""
    ) -> list[str]:
        entry = series[name]
        return [
            entry.label,
            f"{entry.median('rates'):,.0f}",
            f"{entry.median('p50'):.1f}",
            f"{entry.median('p99'):.1f}",
            f"{entry.median('web_cpu_ms'):.1f}",
            f"{entry.median('db_cpu_ms'):.1f}",
            ratio,
            by_cpu,
            goal,
            met,
        ]

    def judged(name: str, key: str, goal_key: str) -> list[str]:
        value, cpu, goal = figures[key], figures[f"{key}_cpu"], GOALS[goal_key]
        met = f"{verdict(value, goal)} (by CPU: {verdict(cpu, goal)})"
        return row(name, f"{value:.2f}", f"{cpu:.2f}", f">= {goal}", met)

    rows = [
        judged("form", "form_vs_kept", "form"),
        row("kept_form"),
        row("floor_form", f"{figures['form_vs_every']:.2f}", f"{figures['form_vs_every_cpu']:.2f}"),
        judged("submit", "submit", "submit"),
        row("floor_submit"),
        judged("decide", "decide", "decide"),
        row("floor_post"),
        row("bare"),
    ]
    averages = ", ".join(f"{one:.1f}" for one, _, _ in loads)
    body = (
        report.table(
            [
                "endpoint",
                "requests/s",
                "p50 ms",
                "p99 ms",
                "web CPU ms/request",
                "database CPU ms/request",
                "Baton / floor (requests/s)",
                "floor / Baton (CPU per request)",
                "goal",
                "",
            ],
            rows,
        )
        + f"\n\nEach figure is the median of {rounds} round(s); each ratio the median of the "
        "rounds' ratios (Baton and the floor measured one after the other in the same round). "
        "The form page is compared with the floor that keeps its rendered fields, as Baton keeps "
        "a blank form's; its ratio to the floor that renders them every time is beside it. The "
        "decision (Bob approving an invoice, which opens the finance step: tasks, deadline "
        "timers, emails, audit events) is compared with the floor's POST measured in the same "
        "rounds (the second floor row). "
        f"wrk, {CONNECTIONS} keep-alive connections, {seconds} s per endpoint and round after a "
        f"warm-up, on the same machine as gunicorn ({workers} sync workers each, "
        "portal/processes/gunicorn_conf.py), PostgreSQL and a Redis of the script's own. Every "
        "request succeeded (the script stops if one fails). CPU per request: user and system "
        "time of the app's gunicorn processes and of the database's backends (from /proc), "
        "divided by the requests wrk counted. The second ratio, the floor's CPU per request "
        "over Baton's, is the throughput ratio the two reach where the CPU is theirs alone "
        "(both are CPU-bound here); on a machine shared with other work the first moves with "
        "whatever else ran during each measurement. "
        f"Pages: Baton's form page {sizes['baton_']:,} bytes, the floor's {sizes['floor_']:,}. "
        f"Load average (1 min) at the start of each round: {averages}; the machine is shared, "
        "so absolute rates move with it, and the interleaved ratios much less."
        + (" Quick mode: one short round, noisy figures." if quick else "")
        + "\nRun: `.venv/bin/python -m bench.web` (`--quick` for a smoke run, "
        "`--rounds N`)."
    )
    report.write_section("web", "Web: Baton against a floor app on the same stack", body)
    say(body)


if __name__ == "__main__":
    main()
