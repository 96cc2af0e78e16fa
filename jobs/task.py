"""What a task sees of the engine: the `JobTask` that `@task` builds for our backend, the context a
`takes_context=True` task receives, and the exceptions a run can end with.

Model-free on purpose: the backend, creation and the registry all need `JobTask`, and importing
it must not import the Job model (that made an import cycle through jobs.backend).
"""

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.tasks.base import Task, TaskContext, TaskResult
from django.tasks.exceptions import InvalidTask

from jobs.retry import Retry

logger = logging.getLogger("jobs.task")


class JobTimeout(BaseException):
    """The job ran past its timeout. A BaseException, so `except Exception` in a task cannot
    swallow it."""


class JobCancelled(BaseException):
    """Raised by `context.raise_if_cancelled()` when the job was deleted or its server stops."""


class ServerStoppedResponding(Exception):
    """Recorded on jobs the reaper gave up on."""


class WorkerKilled(Exception):
    """Recorded on a job whose worker process died under it MAX_WORKER_DEATHS times (a segfault,
    os._exit, the OOM killer): running it again would only kill another."""


def class_path(kind: type) -> str:
    return f"{kind.__module__}.{kind.__qualname__}"


@dataclass(frozen=True, slots=True, kw_only=True)
class JobTask(Task):
    """django.tasks' Task with what our backend adds: a retry policy, a timeout, filters, SLA
    rules, redacted argument names, flow control and a retention policy."""

    retry: Retry | None = None
    # Seconds a run may take before it is stopped and counted as failed.
    timeout: float | None = None
    filters: tuple = ()
    # Service levels checked by the servers (jobs.sla.SLA): wait, run time, failure rate.
    sla: object = None
    # Argument names shown as ••• in the console and logs (jobs/redaction.py).
    redact: tuple = ()
    # Flow control (jobs/flow.py): Unique, Concurrency, RateLimit.
    unique: object = None
    concurrency: object = None
    rate_limit: object = None
    # How long its finished jobs are kept (jobs.retention.Retention), over the settings.
    retention: object = None
    # Tags (jobs/search.py): templates rendered from the arguments at enqueue, e.g.
    # ("billing", "society:{society_id}"); shown as chips and searchable.
    tags: tuple = ()

    def __post_init__(self) -> None:
        if self.retry is not None and not isinstance(self.retry, Retry):
            raise InvalidTask("retry must be a jobs.retry.Retry.")
        if self.timeout is not None and (not isinstance(self.timeout, int | float) or self.timeout <= 0):
            raise InvalidTask("timeout must be a positive number of seconds.")
        if self.sla is not None:
            # Imported here: jobs.sla reads the models, and this module must stay model-free
            # (tasks are declared while apps load).
            from jobs.sla import SLA

            if not isinstance(self.sla, SLA):
                raise InvalidTask("sla must be a jobs.sla.SLA.")
        if self.retention is not None:
            from jobs.retention import Retention  # model-free, like this module

            if not isinstance(self.retention, Retention):
                raise InvalidTask(
                    f"retention must be a jobs.retention.Retention, not {type(self.retention).__name__}."
                )
        if self.run_after is not None and not isinstance(self.run_after, datetime):
            raise InvalidTask(f"run_after must be a datetime, not {type(self.run_after).__name__}.")
        object.__setattr__(self, "filters", tuple(self.filters or ()))
        if isinstance(self.redact, str) or not all(isinstance(key, str) and key for key in self.redact or ()):
            raise InvalidTask('redact must be a tuple of argument names, e.g. redact=("card_number",).')
        object.__setattr__(self, "redact", tuple(self.redact or ()))
        Task.__post_init__(self)
        # Keys that name no parameter are errors here, at declaration (jobs.flow is model-free).
        from jobs.flow import check_declaration

        check_declaration(self)
        from jobs.search import check_tags

        object.__setattr__(self, "tags", check_tags(self))

    def retry_policy_json(self) -> dict | None:
        return self.retry.to_json() if self.retry is not None else None


class JobContext(TaskContext):
    """What a task declared with `takes_context=True` receives as its first argument.

    A django.tasks TaskContext: `context.task_result` is the job's TaskResult (status RUNNING)
    and `context.attempt` its attempt number (1 on the first run), as Django defines them. On
    top: cancellation (`is_cancelled`, `raise_if_cancelled`) and progress, each with an async
    twin (`ais_cancelled`, ...) for `async def` tasks, where the ORM must not be called directly.
    """

    CHECK_EVERY = 0.5  # seconds between database checks of the cancellation flag

    job: Any
    job_id: str
    token: str
    _cancelled: bool
    _checked_at: float
    output: Any

    def __init__(self, *, task_result: TaskResult, job: Any, token: str) -> None:
        # TaskContext is a frozen dataclass: its one field is set as its own __init__ would, ours
        # straight into the instance's dict (one per job: this is on every job's path).
        object.__setattr__(self, "task_result", task_result)
        # output: the attempt's jobs.output.Capture while the task body runs (set by the runner).
        self.__dict__.update(
            job=job, job_id=task_result.id, token=token, _cancelled=False, _checked_at=0.0, output=None
        )

    def __setattr__(self, name: str, value: Any) -> None:
        # TaskContext's frozen __setattr__ refuses every attribute (and breaks on subclasses of
        # its slotted class): ours are the context's own state, set only here and in __init__.
        object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        return f"<JobContext job={self.job_id} attempt={self.attempt}>"

    def log(self, message: str) -> None:
        """A line of the job's output, shown per attempt on its console page (jobs/output.py).
        Never blocks an `async def` task: from another thread the line waits for the end."""
        if self.output is not None:
            self.output.line(str(message))
        else:  # outside the task body (a filter's hook): the worker's log is the only place
            logger.info("Job %s: %s", self.job_id, message)

    def is_cancelled(self) -> bool:
        if not self._cancelled and time.monotonic() - self._checked_at >= self.CHECK_EVERY:
            self._checked_at = time.monotonic()
            self._cancelled = type(self.job).objects.filter(pk=self.job.pk, cancel_requested=True).exists()
        return self._cancelled

    def raise_if_cancelled(self) -> None:
        if self.is_cancelled():
            raise JobCancelled(f"Job {self.job_id} was cancelled")

    def progress(self, percent: float, message: str = "") -> None:
        percent = max(0, min(100, int(percent)))
        type(self.job).objects.filter(pk=self.job.pk, fetch_token=self.token).update(
            progress=percent, progress_message=str(message)[:500]
        )
        if self.output is not None:  # a moment the task chose: let the console see its lines too
            self.output.maybe_flush()

    async def ais_cancelled(self) -> bool:
        return await sync_to_async(self.is_cancelled)()

    async def araise_if_cancelled(self) -> None:
        if await self.ais_cancelled():
            raise JobCancelled(f"Job {self.job_id} was cancelled")

    async def aprogress(self, percent: float, message: str = "") -> None:
        await sync_to_async(self.progress)(percent, message)
