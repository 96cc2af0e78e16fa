"""Worker memory: resident set size of a server's workers before and after many jobs.

Both systems recycle workers (a fresh process after so many tasks), which would hide a leak, so
here both are set to recycle only after far more tasks than the run has; the bench checks that
the same worker processes are measured before and after. "Before" is taken after a warm-up of a
few hundred jobs (imports and connections are in place by then: that is not growth).
Ours: worker pids from the server's Server row; stock: the cluster's processes django-q2 titles
as workers.

The same run also gives the CPU each system spends per job (bench.cpu): a warm server, no
startup, enqueueing left out (the bench's own connection inserts the jobs). On a shared machine
that is a steadier figure than jobs/s.
"""

import time

from bench.cpu import CpuMeter, own_backend_pids
from bench.report import LOWER, Row
from bench.servers import rss_of

NO_RECYCLE = 10**7


def _drain(bench, system, server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while system.pending():
        server.check_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{system.key}: jobs not drained within {timeout:.0f} s:\n{server.log_tail()}")
        time.sleep(0.05)


def expected_workers(bench, server) -> int:
    """Worker processes to measure: procrastinate runs its tasks in threads of one process."""
    return 1 if server.single_process else bench.sizes.memory_workers


def _worker_pids(bench, system, server, timeout: float = 30.0) -> list[int]:
    """The server's worker pids, once it reports all of them (our heartbeat comes every 5 s)."""
    deadline = time.monotonic() + timeout
    while True:
        pids = sorted(system.worker_pids(server))
        if len(pids) == expected_workers(bench, server) or time.monotonic() > deadline:
            return pids
        time.sleep(0.2)


def measure(bench, system) -> tuple[int, int, float, float]:
    bench.reset()
    n = bench.sizes.memory_jobs
    env = {"JOBS_WORKER_RECYCLE": NO_RECYCLE, "BENCH_RECYCLE": NO_RECYCLE}
    with bench.start_warm_server(system, bench.sizes.memory_workers, **env) as server:
        system.enqueue_bulk(bench.label("memwarm", system.key), range(bench.sizes.memory_warmup))
        _drain(bench, system, server, 120)
        pids = _worker_pids(bench, system, server)
        workers = {proc.pid: proc for proc in server.worker_processes()}
        before = rss_of([workers[pid] for pid in pids if pid in workers])
        if len(before) != expected_workers(bench, server):
            raise AssertionError(f"{system.key}: found workers {sorted(before)}, server says {pids}")
        label = bench.label("memory", system.key)
        meter = CpuMeter(bench.url, server, own_backend_pids(bench.conn))
        meter.start()
        for start in range(0, n, 10_000):
            system.enqueue_bulk(label, range(start, min(n, start + 10_000)))
        _drain(bench, system, server, 120 + n / 20)
        server_cpu, database_cpu = meter.stop()
        after_pids = _worker_pids(bench, system, server)
        if after_pids != pids:
            raise AssertionError(f"{system.key}: workers changed during the run ({pids} -> {after_pids})")
        after = rss_of([workers[pid] for pid in pids])
    bench.log(
        f"memory {system.key}: {sum(before.values()) / 2**20:.1f} MiB -> {sum(after.values()) / 2**20:.1f} MiB "
        f"over {n:,} jobs ({', '.join(f'{pid}: {before[pid] >> 20}->{after[pid] >> 20}' for pid in pids)})"
    )
    return sum(before.values()), sum(after.values()), server_cpu / n * 1000, database_cpu / n * 1000


def run(bench, systems) -> list[Row]:
    workers = bench.sizes.memory_workers
    n = bench.sizes.memory_jobs
    before = Row(
        key="rss_before", label=f"Worker RSS before ({workers} workers, total)", unit="MiB", better=LOWER
    )
    after = Row(key="rss_after", label=f"Worker RSS after {n:,} jobs", unit="MiB", better=LOWER)
    growth = Row(
        key="rss_growth",
        label="Worker RSS growth",
        unit="%",
        better=LOWER,
        target=10.0,
        target_text="< 10 %",
        comparable=False,
    )
    cpu_server = Row(key="cpu_server", label="CPU per job, server processes", unit="ms", better=LOWER)
    cpu_database = Row(
        key="cpu_database", label="CPU per job, their PostgreSQL backends", unit="ms", better=LOWER
    )
    for system in systems:
        if system.key == "procrastinate":
            # Not asked for (issue 18 compares drains, latencies and enqueues with it), and its
            # 50,000 jobs would spend minutes of make bench's 15-minute budget.
            for row in (before, after, growth, cpu_server, cpu_database):
                row.procrastinate_note = "not measured (drain, latency and enqueue rows compare it)"
            continue
        rss_before, rss_after, server_ms, database_ms = measure(bench, system)
        setattr(cpu_server, system.key, [server_ms])
        setattr(cpu_database, system.key, [database_ms])
        setattr(before, system.key, [rss_before / 2**20])
        setattr(after, system.key, [rss_after / 2**20])
        setattr(growth, system.key, [100.0 * (rss_after - rss_before) / rss_before])
    return [before, after, growth, cpu_server, cpu_database]
