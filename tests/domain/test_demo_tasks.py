"""The demo tasks of the README's tour (demo/tasks.py) do what the tour says."""

import pytest

import jobs.api
from demo.tasks import always_fails, fails_then_succeeds, runs_long
from jobs.models import Job, State
from tests.jobs.helpers import run_next


@pytest.mark.django_db
def test_the_failing_demo_tasks_fail_with_their_message_and_are_retried():
    job_id = always_fails.enqueue("mail server down").id
    job = run_next()
    assert str(job.pk) == job_id
    assert (job.state, job.attempt) == (State.SCHEDULED, 1)  # its first retry, 5 s later
    assert job.exception_class.endswith("DemoFailure") and job.exception_message == "mail server down"

    fails_then_succeeds.enqueue(1)
    assert run_next().state == State.SCHEDULED
    fails_then_succeeds.enqueue(0)
    done = run_next()
    assert (done.state, done.result) == (State.SUCCEEDED, "succeeded on attempt 1")


@pytest.mark.django_db(transaction=True)
def test_the_long_demo_task_reports_progress_and_stops_when_cancelled(cluster_factory):
    server = cluster_factory(workers=1)
    job_id = runs_long.enqueue(120).id
    server.wait_for(lambda: (Job.objects.get(pk=job_id).progress or 0) >= 1, 30, "progress above 0")
    assert " of 120 s" in Job.objects.get(pk=job_id).progress_message
    jobs.api.cancel(job_id)
    server.wait_for(lambda: Job.objects.get(pk=job_id).state == State.DELETED, 15, "the job to be cancelled")
