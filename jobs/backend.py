"""The django.tasks backend: `TASKS["default"]["BACKEND"] = "jobs.backend.JobBackend"`.

Domain code enqueues with Django's own API (`@task`, `.enqueue()`, `.using(run_after=…)`); this
backend makes each call a durable Job row in the caller's transaction. `JobTask` (jobs/task.py)
carries the options Django's Task lacks: a retry policy, a timeout and filters.
"""

import uuid
from typing import Any

from django.tasks import TaskResult, TaskResultStatus
from django.tasks.backends.base import BaseTaskBackend
from django.tasks.base import Task, TaskError
from django.tasks.exceptions import TaskResultDoesNotExist
from django.tasks.signals import task_enqueued

from jobs.creation import insert_jobs, new_job
from jobs.models import Job, State
from jobs.registry import UnknownTask, resolve_task
from jobs.task import JobTask

STATUS: dict[str, TaskResultStatus] = {
    State.SCHEDULED: TaskResultStatus.READY,
    State.ENQUEUED: TaskResultStatus.READY,
    State.AWAITING: TaskResultStatus.READY,
    State.PROCESSING: TaskResultStatus.RUNNING,
    State.SUCCEEDED: TaskResultStatus.SUCCESSFUL,
    State.FAILED: TaskResultStatus.FAILED,
    State.DELETED: TaskResultStatus.FAILED,
}


class JobBackend(BaseTaskBackend):
    task_class = JobTask
    supports_defer = True
    supports_priority = True
    supports_get_result = True
    # `async def` tasks run on the worker's event loop (jobs/server/runner.py).
    supports_async_task = True

    def enqueue(self, task: Task, args: list[Any], kwargs: dict[str, Any]) -> TaskResult:
        job = new_job(task, args, kwargs)
        insert_jobs([job])
        result = result_for(job, task)
        # As Django's own backends do; its receiver logs "Task id=… enqueued" at DEBUG.
        task_enqueued.send(type(self), task_result=result)
        return result

    def get_result(self, result_id: str) -> TaskResult:
        try:
            job = Job.objects.get(pk=uuid.UUID(str(result_id)))
        except (Job.DoesNotExist, ValueError, TypeError) as exc:
            raise TaskResultDoesNotExist(result_id) from exc
        return result_for(job)


def result_for(job: Job, task: Task | None = None) -> TaskResult:
    """A django.tasks TaskResult view of a Job row."""
    if task is None:
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
