"""The engine behind a real PgBouncer in transaction pooling (issue 18).

Each test starts its own PgBouncer on a free port in front of the test database and real
`qcluster` servers whose DATABASE_URL points at it (DATABASE_POOLER=transaction). What must hold:
jobs run exactly once with their full history; idle servers LISTEN on the direct connection
(JOBS_LISTEN_DATABASE_URL) or, without one, poll and say so at start; the engine leaves no
server-side prepared statement and no session-level advisory lock on PgBouncer's server sessions.

The rest of the real-server tests run through a PgBouncer too with DHANMAN_TEST_PGBOUNCER=1
(tests/support/cluster.py), e.g. `DHANMAN_TEST_PGBOUNCER=1 pytest tests/reliability/test_exactly_once.py`.
"""

import re
from pathlib import Path

import psycopg
import pytest
from django.db import connection
from django.db.models import Count

from jobs.api import enqueue_many
from jobs.models import Job, JobState, State
from tests.support.cluster import _postgres_url, database_url, wait_for
from tests.support.pgbouncer import PgBouncer
from tests.testapp.models import Execution
from tests.testapp.tasks import record, record_critical, record_low

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[3]


def bouncer_for_tests(pool_size: int) -> PgBouncer:
    s = connection.settings_dict
    return PgBouncer(s["HOST"] or "127.0.0.1", s["PORT"] or 5432, pool_size=pool_size).start()


def pooled(bouncer: PgBouncer, listen: bool = True, **extra) -> dict:
    env = {
        "DATABASE_URL": _postgres_url("127.0.0.1", bouncer.port),
        "DATABASE_POOLER": "transaction",
        "JOBS_LISTEN_DATABASE_URL": database_url() if listen else "",
    }
    env.update(extra)
    return env


def listening_sessions() -> list[tuple]:
    """Sessions of the test database that ran LISTEN last (an idle listener's last statement)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, client_port FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN %%'"
        )
        return cursor.fetchall()


@pytest.fixture
def bouncer():
    handle = bouncer_for_tests(pool_size=4)
    yield handle
    handle.stop()


def test_two_servers_behind_pgbouncer_run_every_job_once_and_listen_directly(bouncer, cluster_factory):
    servers = [cluster_factory(2, pooled(bouncer), wait=False) for _ in range(2)]
    for server in servers:
        server.wait_until_ready(60)
    tasks = {"critical": record_critical, "default": record, "low-priority": record_low}
    keys = set()
    for queue, task in tasks.items():
        calls = [((f"{queue}-{i}",), {}) for i in range(40)]
        enqueue_many(task, calls)
        keys.update(args[0] for args, _ in calls)

    servers[0].wait_for(
        lambda: Job.objects.filter(state=State.SUCCEEDED).count() == len(keys),
        90,
        "every job to succeed through PgBouncer",
    )

    assert set(Execution.objects.values_list("key", flat=True)) == keys
    assert Execution.objects.count() == len(keys)
    assert set(JobState.objects.values("job").annotate(n=Count("id")).values_list("n", flat=True)) == {3}
    by_server = dict(Job.objects.values_list("server").annotate(n=Count("id")).order_by())
    assert set(by_server) == {s.server().pk for s in servers}
    # The servers' statements went through PgBouncer (SHOW STATS: database, total_xact_count, …) …
    stats = {row[0]: row[1] for row in bouncer.admin("SHOW STATS")}
    assert stats.get(connection.settings_dict["NAME"], 0) >= len(keys), stats
    # … while each server's listener is a direct session (PgBouncer's own server connections
    # never LISTEN: a LISTEN there would be lost when the session serves another client).
    listeners = wait_for(
        lambda: len(listening_sessions()) == 2 and listening_sessions(),
        15,
        0.1,
        "both idle servers to LISTEN",
    )
    bouncer_ports = {
        row[7] for row in bouncer.admin("SHOW SERVERS")
    }  # local_port: the client_port PostgreSQL sees
    assert not {port for _, port in listeners} & bouncer_ports
    for server in servers:
        assert "JOBS_LISTEN_DATABASE_URL" not in server.log()
        assert "Traceback" not in server.log(), server.log()[-3000:]


def test_without_a_direct_url_the_server_polls_and_warns_at_start(bouncer, cluster_factory):
    server = cluster_factory(2, pooled(bouncer, listen=False, JOBS_POLL_INTERVAL="0.2"))
    enqueue_many(record, [((f"poll-{i}",), {}) for i in range(20)])
    server.wait_for(lambda: Execution.objects.count() == 20, 30, "the jobs to run while polling")
    assert re.search(
        r"WARNING .*DATABASE_POOLER=transaction and no JOBS_LISTEN_DATABASE_URL.*polls every 0\.2 s",
        server.log(),
    ), server.log()[-3000:]
    assert listening_sessions() == []


def test_the_engine_leaves_no_prepared_statement_on_pgbouncers_server_session(cluster_factory):
    # One server session for the whole database: every client's statements run on it, so what
    # any of them left behind is visible to the next client.
    single = bouncer_for_tests(pool_size=1)
    try:
        server = cluster_factory(1, pooled(single))
        # Far more repetitions of each statement than psycopg's prepare_threshold (5).
        enqueue_many(record, [((f"prep-{i}",), {}) for i in range(40)])
        server.wait_for(lambda: Execution.objects.count() == 40, 60, "the jobs to run through one session")
        server.stop()
        dbname = connection.settings_dict["NAME"]
        with psycopg.connect(single.url(dbname), autocommit=True) as conn:
            assert conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0] == 0
            # The check can see one: a client that does prepare leaves its statement there.
            conn.execute("SELECT 1 WHERE %s", [True], prepare=True)
        with psycopg.connect(single.url(dbname), autocommit=True) as conn:
            assert conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0] >= 1
            conn.execute("DEALLOCATE ALL")
    finally:
        single.stop()


# Session-level advisory locks outside the job servers' path, each with the reason it is safe.
# The events relay runs in `manage.py consume_events`, not in qcluster, and holds its lock across
# a publish to RabbitMQ: it needs a direct DATABASE_URL (docs/scaling.md says so).
OUTSIDE_THE_SERVERS = {"jobs/events/relay.py"}


def test_the_job_servers_take_only_transaction_level_advisory_locks():
    """A session-level advisory lock taken through the pooler would stay on a server session that
    other clients then use, and its unlock could run on another session."""
    session_level = re.compile(r"pg_(try_)?advisory_lock(_shared)?\s*\(")
    found = {
        f"{path.relative_to(ROOT)}:{number}"
        for path in (ROOT / "jobs").rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if session_level.search(line)
    }
    offenders = sorted(hit for hit in found if hit.split(":")[0] not in OUTSIDE_THE_SERVERS)
    assert offenders == []
    assert any("pg_advisory_xact_lock" in path.read_text() for path in (ROOT / "jobs").rglob("*.py"))


def test_transaction_pooling_settings(monkeypatch):
    import json
    import os
    import subprocess
    import sys

    probe = (
        "import json, django; from django.conf import settings; django.setup();"
        "d = settings.DATABASES['default'];"
        "print(json.dumps([d['OPTIONS'].get('prepare_threshold', 'unset'), d.get('DISABLE_SERVER_SIDE_CURSORS')]))"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "JOBS_"))}
    base.update(DJANGO_SETTINGS_MODULE="dhanman.settings", DATABASE_URL="postgres://u@127.0.0.1:6432/d")

    def run(**env):
        return subprocess.run(
            [sys.executable, "-c", probe], cwd=ROOT, env={**base, **env}, capture_output=True, text=True
        )

    done = run(DATABASE_POOLER="transaction")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == [None, True]
    done = run(DATABASE_POOLER="statement")
    assert done.returncode != 0
    assert "DATABASE_POOLER='statement'" in done.stderr
    done = run(DATABASE_POOLER="transaction", DATABASE_URL="sqlite:///var/x.db")
    assert done.returncode != 0
    assert "DATABASE_POOLER is for PostgreSQL" in done.stderr
