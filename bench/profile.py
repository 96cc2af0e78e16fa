"""`python -m bench.profile [drain|explain] …`: the profiles behind bench/findings.md, reproducible.

    drain   [--jobs N] [--workers W] [--system ours|stock]
            a warm server drains N no-op jobs under `py-spy record --subprocesses --gil`; prints
            CPU ms per job by process role and the hottest call paths of each role
    explain [--jobs N]
            loads the console dataset (N jobs) and prints EXPLAIN (ANALYZE, BUFFERS) of the
            engine's hot queries, the table and index sizes

Uses its own database (dhanman_bench_profile), dropped at the end. py-spy is in
requirements-dev.txt.
"""

import argparse
import collections
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROLE_ENTRIES = ("pusher (", "worker (", "monitor (", "Sentinel.guard (")


def _setup():
    os.environ.setdefault("BENCH_DB_NAME", "dhanman_bench_profile")
    from bench import environment

    url = environment.prepare()
    from django.core.management import call_command

    from bench import database, marks

    database.recreate(url)
    call_command("migrate", verbosity=0)
    marks.clear()
    return url


def _role(title: str) -> str:
    title = re.sub(r"Process-[0-9a-f]+", "", title)
    for name in ("pusher", "monitor", "idle", "processing"):
        if title.endswith(name) or f" {name} " in title:
            return "worker" if name in ("idle", "processing") else name
    return "main/sentinel"


def summarize(folded: Path, depth: int = 6, top: int = 10) -> str:
    """Samples by process role, and each role's hottest call paths (below its entry point)."""
    by_role, paths = collections.Counter(), collections.defaultdict(collections.Counter)
    for line in folded.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        titles = [f.split('"')[1] for f in frames if f.startswith("process ") and '"' in f]
        role = _role(titles[-1]) if titles else "?"
        code = [re.sub(r" \(.*\)$", "", f) for f in frames if not f.startswith("process ")]
        entry = max(
            (i for i, f in enumerate(code) if f.startswith(tuple(e.split(" ")[0] for e in ROLE_ENTRIES))),
            default=0,
        )
        by_role[role] += int(count)
        paths[role][" > ".join(code[entry : entry + depth])] += int(count)
    total = sum(by_role.values()) or 1
    out = []
    for role, n in by_role.most_common():
        out.append(f"{n:7d} {100 * n / total:5.1f}%  {role}")
        out += [f"          {m:7d}  {path}" for path, m in paths[role].most_common(top)]
    return "\n".join(out)


def profile_drain(jobs: int, workers: int, system_key: str) -> None:
    url = _setup()
    from bench import database
    from bench.context import FULL, Bench
    from bench.cpu import CpuMeter, own_backend_pids
    from bench.systems import Ours, Stock

    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    system = {"ours": Ours(), "stock": Stock()}[system_key]
    bench = Bench(FULL, url, quick=False)
    folded = Path(tempfile.mkdtemp(prefix="bench-profile-")) / "drain.folded"
    try:
        with bench.start_warm_server(system, workers) as server:
            meter = CpuMeter(url, server, own_backend_pids(bench.conn))
            meter.start()
            system.enqueue_bulk("profile", range(jobs))
            spy = subprocess.Popen(
                [
                    py_spy,
                    "record",
                    "--subprocesses",
                    "--gil",
                    "--rate",
                    "250",
                    "--format",
                    "raw",
                    "--output",
                    str(folded),
                    "--pid",
                    str(server.pid),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            started = time.monotonic()
            while system.pending():
                time.sleep(0.02)
            elapsed = time.monotonic() - started
            server_cpu, database_cpu = meter.stop()
            spy.send_signal(signal.SIGINT)  # like Ctrl-C: py-spy writes what it sampled so far
            spy.wait(30)
        print(
            f"{system.title}: {jobs} jobs on {workers} workers in {elapsed:.1f} s ({jobs / elapsed:.0f} jobs/s)"
        )
        print(
            f"CPU per job: server processes {server_cpu / jobs * 1000:.2f} ms, "
            f"their PostgreSQL backends {database_cpu / jobs * 1000:.2f} ms"
        )
        if folded.exists():
            print(f"\npy-spy --gil samples by role (folded stacks: {folded})\n{summarize(folded)}")
    finally:
        from django.db import connection

        connection.close()
        bench.conn.close()
        database.drop(url)


EXPLAINED = {
    "claim (jobs.sql.CLAIM_SQL), queue 'default'": None,
    "promote due Scheduled jobs": (
        "SELECT id, queue FROM jobs_job WHERE state = 'scheduled' AND run_at <= now() ORDER BY run_at "
        "LIMIT 500 FOR UPDATE SKIP LOCKED"
    ),
    "continuations of a finishing job (every job)": (
        "SELECT * FROM jobs_job WHERE parent_id = md5('5-bench')::uuid AND state = 'awaiting' "
        "ORDER BY created_at FOR UPDATE"
    ),
    "console counters (count by state)": "SELECT state, count(*) FROM jobs_job GROUP BY state",
    "expiration batch": "SELECT id FROM jobs_job WHERE expires_at <= now() LIMIT 1000",
}


def profile_explain(jobs: int) -> None:
    url = _setup()
    from django.utils import timezone

    from bench import database, dataset
    from jobs.sql import CLAIM_SQL

    try:
        with database.connect(url) as conn:
            started = time.monotonic()
            counts = dataset.create(conn, jobs)
            print(
                f"{counts['jobs']:,} jobs, {counts['history']:,} history rows in {time.monotonic() - started:.0f} s"
            )
            now = timezone.now()
            # Both the per-queue claim and a claim over the server's queue list find their key.
            claim = {
                "queue": "default",
                "queues": ["critical", "default", "low-priority"],
                "limit": 1,
                "reason": "Claimed",
                "now": now,
                "lease_until": now,
                "server": None,
                "data": json.dumps({"server": None, "queue": "default"}),
            }
            for title, sql in EXPLAINED.items():
                conn.execute("BEGIN")  # rolled back: the claim must not change the dataset
                plan = conn.execute(
                    "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + (sql or CLAIM_SQL), None if sql else claim
                ).fetchall()
                conn.execute("ROLLBACK")
                print(f"\n### {title}\n" + "\n".join(row[0] for row in plan))
            print("\n### jobs_job: table, indexes; jobs_jobstate: total")
            print(
                conn.execute(
                    "SELECT pg_size_pretty(pg_table_size('jobs_job')), pg_size_pretty(pg_indexes_size('jobs_job')), "
                    "pg_size_pretty(pg_total_relation_size('jobs_jobstate'))"
                ).fetchone()
            )
            for row in conn.execute(
                "SELECT indexrelname, pg_size_pretty(pg_relation_size(indexrelid)) FROM pg_stat_user_indexes "
                "WHERE relname = 'jobs_job' ORDER BY pg_relation_size(indexrelid) DESC"
            ).fetchall():
                print(*row)
    finally:
        database.drop(url)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("drain", "explain"))
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--system", choices=("ours", "stock"), default="ours")
    args = parser.parse_args(argv)
    if args.what == "drain":
        profile_drain(args.jobs or 600, args.workers, args.system)
    else:
        profile_explain(args.jobs or 1_000_000)
    return 0


if __name__ == "__main__":
    sys.exit(main())
