"""The bench's own PostgreSQL database: `dhanman_bench` on the server DATABASE_URL names.

The bench never touches the database in DATABASE_URL itself (the test database, or a developer's):
it takes that URL's server and credentials and creates a database of its own, migrates it, empties
it between runs, and drops it at the end.
"""

import os
from urllib.parse import urlsplit, urlunsplit

import psycopg

BENCH_DB = "dhanman_bench"
# Everything a run writes; emptied between runs so that no run inherits another's rows or bloat.
RUN_TABLES = (
    "jobs_jobstate",
    "jobs_job",
    "jobs_batch",
    "jobs_server",
    "jobs_recurringjob",
    "jobs_finishedcount",
    "django_q_ormq",
    "django_q_task",
    "django_q_schedule",
    "dhanman_cache",
    "procrastinate_jobs",
    "procrastinate_events",
    "procrastinate_periodic_defers",
    "procrastinate_workers",
    # Observability (jobs/tallies.py, jobs/sla.py, jobs/predictions.py).
    "jobs_jobtally",
    "jobs_tallymark",
    "jobs_recurringsuccess",
    "jobs_durationestimate",
    "jobs_alert",
    "jobs_slamark",
    # The servers' other roll-ups (jobs/performance.py, jobs/backlog.py) and flow control's pauses:
    # a scenario that ran servers leaves their marks, and the console dataset must roll up anew.
    "jobs_taskinterval",
    "jobs_performancemark",
    "jobs_queuedepth",
    "jobs_queuepause",
    "jobs_joboutput",
)


class BenchDatabaseError(RuntimeError):
    pass


def bench_url(source_url: str | None = None, name: str | None = None) -> str:
    """DATABASE_URL with its database name replaced by the bench's (BENCH_DB_NAME, dhanman_bench*)."""
    name = name or os.environ.get("BENCH_DB_NAME") or BENCH_DB
    if name != "postgres" and not name.startswith(BENCH_DB):
        raise BenchDatabaseError(
            f"BENCH_DB_NAME must start with {BENCH_DB} (the bench drops it), not {name!r}."
        )
    source_url = source_url or os.environ.get("DATABASE_URL", "")
    parts = urlsplit(source_url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql", "postgis"):
        raise BenchDatabaseError(
            f"The bench needs PostgreSQL: DATABASE_URL is {source_url or '(unset)'!r}. "
            "Run `./scripts/test-services` and load var/test.env (make bench does both)."
        )
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


def _conninfo(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(("postgresql", parts.netloc, parts.path, parts.query, ""))


def connect(url: str, autocommit: bool = True) -> psycopg.Connection:
    return psycopg.connect(_conninfo(url), autocommit=autocommit)


def recreate(url: str) -> None:
    """Drop (closing any session still on it) and create the bench database."""
    name = urlsplit(url).path.lstrip("/")
    if name != BENCH_DB and not name.startswith(BENCH_DB):
        raise BenchDatabaseError(f"Refusing to recreate {name!r}: the bench only owns {BENCH_DB}*.")
    with connect(bench_url(url, "postgres")) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')


def drop(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    if name != BENCH_DB and not name.startswith(BENCH_DB):
        raise BenchDatabaseError(f"Refusing to drop {name!r}: the bench only owns {BENCH_DB}*.")
    with connect(bench_url(url, "postgres")) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def reset(conn: psycopg.Connection) -> None:
    """Empty every table a run writes (TRUNCATE: fresh files, no dead rows left behind)."""
    conn.execute(f"TRUNCATE {', '.join(RUN_TABLES)} RESTART IDENTITY CASCADE")


def analyze(conn: psycopg.Connection) -> None:
    conn.execute("ANALYZE jobs_job, jobs_jobstate, django_q_ormq, procrastinate_jobs")


def server_version(conn: psycopg.Connection) -> str:
    return conn.execute("SHOW server_version").fetchone()[0]
