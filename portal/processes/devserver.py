"""`make run`: the web app and its RQ workers in the foreground, stopped together by Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import click
from flask import Flask

from portal import queue
from portal.jobs.registry import QueueKind

GRACE_SECONDS = 10


def run(app: Flask, host: str, port: int) -> int:
    """Start the processes and wait; if one of them stops, stop the others. Returns an exit code."""
    url = queue.redis_url(app)  # starts the embedded Redis when REDIS_URL is unset
    env = dict(os.environ, REDIS_URL=url, PYTHONUNBUFFERED="1", PORT=str(port))
    mailbox = app.config.get("DEV_MAILBOX") if not os.environ.get("MAIL_SERVER") else None
    bin_dir = Path(sys.executable).parent
    commands = {
        "web": [
            sys.executable,
            "-m",
            "flask",
            "--app",
            "app",
            "run",
            "--host",
            host,
            "--port",
            str(port),
        ],
        "worker": _worker(bin_dir, url, "dev", queue.queue_name(app)),
        # Exports and PDFs on their own, so that chain steps and emails never wait behind them.
        "bulk-worker": _worker(bin_dir, url, "dev-bulk", queue.queue_name(app, QueueKind.BULK)),
        "cron": [str(bin_dir / "rq"), "cron", "portal.processes.cron_config", "--url", url],
    }
    if mailbox:
        mail_port = _free_port(app.config["MAIL_PORT"])  # another Baton may have 8025 already
        env.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=str(mail_port))
        commands["mailbox"] = [
            sys.executable,
            "-m",
            "portal.processes.devmail",
            "--port",
            str(mail_port),
            "--folder",
            mailbox,
        ]
    banner = (
        f"\n  Baton is running at http://{host}:{port}/  (Redis: {_describe(url)})\n"
        + (
            f"  Emails land in the development mailbox: http://{host}:{port}/dev/mailbox\n"
            if mailbox
            else ""
        )
        + "  Press Ctrl-C to stop everything.\n"
    )
    return supervise(commands, env, banner)


def _worker(bin_dir: Path, url: str, name: str, queue_name: str) -> list[str]:
    return [
        str(bin_dir / "rq"),
        "worker",
        "--worker-class",
        "portal.processes.worker.BatonWorker",
        "--with-scheduler",
        "--url",
        url,
        "--name",
        f"baton-{name}-{os.getpid()}",
        queue_name,
    ]


def supervise(commands: dict[str, list[str]], env: dict[str, str], banner: str) -> int:
    """Start `commands` (name -> argv), print `banner`, and wait; if one stops, stop the others.

    Also what `make serve` (portal.processes.serve) runs its production processes with."""
    # Stop on Ctrl-C, and on SIGTERM from a process manager, even if started where SIGINT is
    # ignored (a background job of a script).
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)
    processes: dict[str, subprocess.Popen] = {}
    for name, command in commands.items():
        processes[name] = subprocess.Popen(command, env=env)
    click.secho(banner, fg="green", bold=True)
    try:
        stopped = None
        while stopped is None:
            time.sleep(0.5)
            stopped = next((n for n, p in processes.items() if p.poll() is not None), None)
        code = processes[stopped].returncode or 1
        click.secho(
            f"The {stopped} process stopped (exit code {code}); stopping the rest.", fg="red"
        )
    except KeyboardInterrupt:
        code = 0
    finally:
        _stop(processes)
    return code


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _stop(processes: dict[str, subprocess.Popen]) -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)  # a second Ctrl-C must not cut the shutdown short
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    deadline = time.monotonic() + GRACE_SECONDS
    for process in processes.values():
        remaining = max(0.1, deadline - time.monotonic())
        try:
            process.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    click.echo("Stopped.")


def _free_port(preferred: int) -> int:
    """`preferred` if nothing listens there, else any free port on 127.0.0.1."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", preferred))
        except OSError:
            probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _describe(url: str) -> str:
    return "embedded, in instance/redis" if url.startswith("unix://") else url
