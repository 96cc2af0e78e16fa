"""A worker that finishes a job claims its next one itself (jobs/worker.py), on real servers."""

import datetime
import os
import time

import pytest
from django.utils import timezone

import jobs.api
from jobs.models import Job, JobState, Server, State
from jobs.server.worker import release_worker_claims
from jobs.sql import CLAIM_SQL, WORKER_CLAIM_ASYNC_COMMIT_SQL, claim_parameters
from tests.testapp import tasks
from tests.testapp.models import Attempt, Execution

pytestmark = pytest.mark.django_db(transaction=True)


def claims():
    """(claimed by a worker for itself, claimed by the pusher) over all processing history rows."""
    rows = JobState.objects.filter(name=State.PROCESSING)
    by_worker = rows.filter(data__has_key="worker").count()
    return by_worker, rows.count() - by_worker


def test_workers_claim_their_next_jobs_and_run_each_once(cluster_factory):
    jobs.api.enqueue_many(tasks.record, [((f"k{i}",), {}) for i in range(300)])
    server = cluster_factory(workers=2)
    server.wait_for(lambda: Job.objects.filter(state=State.SUCCEEDED).count() == 300, 60)
    assert Execution.objects.count() == 300  # unique keys: a second run would have failed
    by_worker, by_pusher = claims()
    assert by_worker + by_pusher == 300
    assert by_worker >= 250, (by_worker, by_pusher)  # the pusher only starts each worker's run
    pids = set(Execution.objects.values_list("pid", flat=True))
    recorded = {
        row["worker"]
        for row in JobState.objects.filter(data__has_key="worker").values_list("data", flat=True)
    }
    assert recorded <= pids
    # Each job's timeline is the usual one, in order.
    job = Job.objects.get(pk=JobState.objects.filter(data__has_key="worker").first().job_id)
    assert list(job.history.values_list("name", flat=True)) == ["enqueued", "processing", "succeeded"]


def test_a_run_of_claims_ends_at_the_chain_limit_and_the_pusher_takes_over(cluster_factory):
    jobs.api.enqueue_many(tasks.record, [((f"k{i}",), {}) for i in range(40)])
    server = cluster_factory(workers=1, env={"JOBS_WORKER_CHAIN_LIMIT": 5})
    server.wait_for(lambda: Job.objects.filter(state=State.SUCCEEDED).count() == 40, 60)
    by_worker, by_pusher = claims()
    # One job from the pusher, then four claimed by the worker: 8 runs of 5.
    assert (by_worker, by_pusher) == (32, 8)


def test_a_critical_job_is_the_next_one_a_busy_worker_claims(cluster_factory):
    jobs.api.enqueue_many(tasks.record_low, [((f"low-{i}",), {}) for i in range(200)])
    server = cluster_factory(workers=1)
    server.wait_for(lambda: Execution.objects.count() >= 20, 30)
    tasks.record_critical.enqueue("urgent")
    committed_at = timezone.now()
    server.wait_for(lambda: Execution.objects.filter(key="urgent").exists(), 10)
    urgent_at = Execution.objects.get(key="urgent").at
    # Started between its commit and its run: at most what the worker held when it arrived (the
    # issue's rule: one prefetched job per worker), i.e. the two jobs of one claim (worker
    # .prefetch) — the pair it held, or the pair a statement that began before the commit claimed.
    assert Execution.objects.filter(at__gt=committed_at, at__lt=urgent_at).count() <= 2
    assert Execution.objects.filter(key__startswith="low").count() < 200


def test_a_job_claimed_by_a_worker_gets_its_own_timeout_and_guard(cluster_factory):
    # The first job carries django-q2's alarm for its package (6 s); the second, claimed by the
    # worker, runs 7 s with no timeout and must not be cut by that alarm; the third, with a
    # timeout of 1 s, must be stopped by its own.
    first = tasks.noop.using(priority=2).enqueue()
    long_one = tasks.record_slowly.using(priority=1).enqueue("long", 7.0)
    timed_out = tasks.sleep_past_timeout.enqueue(5)
    server = cluster_factory(workers=1)
    server.wait_for(lambda: Job.objects.filter(state__in=[State.SUCCEEDED, State.FAILED]).count() == 3, 40)
    assert Job.objects.get(pk=first.id).state == State.SUCCEEDED
    assert Job.objects.get(pk=long_one.id).state == State.SUCCEEDED
    failed = Job.objects.get(pk=timed_out.id)
    assert (failed.state, failed.exception_class) == (State.FAILED, "jobs.task.JobTimeout")
    assert failed.finished_at - failed.started_at < datetime.timedelta(seconds=3)
    # The second and third were claimed by the worker that ran the first, in one run.
    assert (
        JobState.objects.filter(job_id__in=[long_one.id, timed_out.id], data__has_key="worker").count() == 2
    )


def _live_server(pk):
    """A server row whose worker is this test process (the claim's server id must exist)."""
    now = timezone.now()
    return Server.objects.create(
        pk=pk,
        host="h",
        pid=1,
        queues=[],
        worker_count=1,
        worker_pids=[os.getpid()],
        status="running",
        heartbeat_at=now,
        started_at=now,
    )


def test_claims_cut_off_by_a_database_error_go_back_to_their_queue():
    """release_worker_claims: what a worker holds besides its current job returns to its queue."""
    _live_server("s1")
    current, lost = tasks.noop.enqueue(), tasks.noop.enqueue()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(CLAIM_SQL, claim_parameters("s1", ["default"], 2, worker_pid=os.getpid()))
    assert Job.objects.filter(state=State.PROCESSING, worker_pid=os.getpid()).count() == 2

    assert release_worker_claims("s1", os.getpid(), keep=current.id) == 1
    kept, released = Job.objects.get(pk=current.id), Job.objects.get(pk=lost.id)
    assert (kept.state, kept.worker_pid) == (State.PROCESSING, os.getpid())
    assert (released.state, released.attempt, released.fetch_token, released.worker_pid) == (
        State.ENQUEUED,
        0,
        None,
        None,
    )
    assert (
        released.history.last().reason
        == "Back to its queue: the worker's claim was cut off by a database error"
    )


def _wait_until_idle(server, seconds=0.5):
    """Past the server's first claims: what is enqueued next is announced by a NOTIFY."""
    server.wait_until_ready()
    time.sleep(seconds)


def test_an_idle_server_wakes_a_worker_that_claims_the_new_job_itself(cluster_factory):
    server = cluster_factory(workers=2)
    _wait_until_idle(server)
    for i in range(10):
        job = tasks.record.enqueue(f"idle-{i}")
        server.wait_for(lambda job=job: Job.objects.get(pk=job.id).state == State.SUCCEEDED, 10)
        time.sleep(0.1)
    assert Execution.objects.count() == 10
    # Claimed by the worker that ran it (the wake-up). The pusher still takes the odd one that
    # commits while it is claiming anyway (each wait of its loop ends in a claim).
    by_worker, by_pusher = claims()
    assert (by_worker + by_pusher, by_worker >= 7) == (10, True), (by_worker, by_pusher)
    for row in JobState.objects.filter(name=State.PROCESSING, data__has_key="worker"):
        assert row.data["worker"] == Execution.objects.get(job_id=str(row.job_id)).pid
        assert list(Job.objects.get(pk=row.job_id).history.values_list("name", flat=True)) == [
            "enqueued",
            "processing",
            "succeeded",
        ]


def test_a_woken_worker_that_finds_no_job_gives_its_permit_back(cluster_factory):
    # Two servers of one worker each hear every NOTIFY; one of them gets the job, the other's
    # worker claims nothing. A permit kept by that worker would leave its server unable to work.
    first, second = cluster_factory(workers=1), cluster_factory(workers=1)
    _wait_until_idle(first)
    _wait_until_idle(second, 0)
    for i in range(10):
        job = tasks.record.enqueue(f"race-{i}")
        first.wait_for(lambda job=job: Job.objects.get(pk=job.id).state == State.SUCCEEDED, 10)
        time.sleep(0.1)
    assert Execution.objects.count() == 10
    # Both servers still take work: two slow jobs at once run side by side, one on each.
    slow = [tasks.record_slowly.enqueue(f"slow-{i}", 1.5) for i in range(2)]
    first.wait_for(lambda: Execution.objects.filter(key__startswith="slow").count() == 2, 20)
    assert {Job.objects.get(pk=job.id).server_id for job in slow} == {first.server().pk, second.server().pk}
    starts = Attempt.objects.filter(key__startswith="slow").values_list("at", flat=True)
    ends = Execution.objects.filter(key__startswith="slow").values_list("at", flat=True)
    assert max(starts) < min(ends)  # overlapping runs


def test_a_claim_on_its_own_commits_asynchronously_and_inside_a_transaction_does_not():
    from django.db import connection, transaction

    from jobs.server import worker

    _live_server("s1")

    def synchronous_commit():
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            return cursor.fetchone()[0]

    tasks.noop.enqueue()
    with transaction.atomic():
        # The asynchronous statement, as claim_next sends it on its own: off for its transaction only.
        with connection.cursor() as cursor:
            cursor.execute(WORKER_CLAIM_ASYNC_COMMIT_SQL, claim_parameters("s1", ["default"], 1, os.getpid()))
            assert len(cursor.fetchall()) == 1
        assert synchronous_commit() == "off"
    assert synchronous_commit() == "on"

    tasks.noop.enqueue()
    worker._server_id = "s1"
    try:
        with transaction.atomic():
            assert worker.claim_next() is not None
            assert synchronous_commit() == "on"  # the transaction's other writes keep their flush
    finally:
        worker._server_id = None
