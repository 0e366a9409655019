"""What the benchmark scripts share: their own Redis and PostgreSQL database, gunicorn, wrk.

Every script runs against services it starts (or databases it creates) itself, so it can
restart or flush them without touching anyone else's: a redis-server on a free port, and
PostgreSQL databases named baton_bench_* on the server BENCH_POSTGRES points at
(default postgresql://postgres@127.0.0.1:5432).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
POSTGRES = os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432").rstrip("/")
#: Every demo user's password (portal.cli.DEMO_PASSWORD).
PASSWORD = "baton-demo"
#: Enough of a PDF for the upload check (it starts with the PDF signature).
PDF_BYTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def invoice_multipart(fields: dict[str, str]) -> tuple[bytes, str]:
    """`fields` and a small PDF as invoice_file, encoded as a browser posts a form with a file:
    the body and its Content-Type."""
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="invoice_file"; '
        'filename="invoice.pdf"\r\nContent-Type: application/pdf\r\n\r\n'.encode()
        + PDF_BYTES
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def exit_cleanly_on_sigterm() -> None:
    """SIGTERM (a timeout, `kill`) unwinds like Ctrl-C, so servers and databases are cleaned up."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def say(message: str) -> None:
    print(message, flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- Redis --------------------------------------------------------------------------------------


@contextlib.contextmanager
def redis_server():
    """A throwaway redis-server on a free port; yields its URL."""
    executable = shutil.which("redis-server")
    if executable is None:
        raise SystemExit("redis-server is not installed (Debian: apt-get install redis-server)")
    port = free_port()
    folder = tempfile.mkdtemp(prefix="baton-bench-redis-")
    process = subprocess.Popen(
        [executable, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", folder, "--logfile", ""],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    try:
        _wait_for(lambda: _redis_answers(port), f"redis-server on port {port}")
        MASTERS[url] = process.pid
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


def _redis_answers(port: int) -> bool:
    import redis

    try:
        return bool(redis.Redis(port=port).ping())
    except redis.ConnectionError:
        return False


# -- PostgreSQL ---------------------------------------------------------------------------------


def database_url(name: str) -> str:
    return f"{POSTGRES}/{name}"


def _admin():
    import psycopg

    return psycopg.connect(database_url("postgres"), autocommit=True)


def database_exists(name: str) -> bool:
    with _admin() as connection:
        return bool(
            connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        )


def fresh_database(name: str) -> str:
    """Drop and create the database `name` (always baton_bench_*); returns its URL."""
    assert name.startswith("baton_bench_"), name
    with _admin() as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return database_url(name)


def drop_database(name: str) -> None:
    assert name.startswith("baton_bench_"), name
    with _admin() as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def app_env(database: str, redis_url: str | None, instance: Path, **extra: str) -> dict[str, str]:
    """The environment Baton's processes run with in a benchmark (production settings)."""
    env = dict(os.environ)
    for name in ("MAIL_SERVER", "MAIL_PORT", "WEB_CONCURRENCY", "BATON_WORKERS"):
        env.pop(name, None)
    env.update(
        DATABASE_URL=database,
        BATON_INSTANCE=str(instance),
        BATON_ENV="production",
        SECRET_KEY="benchmark-only-secret",
        BATON_LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(extra)
    return env


def flask(env: dict[str, str], *args: str) -> str:
    """`flask --app app ARGS` in the project folder; its output, or exit with its error."""
    result = subprocess.run(
        [str(BIN / "flask"), "--app", "app", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode:
        raise SystemExit(f"flask {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def prepare_portal(env: dict[str, str]) -> None:
    """Migrations, the shipped forms and the demo users, as `make run` does."""
    flask(env, "db", "upgrade")
    flask(env, "baton", "load-schemas", "form_schemas")
    flask(env, "baton", "seed-demo")


# -- processes ----------------------------------------------------------------------------------


#: The master process id of each gunicorn `gunicorn()` is serving, by its URL (for CPU time).
MASTERS: dict[str, int] = {}


def cpu_seconds(pids) -> float:
    """User plus system CPU time the processes `pids` (and, for each, its children) have
    used so far, from /proc; a process that has gone counts nothing."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        family = [pid]
        try:
            family += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            pass
        for member in family:
            try:
                fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


@contextlib.contextmanager
def gunicorn(app_spec: str, env: dict[str, str], port: int | None = None):
    """gunicorn with portal.processes.gunicorn_conf (what `make serve` runs); yields its URL
    (its master's pid is MASTERS[url])."""
    port = port or free_port()
    process = subprocess.Popen(
        [str(BIN / "gunicorn"), "--config", "python:portal.processes.gunicorn_conf", app_spec],
        cwd=ROOT,
        env=dict(env, PORT=str(port), HOST="127.0.0.1"),
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(lambda: _answers(base + "/health") or process.poll() is not None, app_spec, 180)
        if process.poll() is not None:
            raise SystemExit(f"gunicorn {app_spec} stopped at start (exit {process.returncode})")
        MASTERS[base] = process.pid
        yield base
    finally:
        MASTERS.pop(base, None)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _wait_for(condition, what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} did not start within {seconds:.0f} s")
        time.sleep(0.1)


# -- wrk ----------------------------------------------------------------------------------------


def ensure_wrk() -> str:
    """The path of wrk; installs Debian's package if it is missing (as root, or with sudo)."""
    found = shutil.which("wrk")
    if found:
        return found
    say(
        "wrk (the HTTP load generator the web benchmark uses) is not installed: installing "
        "Debian's package (apt-get install -y wrk; on other systems see your package manager, "
        "or build it from its source) ..."
    )
    command = ["apt-get", "install", "-y", "-q", "wrk"]
    if os.geteuid() != 0:
        command = ["sudo", "-n", *command]
    if subprocess.run(command, stdout=subprocess.DEVNULL).returncode or not shutil.which("wrk"):
        raise SystemExit("could not install wrk; install it (apt-get install wrk) and run again")
    return shutil.which("wrk")


@dataclass
class LoadResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    failures: int

    def row(self) -> list[str]:
        return [f"{self.requests_per_second:,.0f}", f"{self.p50_ms:.1f}", f"{self.p99_ms:.1f}"]


def run_wrk(url: str, script: Path, seconds: int, connections: int, threads: int = 1) -> LoadResult:
    """Load `url` with wrk for `seconds` with `connections` clients; parse what it prints."""
    command = [
        ensure_wrk(), "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s",
        "--latency", "--timeout", "10s", "-s", str(script), url,
    ]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    failures = 0
    for pattern in (r"Non-2xx or 3xx responses: (\d+)", r"Socket errors:.*?timeout (\d+)"):
        match = re.search(pattern, out)
        failures += int(match.group(1)) if match else 0
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+)", out)
    if errors:
        failures += sum(int(n) for n in errors.groups())
    return LoadResult(
        requests_per_second=rate,
        p50_ms=_latency(out, "50%"),
        p99_ms=_latency(out, "99%"),
        requests=total,
        failures=failures,
    )


def _latency(out: str, label: str) -> float:
    match = re.search(rf"^\s*{re.escape(label)}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    if match is None:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def verdict(ratio: float, goal: float, at_least: bool = True) -> str:
    met = ratio >= goal if at_least else ratio < goal
    return "met" if met else "**not met**"
