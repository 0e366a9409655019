"""docs/deploying.md and README's Serving stay true to the code: every process command they
give names a module, worker class and queue that exist, and every queue the portal sends jobs
to has a worker in them."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from portal.jobs.registry import QueueKind
from portal.queue import named

ROOT = Path(__file__).resolve().parent.parent
DOCS = {"docs/deploying.md": ROOT / "docs" / "deploying.md", "README.md": ROOT / "README.md"}
_WORKER = re.compile(r"rq worker (-w .*?)(?:'|$)", re.M)
_GUNICORN = re.compile(r"gunicorn -c python:([\w.]+) '?app:create_app\(\)")
_CRON = re.compile(r"rq cron ([\w.]+)")


def _text(name: str) -> str:
    return DOCS[name].read_text("utf-8")


def _importable(dotted: str) -> None:
    try:
        importlib.import_module(dotted)
    except ModuleNotFoundError:
        module, _, attribute = dotted.rpartition(".")
        assert hasattr(importlib.import_module(module), attribute), f"{dotted} does not exist"


@pytest.mark.parametrize("name", sorted(DOCS))
def test_every_process_command_names_what_exists(name):
    text = _text(name)
    gunicorn, cron, workers = _GUNICORN.findall(text), _CRON.findall(text), _WORKER.findall(text)
    assert gunicorn and cron and workers, f"{name} lacks a web, worker or cron command"
    for module in gunicorn + cron:
        _importable(module)
    queues = set()
    for line in workers:
        words = line.split()
        _importable(words[words.index("-w") + 1])
        queues |= {word for word in words if re.fullmatch(r"baton(-\w+)?", word)}
    expected = {named("baton", kind) for kind in QueueKind}
    assert queues == expected, f"{name}'s workers serve {queues}, the portal uses {expected}"


def test_the_deploying_guide_names_every_setting_the_hosts_must_share():
    text = _text("docs/deploying.md")
    for setting in (
        "SECRET_KEY",
        "DATABASE_URL",
        "REDIS_URL",
        "BATON_STORAGE_URL",
        "AWS_ENDPOINT_URL",
        "BATON_TRUSTED_PROXIES",
        "BATON_BASE_URL",
    ):
        assert f"{setting}=" in text, f"the example environment file lacks {setting}"
    from portal import config

    assert config.MISSING_SECRET_KEY.split(".")[0] in text  # the message it quotes is the real one
