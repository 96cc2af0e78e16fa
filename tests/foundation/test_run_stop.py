"""Stopping `make run` (honcho with gunicorn and qcluster, tests/support/make_run.py) while a job
runs: Ctrl-C, or SIGTERM to the process group as systemd and most supervisors send it.

honcho passes the stop on as SIGTERM to each process's whole group; the job server must take it
as a graceful stop (jobs/cluster.py), and honcho must not SIGKILL it 5 s after gunicorn has gone
(dhanman/procfile.py). The job runs longer than those 5 s, well inside the grace period.
"""

import os
import signal
import subprocess
import time

import psutil
import pytest

from jobs.models import Job, Server, State
from tests.support.cluster import FAST, database_url, wait_for
from tests.support.make_run import base_env, make_run
from tests.testapp.models import Attempt
from tests.testapp.tasks import record_slowly

GRACE = 15.0  # room for a busy machine: the stop itself takes 1-3 s after the job
JOB_SECONDS = 7.0

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    "stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm-to-the-process-group"]
)
def test_stopping_make_run_lets_the_running_job_finish_and_marks_the_server_stopped(tmp_path, stop):
    env = base_env(tmp_path, database_url())
    env.update(
        FAST,
        DHANMAN_TEST_APPS="1",
        CONN_MAX_AGE="0",
        JOBS_WORKER_COUNT="2",
        JOBS_SHUTDOWN_GRACE_SECONDS=str(GRACE),
    )
    with make_run(env, tmp_path / "run.log") as app:
        job_id = record_slowly.enqueue("make-run-stop", JOB_SECONDS).id
        wait_for(lambda: Attempt.objects.filter(job_id=job_id).exists(), 30, message="the job to start")
        server = Server.objects.get(status="running")
        tree = app.processes()
        started = time.monotonic()
        # Ctrl-C reaches the terminal's foreground group (honcho's); a supervisor signals it too.
        os.killpg(app.process.pid, stop)
        try:
            app.process.wait(GRACE + 40)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"make run did not stop:\n{app.log()[-4000:]}") from None
        took = time.monotonic() - started
        log = app.log()
    job = Job.objects.get(pk=job_id)
    assert (job.state, job.attempt) == (State.SUCCEEDED, 1), (job.state, log[-4000:])
    assert job.server_id == server.pk
    server.refresh_from_db()
    assert server.status == "stopped", log[-4000:]
    assert "SIGKILL" not in log, log[-4000:]
    assert took < GRACE, f"make run took {took:.1f} s to stop:\n{log[-3000:]}"
    left = [p.pid for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not left, f"still running after make run stopped: {left}"
