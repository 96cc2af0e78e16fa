"""perform(): outcomes, retries, filters, cancellation, timeouts and the fence — in process."""

import uuid

import pytest

import jobs.api
from jobs.models import Job, State
from jobs.server.broker import claim_jobs
from jobs.server.runner import perform
from tests.jobs.helpers import QUEUES, run_all, run_next
from tests.testapp import tasks
from tests.testapp.models import Attempt, Execution

pytestmark = pytest.mark.django_db


def test_success_stores_the_result_and_the_timeline():
    result = tasks.add.enqueue(2, 3)
    job = run_next()
    assert job.state == State.SUCCEEDED and job.result == 5
    assert list(job.history.values_list("name", flat=True)) == ["enqueued", "processing", "succeeded"]
    assert job.expires_at is not None and job.fetch_token is None
    result.refresh()
    assert result.return_value == 5


def test_retries_follow_the_policy_then_succeed():
    tasks.fail_times.enqueue("k", 2)
    job = run_next()
    assert job.state == State.SCHEDULED
    assert job.state_reason.startswith("Retry attempt 1 of 3: RuntimeError: planned failure 1")
    assert job.exception_class == "builtins.RuntimeError" and "planned failure" in job.exception_traceback
    run_all()  # the retry is due at once (delay 0) once promoted
    from jobs.maintenance import promote_due_jobs

    for _ in range(3):
        promote_due_jobs()
        run_all()
    job.refresh_from_db()
    assert job.state == State.SUCCEEDED and job.attempt == 3
    assert Attempt.objects.filter(key="k").count() == 3
    assert Execution.objects.filter(key="k").count() == 1


def test_retry_delays_are_the_configured_seconds():
    from jobs.retry import Retry

    policy = Retry(attempts=3, delays=(60, 300, 900))
    assert [policy.delay_for(n) for n in (1, 2, 3, 4)] == [60, 300, 900, 900]
    assert policy.should_retry(RuntimeError(), 3) and not policy.should_retry(RuntimeError(), 4)


def test_retry_scheduling_uses_the_delay(settings):
    from tests.testapp.tasks import fail_times

    fail_times_60 = fail_times  # delays (0, 0, 0): check the stored run_at instead with a real delay
    result = fail_times_60.enqueue("d", 1)
    job = run_next()
    assert job.run_at is not None and job.run_at >= job.finished_at
    assert Job.objects.get(pk=result.id).state == State.SCHEDULED


def test_exhausted_attempts_delete_when_the_policy_says_so():
    from jobs.maintenance import promote_due_jobs

    tasks.always_fail_then_delete.enqueue("x")
    for _ in range(4):
        promote_due_jobs()
        run_all()
    job = Job.objects.get()
    assert job.state == State.DELETED
    assert job.state_reason.startswith("Retry attempts exhausted (2): ValueError: always fails")
    assert Attempt.objects.filter(key="x").count() == 3


def test_exhausted_attempts_fail_by_default():
    tasks.fail_once.enqueue("y", "no luck")
    job = run_next()
    assert job.state == State.FAILED and job.state_reason == "RuntimeError: no luck"
    assert job.expires_at is None  # Failed stays until someone acts


def test_filters_run_in_order_around_the_job():
    tasks.filtered.enqueue()
    tasks.filtered.enqueue(fail=True)
    run_all()
    keys = list(Attempt.objects.values_list("key", flat=True))
    ok_job, failed_job = Job.objects.order_by("created_at")
    assert keys[:2] == [f"filter:performing:{ok_job.pk}", f"filter:performed:ok:{ok_job.pk}"]
    assert keys[2:] == [f"filter:performing:{failed_job.pk}", f"filter:performed:KeyError:{failed_job.pk}"]


def test_a_job_past_its_timeout_fails_with_a_clear_reason():
    tasks.sleep_past_timeout.enqueue(5)
    job = run_next()
    assert job.state == State.FAILED
    assert job.exception_class == "jobs.task.JobTimeout"
    assert "timeout of 1 s" in job.state_reason


def test_a_cancelled_running_job_is_deleted_when_it_notices():
    result = tasks.wait_for_cancel.enqueue("c", 10)
    job_id, token, *_ = claim_jobs(None, QUEUES, 1)[0]
    jobs.api.delete(result.id, reason="operator")  # the job is Processing: it is asked to stop
    assert Job.objects.get(pk=job_id).cancel_requested
    perform(str(job_id), str(token))
    job = Job.objects.get(pk=job_id)
    assert job.state == State.DELETED and job.state_reason == "Deleted while processing"
    assert not Execution.objects.filter(key="c").exists()


def test_progress_is_stored_on_the_job():
    tasks.report_progress.enqueue()
    job = run_next()
    assert job.progress == 100 and job.progress_message == "75% done"


def test_a_stale_delivery_does_nothing():
    tasks.add.enqueue(1, 1)
    job_id, token, *_ = claim_jobs(None, QUEUES, 1)[0]
    assert perform(str(job_id), str(uuid.uuid4())) == "stale"
    assert Job.objects.get(pk=job_id).state == State.PROCESSING
    assert perform(str(job_id), str(token)) == State.SUCCEEDED
    assert perform(str(job_id), str(token)) == "stale"  # a duplicate of the same delivery


def test_a_forged_row_naming_os_system_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    from django.utils import timezone

    now = timezone.now()
    forged = Job.objects.create(
        task_path="os.system",
        args=[f"touch {marker}"],
        queue="default",
        state=State.ENQUEUED,
        state_changed_at=now,
        created_at=now,
        enqueued_at=now,
    )
    job = run_next()
    assert job.pk == forged.pk and job.state == State.FAILED
    assert "not a registered task" in job.state_reason
    assert not marker.exists()


def test_a_task_missing_at_run_time_fails_clearly_and_the_next_job_runs():
    from django.utils import timezone

    now = timezone.now()
    Job.objects.create(
        task_path="sales.tasks.no_such_task_anymore",
        queue="default",
        state=State.ENQUEUED,
        state_changed_at=now,
        created_at=now,
        enqueued_at=now,
    )
    tasks.add.enqueue(1, 2)
    missing, ok = run_all()
    assert missing.state == State.FAILED and "cannot be found" in missing.state_reason
    assert ok.state == State.SUCCEEDED


def test_requeue_and_delete_record_who_did_it(django_user_model):
    user = django_user_model.objects.create(username="ops")
    tasks.fail_once.enqueue("r")
    job = run_next()
    jobs.api.requeue(job.pk, by=user)
    job.refresh_from_db()
    assert job.state == State.ENQUEUED and job.state_reason == "Requeued by ops"
    jobs.api.delete(job.pk, by=user)
    job.refresh_from_db()
    assert job.state == State.DELETED and job.history.last().data == {"by": "ops"}
    with pytest.raises(jobs.api.JobNotFound):
        jobs.api.requeue(uuid.uuid4())
