"""procrastinate, the second peer of the bench: its App and the same no-op body as ours.

procrastinate keeps a job table and an events table in PostgreSQL, the closest design to ours
among the Python peers. Its worker (`python -m procrastinate --app=bench.procrastinate_app.app
worker`) is one asyncio process; a sync task runs in a thread of that process, up to
`--concurrency` at a time. The DSN comes from BENCH_PROCRASTINATE_DSN (the bench database),
which the bench sets for itself and for the workers it starts.
"""

import os

from procrastinate import App, PsycopgConnector

from bench.marks import record_start

QUEUE = "default"

app = App(connector=PsycopgConnector(conninfo=os.environ.get("BENCH_PROCRASTINATE_DSN", "")))


@app.task(queue=QUEUE, name="bench_noop")
def noop(label: str, seq: int) -> None:
    """procrastinate's no-op job: a plain sync task, the same call as ours and django-q2's."""
    record_start(label, seq)
