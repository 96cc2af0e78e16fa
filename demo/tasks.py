"""Tasks to try the console with (README, "A short tour"): a job that fails, one that fails a few
times and then succeeds, and one that runs long, reports its progress and stops when cancelled.

    from demo.tasks import always_fails, fails_then_succeeds, runs_long
    always_fails.enqueue("mail server down")   # Failed after its retries; requeue it from the console
    fails_then_succeeds.enqueue(2)             # two failures in its history, then Succeeded
    runs_long.enqueue(120)                     # Processing with a progress bar; try Delete (cancel)
"""

import time

from django.tasks import task

from jobs.retry import Retry


class DemoFailure(Exception):
    """What the failing demo tasks raise: an error the console shows with its traceback."""


# Short delays, so the retries show within the minute rather than Hangfire's 15 s to hours.
QUICK_RETRIES = Retry(attempts=3, delays=(5, 10, 15))


@task(retry=QUICK_RETRIES)
def always_fails(message: str = "demo failure") -> None:
    """Fails on every attempt: retried three times, then Failed (requeue or delete it there)."""
    raise DemoFailure(message)


@task(takes_context=True, retry=QUICK_RETRIES)
def fails_then_succeeds(context, failures: int = 2) -> str:
    """Fails its first `failures` attempts (at most 3, the retries it has), then succeeds."""
    if context.attempt <= failures:
        raise DemoFailure(f"attempt {context.attempt} of {failures + 1} fails on purpose")
    return f"succeeded on attempt {context.attempt}"


@task(takes_context=True, queue_name="low-priority")
def runs_long(context, seconds: int = 120) -> str:
    """Works for `seconds`, reporting its progress once a second; checks for cancellation (the
    console's Delete on a Processing job) as it goes, and stops within a second of it."""
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < seconds:
        context.raise_if_cancelled()
        context.progress(100 * elapsed / seconds, f"{int(elapsed)} of {seconds} s")
        time.sleep(min(1.0, seconds - elapsed))
    return f"ran {seconds} s"
