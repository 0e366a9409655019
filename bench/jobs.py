"""Jobs and worker classes for bench/workers.py (importable by `rq worker`)."""

from rq.worker import SpawnWorker


def do_nothing():
    """RQ's own baseline: the no-op job its test suite uses (tests/fixtures.py, do_nothing)."""


class BatonSpawnWorker(SpawnWorker):
    """SpawnWorker: a fresh interpreter per job (posix_spawn), so nothing can be preloaded."""
