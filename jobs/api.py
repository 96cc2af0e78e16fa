"""What django.tasks lacks: continuations, batches, bulk and delayed helpers, and the operations
the console performs (requeue, delete, cancel). Every change of state goes through
jobs/states.py (batches: jobs/batches.py), in a transaction that holds the job's row.
"""

import contextlib
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Avg, F
from django.tasks import Task, TaskResult
from django.utils import timezone

from jobs import batches, continuations
from jobs.backend import result_for
from jobs.creation import existing_job, initial_reason, insert_calls, insert_jobs, new_job, validate_delay
from jobs.models import Batch, BatchState, CancelReason, ContinuationOn, Job, Server, ServerStatus, State
from jobs.queues import pause_queue, queues, resume_queue  # noqa: F401 (part of this API)
from jobs.states import apply_state, request_cancel
from jobs.wakeup import notify_servers

JOB_CONTINUATION_ON = (ContinuationOn.SUCCEEDED, ContinuationOn.ANY_FINISHED, ContinuationOn.DELETED)
BATCH_CONTINUATION_ON = (ContinuationOn.SUCCEEDED, ContinuationOn.COMPLETED)


# A job as callers hold it: the row, the TaskResult that enqueue returned, or its id.
JobRef = Job | TaskResult | uuid.UUID | str
# Who acted, for the history: a user (the console's request.user) or a name.
Actor = AbstractBaseUser | str | None
# One call of a task: positional and keyword arguments.
Call = tuple[Sequence[Any], Mapping[str, Any]]


class JobNotFound(LookupError):
    pass


class InvalidOperation(ValueError):
    pass


def _job_id(job_or_id: JobRef) -> uuid.UUID:
    raw = job_or_id.id if isinstance(job_or_id, TaskResult | Job) else job_or_id
    try:
        return raw if isinstance(raw, uuid.UUID) else uuid.UUID(str(raw))
    except (ValueError, TypeError, AttributeError):
        raise JobNotFound(f"{raw!r} is not a job id.") from None


def _locked_job(job_or_id: JobRef) -> Job:
    job = Job.objects.select_for_update().filter(pk=_job_id(job_or_id)).first()
    if job is None:
        raise JobNotFound(f"There is no job {job_or_id!s}.")
    return job


def _who(by: Actor) -> str:
    if by is None:
        return ""
    return getattr(by, "get_username", lambda: str(by))()


# --- Creating jobs ------------------------------------------------------------------------------


class Enqueued(list[uuid.UUID]):
    """enqueue_many's answer: the job id of each call, in order. For a unique task, a call whose
    key was live already gets the existing job's id, and `duplicates` maps its index in `calls`
    to that id (nothing was written for it)."""

    def __init__(self, ids: Iterable[uuid.UUID], duplicates: Mapping[int, uuid.UUID] | None = None):
        super().__init__(ids)
        self.duplicates: dict[int, uuid.UUID] = dict(duplicates or {})


def enqueue_many(task: Task, calls: Iterable[Call]) -> Enqueued:
    """Enqueue one job per (args, kwargs) pair, in one bulk insert. Returns the job ids."""
    now = timezone.now()
    calls = list(calls)
    ids = insert_calls(task, calls, now=now)
    if ids is not None:
        return Enqueued(ids)
    jobs = [new_job(task, args, kwargs, now=now) for args, kwargs in calls]
    insert_jobs(jobs)
    duplicates = {
        index: existing_job(job).id for index, job in enumerate(jobs) if job.duplicate_of is not None
    }
    return Enqueued([duplicates.get(index, job.id) for index, job in enumerate(jobs)], duplicates)


def enqueue_in(task: Task, delay: timedelta | float, *args: Any, **kwargs: Any) -> TaskResult:
    """Enqueue `task` to run after `delay` (a timedelta or seconds; never negative)."""
    delay = validate_delay(delay)
    return task.using(run_after=timezone.now() + delay).enqueue(*args, **kwargs)


def _validate_on(on: str, allowed: Iterable[str]) -> str:
    if on not in allowed:
        raise ValueError(f"on must be one of {', '.join(repr(str(a)) for a in allowed)}, not {on!r}.")
    return on


def continue_with(
    parent: JobRef, task: Task, *args: Any, on: str = ContinuationOn.SUCCEEDED, **kwargs: Any
) -> TaskResult:
    """Run `task` after the `parent` job (an id or a TaskResult) ends as `on` says.

    The child waits as Awaiting; it is released in the transaction that finishes the parent.
    A parent that has already ended decides the child at once.
    """
    on = _validate_on(on, JOB_CONTINUATION_ON)
    with transaction.atomic():
        parent_job = _locked_job(parent)
        child = new_job(task, args, kwargs, state=State.AWAITING, parent=parent_job, continuation_on=on)
        if not _attach_continuation(parent_job, child):
            return result_for(existing_job(child), task)
    return result_for(child, task)


def _attach_continuation(parent_job: Job, child: Job, reason: str = "") -> bool:
    """Insert an Awaiting `child` of the locked `parent_job`; a parent that has already ended
    decides it at once. False when the child is a duplicate of a live unique job."""
    if not insert_jobs([child], reasons=[reason] if reason else None):
        return False  # a unique task whose key is live: child.duplicate_of stands for it
    if continuations.decide(child.continuation_on, parent_job.state) != "wait":
        continuations.release_continuations(parent_job)
    elif not parent_job.has_continuations:
        # Sends the parent's runner to its general path, which releases continuations.
        Job.objects.filter(pk=parent_job.pk).update(has_continuations=True)
    child.refresh_from_db()
    return True


@dataclass(frozen=True)
class Failure:
    """How a job failed elsewhere (an imported Failed job): exception type, message, details."""

    exception_class: str
    message: str
    traceback: str = ""
    failed_at: datetime | None = None


def create_job(
    task: Task,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    run_after: datetime | None = None,
    parent: JobRef | None = None,
    on: str = ContinuationOn.SUCCEEDED,
    failure: Failure | None = None,
    external_id: str = "",
    reason: str = "",
) -> Job:
    """Create one job in the state another scheduler had it in (`manage.py import_hangfire`):
    Enqueued; Scheduled (`run_after`); Awaiting its `parent` (a job id: released as
    `continue_with` would); or Failed with the exception it failed with (`failure`).

    `external_id` keeps the job's old id; `reason` starts its history. A Failed job is created
    Enqueued and moved to Failed through the state machine in the same transaction, so its
    timeline shows both and no server can claim it in between.
    """
    if sum(x is not None for x in (run_after, parent, failure)) > 1:
        raise InvalidOperation(
            "A job is created Scheduled, Awaiting or Failed: give one of run_after, parent, failure."
        )
    with transaction.atomic():
        if parent is not None:
            parent_job = _locked_job(parent)
            child = new_job(
                task,
                args,
                kwargs,
                state=State.AWAITING,
                parent=parent_job,
                continuation_on=_validate_on(on, JOB_CONTINUATION_ON),
                external_id=external_id,
            )
            if not _attach_continuation(parent_job, child, reason):
                return existing_job(child)  # a unique task whose key is live
            return child
        state = State.ENQUEUED if failure is not None else None
        job = new_job(task, args, kwargs, state=state, run_after=run_after, external_id=external_id)
        if job.state == State.SCHEDULED and reason:
            reason = f"{reason}; {initial_reason(job).lower()}"
        if not insert_jobs([job], reasons=[reason] if reason else None):
            return existing_job(job)  # a unique task whose key is live
        if failure is not None:
            text = (
                f"{failure.exception_class}: {failure.message}"
                if failure.exception_class
                else failure.message
            )
            # Enqueued -> Failed is not a transition a run makes (a run fails from Processing):
            # this is the one place a job is created failed, hence check=False.
            apply_state(
                job,
                State.FAILED,
                text[:2000],
                check=False,
                now=max(failure.failed_at or job.created_at, job.created_at),
                fields={
                    "exception_class": failure.exception_class[:300],
                    "exception_message": failure.message,
                    "exception_traceback": failure.traceback,
                    "finished_at": failure.failed_at or job.created_at,
                },
            )
    return job


# --- Operations (the console calls these) -------------------------------------------------------


def requeue(job_or_id: JobRef, *, by: Actor = None, reason: str = "") -> Job:
    """Run a job again now: from Failed, Succeeded, Deleted, Scheduled or Awaiting."""
    with transaction.atomic():
        job = _locked_job(job_or_id)
        if job.state in (State.ENQUEUED, State.PROCESSING):
            raise InvalidOperation(f"Job {job.pk} is {job.state}: it is already queued or running.")
        text = reason or (f"Requeued by {_who(by)}" if by else "Requeued")
        try:
            with transaction.atomic():
                apply_state(
                    job,
                    State.ENQUEUED,
                    text,
                    data={"by": _who(by)} if by else None,
                    # A person chose to run it again: its count of killed workers starts over.
                    fields={
                        "cancel_requested": False,
                        "cancel_reason": "",
                        "run_at": None,
                        "worker_deaths": 0,
                    },
                )
        except IntegrityError:
            # The partial unique index of unique jobs (jobs/flow.py): another job holds the key.
            holder = (
                Job.objects.filter(unique_key=job.unique_key)
                .exclude(pk=job.pk)
                .order_by("-created_at")
                .first()
            )
            raise InvalidOperation(
                f"Job {job.pk} cannot run again now: job {holder.pk if holder else '?'} with the same unique key "
                f"{job.unique_key} is {holder.state if holder else 'live'}."
            ) from None
        notify_servers({job.queue})
    return job


def delete(job_or_id: JobRef, *, by: Actor = None, reason: str = "") -> Job:
    """Delete a job. A Processing job is asked to stop and is deleted when it does."""
    with transaction.atomic():
        job = _locked_job(job_or_id)
        text = reason or (f"Deleted by {_who(by)}" if by else "Deleted")
        if job.state == State.DELETED:
            return job
        if job.state == State.PROCESSING:
            request_cancel(Job.objects.filter(pk=job.pk), CancelReason.DELETE)
            job.cancel_requested, job.cancel_reason = True, CancelReason.DELETE
            return job
        apply_state(job, State.DELETED, text, data={"by": _who(by)} if by else None)
    return job


def cancel(job_or_id: JobRef, *, by: Actor = None, reason: str = "") -> Job:
    """Cancel a job: same as delete (Hangfire's Delete is its cancellation)."""
    return delete(job_or_id, by=by, reason=reason or (f"Cancelled by {_who(by)}" if by else "Cancelled"))


# --- Batches ---------------------------------------------------------------------------------


class BatchBuilder:
    """Collects a batch's jobs; nothing is written until the outermost `with batch()` block ends."""

    def __init__(self, description: str, parent: "BatchBuilder | None" = None) -> None:
        self.description = description
        self.parent = parent
        self.jobs: list[Job] = []
        self.continuations: list[Job] = []
        self.children: list[BatchBuilder] = []
        self.created: Batch | None = None
        # Unique jobs of the batch whose key was live: (the job not written, the existing one).
        self.duplicates: list[tuple[Job, Job]] = []
        self.now = timezone.now()

    @property
    def id(self) -> uuid.UUID | None:
        return self.created.id if self.created else None

    def enqueue(self, task: Task, *args: Any, **kwargs: Any) -> Job:
        job = new_job(task, args, kwargs, now=self.now)
        self.jobs.append(job)
        return job

    def then(self, task: Task, *args: Any, on: str = ContinuationOn.SUCCEEDED, **kwargs: Any) -> Job:
        _validate_on(on, BATCH_CONTINUATION_ON)
        job = new_job(task, args, kwargs, state=State.AWAITING, continuation_on=on, now=self.now)
        self.continuations.append(job)
        return job

    @contextlib.contextmanager
    def batch(self, description: str) -> Iterator["BatchBuilder"]:
        child = BatchBuilder(description, parent=self)
        yield child
        self.children.append(child)

    def _create(self, parent_batch: Batch | None = None) -> Batch:
        created = Batch.objects.create(
            description=self.description[:500],
            total=len(self.jobs) + len(self.children),
            parent=parent_batch,
        )
        self.created = created
        for job in self.jobs:
            job.batch = created
        for job in self.continuations:
            job.awaiting_batch = created
        insert_jobs(self.jobs + self.continuations)
        self._skip_duplicates(created)
        for child in self.children:
            child._create(created)
        batches.finish_batch_if_done(created.pk)
        return created

    def _skip_duplicates(self, target: Batch) -> None:
        """Unique jobs that were not written are not members: the batch counts the others."""
        skipped = [job for job in self.jobs if job.duplicate_of is not None]
        self.duplicates += [
            (job, existing_job(job)) for job in skipped + self.continuations if job.duplicate_of is not None
        ]
        if skipped:
            self.jobs = [job for job in self.jobs if job.duplicate_of is None]
            Batch.objects.filter(pk=target.pk).update(total=F("total") - len(skipped))
            target.total -= len(skipped)
        self.continuations = [job for job in self.continuations if job.duplicate_of is None]


# A batch: the row, the builder of `with batch() as b` (after the block), or its id.
BatchRef = Batch | BatchBuilder | uuid.UUID | str


@contextlib.contextmanager
def batch(description: str = "") -> Iterator[BatchBuilder]:
    """Many jobs as one unit, created together when the block ends (nothing if it raises).

    with jobs.api.batch("Monthly invoices, 2026-12") as b:
        for resident_id in resident_ids:
            b.enqueue(generate_invoice_for_resident, resident_id)
        b.then(send_bulk_generation_summary)
    b.id  # the Batch id
    """
    builder = BatchBuilder(description)
    yield builder
    with transaction.atomic():
        builder._create()


def _locked_batch(batch_or_id: BatchRef) -> Batch:
    raw = getattr(batch_or_id, "id", batch_or_id)
    try:
        pk = raw if isinstance(raw, uuid.UUID) else uuid.UUID(str(raw))
    except (ValueError, TypeError):
        raise JobNotFound(f"{raw!r} is not a batch id.") from None
    found = Batch.objects.select_for_update().filter(pk=pk).first()
    if found is None:
        raise JobNotFound(f"There is no batch {raw}.")
    return found


def continue_batch_with(
    batch_or_id: BatchRef, task: Task, *args: Any, on: str = ContinuationOn.SUCCEEDED, **kwargs: Any
) -> TaskResult:
    """Run `task` when the batch succeeds (`on="succeeded"`) or completes (`on="completed"`)."""
    _validate_on(on, BATCH_CONTINUATION_ON)
    with transaction.atomic():
        target = _locked_batch(batch_or_id)
        child = new_job(task, args, kwargs, state=State.AWAITING, awaiting_batch=target, continuation_on=on)
        if not insert_jobs([child]):
            return result_for(existing_job(child), task)
        if target.state != BatchState.STARTED:
            batches.release_batch_continuations(
                target.pk, target.state, failed=target.failed, now=timezone.now()
            )
        child.refresh_from_db()
    return result_for(child, task)


@contextlib.contextmanager
def attach(batch_or_id: BatchRef) -> Iterator[BatchBuilder]:
    """Add jobs to a started batch: `with attach(batch_id) as b: b.enqueue(task, ...)`."""
    builder = BatchBuilder("")
    yield builder
    if builder.children or builder.continuations:
        raise InvalidOperation("attach() adds jobs only; use continue_batch_with for continuations.")
    with transaction.atomic():
        target = _locked_batch(batch_or_id)
        if target.state != BatchState.STARTED:
            raise InvalidOperation(f"Batch {target.pk} is {target.state}: jobs cannot be attached to it.")
        Batch.objects.filter(pk=target.pk).update(total=F("total") + len(builder.jobs))
        for job in builder.jobs:
            job.batch = target
        insert_jobs(builder.jobs)
        builder._skip_duplicates(target)
        builder.created = target


def cancel_batch(batch_or_id: BatchRef, *, by: Actor = None) -> Batch:
    """Delete the batch's jobs that have not started, ask running ones to stop, and cancel it."""
    with transaction.atomic():
        target = _locked_batch(batch_or_id)
        if target.state != BatchState.STARTED:
            raise InvalidOperation(f"Batch {target.pk} is {target.state}: it cannot be cancelled.")
        batches.cancel(target, f"Batch cancelled by {_who(by)}" if by else "Batch cancelled")
        target.refresh_from_db()
    return target


def batch_progress(batch_or_id: Batch | uuid.UUID | str) -> dict[str, Any]:
    """done/total, percent, and an ETA: from the remaining jobs' own task estimates and the
    workers serving their queues (jobs.predictions), else from the average duration of the
    batch's finished jobs."""
    target = batch_or_id if isinstance(batch_or_id, Batch) else Batch.objects.get(pk=batch_or_id)
    done = target.succeeded + target.failed + target.deleted
    percent = 100.0 if target.total == 0 else round(100.0 * done / target.total, 1)
    eta = None
    remaining = target.total - done
    if remaining > 0 and target.state == BatchState.STARTED:
        from jobs import predictions

        eta = predictions.batch_eta(target)
    if eta is None and remaining > 0 and target.state == BatchState.STARTED:
        average = Job.objects.filter(batch=target, state=State.SUCCEEDED, started_at__isnull=False).aggregate(
            avg=Avg(F("finished_at") - F("started_at"))
        )["avg"]
        if average is not None:
            workers = (
                sum(Server.objects.filter(status=ServerStatus.RUNNING).values_list("worker_count", flat=True))
                or 1
            )
            eta = timezone.now() + timedelta(seconds=average.total_seconds() * remaining / workers)
    return {"done": done, "total": target.total, "percent": percent, "eta": eta, "state": target.state}


# --- Recurring jobs (jobs/recurring.py), re-exported so callers need one module ---------------

from jobs.recurring import add_or_update, disable, enable, remove, trigger  # noqa: E402

__all__ = [
    "Failure",
    "add_or_update",
    "attach",
    "create_job",
    "batch",
    "batch_progress",
    "cancel",
    "cancel_batch",
    "continue_batch_with",
    "continue_with",
    "delete",
    "disable",
    "enable",
    "enqueue_in",
    "enqueue_many",
    "remove",
    "requeue",
    "trigger",
]
