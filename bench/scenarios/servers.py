"""Many servers on one PostgreSQL: 1, 2, 4, 8 `qcluster` servers of 2 workers each drain one backlog.

The servers are started and idle (LISTENing) before the backlog is enqueued in one transaction,
so all of them see it at the same commit; jobs/s runs from the first start to the last finish,
as in the drain scenario. For each count the bench also reports:

- the claim statement's mean time under that contention. pg_stat_statements is used when the
  server preloads it; otherwise (this machine) a probe in the bench process runs the servers'
  own claim statement (jobs.sql.CLAIM_SQL, one job) every 50 ms inside a transaction it rolls
  back, and times it: the same statement, the same indexes, the same concurrent writers;
- failed or retried claims: claims that ended in a database error in a server's log, and jobs
  claimed more than once (more than one Processing row in their history);
- duplicates: jobs whose body ran more than once (their start marks).

Only ours: the peers have no notion of several servers sharing the work to compare.
"""

import re
import statistics
import threading
import time

from bench import database
from bench.report import HIGHER, LOWER, Row

POLL = 0.01
PROBE_INTERVAL = 0.05
WORKERS = 2
# A claim that a server had to give up on (jobs/server/broker.py and jobs/server/worker.py log these).
FAILED_CLAIM = re.compile(r"Database unavailable in the pusher|claim was cut off|deadlock detected|Traceback")
PEER_NOTE = "ours only"


class ClaimProbe:
    """Times the servers' claim statement, rolled back, every PROBE_INTERVAL s in a thread."""

    def __init__(self, url: str):
        self.conn = database.connect(url, autocommit=False)
        self.times: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from jobs.sql import CLAIM_SQL, claim_parameters

        params = claim_parameters("bench-claim-probe", ["critical", "default", "low-priority"], 1)
        while not self._stop.wait(PROBE_INTERVAL):
            started = time.perf_counter()
            self.conn.execute(CLAIM_SQL, params).fetchall()
            self.times.append((time.perf_counter() - started) * 1000)
            self.conn.rollback()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.conn.close()


def statements_extension(conn) -> bool:
    try:
        preload = conn.execute("SHOW shared_preload_libraries").fetchone()[0]
        if "pg_stat_statements" not in preload:
            return False
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        return True
    except Exception:  # no such extension, or no right to create it: the probe times it instead
        return False


def claim_mean_from_statements(conn) -> float | None:
    row = conn.execute(
        "SELECT sum(total_exec_time) / nullif(sum(calls), 0) FROM pg_stat_statements"
        " WHERE query LIKE '%%FOR UPDATE SKIP LOCKED%%' AND query LIKE '%%picked AS%%'"
    ).fetchone()
    return float(row[0]) if row and row[0] is not None else None


def drain_with(bench, ours, servers_count: int, use_statements: bool) -> dict:
    n = bench.sizes.servers_backlog
    bench.reset()
    label = bench.label(f"servers{servers_count}", ours.key)
    servers = [ours.start(WORKERS) for _ in range(servers_count)]
    try:
        for server in servers:
            server.wait_ready(120)
        if use_statements:
            bench.conn.execute("SELECT pg_stat_statements_reset()")
        with ClaimProbe(bench.url) as probe:
            ours.enqueue_bulk(label, range(n))
            deadline = time.monotonic() + 120 + n / 10
            while ours.pending():
                for server in servers:
                    server.check_alive()
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{servers_count} servers: {n} jobs not drained in time")
                time.sleep(POLL)
            finished = time.time()
    finally:
        for server in servers:
            server.process.terminate()  # SIGTERM to each main process, then wait for them together
        for server in servers:
            server.stop()
    starts = bench.marks.wait_for(label, n, timeout=30)
    claim_ms = claim_mean_from_statements(bench.conn) if use_statements else None
    retried = bench.conn.execute(
        "SELECT count(*) FROM (SELECT job_id FROM jobs_jobstate WHERE name = 'processing'"
        " GROUP BY job_id HAVING count(*) > 1) again"
    ).fetchone()[0]
    succeeded = bench.conn.execute("SELECT count(*) FROM jobs_job WHERE state = 'succeeded'").fetchone()[0]
    if succeeded != n:
        raise AssertionError(f"{servers_count} servers: {succeeded} of {n} jobs succeeded")
    failed = sum(len(FAILED_CLAIM.findall(server.log_tail(10**7))) for server in servers)
    return {
        "rate": n / (finished - min(starts.values())),
        "claim_ms": claim_ms
        if claim_ms is not None
        else statistics.fmean(probe.times)
        if probe.times
        else None,
        "claim_source": "pg_stat_statements"
        if claim_ms is not None
        else f"probe, {len(probe.times)} samples",
        "retried": retried,
        "failed": failed,
        "duplicates": bench.marks.repeats(label),
    }


def run(bench, systems) -> list[Row]:
    ours = systems[0]
    counts = bench.sizes.servers_counts
    n = bench.sizes.servers_backlog
    use_statements = statements_extension(bench.conn)
    rates, claims, results = {}, {}, {}
    for count in counts:
        rates[count] = Row(
            key=f"servers_{count}",
            label=f"{count} server(s) × {WORKERS} workers, {n:,} backlog",
            unit="jobs/s",
            better=HIGHER,
            stock_note=PEER_NOTE,
            procrastinate_note=PEER_NOTE,
        )
        claims[count] = Row(
            key=f"servers_{count}_claim",
            label=f"Claim statement mean, {count} server(s)",
            unit="ms",
            better=LOWER,
            stock_note=PEER_NOTE,
            procrastinate_note=PEER_NOTE,
        )
    for rep in range(bench.sizes.servers_repetitions):
        for count in counts:
            result = drain_with(bench, ours, count, use_statements)
            results.setdefault(count, []).append(result)
            bench.log(
                f"servers {count} rep {rep + 1}: {result['rate']:,.0f} jobs/s, claim {result['claim_ms'] or 0:.2f} ms "
                f"({result['claim_source']}), {result['failed']} failed / {result['retried']} retried claims, "
                f"{result['duplicates']} duplicates"
            )
    for count in counts:
        rates[count].ours = [r["rate"] for r in results[count]]
        claims[count].ours = [r["claim_ms"] for r in results[count] if r["claim_ms"] is not None]
    largest, smallest = max(counts), min(counts)
    keeps = Row(
        key="servers_scaling",
        label=f"{largest} servers' jobs/s as % of {smallest} server's",
        unit="%",
        better=HIGHER,
        target=80.0,
        target_text="≥ 80 %",
        comparable=False,
        stock_note=PEER_NOTE,
        procrastinate_note=PEER_NOTE,
    )
    keeps.ours = [100.0 * rates[largest].ours_median / rates[smallest].ours_median]
    bench.notes.append(
        "Many servers (each count drained a fresh backlog; claim time from "
        + (
            "pg_stat_statements"
            if use_statements
            else "a rolled-back probe of the servers' claim statement every 50 ms"
        )
        + "): "
        + "; ".join(
            f"{count} server(s): {sum(r['failed'] for r in results[count])} failed and "
            f"{sum(r['retried'] for r in results[count])} retried claims, "
            f"{sum(r['duplicates'] for r in results[count])} duplicates"
            for count in counts
        )
        + "."
    )
    return [*rates.values(), keeps, *claims.values()]
