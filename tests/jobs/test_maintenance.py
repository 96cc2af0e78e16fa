"""Housekeeping steps, in process: promotion of due jobs, lease renewal, the reaper, expiry."""

import datetime

import pytest
from django.utils import timezone

import jobs.api
from jobs import maintenance
from jobs.models import Job, Server, State
from jobs.server import lease
from jobs.server.broker import claim_jobs
from tests.jobs.helpers import QUEUES, run_all
from tests.testapp import tasks

pytestmark = pytest.mark.django_db


def server(pk="h:1:a", **fields):
    now = timezone.now()
    return Server.objects.create(id=pk, host="h", pid=1, started_at=now, heartbeat_at=now, **fields)


def test_due_scheduled_jobs_are_promoted_and_future_ones_wait():
    now = timezone.now()
    due = tasks.add.using(run_after=now + datetime.timedelta(seconds=1)).enqueue(1, 1)
    later = tasks.add.using(run_after=now + datetime.timedelta(hours=1)).enqueue(1, 1)
    assert maintenance.promote_due_jobs(now + datetime.timedelta(seconds=2)) == 1
    assert Job.objects.get(pk=due.id).state == State.ENQUEUED
    assert Job.objects.get(pk=later.id).state == State.SCHEDULED
    assert Job.objects.get(pk=due.id).history.last().reason == "Scheduled time reached"


def test_leases_are_renewed_only_for_live_workers():
    s = server()
    tasks.add.enqueue(1, 1)
    tasks.add.enqueue(2, 2)
    (a, *_), (b, *_) = claim_jobs(s.pk, QUEUES, 1)[0], claim_jobs(s.pk, QUEUES, 1)[0]
    Job.objects.filter(pk=a).update(worker_pid=111)
    Job.objects.filter(pk=b).update(worker_pid=222)
    later = timezone.now() + datetime.timedelta(minutes=5)
    assert lease.renew_leases(s.pk, [111], later) == 1
    assert Job.objects.get(pk=a).lease_until > Job.objects.get(pk=b).lease_until


def test_the_reaper_requeues_expired_leases_and_marks_silent_servers_dead():
    s = server()
    result = tasks.add.enqueue(1, 1)
    claim_jobs(s.pk, QUEUES, 1)
    later = timezone.now() + datetime.timedelta(minutes=10)
    assert maintenance.reap(later) == 1
    job = Job.objects.get(pk=result.id)
    assert job.state == State.ENQUEUED and job.state_reason == f"Server {s.pk} stopped responding"
    assert job.attempt == 1 and job.fetch_token is None
    assert Server.objects.get(pk=s.pk).status == "dead"
    run_all()
    assert Job.objects.get(pk=result.id).attempt == 2


def test_the_reaper_fails_a_job_that_keeps_killing_its_servers():
    s = server()
    result = tasks.fail_once.enqueue("k")  # Retry(attempts=0)
    claim_jobs(s.pk, QUEUES, 1)
    maintenance.reap(timezone.now() + datetime.timedelta(minutes=10))
    job = Job.objects.get(pk=result.id)
    assert job.state == State.FAILED and "retry attempts exhausted" in job.state_reason


def _expire_lease_of_running_job(server_id, result, pid=4242):
    claim_jobs(server_id, QUEUES, 1)
    expired = timezone.now() - datetime.timedelta(seconds=1)
    Job.objects.filter(pk=result.id).update(worker_pid=pid, lease_until=expired)


def test_a_worker_dying_under_a_job_on_a_live_server_is_counted_until_the_job_fails(settings):
    s = server()
    result = tasks.add.enqueue(1, 1)
    for death in (1, 2):
        _expire_lease_of_running_job(s.pk, result)
        assert maintenance.reap() == 1
        job = Job.objects.get(pk=result.id)
        assert (job.state, job.worker_deaths) == (State.ENQUEUED, death)
        assert (
            job.state_reason
            == f"Worker 4242 of server {s.pk} died while running it (worker death {death}; the job fails at 3)"
        )
    _expire_lease_of_running_job(s.pk, result)
    maintenance.reap()
    job = Job.objects.get(pk=result.id)
    assert (job.state, job.worker_deaths, job.attempt) == (State.FAILED, 3, 3)
    assert job.state_reason == f"Killed its worker 3 times (last: worker 4242 of server {s.pk})"
    assert job.exception_class == "jobs.task.WorkerKilled" and Server.objects.get(pk=s.pk).status == "running"
    # A person who requeues it gives it a fresh count.
    jobs.api.requeue(job.pk)
    assert Job.objects.get(pk=result.id).worker_deaths == 0


def test_jobs_of_a_server_that_went_silent_or_not_yet_started_do_not_count_as_worker_deaths():
    s = server()
    running = tasks.add.enqueue(1, 1)
    _expire_lease_of_running_job(s.pk, running)
    queued_locally = tasks.add.enqueue(2, 2)
    claim_jobs(s.pk, QUEUES, 1)  # in the server's local queue: no worker pid yet
    Job.objects.filter(pk=queued_locally.id).update(
        lease_until=timezone.now() - datetime.timedelta(seconds=1)
    )
    Server.objects.filter(pk=s.pk).update(heartbeat_at=timezone.now() - datetime.timedelta(minutes=5))
    assert maintenance.reap() == 2
    for result in (running, queued_locally):
        job = Job.objects.get(pk=result.id)
        assert (job.state, job.worker_deaths) == (State.ENQUEUED, 0)
        assert job.state_reason == f"Server {s.pk} stopped responding"


def test_expiry_removes_old_finished_jobs_batches_and_servers_but_keeps_failed():
    tasks.add.enqueue(1, 1)
    tasks.fail_once.enqueue("f")
    run_all()
    server(status="dead")
    Server.objects.update(heartbeat_at=timezone.now() - datetime.timedelta(days=3))
    Job.objects.filter(state=State.SUCCEEDED).update(
        expires_at=timezone.now() - datetime.timedelta(seconds=1)
    )
    removed = maintenance.expire_jobs.call()
    assert removed == {"jobs": 1, "batches": 0, "servers": 1, "counters": 0}
    assert list(Job.objects.values_list("state", flat=True)) == [State.FAILED]
