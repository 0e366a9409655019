"""Soak: gunicorn under a steady mixed load for minutes, counting errors and watching memory.

    .venv/bin/python -m bench.soak [--minutes 10] [--quick] [--clients 4]

With its own PostgreSQL database (baton_bench_soak, made afresh), its own redis-server, an RQ
worker with the cron sweep and an SMTP sink, it serves Baton with gunicorn as `make serve`
does (portal/processes/gunicorn_conf.py) and runs client processes that each sign in and loop
over a mix of page GETs (home, inbox, My submissions, the invoice form, a request page), web
submissions (the vendor invoice form with its CSRF token and a PDF), and API calls (forms, tasks, a
submission through the API, reading it back). Every answer outside its expected status is an
error. Every 10 s it samples the resident memory (RSS) of each gunicorn worker; memory counts
as flat when the last sample of the workers' total is within 10 % of the total after warm-up
(the first fifth of the run). Writes the "soak" section of docs/benchmarks.md.

`--quick` runs for one minute.
"""

from __future__ import annotations

import argparse
import base64
import collections
import http.client
import json
import multiprocessing
import os
import re
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from bench import report
from bench._support import (
    BIN,
    PASSWORD,
    PDF_BYTES,
    ROOT,
    app_env,
    drop_database,
    flask,
    free_port,
    fresh_database,
    gunicorn,
    invoice_multipart,
    prepare_portal,
    redis_server,
    say,
)

DATABASE = "baton_bench_soak"
SAMPLE_SECONDS = 10
FLAT_WITHIN = 0.10
_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
SUBMITTERS = ["alice@example.com", "sam@example.com"]


# -- one client process -------------------------------------------------------------------------


class Client:
    """One keep-alive connection with a signed-in session and an API token."""

    def __init__(self, base: str, email: str, token: str):
        parts = urlsplit(base)
        self.host, self.port = parts.hostname, parts.port
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
        self.cookie = ""
        self.token = token
        self.counts: collections.Counter[str] = collections.Counter()
        self.errors: list[str] = []
        self.submissions: list[int] = []
        self._sign_in(email)

    def request(self, method: str, path: str, body=b"", headers=None, expect=(200,), what=""):
        all_headers = {"Cookie": self.cookie} if self.cookie else {}
        all_headers.update(headers or {})
        for attempt in range(2):
            try:
                self.connection.request(method, path, body=body, headers=all_headers)
                response = self.connection.getresponse()
                text = response.read().decode("utf-8", "replace")
                break
            except (OSError, http.client.HTTPException) as error:
                # A worker recycled after max_requests closes its keep-alive connections; a
                # request on a closed one is retried once on a new connection.
                self.connection.close()
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
                if attempt:
                    self.counts["error"] += 1
                    self.errors.append(f"{what or path}: {type(error).__name__}: {error}")
                    return None, ""
        for header in response.headers.get_all("Set-Cookie") or []:
            if header.startswith("session="):
                self.cookie = header.split(";", 1)[0]
        self.counts[what or method] += 1
        if response.status not in expect:
            self.counts["error"] += 1
            self.errors.append(f"{what or path}: {response.status} {text[:200]!r}")
        return response, text

    def _sign_in(self, email: str) -> None:
        _, page = self.request("GET", "/login", what="login page")
        body = urlencode({"csrf_token": _csrf(page), "email": email, "password": PASSWORD})
        self.request(
            "POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded"},
            expect=(302,), what="sign in",
        )  # fmt: skip

    def api(self, method: str, path: str, body=None, expect=(200,), what=""):
        headers = {"Authorization": f"Bearer {self.token}"}
        data = b""
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        cookie, self.cookie = self.cookie, ""  # the API is token-only
        try:
            response, text = self.request(method, "/api/v1" + path, data, headers, expect, what)
        finally:
            self.cookie = cookie
        return response, (json.loads(text) if text and response is not None else None)

    def web_submit(self, number: int) -> None:
        _, page = self.request("GET", "/forms/vendor_invoice/new", what="GET invoice form")
        if not page:
            return
        body, content_type = _invoice_multipart(_csrf(page), number)
        response, _ = self.request(
            "POST", "/forms/vendor_invoice/new", body, {"Content-Type": content_type},
            expect=(302,), what="POST invoice (web)",
        )  # fmt: skip
        location = response.headers.get("Location", "") if response is not None else ""
        if "/submissions/" in location:
            self.submissions.append(int(location.rstrip("/").rsplit("/", 1)[1]))

    def api_submit(self, number: int) -> None:
        response, answer = self.api(
            "POST", "/forms/vendor_invoice/submissions", {"data": _invoice_json(number)},
            expect=(201,), what="POST invoice (API)",
        )  # fmt: skip
        if response is not None and response.status == 201:
            self.api("GET", f"/submissions/{answer['id']}", what="GET submission (API)")


def _csrf(text: str) -> str:
    match = _TOKEN.search(text)
    return (match.group(1) or match.group(2)) if match else ""


def _invoice_fields(number: int) -> dict:
    return {
        "vendor_name": f"Soak Supplies {number}",
        "vendor_email": "billing@soak.example",
        "invoice_number": f"SOAK-{number:07d}",
        "invoice_date": "2026-11-02",
        "due_date": "2026-12-02",
        "currency": "EUR",
        "cost_centre": "CC-100",
    }


def _invoice_json(number: int) -> dict:
    return _invoice_fields(number) | {
        "lines": [{"description": "Chairs", "quantity": 2, "unit_price": "450.00"}],
        "invoice_file": {
            "filename": "invoice.pdf",
            "content_base64": base64.b64encode(PDF_BYTES).decode(),
        },
    }


def _invoice_multipart(token: str, number: int) -> tuple[bytes, str]:
    fields = _invoice_fields(number) | {
        "csrf_token": token,
        "po_number": "",
        "lines-0-description": "Chairs",
        "lines-0-quantity": "2",
        "lines-0-unit_price": "450.00",
        "notes": "",
        "_action": "submit",
    }
    return invoice_multipart(fields)


def client_loop(base: str, email: str, token: str, until: float, index: int, results) -> None:
    """One client process: the mix below, round and round, until `until` (time.time())."""
    client = Client(base, email, token)
    number = index * 10_000_000
    while time.time() < until:
        number += 1
        step = number % 10
        if step in (0, 5):
            client.request("GET", "/", what="GET home")
        elif step == 1:
            client.request("GET", "/inbox", what="GET inbox")
        elif step == 2:
            client.request("GET", "/submissions", what="GET my submissions")
        elif step == 3 and number % 30 == 3:
            client.web_submit(number)
        elif step == 3 and client.submissions:
            page = client.submissions[number % len(client.submissions)]
            client.request("GET", f"/submissions/{page}", what="GET request page")
        elif step == 4:
            client.api("GET", "/forms", what="GET forms (API)")
        elif step == 6:
            client.api("GET", "/tasks", what="GET tasks (API)")
        elif step == 7 and number % 30 == 7:
            client.api_submit(number)
        elif step == 8:
            client.request("GET", "/forms/vendor_invoice/new", what="GET invoice form")
        else:
            client.api("GET", "/forms/vendor_invoice", what="GET form schema (API)")
    results.put((dict(client.counts), client.errors[:50]))


# -- memory -------------------------------------------------------------------------------------


def gunicorn_workers() -> list[int]:
    """The pids of the gunicorn workers this script started (children of its master, which is
    a child of this process), so other people's gunicorns on the machine are not counted."""
    pids = _pids()
    parents = {pid: _ppid(pid) for pid in pids}
    masters = [p for p in pids if parents[p] == os.getpid() and "gunicorn" in _cmdline(p)]
    return [pid for pid in pids if parents[pid] in masters]


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _ppid(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("PPid:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


# -- the run ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long (default 10)")
    parser.add_argument("--quick", action="store_true", help="one minute")
    parser.add_argument("--clients", type=int, default=4, help="client processes (default 4)")
    parser.add_argument("--web-workers", type=int, default=3, help="gunicorn workers (3)")
    parser.add_argument("--no-write", action="store_true", help="print, do not write the doc")
    parser.add_argument("--note", default="", help="a sentence on what else ran meanwhile")
    args = parser.parse_args(argv)
    # Stopped with a signal, it still stops its processes and drops its database.
    signal.signal(signal.SIGTERM, _interrupted)
    minutes = 1.0 if args.quick else args.minutes
    seconds = minutes * 60
    from aiosmtpd.controller import Controller

    class Discard:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
            return "250 OK"

    smtp = Controller(Discard(), hostname="127.0.0.1", port=free_port())
    smtp.start()
    worker = cron = None
    with redis_server() as redis_url, tempfile.TemporaryDirectory() as folder:
        env = app_env(
            fresh_database(DATABASE),
            redis_url,
            Path(folder) / "instance",
            MAIL_SERVER="127.0.0.1",
            MAIL_PORT=str(smtp.port),
            BATON_RATE_LIMITS_OFF="1",
            WEB_CONCURRENCY=str(args.web_workers),
        )
        try:
            prepare_portal(env)
            tokens = {
                email: flask(env, "baton", "create-token", email, "--name", "soak").split()[-1]
                for email in SUBMITTERS
            }
            quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
            worker = subprocess.Popen(
                [str(BIN / "rq"), "worker", "-w", "portal.processes.worker.BatonWorker",
                 "--with-scheduler", "--url", redis_url, "baton"],
                cwd=ROOT, env=env, **quiet,
            )  # fmt: skip
            cron = subprocess.Popen(
                [str(BIN / "rq"), "cron", "portal.processes.cron_config", "--url", redis_url],
                cwd=ROOT, env=env, **quiet,
            )  # fmt: skip
            with gunicorn("app:create_app()", env) as base:
                figures = _soak(base, tokens, seconds, args.clients)
        finally:
            for process in (worker, cron):
                if process is not None:
                    process.terminate()
                    process.wait(timeout=30)
            smtp.stop()
            drop_database(DATABASE)
    figures.update(minutes=minutes, clients=args.clients, web_workers=args.web_workers)
    _print(figures)
    if not args.no_write:
        _write(figures, args.quick, args.note)
    return 0 if figures["errors"] == 0 else 1


def _interrupted(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _soak(base: str, tokens: dict[str, str], seconds: float, clients: int) -> dict:
    until = time.time() + seconds
    results = multiprocessing.Queue()
    processes = [
        multiprocessing.Process(
            target=client_loop,
            args=(base, SUBMITTERS[i % 2], tokens[SUBMITTERS[i % 2]], until, i + 1, results),
        )
        for i in range(clients)
    ]
    for process in processes:
        process.start()
    samples: list[tuple[float, float, float, int]] = []  # (second, total MiB, max MiB, workers)
    started = time.time()
    while time.time() < until:
        pids = gunicorn_workers()
        sizes = [rss_mib(pid) for pid in pids]
        samples.append((time.time() - started, sum(sizes), max(sizes, default=0.0), len(pids)))
        say(f"  {samples[-1][0]:5.0f} s: gunicorn workers {len(pids)}, RSS total "
            f"{samples[-1][1]:.0f} MiB, largest {samples[-1][2]:.0f} MiB")  # fmt: skip
        time.sleep(min(SAMPLE_SECONDS, max(0.0, until - time.time())))
    counts: collections.Counter[str] = collections.Counter()
    errors: list[str] = []
    for _ in processes:
        part, mistakes = results.get(timeout=300)
        counts.update(part)
        errors += mistakes
    for process in processes:
        process.join(timeout=60)
    elapsed = time.time() - started
    total = sum(n for name, n in counts.items() if name != "error")
    warm = next((s for s in samples if s[0] >= seconds / 5), samples[-1])
    last = samples[-1]
    return {
        "requests": total,
        "rate": total / elapsed,
        "errors": counts.get("error", 0),
        "error_examples": errors[:10],
        "counts": {k: v for k, v in sorted(counts.items()) if k != "error"},
        "rss_first": samples[0][1],
        "rss_warm": warm[1],
        "rss_last": last[1],
        "rss_max": max(s[1] for s in samples),
        "rss_largest_worker": max(s[2] for s in samples),
        "samples": len(samples),
        "flat": abs(last[1] - warm[1]) <= FLAT_WITHIN * warm[1],
    }


def _print(figures: dict) -> None:
    say(f"{figures['requests']:,} requests in {figures['minutes']:g} min "
        f"({figures['rate']:.1f}/s), errors: {figures['errors']}")  # fmt: skip
    say("  " + ", ".join(f"{name}: {n:,}" for name, n in figures["counts"].items()))
    for example in figures["error_examples"]:
        say(f"  error: {example}")
    say(f"gunicorn workers' RSS (total of {figures['web_workers']}): first "
        f"{figures['rss_first']:.0f} MiB, after warm-up {figures['rss_warm']:.0f} MiB, last "
        f"{figures['rss_last']:.0f} MiB, max {figures['rss_max']:.0f} MiB: "
        f"{'flat' if figures['flat'] else 'NOT flat'}")  # fmt: skip


def _write(figures: dict, quick: bool, note: str = "") -> None:
    mix = report.table(
        ["request", "count"], [[name, f"{n:,}"] for name, n in figures["counts"].items()]
    )
    change = (figures["rss_last"] - figures["rss_warm"]) / figures["rss_warm"] * 100
    memory = report.table(
        ["figure", "value"],
        [
            ["requests", f"{figures['requests']:,} ({figures['rate']:.1f} per second)"],
            ["errors (an unexpected status, or no answer)", f"**{figures['errors']}**"],
            ["gunicorn workers' RSS, first sample", f"{figures['rss_first']:.0f} MiB"],
            ["after warm-up (the first fifth of the run)", f"{figures['rss_warm']:.0f} MiB"],
            ["last sample", f"{figures['rss_last']:.0f} MiB ({change:+.1f} % against warm-up)"],
            ["largest total", f"{figures['rss_max']:.0f} MiB"],
            ["largest single worker", f"{figures['rss_largest_worker']:.0f} MiB"],
            [
                f"memory flat (last within {FLAT_WITHIN:.0%} of warm-up)",
                "yes" if figures["flat"] else "**no**",
            ],
        ],
    )
    body = f"""
`.venv/bin/python -m bench.soak{" --quick" if quick else ""}`: {figures["minutes"]:g} minutes of
load from {figures["clients"]} client processes (each signed in, on a keep-alive connection)
against gunicorn with {figures["web_workers"]} sync workers (portal/processes/gunicorn_conf.py), on
PostgreSQL and Redis, with an RQ worker and the cron sweep running the chains the submissions
start. The machine's 2 cores were shared with other engineers' test and benchmark runs while
this ran, so the request rate says little; the errors and the memory are what this measures.
{note}

{memory}

RSS is the sum over the gunicorn worker processes, sampled every {SAMPLE_SECONDS} s
({figures["samples"]} samples); gunicorn recycles a worker after about 5,000 requests
(`max_requests`), which resets its memory.

{mix}
"""
    report.write_section("soak", "Soak", body)


if __name__ == "__main__":
    raise SystemExit(main())
