"""Graceful stop: SIGTERM to a server's main process while its workers run jobs.

The server stops claiming at once; a job that ends within the grace period
(JOBS_SHUTDOWN_GRACE_SECONDS=5 here) finishes there; a job still running is asked to stop
(a cooperative one does, and goes back to its queue) and, if it ignores that too, its worker is
killed after jobs.server.cluster.CANCEL_WAIT_SECONDS and the job goes back to its queue all the same —
at once, not after a lease. The process exits 0 and another server finishes everything.
"""

import os
import signal
import subprocess
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import Job, JobState, Server, State
from jobs.server.cluster import CANCEL_WAIT_SECONDS
from tests.reliability.drill import (
    FULL,
    SIZE,
    assert_executed_exactly_once,
    assert_quiet_logs,
    history,
    wait_until_all_finished,
)
from tests.reliability.probes import cooperative_first_attempt, deaf_first_attempt, stubborn_first_attempt
from tests.support.cluster import FAST
from tests.testapp.models import Attempt
from tests.testapp.tasks import record, record_slowly

GRACE = float(FAST["JOBS_SHUTDOWN_GRACE_SECONDS"])
EACH_KIND = 2 if FULL else 1
SHORT_SECONDS = 2.0  # finishes inside the grace period
LONG_SECONDS = 120.0  # a first attempt that would outlive any grace period


@pytest.mark.django_db(transaction=True)
def test_sigterm_lets_running_jobs_finish_or_requeues_them(cluster_factory):
    stopping = cluster_factory(workers=3 * EACH_KIND)
    stopping_id = stopping.server().pk
    short = [record_slowly.enqueue(f"short-{i}", SHORT_SECONDS).id for i in range(EACH_KIND)]
    cooperative = [cooperative_first_attempt.enqueue(f"coop-{i}", LONG_SECONDS).id for i in range(EACH_KIND)]
    stubborn = [stubborn_first_attempt.enqueue(f"stubborn-{i}", LONG_SECONDS).id for i in range(EACH_KIND)]
    running = short + cooperative + stubborn
    stopping.wait_for(
        lambda: Attempt.objects.filter(job_id__in=running).count() == len(running),
        20,
        "every job to be running on the server that will stop",
    )
    term_at = timezone.now()
    started = time.monotonic()
    stopping.process.send_signal(signal.SIGTERM)  # the main process only, as an operator does
    # Work that arrives during the shutdown must wait for the other server, not be claimed.
    quick = {f"quick-{i}" for i in range(SIZE.slow_jobs * 10)}
    for key in sorted(quick):
        record.enqueue(key)
    other = cluster_factory(workers=SIZE.workers)
    try:
        returncode = stopping.process.wait(GRACE + CANCEL_WAIT_SECONDS + 20)
    except subprocess.TimeoutExpired:
        stopping.kill()
        raise AssertionError(f"the server did not exit after SIGTERM:\n{stopping.log()[-3000:]}") from None
    took = time.monotonic() - started
    assert returncode == 0, stopping.log()[-3000:]
    assert took < GRACE + CANCEL_WAIT_SECONDS + 8, f"the server took {took:.1f} s to stop"
    assert stopping.server().status == "stopped"
    assert "Grace period over: asked the running jobs to stop" in stopping.log()
    assert "still running after the grace period" in stopping.log()  # the stubborn job's worker
    assert not JobState.objects.filter(
        name=State.PROCESSING, created_at__gt=term_at, data__server=stopping_id
    ).exists(), "the stopping server claimed a job after SIGTERM"

    wait_until_all_finished([other], timeout=60)
    assert_executed_exactly_once(
        {
            *quick,
            *(f"short-{i}" for i in range(EACH_KIND)),
            *(f"coop-{i}" for i in range(EACH_KIND)),
            *(f"stubborn-{i}" for i in range(EACH_KIND)),
        }
    )

    for job in Job.objects.filter(pk__in=short):
        # Finished where it ran, inside the grace period.
        assert (job.state, job.attempt, job.server_id) == (State.SUCCEEDED, 1, stopping_id)
        assert term_at < job.finished_at < term_at + timedelta(seconds=GRACE)

    back_in_queue = f"Server {stopping_id} shut down before the job finished"
    for ids, earliest in ((cooperative, GRACE), (stubborn, GRACE + CANCEL_WAIT_SECONDS)):
        for job in Job.objects.filter(pk__in=ids):
            assert job.state == State.SUCCEEDED and job.attempt == 2, (job.pk, job.state, job.attempt)
            assert job.server_id != stopping_id
            assert history(job) == ["enqueued", "processing", "enqueued", "processing", "succeeded"]
            requeued = job.history.get(name=State.ENQUEUED, reason=back_in_queue)
            after = (requeued.created_at - term_at).total_seconds()
            # Returned when the grace period (and, for a job that ignores cancellation, the
            # cancel wait) ran out — not a lease later.
            assert earliest - 0.5 < after < earliest + 4, (job.args, after)
            assert list(Attempt.objects.filter(key=job.args[0]).values_list("attempt", flat=True)) == [1, 2]

    assert set(Job.objects.filter(args__0__startswith="quick-").values_list("attempt", flat=True)) == {1}
    assert_quiet_logs([other])


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_to_the_whole_process_group_is_as_graceful(cluster_factory, signum):
    """systemd (KillMode=control-group), honcho and a terminal's Ctrl-C signal every process of
    the server at once: the Sentinel, the pusher and the workers must not die of it."""
    import psutil

    grace = 10.0  # a 3 s job, with room for a busy machine's stop
    server = cluster_factory(workers=2, env={"JOBS_SHUTDOWN_GRACE_SECONDS": str(grace)})
    server_id = server.server().pk
    job_id = record_slowly.enqueue("group-signal", 3.0).id
    server.wait_for(lambda: Attempt.objects.filter(job_id=job_id).exists(), 20, "the job to start")
    tree = [server.pid, *(child.pid for child in psutil.Process(server.pid).children(recursive=True))]
    assert len(tree) >= 5  # main, Sentinel, monitor, pusher, two workers
    started = time.monotonic()
    os.killpg(server.pid, signum)  # every process of the server at once
    try:
        returncode = server.process.wait(grace + 10)
    except subprocess.TimeoutExpired:
        server.kill()
        raise AssertionError(f"the server did not exit:\n{server.log()[-3000:]}") from None
    took = time.monotonic() - started
    assert returncode == 0, server.log()[-3000:]
    assert took < grace, f"the server took {took:.1f} s to stop"
    job = Job.objects.get(pk=job_id)
    assert (job.state, job.attempt, job.server_id) == (State.SUCCEEDED, 1, server_id), server.log()[-3000:]
    assert Server.objects.get(pk=server_id).status == "stopped"
    assert not [pid for pid in tree if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]
    assert_quiet_logs([server])


@pytest.mark.django_db(transaction=True)
def test_the_guard_still_ends_a_worker_stuck_past_its_timeout(cluster_factory):
    """Workers ignore SIGTERM (above), which is how django-q2's guard ended a worker whose job
    outlived its timeout: the guard must now kill it, and the job runs again elsewhere."""
    import psutil

    server = cluster_factory(workers=1)
    job_id = deaf_first_attempt.enqueue("deaf", 60.0).id
    server.wait_for(lambda: Attempt.objects.filter(job_id=job_id).exists(), 20, "the first attempt")
    worker_pid = Job.objects.get(pk=job_id).worker_pid
    # The guard fires after the timeout + 5 s + django-q2's 3 s; the job's lease then runs out.
    server.wait_for(
        lambda: not psutil.pid_exists(worker_pid) or psutil.Process(worker_pid).status() == "zombie",
        20,
        "the guard to end the stuck worker",
    )
    server.wait_for(
        lambda: Job.objects.get(pk=job_id).state == State.SUCCEEDED, 30, "the job's second attempt"
    )
    assert Job.objects.get(pk=job_id).attempt == 2
