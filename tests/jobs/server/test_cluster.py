"""The engine with real `qcluster` servers: order, recovery, exactly-once, shutdown, flows."""

import datetime

import pytest
from django.utils import timezone

import jobs.api
from jobs.models import Batch, BatchState, Job, JobState, Server, State
from tests.support.cluster import wait_for
from tests.testapp import tasks
from tests.testapp.models import Attempt, Execution

pytestmark = pytest.mark.django_db(transaction=True)


def all_succeeded(expected):
    return Job.objects.filter(state=State.SUCCEEDED).count() == expected


def test_queues_are_served_in_configured_order_then_priority(cluster_factory):
    for i in range(8):
        tasks.record_low.enqueue(f"low-{i}")
        tasks.record.enqueue(f"default-{i}")
    tasks.record_critical.using(priority=0).enqueue("critical-old")
    tasks.record_critical.using(priority=5).enqueue("critical-urgent")
    server = cluster_factory(workers=1)
    server.wait_for(lambda: Execution.objects.count() == 18, 30)
    keys = list(Execution.objects.values_list("key", flat=True))
    assert keys[:2] == ["critical-urgent", "critical-old"]
    assert all(k.startswith("default") for k in keys[2:10])
    assert all(k.startswith("low") for k in keys[10:])


def test_a_critical_job_does_not_wait_behind_fetched_low_priority_jobs(cluster_factory):
    server = cluster_factory(workers=2)
    # The first two run 1 s and 2 s, so that one worker comes free at a time.
    for i in range(6):
        tasks.record_slowly.using(queue_name="low-priority").enqueue(f"slow-{i}", 2.0 if i == 1 else 1.0)
    server.wait_for(lambda: Attempt.objects.filter(key__startswith="slow").count() == 2, 10)
    urgent = tasks.record_critical.enqueue("urgent")
    server.wait_for(lambda: Execution.objects.filter(key="urgent").exists(), 10)
    # Only the two jobs that were running when it arrived were claimed before it: the first
    # worker to come free took it.
    claimed_at = JobState.objects.get(job_id=urgent.id, name=State.PROCESSING).created_at
    claimed_before = JobState.objects.filter(
        name=State.PROCESSING, created_at__lt=claimed_at, job__queue="low-priority"
    ).count()
    assert claimed_before == 2
    assert Attempt.objects.filter(key__startswith="slow").count() <= 4  # nothing ran ahead of it


def test_two_servers_run_each_of_2000_jobs_exactly_once(cluster_factory):
    jobs.api.enqueue_many(tasks.record, [((f"k{i}",), {}) for i in range(2000)])
    first, second = cluster_factory(workers=2), cluster_factory(workers=2)
    first.wait_for(lambda: all_succeeded(2000), 180)
    assert Execution.objects.count() == 2000  # unique keys: a second run would have failed
    assert not Job.objects.exclude(state=State.SUCCEEDED).exists()
    assert set(Job.objects.values_list("server_id", flat=True)) == {first.server().pk, second.server().pk}


def test_a_killed_servers_job_completes_on_another_server_after_its_lease(cluster_factory):
    doomed = cluster_factory(workers=1)
    result = tasks.record_slowly.enqueue("survivor", 2.0)
    doomed.wait_for(lambda: Attempt.objects.filter(key="survivor").exists(), 15)
    dead_id = doomed.server().pk
    doomed.kill()
    rescuer = cluster_factory(workers=1)
    rescuer.wait_for(lambda: Execution.objects.filter(key="survivor").exists(), 40)
    job = Job.objects.get(pk=result.id)
    rescuer.wait_for(lambda: Job.objects.get(pk=result.id).state == State.SUCCEEDED, 10)
    job.refresh_from_db()
    assert job.attempt == 2 and job.server_id == rescuer.server().pk
    reasons = list(job.history.values_list("reason", flat=True))
    assert f"Server {dead_id} stopped responding" in reasons
    rescuer.wait_for(lambda: Server.objects.get(pk=dead_id).status == "dead", 15)


def test_sigterm_lets_running_jobs_finish_then_exits(cluster_factory):
    server = cluster_factory(workers=1)
    result = tasks.record_slowly.enqueue("finishing", 1.5)
    server.wait_for(lambda: Attempt.objects.filter(key="finishing").exists(), 15)
    assert server.stop() == 0
    assert Job.objects.get(pk=result.id).state == State.SUCCEEDED
    assert Server.objects.get(pid=server.pid).status == "stopped"


def test_sigterm_returns_a_job_still_running_after_the_grace_period(cluster_factory):
    server = cluster_factory(workers=1, env={"JOBS_SHUTDOWN_GRACE_SECONDS": "1"})
    result = tasks.wait_for_cancel.enqueue("too-long", 30)
    server.wait_for(lambda: Attempt.objects.filter(key="too-long").exists(), 15)
    assert server.stop() == 0
    job = Job.objects.get(pk=result.id)
    assert job.state == State.ENQUEUED
    assert "shut down before the job finished" in job.state_reason


def test_retries_and_delayed_jobs_run_on_a_server(cluster_factory):
    server = cluster_factory(workers=2)
    retried = tasks.fail_times.enqueue("flaky", 2)
    delayed = tasks.record.using(run_after=timezone.now() + datetime.timedelta(seconds=2)).enqueue("later")
    server.wait_for(lambda: Job.objects.get(pk=retried.id).state == State.SUCCEEDED, 30)
    server.wait_for(lambda: Job.objects.get(pk=delayed.id).state == State.SUCCEEDED, 30)
    job = Job.objects.get(pk=delayed.id)
    assert job.started_at >= job.created_at + datetime.timedelta(seconds=2)
    assert Job.objects.get(pk=retried.id).attempt == 3


def test_deleting_a_running_job_cancels_it(cluster_factory):
    server = cluster_factory(workers=1)
    result = tasks.wait_for_cancel.enqueue("stop-me", 30)
    server.wait_for(lambda: Attempt.objects.filter(key="stop-me").exists(), 15)
    jobs.api.delete(result.id)
    server.wait_for(lambda: Job.objects.get(pk=result.id).state == State.DELETED, 15)
    assert not Execution.objects.filter(key="stop-me").exists()


def test_the_invoice_chain_of_three_runs_in_order(cluster_factory):
    server = cluster_factory(workers=2)
    created = tasks.record.enqueue("create-invoice")
    ledger = jobs.api.continue_with(created, tasks.record, "update-ledger")
    jobs.api.continue_with(ledger, tasks.record, "send-notification")
    server.wait_for(lambda: Execution.objects.count() == 3, 20)
    assert list(Execution.objects.values_list("key", flat=True)) == [
        "create-invoice",
        "update-ledger",
        "send-notification",
    ]


def test_a_batch_of_500_runs_its_summary_once_after_the_last(cluster_factory):
    with jobs.api.batch("Bulk invoices") as b:
        for i in range(500):
            b.enqueue(tasks.record, f"invoice-{i}")
        b.then(tasks.record, "summary")
    first, _second = cluster_factory(workers=2), cluster_factory(workers=2)
    first.wait_for(lambda: Execution.objects.filter(key="summary").exists(), 120)
    summary = Execution.objects.get(key="summary")
    assert Execution.objects.filter(at__gt=summary.at).count() == 0
    assert Execution.objects.count() == 501
    assert Batch.objects.get(pk=b.id).state == BatchState.SUCCEEDED


def test_the_last_two_jobs_race_releases_each_continuation_once(cluster_factory):
    ids = []
    for round_ in range(40):
        with jobs.api.batch(f"race {round_}") as b:
            b.enqueue(tasks.record, f"race-{round_}-a")
            b.enqueue(tasks.record, f"race-{round_}-b")
            b.then(tasks.record, f"race-{round_}-done")
        ids.append(b.id)
    cluster_factory(workers=2)
    second = cluster_factory(workers=2)
    second.wait_for(lambda: Execution.objects.filter(key__endswith="-done").count() == 40, 90)
    wait_for(lambda: all_succeeded(120), 20)
    assert Job.objects.filter(awaiting_batch_id__in=ids).count() == 40
    assert not Job.objects.exclude(state=State.SUCCEEDED).exists()


@pytest.mark.sqlite
def test_the_sqlite_default_runs_a_job_end_to_end(cluster_factory):
    server = cluster_factory(workers=1)
    result = tasks.add.enqueue(20, 22)
    server.wait_for(lambda: Job.objects.get(pk=result.id).state == State.SUCCEEDED, 30)
    result.refresh()
    assert result.return_value == 42
