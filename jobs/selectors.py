"""Read-only answers the engine and its console give about one job, in words a person can act on.

(The common service's report queries live in common/selectors.py.)
"""

from jobs.models import Batch, BatchState, ContinuationOn, Job, State

PARENT_FAILED = "Waits for its parent, which failed: retry or delete the parent"
GONE = "Waits for a parent that no longer exists: requeue it to run it now, or delete it"


def job_waiting_reason(job: Job) -> str | None:
    """Why an Awaiting job has not run, in words a person can act on; None for any other job.

    A continuation of a failed job (or of a batch with failed jobs) is neither released nor
    deleted: the failure may still be retried (continuations.decide). Without a word it looks stuck.
    """
    if job.state != State.AWAITING:
        return None
    if job.parent_id is not None:
        parent_state = Job.objects.filter(pk=job.parent_id).values_list("state", flat=True).first()
        if parent_state is None:
            return GONE
        if parent_state == State.FAILED:
            return PARENT_FAILED
        return f"Waits for its parent, which is {State(parent_state).label.lower()}"
    if job.awaiting_batch_id is not None:
        batch = (
            Batch.objects.filter(pk=job.awaiting_batch_id)
            .only("state", "total", "succeeded", "failed", "deleted")
            .first()
        )
        if batch is None:
            return GONE
        if (
            batch.state == BatchState.COMPLETED
            and batch.failed
            and job.continuation_on != ContinuationOn.COMPLETED
        ):
            jobs = "job" if batch.failed == 1 else "jobs"
            return f"Waits for its batch, in which {batch.failed} {jobs} failed: retry or delete the failed {jobs}"
        done = batch.succeeded + batch.failed + batch.deleted
        return f"Waits for its batch to finish ({done} of {batch.total} done)"
    # Its parent or batch row was removed (the links are SET NULL): nothing will release it.
    return GONE
