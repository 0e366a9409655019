"""`make serve`: Baton's production processes in the foreground, stopped together.

gunicorn (settings in portal.gunicorn_conf, WEB_CONCURRENCY processes), BATON_WORKERS RQ
workers of the class chosen in docs/benchmarks.md (section "Serving"), and RQ's cron scheduler
for the every-minute sweep, all against DATABASE_URL and REDIS_URL, which must be set:
production runs on PostgreSQL and a real Redis, not the development defaults.

    DATABASE_URL=postgresql://... REDIS_URL=redis://... python -m portal.serve
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from portal.config import whole_number

#: Measured against RQ's forking Worker and SpawnWorker by bench/workers.py (see
#: docs/benchmarks.md, "Workers"): by far the fastest on chain jobs, since the caches a job
#: warms serve the next one instead of dying with a forked work horse.
WORKER_CLASS = "portal.worker.BatonSimpleWorker"


def commands(environ: dict[str, str]) -> dict[str, list[str]]:
    """The processes to start, by name."""
    bin_dir = Path(sys.executable).parent
    url = environ["REDIS_URL"]
    queue = environ.get("BATON_QUEUE", "baton")
    count = whole_number("BATON_WORKERS", environ.get("BATON_WORKERS"), low=1, high=64) or (
        os.cpu_count() or 1
    )
    found = {
        "web": [
            str(bin_dir / "gunicorn"),
            "--config",
            "python:portal.gunicorn_conf",
            "app:create_app()",
        ]
    }
    for number in range(1, count + 1):
        found[f"worker-{number}"] = [
            str(bin_dir / "rq"),
            "worker",
            "--worker-class",
            environ.get("BATON_WORKER_CLASS") or WORKER_CLASS,
            "--with-scheduler",
            "--url",
            url,
            "--quiet",
            queue,
        ]
    found["cron"] = [str(bin_dir / "rq"), "cron", "portal.cron_config", "--url", url]
    return found


def main() -> int:
    """Check the settings, start everything, wait."""
    from portal import devserver

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
        import portal.gunicorn_conf as web_settings
    except ValueError as error:
        click.secho(str(error), fg="red", err=True)
        return 2
    workers = sum(1 for name in processes if name.startswith("worker-"))
    banner = (
        f"\n  Baton is serving on http://{web_settings.bind}/ with {web_settings.workers} web "
        f"processes and {workers} RQ workers ({env.get('BATON_WORKER_CLASS') or WORKER_CLASS}).\n"
        "  Ctrl-C (or SIGTERM) stops everything.\n"
    )
    return devserver.supervise(processes, env, banner)


if __name__ == "__main__":
    sys.exit(main())
