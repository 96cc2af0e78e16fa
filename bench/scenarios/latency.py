"""Latency: enqueue → task start on an idle server (2 workers), p50/p95/max.

From the moment the `.enqueue()` / `async_task()` call returns in the bench process (the job is
committed: it exists for the servers from then on) to the start mark the task writes in the worker
(same machine, same clock). The enqueue call's own time is the "Enqueue, single calls" row.
Samples are spaced 50–150 ms apart at random, so each one finds the server idle and no sample
lines up with the stock broker's 0.2 s poll.
"""

import random
import time

from bench.report import LOWER, Row
from bench.stats import percentile

SUMMARIES = (("p50", 0.50), ("p95", 0.95), ("max", 1.0))


def sample(bench, system, n: int) -> list[float]:
    label = bench.label("latency", system.key)
    latencies = []
    for seq in range(n):
        time.sleep(random.uniform(0.05, 0.15))
        system.enqueue(label, seq)
        committed = time.time()
        started = bench.marks.wait_for_one(label, seq, timeout=30)
        latencies.append((started - committed) * 1000)
    return latencies


def run(bench, systems) -> list[Row]:
    rows = {
        name: Row(key=f"latency_{name}", label=f"Latency enqueue→start, {name}", unit="ms", better=LOWER)
        for name, _ in SUMMARIES
    }
    rows["p50"].target, rows["p50"].target_text = 4.0, "p50 ≤ 4 ms"
    for system in systems:
        values = {name: [] for name, _ in SUMMARIES}
        with bench.start_warm_server(system, bench.sizes.latency_workers):
            for rep in range(bench.sizes.repetitions):
                latencies = sample(bench, system, bench.sizes.latency_samples)
                for name, fraction in SUMMARIES:
                    values[name].append(percentile(latencies, fraction))
                bench.log(
                    f"latency {system.key} rep {rep + 1}: "
                    + ", ".join(f"{name} {values[name][-1]:.1f} ms" for name, _ in SUMMARIES)
                )
        for name, _ in SUMMARIES:
            setattr(rows[name], system.key, values[name])
    return list(rows.values())
