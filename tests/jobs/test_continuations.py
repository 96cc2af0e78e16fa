"""Continuations and batches, in process: release rules, counters, cancel, nesting, bad input."""

import uuid

import pytest

import jobs.api
from jobs.maintenance import promote_due_jobs
from jobs.models import Batch, BatchState, Job, JobState, State
from tests.jobs.helpers import run_all, run_next
from tests.testapp import tasks
from tests.testapp.models import Execution

pytestmark = pytest.mark.django_db


def test_a_chain_of_three_runs_in_order():
    created = tasks.record.enqueue("create")
    ledger = jobs.api.continue_with(created, tasks.record, "ledger")
    notify = jobs.api.continue_with(ledger, tasks.record, "notify")
    assert Job.objects.get(pk=notify.id).state == State.AWAITING
    run_all()
    assert list(Execution.objects.values_list("key", flat=True)) == ["create", "ledger", "notify"]
    assert Job.objects.get(pk=notify.id).history.first().reason == "Waiting for its parent to finish"


def test_a_continuation_of_a_deleted_parent_is_deleted_unless_it_asked_for_that():
    parent = tasks.record.enqueue("p")
    on_success = jobs.api.continue_with(parent, tasks.record, "s")
    on_deleted = jobs.api.continue_with(parent, tasks.record, "d", on="deleted")
    on_any = jobs.api.continue_with(parent, tasks.record, "a", on="any finished")
    jobs.api.delete(parent.id)
    assert Job.objects.get(pk=on_success.id).state == State.DELETED
    assert Job.objects.get(pk=on_success.id).state_reason.startswith("Continuation condition was not met")
    assert Job.objects.get(pk=on_deleted.id).state == State.ENQUEUED
    assert Job.objects.get(pk=on_any.id).state == State.ENQUEUED


def test_a_failed_parent_holds_its_continuation_until_it_is_resolved():
    parent = tasks.fail_once.enqueue("f")
    child = jobs.api.continue_with(parent, tasks.record, "after")
    run_next()
    assert Job.objects.get(pk=parent.id).state == State.FAILED
    assert Job.objects.get(pk=child.id).state == State.AWAITING
    jobs.api.delete(parent.id)
    assert Job.objects.get(pk=child.id).state == State.DELETED


def test_a_continuation_of_a_finished_parent_is_decided_at_once():
    parent = tasks.record.enqueue("done")
    run_all()
    child = jobs.api.continue_with(parent, tasks.record, "late")
    assert Job.objects.get(pk=child.id).state == State.ENQUEUED


def test_bad_continuations_write_nothing():
    before = (Job.objects.count(), JobState.objects.count())
    with pytest.raises(jobs.api.JobNotFound):
        jobs.api.continue_with(uuid.uuid4(), tasks.record, "x")
    with pytest.raises(jobs.api.JobNotFound):
        jobs.api.continue_with("not-an-id", tasks.record, "x")
    parent = tasks.record.enqueue("p")
    with pytest.raises(ValueError, match="on must be one of"):
        jobs.api.continue_with(parent, tasks.record, "x", on="sometimes")
    assert (Job.objects.count(), JobState.objects.count()) == (before[0] + 1, before[1] + 1)


def test_a_batch_runs_its_continuation_once_after_the_last_job():
    with jobs.api.batch("Monthly invoices") as b:
        for i in range(20):
            b.enqueue(tasks.record, f"r{i}")
        b.then(tasks.record, "summary")
    batch = Batch.objects.get(pk=b.id)
    assert batch.total == 20 and batch.state == BatchState.STARTED
    run_all()
    batch.refresh_from_db()
    assert (batch.state, batch.succeeded) == (BatchState.SUCCEEDED, 20)
    keys = list(Execution.objects.values_list("key", flat=True))
    assert keys[-1] == "summary" and len(keys) == 21
    assert jobs.api.batch_progress(batch)["percent"] == 100.0


def test_an_exception_in_the_batch_block_creates_nothing():
    with pytest.raises(RuntimeError), jobs.api.batch("broken") as b:
        b.enqueue(tasks.record, "a")
        raise RuntimeError("stop")
    assert (Batch.objects.count(), Job.objects.count()) == (0, 0)


def test_an_empty_batch_succeeds_at_once_and_its_continuation_runs():
    with jobs.api.batch("nothing to do") as b:
        b.then(tasks.record, "empty-summary")
    assert Batch.objects.get(pk=b.id).state == BatchState.SUCCEEDED
    run_all()
    assert Execution.objects.filter(key="empty-summary").exists()


def test_a_batch_with_failures_completes_and_only_completed_continuations_run():
    with jobs.api.batch("mixed") as b:
        b.enqueue(tasks.record, "ok")
        b.enqueue(tasks.fail_once, "bad")
        b.then(tasks.record, "on-completed", on="completed")
        b.then(tasks.record, "on-succeeded")
    run_all()
    batch = Batch.objects.get(pk=b.id)
    assert (batch.state, batch.succeeded, batch.failed) == (BatchState.COMPLETED, 1, 1)
    assert Execution.objects.filter(key="on-completed").exists()
    assert not Execution.objects.filter(key="on-succeeded").exists()
    assert Job.objects.get(kwargs={}, args=["on-succeeded"]).state == State.AWAITING


def test_cancel_deletes_pending_jobs_and_the_batch_continuations():
    with jobs.api.batch("to cancel") as b:
        for i in range(5):
            b.enqueue(tasks.record, f"c{i}")
        b.then(tasks.record, "never")
    run_next()
    jobs.api.cancel_batch(b.id)
    batch = Batch.objects.get(pk=b.id)
    assert batch.state == BatchState.CANCELLED
    assert Job.objects.filter(batch=batch, state=State.DELETED).count() == 4
    assert Job.objects.get(args=["never"]).state == State.DELETED
    assert run_all() == []


def test_nested_batches_count_as_one_unit_of_their_parent():
    with jobs.api.batch("outer") as outer:
        outer.enqueue(tasks.record, "o1")
        with outer.batch("inner") as inner:
            inner.enqueue(tasks.record, "i1")
            inner.enqueue(tasks.record, "i2")
        outer.then(tasks.record, "outer-done")
    parent = Batch.objects.get(pk=outer.id)
    child = Batch.objects.get(pk=inner.id)
    assert (parent.total, child.total, child.parent_id) == (2, 2, parent.pk)
    run_all()
    parent.refresh_from_db()
    assert parent.state == BatchState.SUCCEEDED and parent.succeeded == 2
    assert Execution.objects.last().key == "outer-done"


def test_attach_adds_jobs_to_a_started_batch():
    with jobs.api.batch("growing") as b:
        b.enqueue(tasks.record, "first")
        b.then(tasks.record, "grown")
    with jobs.api.attach(b.id) as more:
        more.enqueue(tasks.record, "second")
    assert Batch.objects.get(pk=b.id).total == 2
    run_all()
    assert list(Execution.objects.values_list("key", flat=True))[-1] == "grown"
    with pytest.raises(jobs.api.InvalidOperation), jobs.api.attach(b.id) as late:
        late.enqueue(tasks.record, "too late")


def test_a_retried_failed_job_reopens_its_completed_batch():
    with jobs.api.batch("retry me") as b:
        b.enqueue(tasks.fail_once, "once")
        b.then(tasks.record, "all-good")
    run_all()
    assert Batch.objects.get(pk=b.id).state == BatchState.COMPLETED
    failed = Job.objects.get(batch_id=b.id)
    jobs.api.requeue(failed.pk)
    assert Batch.objects.get(pk=b.id).state == BatchState.STARTED
    promote_due_jobs()
    run_all()
    assert Batch.objects.get(pk=b.id).state == BatchState.COMPLETED
