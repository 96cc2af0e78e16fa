"""Enqueue: single calls per second (each its own transaction, as a web request would), and a bulk
enqueue of many jobs in one call (ours: jobs.api.enqueue_many; stock: OrmQ.bulk_create of the
packages async_task would build — django-q2 has no bulk API). No server runs meanwhile."""

import time

from bench.report import HIGHER, Row


def single_once(bench, system) -> float:
    bench.reset()
    label = bench.label("enqueue", system.key)
    n = bench.sizes.enqueue_calls
    started = time.perf_counter()
    for seq in range(n):
        system.enqueue(label, seq)
    return n / (time.perf_counter() - started)


def bulk_once(bench, system) -> float:
    bench.reset()
    label = bench.label("bulk", system.key)
    n = bench.sizes.bulk_jobs
    started = time.perf_counter()
    system.enqueue_bulk(label, range(n))
    return n / (time.perf_counter() - started)


def run(bench, systems) -> list[Row]:
    single = Row(key="enqueue_single", label="Enqueue, single calls", unit="calls/s", better=HIGHER)
    bulk = Row(
        key="enqueue_bulk",
        label=f"Enqueue, bulk of {bench.sizes.bulk_jobs:,}",
        unit="jobs/s",
        better=HIGHER,
        target=20_000,
        target_text="≥ 20,000 jobs/s",
    )
    for row, once in ((single, single_once), (bulk, bulk_once)):
        values = {system.key: [] for system in systems}
        for rep in range(bench.sizes.repetitions):
            for system in systems:
                rate = once(bench, system)
                bench.log(f"{row.key} {system.key} rep {rep + 1}: {rate:,.0f}/s")
                values[system.key].append(rate)
        for key, found in values.items():
            setattr(row, key, found)
    return [single, bulk]
