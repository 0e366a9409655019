"""The Redis connection: the real server when REDIS_URL is set (CI), otherwise the embedded one."""

from rq import SimpleWorker

from portal import queue


def test_job_round_trip_through_the_configured_redis(app, redis_url):
    q = queue.queue(app)
    job = q.enqueue("tests.jobs.add", 2, 3)
    SimpleWorker([q], connection=q.connection).work(burst=True)
    job.refresh()
    assert job.is_finished and job.return_value() == 5
    expected = redis_url or "unix://"
    assert queue.redis_url(app).startswith(expected)
    q.delete(delete_jobs=True)


def test_embedded_redis_lives_in_the_instance_folder(app, tmp_path):
    app.config["REDIS_URL"] = None
    app.config["EMBEDDED_REDIS_PATH"] = str(tmp_path / "redis" / "test.db")
    try:
        url = queue.redis_url(app)
        assert url.startswith("unix://")
        assert queue.connection(app).ping()
        assert (tmp_path / "redis").is_dir()
    finally:
        queue.stop_embedded()
