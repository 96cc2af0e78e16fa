"""Continuations and batches: what happens to the jobs that wait on a job or a batch when it ends.

Called from `states.after_state_change`, inside the transaction that finishes the parent, so a
continuation is released together with its parent's final state or not at all. Exactly-once
comes from fences, not from luck: only Awaiting children are touched (row-locked), and a batch
finishes through an UPDATE guarded on `state = started`, which one transaction wins.
"""

from django.db.models import F
from django.utils import timezone

from jobs.creation import notify_servers
from jobs.models import Batch, BatchState, ContinuationOn, Job, State

NOT_MET = "Continuation condition was not met"


def decide(on: str, parent_state: str) -> str:
    """'release', 'delete' or 'wait' for a continuation with condition `on`."""
    if parent_state == State.SUCCEEDED:
        return "release" if on in (ContinuationOn.SUCCEEDED, ContinuationOn.ANY_FINISHED) else "delete"
    if parent_state == State.DELETED:
        return "release" if on in (ContinuationOn.DELETED, ContinuationOn.ANY_FINISHED) else "delete"
    return "wait"


def release_continuations(job: Job, now=None) -> None:
    from jobs.states import apply_state

    now = now or timezone.now()
    children = list(Job.objects.select_for_update().filter(parent_id=job.pk, state=State.AWAITING).order_by("created_at"))
    for child in children:
        verdict = decide(child.continuation_on or ContinuationOn.SUCCEEDED, job.state)
        if verdict == "release":
            apply_state(child, State.ENQUEUED, f"Parent job {job.pk} {job.state}", now=now)
            notify_servers({child.queue})
        elif verdict == "delete":
            apply_state(child, State.DELETED, f"{NOT_MET}: parent job {job.pk} {job.state}", now=now)


COUNTER = {State.SUCCEEDED: "succeeded", State.FAILED: "failed", State.DELETED: "deleted"}


def count_in_batch(job: Job, state: str, now) -> None:
    """Count a job that just ended in its batch; the last one finishes the batch."""
    _count(job.batch_id, COUNTER[state], +1, now)


def uncount_in_batch(job: Job, old_state: str) -> None:
    """A job that had ended runs again (requeue, retry): it no longer counts as done."""
    field = COUNTER[old_state]
    Batch.objects.filter(pk=job.batch_id, **{f"{field}__gt": 0}).update(**{field: F(field) - 1})
    # A batch that completed with this job failed opens again; continuations already released stay so.
    Batch.objects.filter(pk=job.batch_id, state=BatchState.COMPLETED).update(
        state=BatchState.STARTED, finished_at=None, expires_at=None
    )


def _count(batch_id, field: str, delta: int, now) -> None:
    Batch.objects.filter(pk=batch_id).update(**{field: F(field) + delta})
    finish_batch_if_done(batch_id, now)


def finish_batch_if_done(batch_id, now=None) -> bool:
    """Finish the batch when every unit has ended. True for the one caller that finished it."""
    from datetime import timedelta

    from django.conf import settings

    now = now or timezone.now()
    batch = Batch.objects.filter(pk=batch_id).only("total", "succeeded", "failed", "deleted", "state", "parent_id").first()
    if batch is None or batch.state != BatchState.STARTED:
        return False
    done = batch.succeeded + batch.failed + batch.deleted
    if done < batch.total:
        return False
    final = BatchState.SUCCEEDED if batch.succeeded == batch.total else BatchState.COMPLETED
    expires = now + timedelta(seconds=settings.DHANMAN_JOBS["BATCH_EXPIRATION_SECONDS"])
    won = Batch.objects.filter(pk=batch_id, state=BatchState.STARTED).update(
        state=final, finished_at=now, expires_at=expires
    )
    if not won:
        return False
    release_batch_continuations(batch_id, final, failed=batch.failed, now=now)
    if batch.parent_id:
        # A nested batch is one unit of its parent.
        field = {BatchState.SUCCEEDED: "succeeded", BatchState.COMPLETED: "failed"}[final]
        _count(batch.parent_id, field, +1, now)
    return True


def release_batch_continuations(batch_id, final: str, *, failed: int, now) -> None:
    from jobs.states import apply_state

    waiting = Job.objects.select_for_update().filter(awaiting_batch_id=batch_id, state=State.AWAITING)
    for child in waiting.order_by("created_at"):
        on = child.continuation_on or ContinuationOn.SUCCEEDED
        if final == BatchState.CANCELLED:
            apply_state(child, State.DELETED, f"{NOT_MET}: batch {batch_id} was cancelled", now=now)
        elif on == ContinuationOn.COMPLETED or final == BatchState.SUCCEEDED:
            apply_state(child, State.ENQUEUED, f"Batch {batch_id} {final}", now=now)
            notify_servers({child.queue})
        elif failed == 0:
            # Completed without failures means some jobs were deleted: success can no longer come.
            apply_state(child, State.DELETED, f"{NOT_MET}: batch {batch_id} completed without all jobs succeeding", now=now)
        # else: failed jobs may still be retried; the continuation waits, as for a failed parent job.
