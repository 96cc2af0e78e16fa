"""Database restart: PostgreSQL restarts (fast shutdown: every connection is cut) while servers
run jobs. The servers must reconnect by themselves — the pusher, the LISTEN connection, the
heartbeat and every worker — and finish every job; the only jobs that may run twice are those
that were in flight when the connections were cut. (A job whose own query hit the cut fails
that attempt and is retried under its retry policy; the probe task retries after 1 s.)

The drill runs on a private PostgreSQL cluster (see private_postgres.py) and talks to it with
plain psycopg and `manage.py` subprocesses, never through the test database.
"""

import re
from datetime import UTC, datetime

import pytest

from tests.reliability.drill import SIZE
from tests.reliability.private_postgres import PrivatePostgres, server_binaries
from tests.support.cluster import wait_for

pytestmark = pytest.mark.skipif(server_binaries() is None, reason="needs PostgreSQL server binaries")

JOB_SECONDS = 0.05
# What a query on a connection the restart cut raises.
CONNECTION_LOST = re.compile(r"OperationalError|InterfaceError")


@pytest.fixture
def private_db():
    pg = PrivatePostgres().start()
    try:
        pg.create_database("dhanman")
        pg.manage("migrate", "--noinput")
        yield pg
    finally:
        pg.stop()


def enqueue(pg: PrivatePostgres, prefix: str, count: int) -> set[str]:
    pg.manage(
        "shell",
        code=(
            "from jobs.api import enqueue_many\n"
            "from tests.reliability.probes import record_slowly_quick_retry as probe\n"
            f"enqueue_many(probe, [(('{prefix}-%d' % i, {JOB_SECONDS}), {{}}) for i in range({count})])\n"
        ),
    )
    return {f"{prefix}-{i}" for i in range(count)}


def scalar(pg, sql, params=()):
    return pg.query(sql, params)[0][0]


def test_servers_reconnect_after_a_database_restart_and_finish_every_job(private_db, cluster_factory):
    pg = private_db
    env = {"DATABASE_URL": pg.url("dhanman")}
    servers = [cluster_factory(SIZE.workers, env, wait=False) for _ in range(2)]

    def ready():
        pids = [s.pid for s in servers]
        return (
            scalar(pg, "SELECT count(*) FROM jobs_server WHERE pid = ANY(%s) AND status = 'running'", (pids,))
            == 2
        )

    logs = lambda: "\n".join(f"--- qcluster {s.pid} ---\n{s.log()[-4000:]}" for s in servers)  # noqa: E731
    try:
        wait_for(ready, 60, 0.2, "both servers on the private database")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{logs()}") from None

    keys = enqueue(pg, "before", SIZE.restart_jobs)
    wait_for(lambda: scalar(pg, "SELECT count(*) FROM testapp_execution") >= SIZE.restart_jobs // 3, 60, 0.1)

    restart_began = datetime.now(UTC)
    pg.restart()
    restarted_at = datetime.now(UTC)
    downtime = (restarted_at - restart_began).total_seconds()
    # New work after the restart: the servers must notice it (LISTEN reconnected, or polling).
    keys |= enqueue(pg, "after", SIZE.restart_jobs // 3)

    def finished():
        for server in servers:
            if server.process.poll() is not None:
                raise AssertionError(f"qcluster {server.pid} exited with {server.process.returncode}")
        return (
            scalar(pg, "SELECT count(*) FROM jobs_job WHERE state NOT IN ('succeeded', 'failed', 'deleted')")
            == 0
        )

    try:
        wait_for(finished, 60 + SIZE.restart_jobs / 10, 0.2, "every job to finish after the restart")
    except AssertionError as exc:
        stuck = pg.query(
            "SELECT id, state, attempt, server_id, worker_pid, lease_until FROM jobs_job "
            "WHERE state NOT IN ('succeeded', 'failed', 'deleted') ORDER BY state LIMIT 10"
        )
        raise AssertionError(f"{exc}\nunfinished: {stuck}\n{logs()}") from None

    # Nothing lost: every job succeeded and recorded its key, once (the key is unique).
    states = dict(pg.query("SELECT state, count(*) FROM jobs_job GROUP BY state"))
    assert states == {"succeeded": len(keys)}, states
    executed = {row[0] for row in pg.query("SELECT key FROM testapp_execution")}
    assert executed == keys
    # Nothing duplicated beyond the jobs in flight when the connections were cut: a job that ran
    # twice was claimed before the database came back, and its first attempt ended because of
    # the cut (its own query failed on the lost connection) — nothing else.
    rerun = {row[0] for row in pg.query("SELECT id FROM jobs_job WHERE attempt > 1")}
    for job_id in rerun:
        history = pg.query(
            "SELECT name, reason, data, created_at FROM jobs_jobstate WHERE job_id = %s ORDER BY created_at, id",
            (job_id,),
        )
        names = [row[0] for row in history]
        assert names[:2] == ["enqueued", "processing"] and history[1][3] <= restarted_at, history
        first_end = history[2]
        exception = (first_end[2] or {}).get("exception", {})
        assert first_end[0] in ("scheduled", "enqueued") and (
            CONNECTION_LOST.search(exception.get("exception_class", ""))
            or "stopped responding" in first_end[1]
        ), f"job {job_id} ran again without having been cut off: {history}"
    started_twice = {
        row[0] for row in pg.query("SELECT job_id FROM testapp_attempt GROUP BY job_id HAVING count(*) > 1")
    }
    # (A job cut off before its first query leaves no attempt row for that run.)
    assert started_twice <= {str(job_id) for job_id in rerun}
    print(
        f"restart took {downtime:.1f} s; {len(rerun)} job(s) cut off mid-run ran again; "
        f"{len(keys)} jobs all succeeded"
    )
