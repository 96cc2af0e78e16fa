"""Job filters: code that runs around every job, like Hangfire's IServerFilter/IElectStateFilter.

The global pipeline comes from `DHANMAN_JOBS["FILTERS"]` (dotted paths); a task adds its own
with `@task(filters=[...])`. A filter that raises is logged and never breaks the job.
"""

import logging
import time
from functools import cache

from django.utils.module_loading import import_string

from jobs.conf import jobs_settings

logger = logging.getLogger("jobs.filters")


class JobFilter:
    """Override the hooks you need. `job` is the Job row; `context` the running JobContext."""

    def on_enqueued(self, job) -> None: ...

    def on_performing(self, context) -> None: ...

    def on_performed(self, context, exception: BaseException | None, duration: float) -> None: ...

    def on_state_changed(self, job, old_state: str, new_state: str, reason: str) -> None: ...


class JobLogger(JobFilter):
    """Logs each run: task, job id, queue, attempt, then duration and outcome."""

    log = logging.getLogger("jobs.runner")

    def on_performing(self, context):
        job = context.job
        self.log.info(
            "Starting job %s id=%s queue=%s attempt=%s", job.task_path, job.id, job.queue, job.attempt
        )

    def on_performed(self, context, exception, duration):
        job = context.job
        from jobs.flow import Snooze

        if exception is None:
            self.log.info("Job succeeded %s id=%s duration=%.3fs", job.task_path, job.id, duration)
        elif isinstance(exception, Snooze):
            self.log.info(
                "Job snoozed %s id=%s duration=%.3fs: %s", job.task_path, job.id, duration, exception
            )
        else:
            self.log.warning(
                "Job failed %s id=%s attempt=%s duration=%.3fs: %s: %s",
                job.task_path,
                job.id,
                job.attempt,
                duration,
                type(exception).__name__,
                exception,
            )


@cache
def global_filters() -> tuple[JobFilter, ...]:
    return tuple(import_string(path)() for path in jobs_settings.FILTERS)


def filters_for(task=None) -> tuple[JobFilter, ...]:
    own = tuple(getattr(task, "filters", ()) or ()) if task is not None else ()
    return global_filters() + tuple(f() if isinstance(f, type) else f for f in own)


def run_hook(filters, hook: str, *args) -> None:
    for job_filter in filters:
        try:
            getattr(job_filter, hook)(*args)
        except Exception:
            logger.exception("Job filter %s.%s failed", type(job_filter).__name__, hook)


class Stopwatch:
    def __init__(self):
        self.started = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started
