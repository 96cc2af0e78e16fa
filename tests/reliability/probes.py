"""Probe tasks the drills need beyond tests/testapp's: jobs that behave differently on their first
attempt, so a drill can interrupt a long first run and still finish quickly on the rerun.

Like every task they write to the execution log (unique key) only when they complete, and to the
attempt log (duplicates allowed) when they start.
"""

import os
import signal
import time

from django.tasks import task

from jobs.retry import Retry
from tests.testapp.models import Attempt, Execution


def _started(context, key):
    Attempt.objects.create(key=key, job_id=context.job_id, attempt=context.attempt)


def _completed(context, key):
    Execution.objects.create(key=key, job_id=context.job_id, pid=os.getpid())


@task(takes_context=True)
def stubborn_first_attempt(context, key, seconds):
    """Ignores cancellation: its first attempt sleeps `seconds` (a job stuck in a C call)."""
    _started(context, key)
    if context.attempt == 1:
        time.sleep(seconds)
    _completed(context, key)


@task(takes_context=True, timeout=1)
def deaf_first_attempt(context, key, seconds):
    """Its first attempt blocks SIGALRM, so its own 1 s timeout cannot fire: only django-q2's
    guard can end it, by ending its worker."""
    _started(context, key)
    if context.attempt == 1:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(seconds)
    _completed(context, key)


@task(takes_context=True)
def cooperative_first_attempt(context, key, seconds):
    """Checks for cancellation while its first attempt runs for `seconds`."""
    _started(context, key)
    deadline = time.monotonic() + (seconds if context.attempt == 1 else 0)
    while time.monotonic() < deadline:
        context.raise_if_cancelled()
        time.sleep(0.05)
    _completed(context, key)


@task(takes_context=True, retry=Retry(attempts=3, delays=(1,)))
def record_slowly_quick_retry(context, key, seconds):
    """record_slowly with a one-second retry delay: a run that fails because the database cut its
    connection is retried like any failure, and the drill should not wait Hangfire's 15-44 s."""
    _started(context, key)
    time.sleep(seconds)
    _completed(context, key)


@task(takes_context=True)
def finish_at(context, key, at):
    """Runs until the wall-clock instant `at` (epoch seconds), then records: jobs given the same
    instant finish together, which is how the race drill makes their final transactions collide."""
    time.sleep(max(0.0, at - time.time()))
    _completed(context, key)


@task(takes_context=True)
def tick(context, key):
    """One attempt row per run of a recurring job (its occurrences share the key)."""
    _started(context, key)
