"""`make serve`: Baton's production processes in the foreground, stopped together.

gunicorn (settings in portal.processes.gunicorn_conf, WEB_CONCURRENCY processes), BATON_WORKERS RQ
workers of the class chosen in docs/benchmarks.md (section "Serving") on the queue of chain
steps and emails, BATON_BULK_WORKERS on the queue of exports and PDFs, and RQ's cron scheduler
for the every-minute sweep, all against DATABASE_URL and REDIS_URL, which must be set:
production runs on PostgreSQL and a real Redis, not the development defaults.

    DATABASE_URL=postgresql://... REDIS_URL=redis://... python -m portal.processes.serve
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from portal.config import whole_number
from portal.jobs.registry import QueueKind
from portal.queue import named

#: Measured against RQ's forking Worker and SpawnWorker by bench/workers.py (see
#: docs/benchmarks.md, "Workers"): by far the fastest on chain jobs, since the caches a job
#: warms serve the next one instead of dying with a forked work horse.
WORKER_CLASS = "portal.processes.worker.BatonSimpleWorker"
#: Workers for exports and PDFs unless BATON_BULK_WORKERS says otherwise: two, so that a
#: person's audit PDF need not wait for someone's export of thousands to finish.
BULK_WORKERS = 2


def commands(environ: dict[str, str]) -> dict[str, list[str]]:
    """The processes to start, by name."""
    bin_dir = Path(sys.executable).parent
    url = environ["REDIS_URL"]
    queue = environ.get("BATON_QUEUE", "baton")
    count = whole_number("BATON_WORKERS", environ.get("BATON_WORKERS"), low=1, high=64) or (
        os.cpu_count() or 1
    )
    bulk = (
        whole_number("BATON_BULK_WORKERS", environ.get("BATON_BULK_WORKERS"), low=1, high=64)
        or BULK_WORKERS
    )
    found = {
        "web": [
            str(bin_dir / "gunicorn"),
            "--config",
            "python:portal.processes.gunicorn_conf",
            "app:create_app()",
        ]
    }
    # Chain steps and emails never wait behind an export or a PDF: those have workers of their
    # own, on "<queue>-bulk" (portal.queue.queue_name).
    names = {f"worker-{n}": queue for n in range(1, count + 1)}
    names |= {f"bulk-worker-{n}": named(queue, QueueKind.BULK) for n in range(1, bulk + 1)}
    for name, queue_name in names.items():
        found[name] = [
            str(bin_dir / "rq"),
            "worker",
            "--worker-class",
            environ.get("BATON_WORKER_CLASS") or WORKER_CLASS,
            "--with-scheduler",
            "--url",
            url,
            "--quiet",
            queue_name,
        ]
    found["cron"] = [str(bin_dir / "rq"), "cron", "portal.processes.cron_config", "--url", url]
    return found


def main() -> int:
    """Check the settings, start everything, wait."""
    from portal.processes import devserver

    missing = [name for name in ("DATABASE_URL", "REDIS_URL") if not os.environ.get(name)]
    if missing:
        click.secho(
            f"make serve needs {' and '.join(missing)} (PostgreSQL and Redis), for example:\n"
            "  DATABASE_URL=postgresql://postgres@127.0.0.1:5432/baton "
            "REDIS_URL=redis://127.0.0.1:6379/0 make serve",
            fg="red",
            err=True,
        )
        return 2
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    try:
        processes = commands(env)
        import portal.processes.gunicorn_conf as web_settings
    except ValueError as error:
        click.secho(str(error), fg="red", err=True)
        return 2
    workers = sum(1 for name in processes if name.startswith("worker-"))
    bulk = sum(1 for name in processes if name.startswith("bulk-worker-"))
    banner = (
        f"\n  Baton is serving on http://{web_settings.bind}/ with {web_settings.workers} web "
        f"processes, {workers} RQ workers and {bulk} for exports and PDFs "
        f"({env.get('BATON_WORKER_CLASS') or WORKER_CLASS}).\n"
        "  Ctrl-C (or SIGTERM) stops everything.\n"
    )
    return devserver.supervise(processes, env, banner)


if __name__ == "__main__":
    sys.exit(main())
