"""The batch state machine, and what a batch's end does to the jobs that wait on it.

A batch is Started until every unit (job or nested batch) has ended; it then becomes Succeeded
(all succeeded) or Completed (some failed or were deleted); a person may cancel a Started batch.
A Completed batch opens again when one of its failed jobs is requeued. Every change goes through
`set_batch_state`: an UPDATE guarded on the expected state, which one transaction wins, so a
batch finishes (and releases its continuations) exactly once.

Called from `states.after_state_change` in the transaction that ends a job, and from jobs.api.
"""

from datetime import datetime, timedelta
from typing import Any

from django.db.models import F
from django.utils import timezone

from jobs import states
from jobs.conf import jobs_settings
from jobs.models import Batch, BatchState, ContinuationOn, Job, State
from jobs.wakeup import notify_servers

BATCH_ALLOWED: dict[str, set[str]] = {
    BatchState.STARTED: {BatchState.SUCCEEDED, BatchState.COMPLETED, BatchState.CANCELLED},
    BatchState.COMPLETED: {BatchState.STARTED},
    BatchState.SUCCEEDED: set(),
    BatchState.CANCELLED: set(),
}
# The counter of a batch that a job's end state adds to.
COUNTER: dict[str, str] = {State.SUCCEEDED: "succeeded", State.FAILED: "failed", State.DELETED: "deleted"}
NOT_MET = "Continuation condition was not met"


class InvalidBatchTransition(ValueError):
    pass


def set_batch_state(batch_id: Any, old: str, new: str, now: datetime | None = None) -> bool:
    """Move the batch from `old` to `new` if it is still `old`; True when this call did it."""
    if new not in BATCH_ALLOWED[old]:
        raise InvalidBatchTransition(f"A batch cannot go from {old} to {new}.")
    now = now or timezone.now()
    fields: dict[str, datetime | None]
    if new == BatchState.STARTED:
        fields = {"finished_at": None, "expires_at": None}
    elif new == BatchState.CANCELLED:
        fields = {"finished_at": now}
    else:
        fields = {
            "finished_at": now,
            "expires_at": now + timedelta(seconds=jobs_settings.BATCH_EXPIRATION_SECONDS),
        }
    return bool(Batch.objects.filter(pk=batch_id, state=old).update(state=new, **fields))


def count_in_batch(job: Job, state: str, now: datetime) -> None:
    """Count a job that just ended in its batch; the last one finishes the batch."""
    _count(job.batch_id, COUNTER[state], now)


def uncount_in_batch(job: Job, old_state: str) -> None:
    """A job that had ended runs again (requeue, retry): it no longer counts as done."""
    if job.batch_id is None:
        return
    field = COUNTER[old_state]
    Batch.objects.filter(pk=job.batch_id, **{f"{field}__gt": 0}).update(**{field: F(field) - 1})
    # A batch that completed with this job failed opens again; continuations already released stay so.
    set_batch_state(job.batch_id, BatchState.COMPLETED, BatchState.STARTED)


def _count(batch_id, field: str, now) -> None:
    Batch.objects.filter(pk=batch_id).update(**{field: F(field) + 1})
    finish_batch_if_done(batch_id, now)


def finish_batch_if_done(batch_id, now=None) -> bool:
    """Finish the batch when every unit has ended. True for the one caller that finished it."""
    now = now or timezone.now()
    batch = (
        Batch.objects.filter(pk=batch_id)
        .only("total", "succeeded", "failed", "deleted", "state", "parent_id")
        .first()
    )
    if batch is None or batch.state != BatchState.STARTED:
        return False
    done = batch.succeeded + batch.failed + batch.deleted
    if done < batch.total:
        return False
    final = BatchState.SUCCEEDED if batch.succeeded == batch.total else BatchState.COMPLETED
    if not set_batch_state(batch_id, BatchState.STARTED, final, now):
        return False
    release_batch_continuations(batch_id, final, failed=batch.failed, now=now)
    if batch.parent_id:
        # A nested batch is one unit of its parent.
        field = {BatchState.SUCCEEDED: "succeeded", BatchState.COMPLETED: "failed"}[final]
        _count(batch.parent_id, field, now)
    return True


def cancel(batch: Batch, reason: str, now=None) -> None:
    """Cancel a Started batch (locked by the caller), its Started nested batches, its jobs that
    have not started (Deleted) and the running ones (asked to stop)."""
    now = now or timezone.now()
    set_batch_state(batch.pk, BatchState.STARTED, BatchState.CANCELLED, now)
    for child in batch.children.select_for_update().filter(state=BatchState.STARTED):
        cancel(child, reason, now)
    pending = Job.objects.select_for_update().filter(
        batch=batch, state__in=(State.ENQUEUED, State.SCHEDULED, State.AWAITING)
    )
    for job in pending:
        states.apply_state(job, State.DELETED, reason)
    states.request_cancel(Job.objects.filter(batch=batch), states.CancelReason.DELETE)
    release_batch_continuations(batch.pk, BatchState.CANCELLED, failed=0, now=now)


def release_batch_continuations(batch_id, final: str, *, failed: int, now) -> None:
    waiting = Job.objects.select_for_update().filter(awaiting_batch_id=batch_id, state=State.AWAITING)
    for child in waiting.order_by("created_at"):
        on = child.continuation_on or ContinuationOn.SUCCEEDED
        if final == BatchState.CANCELLED:
            states.apply_state(child, State.DELETED, f"{NOT_MET}: batch {batch_id} was cancelled", now=now)
        elif on == ContinuationOn.COMPLETED or final == BatchState.SUCCEEDED:
            states.apply_state(child, State.ENQUEUED, f"Batch {batch_id} {final}", now=now)
            notify_servers({child.queue})
        elif failed == 0:
            # Completed without failures means some jobs were deleted: success can no longer come.
            states.apply_state(
                child,
                State.DELETED,
                f"{NOT_MET}: batch {batch_id} completed without all jobs succeeding",
                now=now,
            )
        # else: failed jobs may still be retried; the continuation waits, as for a failed parent job.
