"""Our backend held to the points Django's own backend tests make (django/tests/tasks:
test_immediate_backend.py, test_signals.py): signals, their log lines on `django.tasks`, the
TaskContext of a takes_context task, results, and `async def` tasks — in process, and on a
real `qcluster` for the async ones (timeouts and cancellation)."""

import asyncio
import logging
import time
from datetime import timedelta

import pytest
from django.tasks import TaskResultStatus, task_backends
from django.tasks.signals import task_enqueued, task_finished, task_started
from django.utils import timezone

from jobs import api, maintenance
from jobs.backend import JobBackend
from jobs.models import Job, State
from tests.jobs.helpers import run_next
from tests.testapp import tasks
from tests.testapp.models import Attempt, Execution

pytestmark = pytest.mark.django_db


@pytest.fixture
def no_loop_marked_running():
    """A worker process never has an event loop running in its thread, but this test process may:
    Playwright's sync API (tests/browser) marks one as running in the main thread for the rest of
    the session, and asgiref's async_to_sync refuses to start there. These in-process checks then
    cannot run; the same tasks run on a real qcluster below."""
    if asyncio._get_running_loop() is not None:
        pytest.skip("Playwright's sync API left an event loop marked running in this test process")


@pytest.fixture
def signals():
    """Every django.tasks signal sent, as (name, sender, status, id)."""
    sent = []

    def receiver(name):
        def receive(sender, task_result, **kwargs):
            sent.append((name, sender, task_result.status, task_result.id, task_result))

        return receive

    receivers = {
        signal: receiver(name)
        for signal, name in (
            (task_enqueued, "enqueued"),
            (task_started, "started"),
            (task_finished, "finished"),
        )
    }
    for signal, function in receivers.items():
        signal.connect(function)
    yield sent
    for signal, function in receivers.items():
        signal.disconnect(function)


def test_the_backend_declares_what_it_supports():
    backend = task_backends["default"]
    assert isinstance(backend, JobBackend)
    assert backend.supports_defer and backend.supports_priority and backend.supports_get_result
    assert backend.supports_async_task
    backend.validate_task(tasks.async_add)  # an `async def` task is accepted, no InvalidTask


def test_enqueue_sends_task_enqueued_with_the_ready_result(signals):
    result = tasks.add.enqueue(1, 2)
    assert [(name, sender, status, rid) for name, sender, status, rid, _ in signals] == [
        ("enqueued", JobBackend, TaskResultStatus.READY, result.id)
    ]
    assert signals[0][4].args == [1, 2] and signals[0][4].task == tasks.add


def test_a_run_sends_started_then_finished_with_the_result(signals):
    result = tasks.add.enqueue(2, 3)
    run_next()
    assert [(name, status, rid) for name, _, status, rid, _ in signals] == [
        ("enqueued", TaskResultStatus.READY, result.id),
        ("started", TaskResultStatus.RUNNING, result.id),
        ("finished", TaskResultStatus.SUCCESSFUL, result.id),
    ]
    finished = signals[-1][4]
    assert finished.return_value == 5 and finished.finished_at is not None and finished.attempts == 1
    result.refresh()
    assert (result.status, result.return_value) == (TaskResultStatus.SUCCESSFUL, 5)


def test_a_failed_run_sends_finished_failed_with_its_error(signals):
    result = tasks.fail_once.enqueue("contract", "broken")
    run_next()
    name, _, status, rid, finished = signals[-1]
    assert (name, status, rid) == ("finished", TaskResultStatus.FAILED, result.id)
    assert finished.errors[0].exception_class is RuntimeError
    assert "broken" in finished.errors[0].traceback
    result.refresh()
    assert result.status == TaskResultStatus.FAILED and result.errors[0].exception_class is RuntimeError


def test_the_lifecycle_is_logged_on_django_tasks_with_the_id(caplog):
    caplog.set_level(logging.DEBUG, logger="django.tasks")
    ok = tasks.add.enqueue(1, 1)
    run_next()
    bad = tasks.fail_once.enqueue("contract-log")
    run_next()
    lines = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "django.tasks"]
    assert (logging.DEBUG, f"Task id={ok.id} path={tasks.add.module_path} enqueued backend=default") in lines
    assert (logging.INFO, f"Task id={ok.id} path={tasks.add.module_path} state=RUNNING") in lines
    assert (logging.INFO, f"Task id={ok.id} path={tasks.add.module_path} state=SUCCESSFUL") in lines
    failure = [r for r in caplog.records if r.name == "django.tasks" and r.levelno == logging.ERROR]
    assert [r.getMessage() for r in failure] == [
        f"Task id={bad.id} path={tasks.fail_once.module_path} state=FAILED"
    ]
    assert failure[0].exc_info and failure[0].exc_info[0] is RuntimeError
    # Each state change of ours, with the id.
    assert any(
        level == logging.DEBUG and f"id={ok.id}" in text and "processing -> succeeded" in text
        for level, text in lines
    )


def test_a_takes_context_task_gets_a_django_task_context():
    result = tasks.describe_context.enqueue()
    job = run_next()
    assert job.state == State.SUCCEEDED
    assert job.result == {
        "is_task_context": True,
        "result_id": result.id,
        "status": "RUNNING",
        "path": tasks.describe_context.module_path,
        "attempt": 1,
    }


def test_context_attempt_counts_runs_as_django_defines_it():
    tasks.fail_times.enqueue("contract-attempts", 1)
    run_next()
    maintenance.promote_due_jobs(timezone.now() + timedelta(seconds=5))
    run_next()
    assert list(Attempt.objects.filter(key="contract-attempts").values_list("attempt", flat=True)) == [1, 2]


def test_an_async_task_runs_in_process(no_loop_marked_running):
    result = tasks.async_add.enqueue(20, 22)
    assert run_next().state == State.SUCCEEDED
    result.refresh()
    assert result.return_value == 42


def test_an_async_task_gets_the_context_and_its_async_helpers(no_loop_marked_running):
    tasks.async_record.enqueue("async-in-process")
    job = run_next()
    assert (job.state, job.result) == (State.SUCCEEDED, {"key": "async-in-process", "attempt": 1})
    assert Execution.objects.filter(key="async-in-process").exists()
    assert job.progress == 100  # reported (in the worker's own connection), then completed


def test_an_async_task_past_its_timeout_fails_like_a_sync_one(no_loop_marked_running):
    tasks.async_sleep_past_timeout.enqueue(10)
    started = time.monotonic()
    job = run_next()
    assert time.monotonic() - started < 5
    assert (job.state, job.exception_class) == (State.FAILED, "jobs.task.JobTimeout")
    assert "timeout of 1 s" in job.state_reason


@pytest.mark.django_db(transaction=True)
def test_async_tasks_on_a_real_server_run_time_out_and_are_cancelled(cluster_factory):
    server = cluster_factory(workers=2)
    ran = tasks.async_record.enqueue("async-on-server")
    timed_out = tasks.async_sleep_past_timeout.enqueue(30)
    cancelled = tasks.async_wait_for_cancel.enqueue("async-cancel", 60)
    server.wait_for(lambda: Attempt.objects.filter(key="async-cancel").exists(), 30, "the async job to start")
    api.delete(cancelled.id)
    done = (State.SUCCEEDED, State.FAILED, State.DELETED)
    server.wait_for(
        lambda: Job.objects.filter(state__in=done).count() == 3, 30, "the three async jobs to end"
    )
    assert Job.objects.get(pk=ran.id).state == State.SUCCEEDED
    assert Execution.objects.get(key="async-on-server").pid != 0
    failed = Job.objects.get(pk=timed_out.id)
    assert (failed.state, failed.exception_class) == (State.FAILED, "jobs.task.JobTimeout")
    deleted = Job.objects.get(pk=cancelled.id)
    assert deleted.state == State.DELETED
    assert not Execution.objects.filter(key="async-cancel").exists()  # stopped, not run to its end
