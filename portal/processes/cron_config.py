"""`rq cron portal.processes.cron_config`: the periodic work, run by RQ's own cron scheduler."""

import os

from rq import cron

from portal import jobs

cron.register(jobs.sweep, queue_name=os.environ.get("BATON_QUEUE", "baton"), interval=60)
