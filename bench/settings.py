"""Settings of the bench process and of the stock django-q2 cluster it starts.

Our project settings, unchanged, plus django-q2's own ORM broker configured the way its
documentation recommends and tuned fairly (issue 8): persistent connections (CONN_MAX_AGE comes
from the project settings, as for our servers), `bulk` 10, `save_limit` -1 (no result rows).
Our servers never read this module: they run `manage.py qcluster` with `dhanman.settings`.
The bench process uses it too, so that `django_q.tasks.async_task` and the signed packages it
builds match the stock cluster (same name, so the same signing salt).
"""

import os

from dhanman.settings import *  # noqa: F403

STOCK_CLUSTER_NAME = "bench"

Q_CLUSTER = {
    "name": STOCK_CLUSTER_NAME,
    "orm": "default",
    "workers": int(os.environ.get("BENCH_WORKERS", "2")),
    "bulk": 10,
    "save_limit": -1,
    "timeout": 60,
    # Must exceed `timeout` (django-q2 redelivers unacknowledged tasks after `retry` seconds).
    "retry": 120,
    # django-q2's default poll (0.2 s), written out: the stock broker sleeps this long when empty.
    "poll": 0.2,
    "catch_up": False,
    # A worker is replaced after this many tasks. django-q2's default is 500; ours is 5000
    # (JOBS_WORKER_RECYCLE), so the stock cluster gets the same. The memory scenario raises both
    # above its job count, so that the same processes are measured before and after.
    "recycle": int(os.environ.get("BENCH_RECYCLE", "5000")),
    "cache": "default",
    "guard_cycle": 0.5,
    "log_level": os.environ.get("DJANGO_Q_LOG_LEVEL", "WARNING"),
}
