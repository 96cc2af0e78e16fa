"""Drain: N jobs queued, one server with W workers; jobs/s from the first start to the last finish.

The first start is the earliest start mark of the run's jobs. The last finish is when the system's
own tables say nothing is left: ours, no job Scheduled/Enqueued/Processing (each finished job has
its full history: enqueued, processing, succeeded); stock, no OrmQ row (django-q2 deletes a task's
row when it acknowledges it). The bench polls that every 10 ms, so the end is exact to 10 ms.
"""

import time

from bench.report import HIGHER, Row

POLL = 0.01


def drain_once(bench, system, workers: int, **env) -> float:
    n = bench.sizes.drain_jobs
    bench.reset()
    label = bench.label("drain", system.key)
    system.enqueue_bulk(label, range(n))
    from bench.database import analyze

    analyze(bench.conn)
    server = system.start(workers, **env)
    try:
        deadline = time.monotonic() + 60 + n / 10
        while system.pending():
            server.check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{system.key}: {n} jobs not drained in time:\n{server.log_tail()}")
            time.sleep(POLL)
        finished = time.time()
    finally:
        server.stop()
    starts = bench.marks.wait_for(label, n, timeout=30)
    verify(bench, system, n)
    return n / (finished - min(starts.values()))


def verify(bench, system, n: int) -> None:
    """The run did what it claims: every job ran, and ours kept the whole history."""
    if system.key == "ours":
        succeeded = bench.conn.execute("SELECT count(*) FROM jobs_job WHERE state = 'succeeded'").fetchone()[
            0
        ]
        history = bench.conn.execute("SELECT count(*) FROM jobs_jobstate").fetchone()[0]
        if succeeded != n or history != 3 * n:
            raise AssertionError(
                f"ours: {succeeded} of {n} jobs succeeded, {history} history rows (expected {3 * n})"
            )
    elif system.key == "procrastinate":
        done = bench.conn.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'"
        ).fetchone()[0]
        if done != n:
            raise AssertionError(f"procrastinate: {done} of {n} jobs succeeded")
    else:
        left = bench.conn.execute("SELECT count(*) FROM django_q_ormq").fetchone()[0]
        if left:
            raise AssertionError(f"stock: {left} tasks left in the queue")


def run(bench, systems) -> list[Row]:
    rows = []
    for workers in bench.sizes.drain_workers:
        row = Row(
            key=f"drain_{workers}",
            label=f"Drain, {workers} workers",
            unit="jobs/s",
            better=HIGHER,
            target=3.0,
            target_on_ratio=True,
            target_text="≥ 3× each peer",
        )
        values = {system.key: [] for system in systems}
        # Repetitions alternate between the systems, so that a noisy minute hurts both alike.
        for rep in range(bench.sizes.repetitions):
            for system in systems:
                rate = drain_once(bench, system, workers)
                bench.log(f"drain {system.key} {workers}w rep {rep + 1}: {rate:,.0f} jobs/s")
                values[system.key].append(rate)
        for key, found in values.items():
            setattr(row, key, found)
        rows.append(row)
    rows.append(through_pgbouncer(bench, systems[0], bench.sizes.drain_workers[0]))
    return rows


def through_pgbouncer(bench, ours, workers: int) -> Row:
    """Ours again, with DATABASE_URL through a PgBouncer in transaction pooling (the bench starts
    one on a free port, as tests/jobs/server/test_listener_pgbouncer.py does) and LISTEN on the direct URL. Each
    repetition also drains ours connected directly, and a note under the table compares the two."""
    from urllib.parse import urlsplit

    from tests.support.pgbouncer import PgBouncer

    direct = urlsplit(bench.url)
    row = Row(
        key=f"drain_{workers}_pgbouncer",
        label=f"Drain, {workers} workers, through PgBouncer (transaction pooling)",
        unit="jobs/s",
        better=HIGHER,
        stock_note="not measured through PgBouncer",
        procrastinate_note="not measured through PgBouncer",
    )
    bouncer = PgBouncer(
        direct.hostname or "127.0.0.1", direct.port or 5432, pool_size=2 * workers + 4
    ).start()
    try:
        env = {
            "DATABASE_URL": bouncer.url(direct.path.lstrip("/")),
            "DATABASE_POOLER": "transaction",
            "JOBS_LISTEN_DATABASE_URL": bench.url,
        }
        pooled, plain = [], []
        for rep in range(bench.sizes.repetitions):
            pooled.append(drain_once(bench, ours, workers, **env))
            plain.append(drain_once(bench, ours, workers))
            bench.log(
                f"drain ours {workers}w rep {rep + 1}: {pooled[-1]:,.0f} jobs/s through PgBouncer, "
                f"{plain[-1]:,.0f} direct"
            )
    finally:
        bouncer.stop()
    from bench.stats import median

    row.ours = pooled
    bench.notes.append(
        f"Drain through PgBouncer {PgBouncer.version()} (transaction pooling, pool of {2 * workers + 4}): "
        f"{median(pooled):,.0f} jobs/s against {median(plain):,.0f} jobs/s for ours connected directly in the "
        f"same repetitions ({median(pooled) / median(plain):.2f}×)."
    )
    return row
