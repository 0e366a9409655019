"""`make serve`: which processes it starts, and that it refuses the development defaults."""

import pytest

from portal.processes import serve


def test_serve_starts_gunicorn_the_workers_asked_for_and_the_cron_scheduler():
    found = serve.commands({"REDIS_URL": "redis://127.0.0.1:6379/0", "BATON_WORKERS": "3"})
    assert sorted(found) == [
        "bulk-worker-1",
        "bulk-worker-2",
        "cron",
        "web",
        "worker-1",
        "worker-2",
        "worker-3",
    ]
    web_config = ["--config", "python:portal.processes.gunicorn_conf", "app:create_app()"]
    assert found["web"][-3:] == web_config
    worker = found["worker-1"]
    assert worker[worker.index("--worker-class") + 1] == serve.WORKER_CLASS
    assert worker[worker.index("--url") + 1] == "redis://127.0.0.1:6379/0"
    assert found["cron"][1:3] == ["cron", "portal.processes.cron_config"]


def test_serve_gives_exports_and_pdfs_workers_of_their_own():
    found = serve.commands(
        {"REDIS_URL": "redis://127.0.0.1:6379/0", "BATON_QUEUE": "acme", "BATON_BULK_WORKERS": "1"}
    )
    assert [name for name in found if "bulk" in name] == ["bulk-worker-1"]
    assert found["bulk-worker-1"][-1] == "acme-bulk"  # the registry's bulk queue
    assert found["worker-1"][-1] == "acme"  # chain steps and emails: never behind an export


def test_serve_refuses_a_worker_count_that_is_not_a_number():
    with pytest.raises(ValueError, match="BATON_WORKERS"):
        serve.commands({"REDIS_URL": "redis://127.0.0.1:6379/0", "BATON_WORKERS": "many"})
    with pytest.raises(ValueError, match="BATON_BULK_WORKERS"):
        serve.commands({"REDIS_URL": "redis://127.0.0.1:6379/0", "BATON_BULK_WORKERS": "0"})


@pytest.mark.parametrize("missing", ["DATABASE_URL", "REDIS_URL"])
def test_serve_needs_postgresql_and_redis(monkeypatch, capsys, missing):
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/baton")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.delenv(missing)
    assert serve.main() == 2
    assert f"make serve needs {missing}" in capsys.readouterr().err
