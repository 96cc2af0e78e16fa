"""The django.tasks backend: `TASKS["default"]["BACKEND"] = "jobs.backend.JobBackend"`.

Domain code enqueues with Django's own API (`@task`, `.enqueue()`, `.using(run_after=…)`); this
backend makes each call a durable Job row in the caller's transaction. `JobTask` carries the
options Django's Task lacks: a retry policy, a timeout, filters and redacted argument names.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.tasks import TaskResult, TaskResultStatus
from django.tasks.backends.base import BaseTaskBackend
from django.tasks.base import Task, TaskError
from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist

from jobs.models import Job, State
from jobs.retry import Retry

STATUS = {
    State.SCHEDULED: TaskResultStatus.READY,
    State.ENQUEUED: TaskResultStatus.READY,
    State.AWAITING: TaskResultStatus.READY,
    State.PROCESSING: TaskResultStatus.RUNNING,
    State.SUCCEEDED: TaskResultStatus.SUCCESSFUL,
    State.FAILED: TaskResultStatus.FAILED,
    State.DELETED: TaskResultStatus.FAILED,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class JobTask(Task):
    retry: Retry | None = None
    # Seconds a run may take before it is stopped and counted as failed.
    timeout: float | None = None
    filters: tuple = ()
    # Argument names shown as ••• in the console and logs (jobs/redaction.py).
    redact: tuple = ()
    # Service levels checked by the servers (jobs.sla.SLA): wait, run time, failure rate.
    sla: object = None

    def __post_init__(self) -> None:
        if self.retry is not None and not isinstance(self.retry, Retry):
            raise InvalidTask("retry must be a jobs.retry.Retry.")
        if self.timeout is not None and (not isinstance(self.timeout, int | float) or self.timeout <= 0):
            raise InvalidTask("timeout must be a positive number of seconds.")
        if self.sla is not None:
            from jobs.sla import SLA

            if not isinstance(self.sla, SLA):
                raise InvalidTask("sla must be a jobs.sla.SLA.")
        if self.run_after is not None and not isinstance(self.run_after, datetime):
            raise InvalidTask(f"run_after must be a datetime, not {type(self.run_after).__name__}.")
        object.__setattr__(self, "filters", tuple(self.filters or ()))
        if isinstance(self.redact, str) or not all(isinstance(key, str) and key for key in self.redact or ()):
            raise InvalidTask("redact must be a tuple of argument names, e.g. redact=(\"card_number\",).")
        object.__setattr__(self, "redact", tuple(self.redact or ()))
        Task.__post_init__(self)

    def retry_policy_json(self) -> dict[str, Any] | None:
        return self.retry.to_json() if self.retry is not None else None


class JobBackend(BaseTaskBackend):
    task_class = JobTask
    supports_defer = True
    supports_priority = True
    supports_get_result = True
    supports_async_task = False

    def enqueue(self, task: Task, args: list[Any], kwargs: dict[str, Any]) -> TaskResult:
        from jobs.creation import insert_jobs, new_job

        job = new_job(task, args, kwargs)
        insert_jobs([job])
        return result_for(job, task)

    def get_result(self, result_id: str) -> TaskResult:
        try:
            job = Job.objects.get(pk=uuid.UUID(str(result_id)))
        except (Job.DoesNotExist, ValueError, TypeError) as exc:
            raise TaskResultDoesNotExist(result_id) from exc
        return result_for(job)


def result_for(job: Job, task: Task | None = None) -> TaskResult:
    """A django.tasks TaskResult view of a Job row."""
    if task is None:
        from jobs.registry import UnknownTask, resolve_task

        try:
            task = resolve_task(job.task_path)
        except UnknownTask as exc:
            raise TaskResultDoesNotExist(f"Job {job.pk} names no registered task: {exc}") from exc
    errors: list[TaskError] = []
    if job.exception_class:
        errors.append(TaskError(exception_class_path=job.exception_class, traceback=job.exception_traceback))
    server = job.server_id or ""
    result: TaskResult = TaskResult(
        task=task,
        id=str(job.pk),
        status=STATUS[State(job.state)],
        enqueued_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        last_attempted_at=job.started_at,
        args=list(job.args),
        kwargs=dict(job.kwargs),
        backend=task.backend,
        errors=errors,
        worker_ids=[server] * job.attempt,
    )
    object.__setattr__(result, "_return_value", job.result)
    return result
