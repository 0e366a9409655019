"""The RQ worker class Baton's processes use: `rq worker -w portal.worker.BatonWorker`.

It builds the app once in the parent, so each forked work horse starts with it loaded
(and with its own database connections, see portal.jobs.application).
"""

from rq import Worker

from portal import jobs


class BatonWorker(Worker):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        jobs.application()
