"""Expiry under load: the claim latency of new jobs while the housekeeping deletes N expired jobs.

N Succeeded jobs whose expiry has passed, three history rows and an output row each, are loaded
with bulk SQL. One warm server of ours (2 workers) then runs the real `expire_jobs` task, enqueued
like the recurring job enqueues it, which deletes them in chunks (jobs/retention.py); meanwhile
latency samples are taken as in the latency scenario (enqueue → start, spaced 50–150 ms apart),
from the first chunk to the last. The figure the issue sets: p95 ≤ 50 ms while 1,000,000 expired
jobs are deleted. The peers' columns say why they have none.
"""

import time

from bench.report import LOWER, Row
from bench.scenarios.latency import sample
from bench.stats import percentile

WORKERS = 2
# At least this many latency samples, even when the expiry ends sooner (a --quick run).
MIN_SAMPLES = 20

EXPIRED_JOBS_SQL = """
INSERT INTO jobs_job (
    id, task_path, args, kwargs, queue, priority, state, state_reason, state_changed_at, created_at,
    enqueued_at, started_at, finished_at, attempt, cancel_requested, cancel_reason, progress_message,
    exception_class, exception_message, exception_traceback, continuation_on, expires_at, worker_deaths
)
SELECT md5(g.i::text || '-expired')::uuid, 'bench.tasks.noop', jsonb_build_array(g.i), '{}'::jsonb,
       'default', 0, 'succeeded', 'Completed in 0.010 s', t.at, t.at, t.at, t.at, t.at, 1, false, '', '',
       '', '', '', '', now() - interval '1 hour' - make_interval(secs => g.i %% 3600), 0
FROM generate_series(1, %(n)s) AS g(i)
CROSS JOIN LATERAL (SELECT now() - interval '2 days' + make_interval(secs => g.i %% 86400) AS at) AS t
"""
EXPIRED_HISTORY_SQL = """
INSERT INTO jobs_jobstate (job_id, name, reason, data, created_at)
SELECT j.id, h.name, h.name, '{}'::jsonb, j.created_at
FROM jobs_job j CROSS JOIN (VALUES ('enqueued'), ('processing'), ('succeeded')) AS h(name)
WHERE j.task_path = 'bench.tasks.noop' AND j.state = 'succeeded'
"""
EXPIRED_OUTPUT_SQL = """
INSERT INTO jobs_joboutput (job_id, attempt, text, size, truncated, updated_at)
SELECT id, 1, 'sent 1 reminder' || E'\\n', 16, false, created_at
FROM jobs_job WHERE task_path = 'bench.tasks.noop' AND state = 'succeeded'
"""


def load_expired(conn, n: int) -> None:
    """The expired jobs, loaded as a dump is restored (foreign-key triggers off: consistent by
    construction), then analyzed as autovacuum would leave them."""
    conn.execute("SET session_replication_role = replica")
    try:
        conn.execute(EXPIRED_JOBS_SQL, {"n": n})
        conn.execute(EXPIRED_HISTORY_SQL)
        conn.execute(EXPIRED_OUTPUT_SQL)
    finally:
        conn.execute("RESET session_replication_role")
    conn.execute("VACUUM ANALYZE jobs_job")
    conn.execute("VACUUM ANALYZE jobs_jobstate")
    conn.execute("VACUUM ANALYZE jobs_joboutput")


def run(bench, systems) -> list[Row]:
    from jobs.maintenance import expire_jobs

    n = bench.sizes.expiry_jobs
    rows = {
        name: Row(
            key=f"expiry_claim_{name}",
            label=f"Claim latency while {n:,} expired jobs are deleted, {name}",
            unit="ms",
            better=LOWER,
            stock_note="django-q2 has no job retention (its Success rows are pruned by count, in the save)",
            procrastinate_note="procrastinate's job cleanup is a separate manual command; not compared",
        )
        for name in ("p50", "p95")
    }
    rows["p95"].target, rows["p95"].target_text = 50.0, "p95 ≤ 50 ms"
    ours = next(system for system in systems if system.key == "ours")
    bench.reset()
    started = time.monotonic()
    load_expired(bench.conn, n)
    bench.log(
        f"expiry: {n:,} expired jobs with history and output loaded in {time.monotonic() - started:.0f} s"
    )
    with bench.start_warm_server(ours, WORKERS):
        expiring = expire_jobs.enqueue().id
        latencies: list[float] = []
        started = time.monotonic()
        while True:
            latencies += sample(bench, ours, 5)
            state = bench.conn.execute("SELECT state FROM jobs_job WHERE id = %s", [expiring]).fetchone()[0]
            if state in ("succeeded", "failed") and len(latencies) >= MIN_SAMPLES:
                break
            if time.monotonic() - started > 1800:
                raise TimeoutError(f"expiry: {n:,} jobs not expired in 30 minutes")
        took = time.monotonic() - started
    left = bench.conn.execute(
        "SELECT count(*) FROM jobs_job WHERE task_path = 'bench.tasks.noop' AND state = 'succeeded' "
        "AND expires_at <= now()"
    ).fetchone()[0]
    if state != "succeeded" or left:
        raise AssertionError(f"expiry: the expire_jobs job ended {state}, {left:,} expired jobs left")
    bench.log(
        f"expiry: {n:,} jobs deleted in {took:.0f} s; claim latency meanwhile "
        f"p50 {percentile(latencies, 0.5):.1f} ms, p95 {percentile(latencies, 0.95):.1f} ms ({len(latencies)} samples)"
    )
    bench.notes.append(
        f"Expiry: {n:,} expired Succeeded jobs (3 history rows and an output row each) deleted by the "
        f"expire_jobs task on a warm server of 2 workers in {took:.0f} s, while {len(latencies)} latency "
        "samples (enqueue → start) were taken on the same server."
    )
    rows["p50"].ours = [percentile(latencies, 0.5)]
    rows["p95"].ours = [percentile(latencies, 0.95)]
    return list(rows.values())
