"""The state machine: which transitions are allowed, and the one function that applies a state.

Every change of a job's state goes through `apply_state`, which updates the row, appends the
JobState history row, runs the filters' on_state_changed hook and, for states that finish a job,
releases its continuations and counts it in its batch — all in the caller's transaction.
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from jobs.models import Job, JobState, State

ALLOWED = {
    State.SCHEDULED: {State.ENQUEUED, State.DELETED, State.SCHEDULED},
    State.ENQUEUED: {State.PROCESSING, State.DELETED, State.SCHEDULED, State.ENQUEUED},
    State.PROCESSING: {State.SUCCEEDED, State.FAILED, State.SCHEDULED, State.ENQUEUED, State.DELETED},
    State.SUCCEEDED: {State.ENQUEUED, State.DELETED},
    State.FAILED: {State.ENQUEUED, State.SCHEDULED, State.DELETED},
    State.DELETED: {State.ENQUEUED},
    State.AWAITING: {State.ENQUEUED, State.DELETED, State.SCHEDULED},
}
# States after which a job's continuations and its batch learn how it ended.
FINAL = {State.SUCCEEDED, State.DELETED}
# Failed is final for the batch counters (the batch completes), but continuations wait: a
# person or a retry may still resolve the job.
COUNTED_IN_BATCH = {State.SUCCEEDED, State.FAILED, State.DELETED}


class InvalidTransition(ValueError):
    pass


def expiry_for(state: str, now):
    if state in FINAL:
        return now + timedelta(seconds=settings.DHANMAN_JOBS["EXPIRATION_SECONDS"])
    return None


def apply_state(
    job: Job,
    new_state: str,
    reason: str = "",
    *,
    data: dict | None = None,
    now=None,
    fields: dict | None = None,
    check: bool = True,
) -> Job:
    """Move `job` to `new_state` (saving `fields` with it) and record it in the history.

    Must run inside a transaction that holds the job row (select_for_update, or a fenced
    update), so that two processes cannot both move the same job.
    """
    old_state = job.state
    if check and new_state not in ALLOWED.get(old_state, ()):
        raise InvalidTransition(f"A job cannot go from {old_state} to {new_state}.")
    now = now or timezone.now()
    if job.state_changed_at and now < job.state_changed_at:
        # Clocks of different processes, or a time read before a lock wait: a job's timeline
        # never goes backwards.
        now = job.state_changed_at
    fields = dict(fields or {})
    fields.update(state=new_state, state_reason=reason, state_changed_at=now, expires_at=expiry_for(new_state, now))
    if new_state == State.ENQUEUED:
        fields.setdefault("enqueued_at", now)
    for name, value in fields.items():
        setattr(job, name, value)
    Job.objects.filter(pk=job.pk).update(**fields)
    JobState.objects.create(job=job, name=new_state, reason=reason, data=data or {}, created_at=now)
    after_state_change(job, old_state, new_state, reason, now)
    return job


def after_state_change(
    job: Job, old_state: str, new_state: str, reason: str, now, *, has_continuations: bool = True
) -> None:
    from jobs import continuations
    from jobs.filters import JobFilter, filters_for, run_hook

    if new_state in COUNTED_IN_BATCH and old_state not in COUNTED_IN_BATCH and job.batch_id:
        continuations.count_in_batch(job, new_state, now)
    elif old_state in COUNTED_IN_BATCH and new_state not in COUNTED_IN_BATCH and job.batch_id:
        continuations.uncount_in_batch(job, old_state)
    if has_continuations and (new_state in FINAL or new_state == State.FAILED):
        continuations.release_continuations(job, now)
    hooks = [h for h in filters_for(None) if type(h).on_state_changed is not JobFilter.on_state_changed]
    if hooks:
        transaction.on_commit(lambda: run_hook(hooks, "on_state_changed", job, old_state, new_state, reason))
