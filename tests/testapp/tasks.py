"""Probe tasks for the engine's tests. Each leaves a trace in the database."""

import asyncio
import logging
import os
import time

from django.db import transaction
from django.tasks import TaskContext, task
from django.utils import timezone

from jobs.filters import JobFilter
from jobs.flow import Concurrency, RateLimit, Snooze, Unique
from jobs.retention import Retention
from jobs.retry import Retry
from jobs.sla import SLA
from tests.testapp.models import Attempt, Execution


@task
def noop():
    return None


@task
def add(a, b):
    return a + b


@task(takes_context=True)
def record(context, key):
    Execution.objects.create(key=key, job_id=context.job_id, pid=os.getpid())
    return key


@task(queue_name="critical", takes_context=True)
def record_critical(context, key):
    Execution.objects.create(key=key, job_id=context.job_id, pid=os.getpid())


@task(queue_name="low-priority", takes_context=True)
def record_low(context, key):
    Execution.objects.create(key=key, job_id=context.job_id, pid=os.getpid())


@task(takes_context=True)
def record_slowly(context, key, seconds):
    Attempt.objects.create(key=key, job_id=context.job_id, attempt=context.attempt)
    time.sleep(seconds)
    Execution.objects.create(key=key, job_id=context.job_id, pid=os.getpid())


@task(takes_context=True, retry=Retry(attempts=3, delays=(0, 0, 0)))
def fail_times(context, key, failures):
    Attempt.objects.create(key=key, job_id=context.job_id, attempt=context.attempt)
    if Attempt.objects.filter(key=key).count() <= failures:
        raise RuntimeError(f"planned failure {context.attempt}")
    Execution.objects.create(key=key, job_id=context.job_id, pid=os.getpid())


@task(retry=Retry(attempts=2, delays=(0, 0), on_exhausted="delete"), takes_context=True)
def always_fail_then_delete(context, key):
    Attempt.objects.create(key=key, job_id=context.job_id, attempt=context.attempt)
    raise ValueError("always fails")


@task(retry=Retry(attempts=0), takes_context=True)
def fail_once(context, key, message="boom"):
    Attempt.objects.create(key=key, job_id=context.job_id, attempt=context.attempt)
    raise RuntimeError(message)


@task(retry=Retry(attempts=0), timeout=1)
def sleep_past_timeout(seconds):
    time.sleep(seconds)


@task(takes_context=True, retry=Retry(attempts=0))
def wait_for_cancel(context, key, seconds):
    Attempt.objects.create(key=key, job_id=context.job_id, attempt=context.attempt)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        context.raise_if_cancelled()
        time.sleep(0.05)
    Execution.objects.create(key=key, job_id=context.job_id, pid=os.getpid())


@task(takes_context=True)
def report_progress(context):
    for percent in (25, 50, 75):
        context.progress(percent, f"{percent}% done")
    return "done"


class Recorder(JobFilter):
    """A filter that writes each hook it sees as an Attempt row (key = hook name)."""

    def on_performing(self, context):
        Attempt.objects.create(key=f"filter:performing:{context.job_id}", job_id=context.job_id)

    def on_performed(self, context, exception, duration):
        outcome = "ok" if exception is None else type(exception).__name__
        Attempt.objects.create(key=f"filter:performed:{outcome}:{context.job_id}", job_id=context.job_id)


@task(filters=[Recorder], retry=Retry(attempts=0))
def filtered(fail=False):
    if fail:
        raise KeyError("filtered failure")
    return timezone.now().isoformat()


# The console's browser tests: a job that lands in Failed (no automatic retry) on its first run
# and succeeds when someone retries it from the Retries page.
@task(takes_context=True, retry=Retry(attempts=0))
def fail_first_run(context, key):
    Attempt.objects.create(key=key, job_id=context.job_id, attempt=context.attempt)
    if Attempt.objects.filter(key=key).count() == 1:
        raise RuntimeError(f"first run of {key} fails")
    Execution.objects.create(key=key, job_id=context.job_id, pid=os.getpid())
    return key


# What a task can do to its worker (tests/jobs/server/test_worker_survival.py).
@task(retry=Retry(attempts=0))
def raise_system_exit():
    raise SystemExit("leaving")


@task(retry=Retry(attempts=1, delays=(0,)), takes_context=True)
def call_exit(context, key):
    Attempt.objects.create(key=key, job_id=context.job_id, attempt=context.attempt)
    exit(1)


@task(takes_context=True)
def exit_process(context, key):
    """Dies like a segfault or the OOM killer would: no exception, no outcome, no clean-up."""
    Attempt.objects.create(key=key, job_id=context.job_id, attempt=context.attempt)
    os._exit(1)


@task(retry=Retry(attempts=0))
def return_a_set():
    return {1, 2, 3}


@task(retry=Retry(attempts=0))
def return_an_object():
    return object()


class UnbuildableFilter(JobFilter):
    """A filter whose construction fails: an error outside the task body, before it runs."""

    def __init__(self):
        raise RuntimeError("this filter cannot be built")


@task(filters=[UnbuildableFilter], retry=Retry(attempts=0))
def with_unbuildable_filter():
    return "never runs"


@task(redact=("card_number", "otp"), retry=Retry(attempts=0))
def charge_card(card_number, amount, *, otp="", profile=None):
    """Logs its secret and fails with it in the message: what redaction must catch."""
    import logging

    logging.getLogger("tests.charge").warning("charging card %s for %s", card_number, amount)
    raise RuntimeError(f"gateway refused card {card_number}")


# SLA rules (jobs.sla): a short window so a breach opens and resolves within seconds.


@task(sla=SLA(max_duration=1, window=3), retry=Retry(attempts=0))
def slow_for_sla(seconds):
    time.sleep(seconds)


@task(sla=SLA(max_failure_rate=0.5, window=3600, min_runs=2), retry=Retry(attempts=0))
def flaky_for_sla(fail):
    if fail:
        raise RuntimeError("planned failure")


@task(sla=SLA(max_wait=30, window=600))
def waits_for_sla():
    return None


# --- django.tasks' contract and `async def` tasks ------------------------------------------------


@task(takes_context=True)
def describe_context(context):
    """What Django's TaskContext promises, as the task sees it."""
    return {
        "is_task_context": isinstance(context, TaskContext),
        "result_id": context.task_result.id,
        "status": context.task_result.status,
        "path": context.task_result.task.module_path,
        "attempt": context.attempt,
    }


@task
async def async_add(a, b):
    await asyncio.sleep(0)
    return a + b


@task(takes_context=True)
async def async_record(context, key):
    await Execution.objects.acreate(key=key, job_id=context.job_id, pid=os.getpid())
    await context.aprogress(50, "half way")
    return {"key": key, "attempt": context.attempt}


@task(retry=Retry(attempts=0), timeout=1)
async def async_sleep_past_timeout(seconds):
    await asyncio.sleep(seconds)


@task(takes_context=True, retry=Retry(attempts=0))
async def async_wait_for_cancel(context, key, seconds):
    """Sleeps without checking its flag: only the runner's watcher can stop it."""
    await Attempt.objects.acreate(key=key, job_id=context.job_id, attempt=context.attempt)
    await asyncio.sleep(seconds)
    await Execution.objects.acreate(key=key, job_id=context.job_id, pid=os.getpid())


# Job output (tests/jobs/test_output.py): context.log lines and the task's own logging records.
task_logger = logging.getLogger("tests.testapp.tasks")


@task(takes_context=True, retry=Retry(attempts=1, delays=(0,)))
def chatty(context, lines=10, fail_first=False, in_transaction=False, pause=0.0):
    for number in range(1, lines + 1):
        if number % 2:
            context.log(f"line {number} of {lines}")
        else:
            task_logger.info("record %d of %d", number, lines)
        if pause:
            time.sleep(pause)
            context.progress(number * 100 // lines, f"{number} of {lines}")
    if in_transaction:
        with transaction.atomic():
            task_logger.warning("inside the task's transaction")
            raise RuntimeError("rolled back")
    if fail_first and context.attempt == 1:
        raise RuntimeError("first attempt fails")
    return lines


# Flow control (tests/jobs/test_flow*.py). A run leaves an Attempt when it starts (its `at`) and
# an Execution keyed by its job id when it ends, so tests can compare run intervals.
@task(unique=Unique(keys=("key",)))
def unique_noop(key, note=""):
    return key


@task(unique=Unique(keys=("key",), period=3600))
def unique_hourly(key):
    return key


@task(takes_context=True, concurrency=Concurrency(key="group:{group}", limit=1))
def mutex_run(context, group, seconds):
    Attempt.objects.create(key=f"{group}", job_id=context.job_id, attempt=context.attempt)
    time.sleep(seconds)
    Execution.objects.create(key=context.job_id, job_id=context.job_id, pid=os.getpid())


@task(takes_context=True, concurrency=Concurrency(key="pair:{group}", limit=2))
def pair_run(context, group, seconds):
    Attempt.objects.create(key=f"{group}", job_id=context.job_id, attempt=context.attempt)
    time.sleep(seconds)
    Execution.objects.create(key=context.job_id, job_id=context.job_id, pid=os.getpid())


@task(takes_context=True, rate_limit=RateLimit(key="gateway", limit=10, per=1.0))
def rate_limited(context, n):
    Attempt.objects.create(key="rate", job_id=context.job_id, attempt=context.attempt)


@task(takes_context=True)
def snooze_twice(context, key):
    Attempt.objects.create(key=key, job_id=context.job_id, attempt=context.attempt)
    if Attempt.objects.filter(key=key).count() <= 2:
        raise Snooze(0)
    return context.attempt


@task
def snooze_forever():
    raise Snooze(0)


@task(takes_context=True, retry=Retry(attempts=0), retention=Retention(succeeded=3600, failed=30 * 86400))
def kept_an_hour(context, key, fail=False):
    """A task with its own retention: Succeeded 1 h, Failed 30 days, Deleted from the settings."""
    context.log(f"ran {key}")
    if fail:
        raise RuntimeError(f"failed {key}")
    return key


# Tags (jobs/search.py): one fixed, one rendered from an argument at enqueue.
@task(tags=("billing", "society:{society_id}"), retry=Retry(attempts=0))
def bill_society(society_id, invoice_id, note=""):
    return {"society": society_id, "invoice": invoice_id}


@task(takes_context=True)
def count_attempt(context, key):
    """Records each run (not unique: a job that runs twice leaves two rows)."""
    Attempt.objects.create(key=key, job_id=context.job_id, attempt=context.attempt)
