"""Priority under load: while a backlog of low-priority jobs drains on 2 servers (2 workers
each), `critical` jobs enqueued one by one must start at once: enqueue → start p50/p95/max.

A server claims only as many jobs as it has free workers, and a worker claims its next job in the
statement that records its last one, in queue order; so a critical job waits for at most one
running (no-op) job per worker, never behind anything fetched ahead. The critical jobs are
enqueued 20–60 ms apart once the backlog is draining, and the bench checks that the backlog was
still draining when the last one started (otherwise the figure would be of an idle server).
Only ours: django-q2's ORM broker has no queue priority, procrastinate's priority is per job
within the queues a worker listens to; neither is compared here.
"""

import random
import time

from bench.report import LOWER, Row
from bench.stats import percentile

SERVERS = 2
WORKERS = 2
NOTE = "ours only"


def measure(bench, ours) -> list[float]:
    from bench.tasks import noop_critical, noop_low
    from jobs.api import enqueue_many

    bench.reset()
    n = bench.sizes.priority_backlog
    backlog = bench.label("prio-backlog", ours.key)
    label = bench.label("prio-critical", ours.key)
    servers = [ours.start(WORKERS) for _ in range(SERVERS)]
    try:
        for server in servers:
            server.wait_ready(120)
        enqueue_many(noop_low, [((backlog, seq), {}) for seq in range(n)])
        bench.marks.wait_for(backlog, min(n, 50), timeout=60)  # draining
        latencies = []
        for seq in range(bench.sizes.priority_samples):
            time.sleep(random.uniform(0.02, 0.06))
            noop_critical.enqueue(label, seq)
            committed = time.time()
            latencies.append((bench.marks.wait_for_one(label, seq, timeout=30) - committed) * 1000)
        if not ours.pending():
            raise AssertionError(
                "the low-priority backlog drained before the critical jobs were measured: enlarge it"
            )
    finally:
        for server in servers:
            server.process.terminate()
        for server in servers:
            server.stop()
    return latencies


def run(bench, systems) -> list[Row]:
    ours = systems[0]
    n = bench.sizes.priority_backlog
    rows = {
        name: Row(
            key=f"priority_{name}",
            label=f"Critical enqueue→start under a {n:,} low-priority backlog, {name}",
            unit="ms",
            better=LOWER,
            stock_note=NOTE,
            procrastinate_note=NOTE,
        )
        for name in ("p50", "p95", "max")
    }
    rows["p95"].target, rows["p95"].target_text = 50.0, "p95 ≤ 50 ms"
    values = {name: [] for name in rows}
    for rep in range(bench.sizes.repetitions):
        latencies = measure(bench, ours)
        for name, fraction in (("p50", 0.5), ("p95", 0.95), ("max", 1.0)):
            values[name].append(percentile(latencies, fraction))
        bench.log(f"priority rep {rep + 1}: " + ", ".join(f"{k} {v[-1]:.1f} ms" for k, v in values.items()))
    for name, row in rows.items():
        row.ours = values[name]
    return list(rows.values())
