"""The console's actions, each one call into the engine's API (`jobs.api`), never an UPDATE.

An action on many jobs is that call once per job, each in its own transaction: one job that
cannot be requeued (it started running meanwhile) does not undo the others, and the person is
told exactly which ones failed and why. Every action is recorded in the audit trail
(jobs.audit): who, what, on which jobs (those done; the refused ones in its details), when, why.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jobs import audit
from jobs.models import Job, State

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

    def messages(self) -> list[tuple[str, str]]:
        """(level, text) pairs for django.contrib.messages."""
        found = []
        if self.done:
            noun = "job" if len(self.done) == 1 else "jobs"
            found.append(("success", f"{len(self.done)} {noun} {self.verb}."))
        for job_id, reason in self.refused:
            found.append(("error", f"Job {job_id}: {reason}"))
        return found


def actions_for(job: Job) -> list[str]:
    return [name for name, spec in JOB_ACTIONS.items() if job.state in spec["states"]]


def _api_call(action: str) -> Callable:
    from jobs import api

    return {"requeue": api.requeue, "delete": api.delete, "cancel": api.cancel}[action]


def run_job_action(action: str, job_ids, *, user, reason: str = "") -> Outcome:
    """Apply `action` to each job through jobs.api, collecting what was done and what was refused."""
    from jobs.api import InvalidOperation, JobNotFound
    from jobs.states import InvalidTransition

    call = _api_call(action)
    outcome = Outcome(verb=JOB_ACTIONS[action]["done"])
    for job_id in job_ids:
        try:
            call(job_id, by=user, **({"reason": _history_reason(action, user, reason)} if reason else {}))
        except JobNotFound:
            outcome.refused.append((job_id, "it no longer exists."))
        except (InvalidOperation, InvalidTransition) as exc:
            outcome.refused.append((job_id, str(exc)))
        else:
            outcome.done.append(job_id)
    noun = "job" if len(outcome.done) == 1 else "jobs"
    audit.record(
        user, action, [(audit.JOB, job_id) for job_id in outcome.done], reason=reason,
        summary=f"{JOB_ACTIONS[action]['label']}: {len(outcome.done)} {noun} {outcome.verb}"
        + (f", {len(outcome.refused)} refused" if outcome.refused else ""),
        details={"refused": [{"job": str(job_id), "reason": text} for job_id, text in outcome.refused]},
    )
    _forget_cached()
    return outcome


def cancel_batch(batch_id, *, user, reason: str = "") -> Outcome:
    from jobs.api import InvalidOperation, JobNotFound, cancel_batch

    outcome = Outcome(verb="cancelled")
    try:
        cancel_batch(batch_id, by=user)
    except (JobNotFound, InvalidOperation) as exc:
        outcome.refused.append((batch_id, str(exc)))
    else:
        outcome.done.append(batch_id)
    audit.record(user, "batch_cancel", [(audit.BATCH, batch_id)], reason=reason,
                 summary="Batch cancelled" if outcome.done else f"Batch not cancelled: {outcome.refused[0][1]}")
    _forget_cached()
    return outcome


RECURRING_ACTIONS = {
    "trigger": "triggered",
    "enable": "enabled",
    "disable": "disabled",
    "remove": "removed",
}


def run_recurring_action(action: str, recurring_id: str, *, user, reason: str = "") -> tuple[str, str]:
    """(level, message) for a recurring job's trigger / enable / disable / remove."""
    from jobs import api

    call = getattr(api, action)
    targets = [(audit.RECURRING, recurring_id)]
    try:
        result = call(recurring_id)
    except (LookupError, ValueError) as exc:
        message = f"Recurring job {recurring_id}: {exc}"
        audit.record(user, f"recurring_{action}", targets, reason=reason, summary=f"Refused: {exc}")
        return "error", message
    _forget_cached()
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


def _forget_cached():
    from jobs.console.stats import forget_cached

    forget_cached()
