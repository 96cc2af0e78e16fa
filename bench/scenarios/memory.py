"""Worker memory: resident set size of a server's workers before and after many jobs.

Both systems recycle workers (a fresh process after so many tasks), which would hide a leak, so
here both are set to recycle only after far more tasks than the run has; the bench checks that
the same worker processes are measured before and after. "Before" is taken after a warm-up of a
few hundred jobs (imports and connections are in place by then: that is not growth).
Ours: worker pids from the server's Server row; stock: the cluster's processes django-q2 titles
as workers.
"""

import time

from bench.report import LOWER, Row
from bench.servers import rss_of

NO_RECYCLE = 10**7
WARMUP_JOBS = 300


def _drain(bench, system, server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while system.pending():
        server.check_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{system.key}: jobs not drained within {timeout:.0f} s:\n{server.log_tail()}")
        time.sleep(0.05)


def measure(bench, system) -> tuple[int, int]:
    bench.reset()
    n = bench.sizes.memory_jobs
    env = {"JOBS_WORKER_RECYCLE": NO_RECYCLE, "BENCH_RECYCLE": NO_RECYCLE}
    with bench.start_warm_server(system, bench.sizes.memory_workers, **env) as server:
        system.enqueue_bulk(bench.label("memwarm", system.key), range(WARMUP_JOBS))
        _drain(bench, system, server, 120)
        pids = sorted(system.worker_pids(server))
        workers = {proc.pid: proc for proc in server.worker_processes()}
        before = rss_of([workers[pid] for pid in pids if pid in workers])
        if len(before) != bench.sizes.memory_workers:
            raise AssertionError(f"{system.key}: found workers {sorted(before)}, server says {pids}")
        label = bench.label("memory", system.key)
        for start in range(0, n, 10_000):
            system.enqueue_bulk(label, range(start, min(n, start + 10_000)))
        _drain(bench, system, server, 120 + n / 20)
        after_pids = sorted(system.worker_pids(server))
        if after_pids != pids:
            raise AssertionError(f"{system.key}: workers changed during the run ({pids} -> {after_pids})")
        after = rss_of([workers[pid] for pid in pids])
    bench.log(
        f"memory {system.key}: {sum(before.values()) / 2**20:.1f} MiB -> {sum(after.values()) / 2**20:.1f} MiB "
        f"over {n:,} jobs ({', '.join(f'{pid}: {before[pid] >> 20}->{after[pid] >> 20}' for pid in pids)})"
    )
    return sum(before.values()), sum(after.values())


def run(bench, systems) -> list[Row]:
    workers = bench.sizes.memory_workers
    n = bench.sizes.memory_jobs
    before = Row(key="rss_before", label=f"Worker RSS before ({workers} workers, total)", unit="MiB", better=LOWER)
    after = Row(key="rss_after", label=f"Worker RSS after {n:,} jobs", unit="MiB", better=LOWER)
    growth = Row(key="rss_growth", label="Worker RSS growth", unit="%", better=LOWER,
                 target=10.0, target_text="< 10 %")
    for system in systems:
        rss_before, rss_after = measure(bench, system)
        setattr(before, system.key, [rss_before / 2**20])
        setattr(after, system.key, [rss_after / 2**20])
        setattr(growth, system.key, [100.0 * (rss_after - rss_before) / rss_before])
    return [before, after, growth]
