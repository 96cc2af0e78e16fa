"""The console's actions, each one call into the engine's API (`jobs.api`), never an UPDATE.

An action on many jobs is that call once per job, each in its own transaction: one job that
cannot be requeued (it started running meanwhile) does not undo the others, and the person is
told exactly which ones failed and why. Every action is recorded in the audit trail
(jobs.audit): who, what, on which jobs (those done; the refused ones in its details), when, why.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jobs import api, audit, failure_groups
from jobs.api import InvalidOperation, JobNotFound
from jobs.console import stats
from jobs.models import Job, State
from jobs.states import InvalidTransition

# What a person can ask of a job, and which states it makes sense in (buttons are shown only
# there; the API still decides, since a job's state can change between page and click).
JOB_ACTIONS: dict[str, dict[str, Any]] = {
    "requeue": {
        "label": "Requeue",
        "done": "requeued",
        "states": {State.SCHEDULED, State.SUCCEEDED, State.FAILED, State.DELETED, State.AWAITING},
    },
    "delete": {
        "label": "Delete",
        "done": "deleted",
        "states": {State.SCHEDULED, State.ENQUEUED, State.SUCCEEDED, State.FAILED, State.AWAITING},
    },
    "cancel": {
        "label": "Cancel",
        "done": "asked to stop",
        "states": {State.PROCESSING},
    },
}
# Bulk lists offer requeue and delete; cancel is for one running job at a time.
BULK_ACTIONS = ("requeue", "delete")
MAX_BULK = 500


@dataclass
class Outcome:
    verb: str
    done: list = field(default_factory=list)
    refused: list = field(default_factory=list)  # (job id, reason)
    nouns: tuple = ("job", "jobs")

    def messages(self) -> list[tuple[str, str]]:
        """(level, text) pairs for django.contrib.messages."""
        found = []
        if self.done:
            noun = self.nouns[0] if len(self.done) == 1 else self.nouns[1]
            found.append(("success", f"{len(self.done)} {noun} {self.verb}."))
        for job_id, reason in self.refused:
            found.append(("error", f"{self.nouns[0].capitalize()} {job_id}: {reason}"))
        return found


def label_for(action: str, state: str) -> str:
    """A button's word: a Scheduled job's requeue runs it now (Hangfire's "Enqueue now")."""
    if action == "requeue" and state == State.SCHEDULED:
        return "Enqueue now"
    return JOB_ACTIONS[action]["label"]


def actions_for(job: Job) -> list[str]:
    return [name for name, spec in JOB_ACTIONS.items() if job.state in spec["states"]]


def _api_call(action: str) -> Callable:
    return {"requeue": api.requeue, "delete": api.delete, "cancel": api.cancel}[action]


def apply_each(action: str, job_ids, *, user, reason: str = "") -> Outcome:
    """Apply `action` to each job through jobs.api (one transaction per job), collecting what
    was done and what was refused; not audited (the caller records the whole action)."""
    call = _api_call(action)
    outcome = Outcome(verb=JOB_ACTIONS[action]["done"])
    extra = {"reason": _history_reason(action, user, reason)} if reason else {}
    for job_id in job_ids:
        refusal = apply_one(call, job_id, by=user, **extra)
        if refusal is None:
            outcome.done.append(job_id)
        else:
            outcome.refused.append((job_id, refusal))
    return outcome


def apply_one(call: Callable, job_id, **kwargs) -> str | None:
    """One jobs.api call on one job: None when it was done, else why it was refused."""
    try:
        call(job_id, **kwargs)
    except JobNotFound:
        return "it no longer exists."
    except (InvalidOperation, InvalidTransition) as exc:
        return str(exc)
    return None


def run_job_action(action: str, job_ids, *, user, reason: str = "") -> Outcome:
    """Apply `action` to each job through jobs.api, collecting what was done and what was refused."""
    outcome = apply_each(action, job_ids, user=user, reason=reason)
    noun = "job" if len(outcome.done) == 1 else "jobs"
    audit.record(
        user,
        action,
        [(audit.JOB, job_id) for job_id in outcome.done],
        reason=reason,
        summary=f"{JOB_ACTIONS[action]['label']}: {len(outcome.done)} {noun} {outcome.verb}"
        + (f", {len(outcome.refused)} refused" if outcome.refused else ""),
        details={"refused": [{"job": str(job_id), "reason": text} for job_id, text in outcome.refused]},
    )
    forget_cached()
    return outcome


def cancel_batch(batch_id, *, user, reason: str = "") -> Outcome:
    outcome = Outcome(verb="cancelled", nouns=("batch", "batches"))
    try:
        api.cancel_batch(batch_id, by=user)
    except (JobNotFound, InvalidOperation) as exc:
        outcome.refused.append((batch_id, str(exc)))
    else:
        outcome.done.append(batch_id)
    audit.record(
        user,
        "batch_cancel",
        [(audit.BATCH, batch_id)],
        reason=reason,
        summary="Batch cancelled" if outcome.done else f"Batch not cancelled: {outcome.refused[0][1]}",
    )
    forget_cached()
    return outcome


RECURRING_ACTIONS = {
    "trigger": "triggered",
    "enable": "enabled",
    "disable": "disabled",
    "remove": "removed",
}


def run_recurring_action(action: str, recurring_id: str, *, user, reason: str = "") -> tuple[str, str]:
    """(level, message) for a recurring job's trigger / enable / disable / remove."""
    call = getattr(api, action)
    targets = [(audit.RECURRING, recurring_id)]
    try:
        result = call(recurring_id)
    except (LookupError, ValueError) as exc:
        message = f"Recurring job {recurring_id}: {exc}"
        audit.record(user, f"recurring_{action}", targets, reason=reason, summary=f"Refused: {exc}")
        return "error", message
    forget_cached()
    if action == "trigger":
        job_id = getattr(result, "id", None) or getattr(result, "pk", None)
        suffix = f": job {job_id}" if job_id else ""
        message = f"Recurring job {recurring_id} triggered{suffix}."
        if job_id:
            targets.append((audit.JOB, job_id))
    else:
        message = f"Recurring job {recurring_id} {RECURRING_ACTIONS[action]}."
    audit.record(user, f"recurring_{action}", targets, reason=reason, summary=message)
    return "success", message


_HISTORY_VERBS = {"requeue": "Requeued", "delete": "Deleted", "cancel": "Cancelled"}


def _history_reason(action: str, user, reason: str) -> str:
    """The job's own history says who, as without a reason, and then why."""
    return f"{_HISTORY_VERBS[action]} by {user.get_username()}: {reason}"


def forget_cached():
    stats.forget_cached()


# --- What a destructive action would do, for its confirmation page ------------------------------
# Read before the person confirms (nothing is changed here); the action itself goes through
# jobs.api, which decides again, since states can change between the two requests.

# The actions that ask first, as Django's delete confirmation does.
CONFIRM_FIRST = {"delete"}
BATCH_PENDING = (State.ENQUEUED, State.SCHEDULED, State.AWAITING)
PREVIEW_ROWS = 50


@dataclass
class Preview:
    """What a confirmation page says: the consequence, the count, and the jobs it names."""

    heading: str
    consequence: str
    count: int
    noun: str = "job"
    items: list = field(default_factory=list)  # jobs shown (at most PREVIEW_ROWS)
    notes: list = field(default_factory=list)
    button: str = "Yes, I'm sure"

    @property
    def count_text(self) -> str:
        return f"{self.count} {self.noun}{'' if self.count == 1 else 's'}"


def preview_job_delete(job_ids) -> Preview:
    """Deleting these jobs: which of them would be deleted, stopped, or left alone."""
    ids = list(job_ids)
    found = {job.pk: job for job in Job.objects.filter(pk__in=ids).only("id", "task_path", "state", "queue")}
    ordered = [found[pk] for pk in ids if pk in found]
    deletable = [job for job in ordered if job.state in JOB_ACTIONS["delete"]["states"]]
    running = [job for job in ordered if job.state == State.PROCESSING]
    notes = []
    if running:
        notes.append(f"{len(running)} running: asked to stop, then deleted when they do.")
    skipped = len(ids) - len(deletable) - len(running)
    if skipped:
        notes.append(f"{skipped} already deleted or gone: left as they are.")
    touched = len(deletable) + len(running)
    return Preview(
        heading="Delete this job?" if len(ids) == 1 else f"Delete {len(ids)} jobs?",
        consequence=(
            "Deleted jobs do not run. Their continuations that wait for success stay Awaiting; the job "
            "can be requeued from the Deleted list until it expires."
        ),
        count=touched,
        items=(deletable + running)[:PREVIEW_ROWS],
        notes=notes,
        button="Yes, delete",
    )


def preview_batch_cancel(batch) -> Preview:
    """Cancelling a batch: its jobs (and its nested batches' jobs) not started are deleted,
    the running ones asked to stop."""
    from jobs.models import Batch, BatchState

    batch_ids, frontier = [batch.pk], [batch.pk]
    while frontier:  # nested batches still started are cancelled with it
        frontier = list(
            Batch.objects.filter(parent_id__in=frontier, state=BatchState.STARTED).values_list(
                "pk", flat=True
            )
        )
        batch_ids += frontier
    members = Job.objects.filter(batch_id__in=batch_ids)
    pending = members.filter(state__in=BATCH_PENDING).count()
    running = members.filter(state=State.PROCESSING).count()
    notes = [f"{running} running: asked to stop."] if running else []
    if len(batch_ids) > 1:
        notes.append(
            f"{len(batch_ids) - 1} nested batch{'es' if len(batch_ids) > 2 else ''} cancelled with it."
        )
    return Preview(
        heading=f"Cancel the batch {batch.description or batch.pk}?",
        consequence=(
            "Its jobs that have not started are deleted; jobs that already finished keep their result. "
            "The batch becomes Cancelled and cannot be restarted."
        ),
        count=pending + running,
        items=list(
            members.filter(state__in=(*BATCH_PENDING, State.PROCESSING))
            .only("id", "task_path", "state", "queue")
            .order_by("created_at", "pk")[:PREVIEW_ROWS]
        ),
        notes=notes,
        button="Yes, cancel the batch",
    )


def preview_recurring_remove(recurring) -> Preview:
    created = Job.objects.filter(recurring_job=recurring).count()
    return Preview(
        heading=f"Remove the recurring job {recurring.pk}?",
        consequence=(
            f"No job is deleted: the {created} job{'' if created == 1 else 's'} it created stay. It stops being "
            "scheduled; `manage.py seed_recurring_jobs` recreates it while it is still declared in a "
            "schedules.py, so to stop it for good, remove it there. To pause it, disable it instead."
        ),
        count=0,
        button="Yes, remove",
    )


# --- Failure groups: retry or delete a whole group (jobs/failure_groups.py) ---------------------

GROUP_ACTIONS = {
    "retry": {"api": "requeue", "label": "Retry", "done": "requeued", "audit": "failure_group_retry"},
    "delete": {"api": "delete", "label": "Delete", "done": "deleted", "audit": "failure_group_delete"},
}
# A group action works through its jobs this many at a time: each job is its own short
# transaction through jobs.api, and each chunk re-reads which of its jobs are still in the group.
GROUP_CHUNK = 100


def preview_group_action(action: str, group) -> Preview:
    """Retrying or deleting a failure group: exactly how many jobs (capped), and which."""
    cap = failure_groups.ACTION_CAP
    touched = min(group.count, cap)
    notes = []
    if group.count > cap:
        notes.append(
            f"First {cap:,} of {group.count:,}: the newest {cap:,} jobs of the group. "
            "Repeat the action for the rest."
        )
    consequence = (
        "They go back to their queues now and run again; the ones that fail again return to this group."
        if action == "retry"
        else "Deleted jobs do not run; they can be requeued from the Deleted list until they expire."
    )
    name = f"{group.exception_name}: {group.fingerprint}"[:200]
    return Preview(
        heading=f"{GROUP_ACTIONS[action]['label']} the failure group “{name}”?",
        consequence=consequence,
        count=touched,
        items=list(
            failure_groups.failed_in_group(group.key)
            .order_by("-state_changed_at", "-id")
            .only("id", "task_path", "state", "queue")[:PREVIEW_ROWS]
        ),
        notes=notes,
        button=f"Yes, {GROUP_ACTIONS[action]['label'].lower()} {touched:,} job{'' if touched == 1 else 's'}",
    )


@dataclass
class GroupOutcome:
    done: list = field(default_factory=list)
    skipped: list = field(default_factory=list)  # (job id, reason)
    total: int = 0  # the group's size when the action ran

    def messages(self, verb: str) -> list[tuple[str, str]]:
        found = [("success", f"{len(self.done):,} job{'' if len(self.done) == 1 else 's'} {verb}.")]
        if self.skipped:
            found.append(
                ("warning", f"{len(self.skipped):,} skipped (no longer failed in this group, or refused).")
            )
        return found


def run_group_action(action: str, group, *, user, reason: str = "") -> GroupOutcome:
    """Retry or delete the group's newest ACTION_CAP Failed jobs, through jobs.api, a chunk at a
    time (no long transaction: each job is one), then one audit entry naming the jobs done."""
    spec = GROUP_ACTIONS[action]
    call = getattr(api, spec["api"])
    ids = failure_groups.capped_ids(group.key, failure_groups.ACTION_CAP)
    outcome = GroupOutcome(total=group.count)
    history = f"{spec['label']} of failure group {group.key} by {user.get_username()}" + (
        f": {reason}" if reason else ""
    )
    for start in range(0, len(ids), GROUP_CHUNK):
        chunk = ids[start : start + GROUP_CHUNK]
        # A job retried, deleted or retried-and-failed-otherwise since the ids were read is left alone.
        still = set(
            Job.objects.filter(pk__in=chunk, state=State.FAILED, failure_group=group.key).values_list(
                "pk", flat=True
            )
        )
        for job_id in chunk:
            if job_id not in still:
                outcome.skipped.append((job_id, "no longer failed in this group"))
                continue
            refusal = apply_one(call, job_id, by=user, reason=history)
            if refusal is None:
                outcome.done.append(job_id)
            else:
                outcome.skipped.append((job_id, refusal))
    audit.record(
        user,
        spec["audit"],
        [(audit.FAILURE_GROUP, group.key), *((audit.JOB, job_id) for job_id in outcome.done)],
        reason=reason,
        summary=(
            f"{spec['label']} failure group {group.exception_name}: {group.fingerprint}"[:300]
            + f" — {len(outcome.done)} {spec['done']}, {len(outcome.skipped)} skipped"
        ),
        details={
            "group": group.key,
            "exception_class": group.exception_class,
            "fingerprint": group.fingerprint,
            "group_size": group.count,
            "cap": failure_groups.ACTION_CAP,
            "skipped": [{"job": str(job_id), "reason": text} for job_id, text in outcome.skipped],
        },
    )
    forget_cached()
    return outcome
