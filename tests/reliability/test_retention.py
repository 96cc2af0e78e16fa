"""Retention: Succeeded and Deleted jobs expire after the configured time, Failed jobs stay
until someone acts, batches go after their own (longer) retention, and a job's history rows go
with it. The jobs are run by the engine's own claim and runner, in this process."""

import time
from datetime import timedelta
from uuid import UUID

import pytest
from django.conf import settings
from django.test import override_settings

from jobs import api
from jobs.broker import claim_jobs
from jobs.maintenance import expire_jobs
from jobs.models import Batch, BatchState, Job, JobState, State
from jobs.runner import perform
from tests.testapp.tasks import fail_once, record

JOB_RETENTION = 1
BATCH_RETENTION = 2


def run_everything_enqueued():
    while rows := claim_jobs(None, list(settings.JOB_QUEUES), 50):
        for job_id, token, *_ in rows:
            perform(str(job_id), str(token))


def retention(**overrides):
    return override_settings(DHANMAN_JOBS={**settings.DHANMAN_JOBS, **overrides})


def removed(report: dict) -> tuple[int, int]:
    return report["jobs"], report["batches"]


def sleep_past(moment):
    from django.utils import timezone

    time.sleep(max(0.0, (moment - timezone.now()).total_seconds()) + 0.05)


@pytest.mark.django_db
def test_finished_jobs_and_batches_expire_on_their_own_clocks_and_failed_jobs_stay():
    with retention(EXPIRATION_SECONDS=JOB_RETENTION, BATCH_EXPIRATION_SECONDS=BATCH_RETENTION):
        succeeded = [UUID(record.enqueue(f"ok-{i}").id) for i in range(5)]
        failed = [UUID(fail_once.enqueue(f"bad-{i}").id) for i in range(3)]
        deleted = [api.delete(record.enqueue(f"gone-{i}").id).pk for i in range(2)]
        with api.batch("retention") as b:
            b.enqueue(record, "batch-ok")
            b.enqueue(fail_once, "batch-bad")
        with api.batch("retention, all good") as good:
            good.enqueue(record, "good-1")
            good.enqueue(record, "good-2")
        requeued = UUID(record.enqueue("requeued").id)
        run_everything_enqueued()
        # A succeeded job run again before it expired is no longer due to expire.
        api.requeue(requeued)

        jobs = Job.objects.all()
        assert jobs.filter(pk__in=succeeded, state=State.SUCCEEDED).count() == 5
        assert jobs.filter(pk__in=failed, state=State.FAILED, expires_at__isnull=True).count() == 3
        assert jobs.filter(pk__in=deleted, state=State.DELETED).count() == 2
        for job in jobs.filter(state__in=(State.SUCCEEDED, State.DELETED)):
            assert job.expires_at == job.state_changed_at + timedelta(seconds=JOB_RETENTION)
        batches = Batch.objects.filter(pk__in=[b.id, good.id])
        assert dict(batches.values_list("pk", "state")) == {b.id: BatchState.COMPLETED, good.id: BatchState.SUCCEEDED}
        for batch in batches:
            assert batch.expires_at == batch.finished_at + timedelta(seconds=BATCH_RETENTION)

        # Not yet: nothing is due.
        assert removed(expire_jobs.call()) == (0, 0)

        finished = set(jobs.filter(state__in=(State.SUCCEEDED, State.DELETED)).values_list("pk", flat=True))
        sleep_past(max(jobs.filter(pk__in=finished).values_list("expires_at", flat=True)))
        assert removed(expire_jobs.call()) == (len(finished), 0)
        assert not Job.objects.filter(pk__in=finished).exists()
        assert not JobState.objects.filter(job_id__in=finished).exists()  # history went with them
        # Failed jobs stay, with their history; the requeued one waits to run; batches stay.
        stays = {*failed, Job.objects.get(args=["batch-bad"]).pk, requeued}
        assert set(Job.objects.values_list("pk", flat=True)) == {*stays}
        for job in Job.objects.filter(pk__in=stays - {requeued}):
            assert list(job.history.values_list("name", flat=True)) == ["enqueued", "processing", "failed"]
        assert list(Job.objects.get(pk=requeued).history.values_list("name", flat=True)) == [
            "enqueued", "processing", "succeeded", "enqueued"
        ]
        assert batches.count() == 2

        sleep_past(max(batches.values_list("expires_at", flat=True)))
        assert removed(expire_jobs.call()) == (0, 2)
        assert not Batch.objects.exists()
        # The failed job of the removed batch is still there for someone to act on.
        assert Job.objects.get(args=["batch-bad"]).state == State.FAILED
        assert set(Job.objects.values_list("pk", flat=True)) == stays
