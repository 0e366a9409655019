"""The RQ worker classes Baton's processes use:
`rq worker -w portal.processes.worker.BatonSimpleWorker`.

Both build the app once. BatonWorker (`make run`) forks a work horse per job, which starts
with the app loaded (and opens its own database connections, see portal.jobs.application).
BatonSimpleWorker (`make serve`) runs jobs in the worker process itself, so the caches a job
warms (parsed schemas, compiled SQL and templates, database connections) serve the next job
too: about twenty times the throughput on chain jobs (docs/benchmarks.md, "Workers").
"""

from rq import SimpleWorker, Worker

from portal import jobs


class BatonWorker(Worker):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        jobs.application()


class BatonSimpleWorker(SimpleWorker):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        jobs.application()
