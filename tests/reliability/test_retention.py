"""Retention: Succeeded and Deleted jobs expire after the configured time, Failed jobs stay
until someone acts, batches go after their own (longer) retention, and a job's history rows go
with it. The jobs are run by the engine's own claim and runner, in this process."""

import time
from datetime import timedelta
from uuid import UUID

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from jobs import api
from jobs.maintenance import expire_jobs
from jobs.models import Batch, BatchState, Job, JobState, State
from jobs.server.broker import claim_jobs
from jobs.server.runner import perform
from tests.testapp.tasks import fail_once, record

JOB_RETENTION = 2
BATCH_RETENTION = 4


def run_everything_enqueued():
    while rows := claim_jobs(None, list(settings.JOB_QUEUES), 50):
        for job_id, token, *_ in rows:
            perform(str(job_id), str(token))


def retention(**overrides):
    return override_settings(DHANMAN_JOBS={**settings.DHANMAN_JOBS, **overrides})


def expire() -> tuple[set, set]:
    """Run expire_jobs once; return the ids of the jobs and batches it removed, after checking
    that it removed exactly what was due by the clock (whatever the machine's speed)."""
    jobs = dict(Job.objects.values_list("pk", "expires_at"))
    batches = dict(Batch.objects.values_list("pk", "expires_at"))
    started = timezone.now()
    report = expire_jobs.call()
    ended = timezone.now()
    gone_jobs = set(jobs) - set(Job.objects.values_list("pk", flat=True))
    gone_batches = set(batches) - set(Batch.objects.values_list("pk", flat=True))
    assert (report["jobs"], report["batches"]) == (len(gone_jobs), len(gone_batches))
    for expiry, gone in ((jobs, gone_jobs), (batches, gone_batches)):
        assert all(expiry[pk] is not None and expiry[pk] <= ended for pk in gone), "removed before its time"
        due = {pk for pk, at in expiry.items() if at is not None and at <= started}
        assert due <= gone, "left a due row behind"
    return gone_jobs, gone_batches


def sleep_past(moment):
    time.sleep(max(0.0, (moment - timezone.now()).total_seconds()) + 0.05)


@pytest.mark.django_db
def test_finished_jobs_and_batches_expire_on_their_own_clocks_and_failed_jobs_stay():
    with retention(EXPIRATION_SECONDS=JOB_RETENTION, BATCH_EXPIRATION_SECONDS=BATCH_RETENTION):
        succeeded = {UUID(record.enqueue(f"ok-{i}").id) for i in range(5)}
        failed = {UUID(fail_once.enqueue(f"bad-{i}").id) for i in range(3)}
        deleted = {api.delete(record.enqueue(f"gone-{i}").id).pk for i in range(2)}
        with api.batch("retention") as mixed:
            mixed.enqueue(record, "batch-ok")
            mixed.enqueue(fail_once, "batch-bad")
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
        finished = set(jobs.filter(state__in=(State.SUCCEEDED, State.DELETED)).values_list("pk", flat=True))
        assert finished >= succeeded | deleted
        for job in jobs.filter(pk__in=finished):
            assert job.expires_at == job.state_changed_at + timedelta(seconds=JOB_RETENTION)
        batches = Batch.objects.filter(pk__in=[mixed.id, good.id])
        assert dict(batches.values_list("pk", "state")) == {
            mixed.id: BatchState.COMPLETED,
            good.id: BatchState.SUCCEEDED,
        }
        for batch in batches:
            assert batch.expires_at == batch.finished_at + timedelta(seconds=BATCH_RETENTION)
        batch_bad = Job.objects.get(args=["batch-bad"]).pk
        stays = failed | {batch_bad, requeued}

        expire()  # early: removes at most what is due (normally nothing)
        sleep_past(max(jobs.filter(pk__in=finished).values_list("expires_at", flat=True)))
        expire()
        assert not Job.objects.filter(pk__in=finished).exists()
        assert not JobState.objects.filter(job_id__in=finished).exists()  # history went with them
        # Failed jobs stay, with their history; the requeued one waits to run again.
        assert set(Job.objects.values_list("pk", flat=True)) == stays
        for job in Job.objects.filter(pk__in=stays - {requeued}):
            assert list(job.history.values_list("name", flat=True)) == ["enqueued", "processing", "failed"]
        assert list(Job.objects.get(pk=requeued).history.values_list("name", flat=True)) == [
            "enqueued",
            "processing",
            "succeeded",
            "enqueued",
        ]
        assert batches.count() == 2  # the batches' own retention is longer

        sleep_past(max(batches.values_list("expires_at", flat=True)))
        _, gone_batches = expire()
        assert gone_batches == {mixed.id, good.id}
        # The failed job of the removed batch is still there for someone to act on.
        assert Job.objects.get(pk=batch_bad).state == State.FAILED
        assert set(Job.objects.values_list("pk", flat=True)) == stays
