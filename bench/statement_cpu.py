"""`python -m bench.statement_cpu [--jobs N] [--rounds R]`: PostgreSQL CPU per job of a busy
worker's statement, one success per statement against two (bench/findings.md, change L).

A busy worker spends one statement per job (sql.SUCCEED_AND_CLAIM_SQL: its success and its next
claim) or, with a prefetched job, one per two jobs (sql.SUCCEED_MANY_AND_CLAIM_SQL). This runs
each on one connection over N Enqueued no-op jobs, rounds alternating, and reads the CPU time of
that connection's PostgreSQL backend (psutil on pg_backend_pid()) around each round — steadier on
a shared machine than jobs/s. No task runs: only the statements are measured.

Uses its own database (BENCH_DB_NAME + "_statement"), dropped at the end.
"""

import argparse
import os
import statistics
import time


def _setup():
    os.environ["BENCH_DB_NAME"] = os.environ.get("BENCH_DB_NAME", "dhanman_bench") + "_statement"
    from bench import environment

    url = environment.prepare()
    from django.core.management import call_command

    from bench import database

    database.recreate(url)
    call_command("migrate", verbosity=0)
    return url


def _enqueue(count: int) -> None:
    from django.utils import timezone

    from bench import tasks
    from jobs import api
    from jobs.models import Server

    now = timezone.now()
    Server.objects.create(
        id="statement-probe", host="bench", pid=os.getpid(), started_at=now, heartbeat_at=now
    )

    api.enqueue_many(tasks.noop, [(("statement", i), {}) for i in range(count)])


def _round(batch: int, jobs: int) -> tuple[float, float]:
    """Drain `jobs` Enqueued jobs `batch` at a time; (backend CPU ms, wall ms) per job."""
    import psutil
    from django.db import connection
    from django.utils import timezone

    from jobs import sql

    def claim_parameters(limit):
        return sql.claim_parameters("statement-probe", ["critical", "default", "low-priority"], limit, 4242)

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = psutil.Process(cursor.fetchone()[0])
        cursor.execute(sql.WORKER_CLAIM_SQL, claim_parameters(batch))
        held = [sql.load_job(row) for row in cursor.fetchall()]
        cpu, wall, done = sum(backend.cpu_times()[:2]), time.perf_counter(), 0
        while held:
            now = timezone.now()
            if batch == 1:
                [job] = held
                params = {
                    **sql.succeed_parameters(job, str(job.fetch_token), None, 0.0001, now),
                    **claim_parameters(1),
                }
                cursor.execute(sql.SUCCEED_AND_CLAIM_SQL, params)
                row = cursor.fetchone()
                held = [] if row[2] is None else [sql.load_job(row[2:])]
            else:
                for job in held:
                    job.started_at = now
                params = sql.succeed_many_parameters(
                    [(j, str(j.fetch_token), None, 0.0001, now) for j in held]
                )
                params.update(claim_parameters(batch))
                cursor.execute(sql.SUCCEED_MANY_AND_CLAIM_SQL, params)
                _, held = sql.split_succeed_many_and_claim(cursor.fetchall())
            done += batch
            if done >= jobs:
                break
        cpu, wall = sum(backend.cpu_times()[:2]) - cpu, time.perf_counter() - wall
    return cpu * 1000 / done, wall * 1000 / done


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.statement_cpu")
    parser.add_argument("--jobs", type=int, default=2000, help="jobs per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each variant, alternating")
    args = parser.parse_args()
    url = _setup()
    from bench import database

    try:
        _enqueue(args.jobs * args.rounds * 2 + 10)
        results: dict[int, list[tuple[float, float]]] = {1: [], 2: []}
        for _ in range(args.rounds):
            for batch in (1, 2):
                results[batch].append(_round(batch, args.jobs))
                print(
                    f"batch {batch}: {results[batch][-1][0]:.3f} ms CPU, {results[batch][-1][1]:.3f} ms wall per job"
                )
        for batch, rows in results.items():
            cpus, walls = [r[0] for r in rows], [r[1] for r in rows]
            print(
                f"one statement per {batch} job(s): PostgreSQL CPU per job median {statistics.median(cpus):.3f} ms "
                f"({min(cpus):.3f}–{max(cpus):.3f}), wall {statistics.median(walls):.3f} ms"
            )
    finally:
        from django.db import connection

        connection.close()
        database.drop(url)


if __name__ == "__main__":
    main()
