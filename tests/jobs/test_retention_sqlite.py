"""Retention on the embedded SQLite default (`make run`): the task's expiry, and the ORM twin of
the chunked expiry taking history and output with the jobs."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs import retention
from jobs.models import Job, JobOutput, JobState, State
from tests.jobs.helpers import run_all
from tests.testapp import tasks

pytestmark = [pytest.mark.sqlite, pytest.mark.django_db]


def test_expiry_on_sqlite_in_chunks_with_history_and_output():
    due = [tasks.kept_an_hour.enqueue(f"job-{i}").id for i in range(5)]
    failed = tasks.fail_once.enqueue("kept").id
    run_all()
    job = Job.objects.get(pk=due[0])
    assert job.state == State.SUCCEEDED and job.expires_at == job.state_changed_at + timedelta(hours=1)
    assert Job.objects.get(pk=failed).expires_at is None
    assert JobOutput.objects.filter(job_id__in=due).count() == 5
    assert retention.expire(timezone.now() + timedelta(hours=2), chunk=2) == 5
    assert list(Job.objects.values_list("pk", flat=True)) == [Job.objects.get(pk=failed).pk]
    assert not JobState.objects.filter(job_id__in=due).exists()
    assert not JobOutput.objects.filter(job_id__in=due).exists()
