"""Gunicorn settings for Baton:
`gunicorn -c python:portal.processes.gunicorn_conf 'app:create_app()'`.

`make serve` and the web benchmark (bench/web.py) both use these, so the figures in
docs/benchmarks.md describe what `make serve` runs.

| variable          | default                    |
|-------------------|----------------------------|
| WEB_CONCURRENCY   | 2 x CPU cores + 1 processes|
| WEB_THREADS       | 1 (sync workers)           |
| HOST, PORT        | 127.0.0.1, 8000            |
| WEB_ACCESS_LOG    | unset: no access log       |
"""

from __future__ import annotations

import os

from portal.config import whole_number

#: Sync workers: each request is CPU-bound Python (templates, validation); a process per core
#: and one spare to cover database waits is what gunicorn's docs suggest for that shape of load.
workers = whole_number("WEB_CONCURRENCY", os.environ.get("WEB_CONCURRENCY"), low=1, high=256) or (
    2 * (os.cpu_count() or 1) + 1
)
threads = whole_number("WEB_THREADS", os.environ.get("WEB_THREADS"), low=1, high=64) or 1
worker_class = "gthread" if threads > 1 else "sync"
bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
#: The app is built once in the master and forked: quicker start, less memory per worker.
preload_app = True
timeout = 30
graceful_timeout = 20
keepalive = 5
#: Recycle a worker now and then, so a slow leak in any library cannot grow without bound.
max_requests = 5000
max_requests_jitter = 500
accesslog = os.environ.get("WEB_ACCESS_LOG") or None
errorlog = "-"
proc_name = "baton-web"


def when_ready(server):
    """Compile every template once in the master, so no worker's first requests pay for it
    (a new worker after `max_requests` included)."""
    app = server.app.wsgi()
    jinja = getattr(app, "jinja_env", None)
    if jinja is None:
        return
    for name in jinja.list_templates(extensions=["html", "txt"]):
        jinja.get_template(name)


def post_fork(server, worker):
    """Each worker opens its own database connections (none made in the master are shared)."""
    app = server.app.wsgi()
    db = getattr(app, "extensions", {}).get("sqlalchemy")
    if db is None:
        return  # no database (the bare endpoint bench/web.py compares against)
    with app.app_context():  # Baton's, or the floor app's (bench/floor) own Flask-SQLAlchemy
        db.engine.dispose(close=False)
