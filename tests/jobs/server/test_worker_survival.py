"""Nothing a task does, and no error outside its body, leaves a job Processing or costs a worker
for nothing: SystemExit and exit() are the task's failure, a module that raises at import fails
the attempt, a worker killed under a job is counted until the job fails, and a return value that
is not JSON is a TypeError (Django's contract)."""

import sys

import pytest
from django.test import Client
from django.urls import reverse

from jobs.maintenance import promote_due_jobs
from jobs.models import Job, JobState, State
from tests.console import factories
from tests.jobs.helpers import run_next
from tests.testapp import import_boom, tasks
from tests.testapp.models import Attempt, Execution

BOOM = "tests.testapp.import_boom"


def _history(job):
    return list(JobState.objects.filter(job=job).order_by("created_at", "id").values_list("name", flat=True))


# --- In the test process: perform() itself ------------------------------------------------------


@pytest.mark.django_db
def test_a_module_raising_at_import_fails_the_attempt_and_is_retried_by_policy(monkeypatch):
    result = import_boom.boom_on_import.enqueue()
    monkeypatch.setenv("DHANMAN_TEST_IMPORT_BOOM", "1")
    monkeypatch.delitem(sys.modules, BOOM)  # as in a worker that has not imported it yet
    job = run_next()
    assert job.state == State.SCHEDULED and job.worker_pid is None and job.fetch_token is None
    assert job.state_reason == f"Retry attempt 1 of 1: RuntimeError: {BOOM} cannot be imported here"
    assert job.exception_class == "builtins.RuntimeError" and "import_boom.py" in job.exception_traceback
    promote_due_jobs()
    job = run_next()
    assert str(job.pk) == result.id and job.state == State.FAILED and job.attempt == 2


@pytest.mark.django_db
def test_an_error_outside_the_task_body_ends_the_attempt_instead_of_leaving_it_processing():
    tasks.with_unbuildable_filter.enqueue()
    job = run_next()
    assert job.state == State.FAILED and job.fetch_token is None and job.worker_pid is None
    assert job.state_reason == "RuntimeError: this filter cannot be built"
    assert "filters_for" in job.exception_traceback


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("task", "message"),
    [
        (tasks.return_a_set, "returned a set, which is not JSON"),
        (tasks.return_an_object, "returned a object"),
    ],
)
def test_a_return_value_that_is_not_json_fails_the_job_with_a_type_error(task, message):
    result = task.enqueue()
    job = run_next()
    assert job.state == State.FAILED and job.result is None
    assert job.exception_class == "builtins.TypeError" and message in job.exception_message
    result.refresh()
    assert result.status == "FAILED"


@pytest.mark.django_db
def test_a_tuple_is_returned_as_the_json_list_it_becomes():
    tasks.add.enqueue([1], [2])
    assert run_next().result == [1, 2]


# --- Real servers -------------------------------------------------------------------------------


def _worker_pid_of(server, key):
    server.wait_for(lambda: Execution.objects.filter(key=key).exists(), 20)
    return Execution.objects.get(key=key).pid


@pytest.mark.django_db(transaction=True)
def test_system_exit_and_exit_fail_their_task_and_the_worker_carries_on(cluster_factory):
    server = cluster_factory(workers=1)
    tasks.record.enqueue("before")
    pid = _worker_pid_of(server, "before")
    raised = tasks.raise_system_exit.enqueue()
    exited = tasks.call_exit.enqueue("exit")
    server.wait_for(lambda: Job.objects.get(pk=raised.id).state == State.FAILED, 20)
    server.wait_for(lambda: Job.objects.get(pk=exited.id).state == State.FAILED, 20)
    job = Job.objects.get(pk=raised.id)
    assert job.exception_class == "builtins.SystemExit" and job.state_reason == "SystemExit: leaving"
    assert "raise SystemExit" in job.exception_traceback
    job = Job.objects.get(pk=exited.id)
    # exit(1) was retried by its policy (one retry), at once, with no lease to wait out.
    assert job.attempt == 2 and job.exception_class == "builtins.SystemExit"
    assert _history(job) == ["enqueued", "processing", "scheduled", "enqueued", "processing", "failed"]
    assert Attempt.objects.filter(key="exit").count() == 2
    # The same worker process ran everything: none died.
    tasks.record.enqueue("after")
    assert _worker_pid_of(server, "after") == pid
    # And the server's heartbeat says so (it is written every HEARTBEAT_INTERVAL: wait for one;
    # a replaced worker would show another pid, never this one).
    server.wait_for(lambda: server.server().worker_pids == [pid], 20)


@pytest.mark.django_db(transaction=True)
def test_a_module_raising_at_import_in_the_worker_only_never_leaves_its_job_processing(cluster_factory):
    result = import_boom.boom_on_import.enqueue()  # imports here: the test process has no env var
    server = cluster_factory(workers=1, env={"DHANMAN_TEST_IMPORT_BOOM": "1"})
    server.wait_for(lambda: Job.objects.get(pk=result.id).state == State.FAILED, 20)
    job = Job.objects.get(pk=result.id)
    assert job.attempt == 2 and job.exception_class == "builtins.RuntimeError"
    assert "import_boom.py" in job.exception_traceback
    assert _history(job) == ["enqueued", "processing", "scheduled", "enqueued", "processing", "failed"]


@pytest.mark.django_db(transaction=True)
def test_a_job_that_kills_its_worker_three_times_fails_as_such(cluster_factory):
    server = cluster_factory(workers=1)
    result = tasks.exit_process.enqueue("killer")
    server.wait_for(lambda: Job.objects.get(pk=result.id).state == State.FAILED, 60)
    job = Job.objects.get(pk=result.id)
    assert job.worker_deaths == 3 and job.attempt == 3
    assert job.state_reason.lower().startswith("killed its worker 3 times")
    assert job.exception_class == "jobs.task.WorkerKilled"
    assert Attempt.objects.filter(key="killer").count() == 3
    reasons = list(job.history.filter(name=State.ENQUEUED).values_list("reason", flat=True))
    assert any("died while running it (worker death 2; the job fails at 3)" in r for r in reasons)
    # The server lives on, with a new worker.
    tasks.record.enqueue("after")
    server.wait_for(lambda: Execution.objects.filter(key="after").exists(), 20)
    client = Client()
    client.force_login(factories.make_user("viewer"))
    page = client.get(reverse("jobs_console:job_detail", args=[job.pk])).content.decode()
    assert "Killed its worker 3 times" in page and "Workers killed" in page
