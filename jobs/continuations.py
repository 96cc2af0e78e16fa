"""Continuations of a job: what happens to the jobs that wait on a job when it ends.

Called from `states.after_state_change`, inside the transaction that finishes the parent, so a
continuation is released together with its parent's final state or not at all. Exactly-once
comes from a fence, not from luck: only Awaiting children are touched, row-locked. (The
continuations of a batch are in jobs/batches.py.)
"""

from django.utils import timezone

from jobs import states
from jobs.models import ContinuationOn, Job, State
from jobs.wakeup import notify_servers

NOT_MET = "Continuation condition was not met"


def decide(on: str, parent_state: str) -> str:
    """'release', 'delete' or 'wait' for a continuation with condition `on`."""
    if parent_state == State.SUCCEEDED:
        return "release" if on in (ContinuationOn.SUCCEEDED, ContinuationOn.ANY_FINISHED) else "delete"
    if parent_state == State.DELETED:
        return "release" if on in (ContinuationOn.DELETED, ContinuationOn.ANY_FINISHED) else "delete"
    return "wait"


def release_continuations(job: Job, now=None) -> None:
    now = now or timezone.now()
    children = list(
        Job.objects.select_for_update().filter(parent_id=job.pk, state=State.AWAITING).order_by("created_at")
    )
    for child in children:
        verdict = decide(child.continuation_on or ContinuationOn.SUCCEEDED, job.state)
        if verdict == "release":
            states.apply_state(child, State.ENQUEUED, f"Parent job {job.pk} {job.state}", now=now)
            notify_servers({child.queue})
        elif verdict == "delete":
            states.apply_state(child, State.DELETED, f"{NOT_MET}: parent job {job.pk} {job.state}", now=now)
