"""job_waiting_reason: why an Awaiting job has not run, in words a person can act on."""

import pytest

import jobs.api
from jobs.models import Job, State
from jobs.selectors import job_waiting_reason
from tests.jobs.helpers import run_all, run_next
from tests.testapp import tasks

pytestmark = pytest.mark.django_db


def _reason(result):
    return job_waiting_reason(Job.objects.get(pk=result.id))


def test_a_continuation_of_a_failed_parent_says_to_retry_or_delete_the_parent():
    parent = tasks.fail_once.enqueue("f")
    child = jobs.api.continue_with(parent, tasks.record, "after")
    assert _reason(child) == "Waits for its parent, which is enqueued"
    run_next()
    assert Job.objects.get(pk=parent.id).state == State.FAILED
    assert _reason(child) == "Waits for its parent, which failed: retry or delete the parent"
    jobs.api.requeue(parent.id)
    assert _reason(child) == "Waits for its parent, which is enqueued"


def test_a_job_that_is_not_awaiting_has_no_waiting_reason():
    result = tasks.record.enqueue("k")
    assert _reason(result) is None
    run_all()
    assert _reason(result) is None


def test_a_batch_continuation_says_how_far_its_batch_is_and_when_failures_hold_it():
    with jobs.api.batch("two") as batch:
        batch.enqueue(tasks.fail_once, "a")
        batch.enqueue(tasks.record, "b")
        after = batch.then(tasks.record, "after")
    assert job_waiting_reason(after) == "Waits for its batch to finish (0 of 2 done)"
    run_all()
    after.refresh_from_db()
    assert after.state == State.AWAITING
    assert (
        job_waiting_reason(after)
        == "Waits for its batch, in which 1 job failed: retry or delete the failed job"
    )


def test_a_continuation_whose_parent_row_is_gone_says_nothing_will_release_it():
    parent = tasks.fail_once.enqueue("f")
    child = jobs.api.continue_with(parent, tasks.record, "after")
    Job.objects.filter(pk=parent.id).delete()
    assert (
        _reason(child) == "Waits for a parent that no longer exists: requeue it to run it now, or delete it"
    )
