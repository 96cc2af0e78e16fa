"""The job state machine: every transition a job can take, defined once.

- `ALLOWED` says which state may follow which.
- `apply_state` applies one transition to one locked row through the ORM: the row, its JobState
  history row, the batch counters and continuations (jobs/batches.py, jobs/continuations.py),
  and the filters' `on_state_changed` hook after commit.
- The three transitions on the hot path are also written as SQL (jobs/sql.py): the claim
  (Enqueued -> Processing), the fast success (Processing -> Succeeded) and the bulk promotion of
  due Scheduled jobs (Scheduled -> Enqueued). Each is a `Transition` here: its source and target
  states and the columns it sets. sql.py renders those columns into its statements, and the
  portable ORM paths (SQLite, and the general outcome path) take the very same columns from
  `Transition.orm_values`, so the two cannot drift apart. After such a statement its caller hands
  the rows to `claimed`, `succeeded` or `promoted`, which do what `apply_state` does after its
  UPDATE (batch counters, continuations, the hook), for every row.
- Cancel requests (`request_cancel`) and server status (`server_status_for`, `mark_dead_servers`,
  `mark_stopped`) are written here too, with their enums.

Every function must run in a transaction that holds the rows it changes (select_for_update, a
fenced UPDATE, or one statement), so two processes cannot both move the same job.
"""

import enum
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from django.db import transaction
from django.db.models import Case, F, Value, When
from django.db.models.functions import Greatest
from django.utils import timezone

from jobs import batches, continuations, filters, fingerprints, retention
from jobs.conf import jobs_settings
from jobs.models import CancelReason, Job, JobState, Server, ServerStatus, State

# Django's backends log a task's lifecycle on this logger (django/tasks/signals.py); every state
# change of ours goes there too, with the job's id.
task_logger = logging.getLogger("django.tasks")

ALLOWED: dict[str, set[str]] = {
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


def expiry_for(state: str, now: datetime, task_path: str = "") -> datetime | None:
    """When a job of `task_path` that reached `state` at `now` is removed: its retention policy
    (jobs/retention.py; None: kept, or not a state jobs are removed from)."""
    return retention.expiry_for(task_path, state, now)


# --- Transitions shared by the SQL and the ORM paths -----------------------------------------


class Computed(enum.Enum):
    """Column values that are not plain parameters; sql.py and `orm_values` each render them."""

    NOW = "the statement's time (parameter now)"
    # A job's timeline never goes backwards: max(now, the row's state_changed_at).
    CLOCK = "GREATEST(now, state_changed_at)"
    EXPIRY = "expiry_for(target, CLOCK)"
    NEW_TOKEN = "a fresh fetch token"
    NEXT_ATTEMPT = "attempt + 1"
    # A job that reported progress ends at 100; one that never did stays without.
    PROGRESS_DONE = "100 when progress was reported, else NULL"


@dataclass(frozen=True)
class Param:
    """A column set from a named parameter of the statement (`cast`: its SQL type, if any)."""

    name: str
    cast: str = ""


@dataclass(frozen=True)
class Transition:
    name: str
    source: State
    target: State
    # Column (field name) -> a constant, a Param or a Computed; `state` itself is implied.
    sets: dict[str, Any] = field(default_factory=dict)

    def orm_values(self, params: dict, job: Job | None = None) -> dict[str, Any]:
        """The columns as the ORM writes them: concrete values for `job` when it is given (one
        locked row), else expressions valid in a queryset's update()."""
        now: datetime = params["now"]
        clock = now if job is None or not job.state_changed_at else max(now, job.state_changed_at)
        values: dict[str, Any] = {"state": self.target}
        for name, spec in self.sets.items():
            if isinstance(spec, Param):
                values[name] = params[spec.name]
            elif spec is Computed.NOW:
                values[name] = now
            elif spec is Computed.CLOCK:
                values[name] = clock if job is not None else Greatest(Value(now), F("state_changed_at"))
            elif spec is Computed.EXPIRY:
                values[name] = expiry_for(self.target, clock, job.task_path) if job is not None else None
            elif spec is Computed.NEW_TOKEN:
                values[name] = uuid.uuid4()
            elif spec is Computed.NEXT_ATTEMPT:
                values[name] = job.attempt + 1 if job is not None else F("attempt") + 1
            elif spec is Computed.PROGRESS_DONE:
                if job is not None:
                    values[name] = 100 if job.progress is not None else None
                else:
                    values[name] = Case(When(progress__isnull=True, then=None), default=Value(100))
            else:
                values[name] = spec
        return values


# Enqueued -> Processing: a server (worker_pid NULL: the pusher, for its local queue) or a worker
# (for itself) takes the job, with a fresh fetch token that fences the delivery and a lease.
CLAIM = Transition(
    "claim",
    State.ENQUEUED,
    State.PROCESSING,
    {
        "state_reason": Param("claim_reason"),
        # Never before the job's last change: a claim whose `now` was taken just before the
        # enqueue (or the reaper's requeue) committed must not sort ahead of it in the history.
        "state_changed_at": Computed.CLOCK,
        "fetch_token": Computed.NEW_TOKEN,
        "lease_until": Param("lease_until"),
        "server_id": Param("server"),
        "worker_pid": Param("worker_pid"),
        "attempt": Computed.NEXT_ATTEMPT,
        "started_at": Computed.NOW,
        "expires_at": None,
    },
)
# Processing -> Succeeded: the outcome of a run that returned; the delivery's token is dropped.
SUCCEED = Transition(
    "succeed",
    State.PROCESSING,
    State.SUCCEEDED,
    {
        "state_reason": Param("reason"),
        "state_changed_at": Computed.CLOCK,
        "expires_at": Computed.EXPIRY,
        "fetch_token": None,
        "lease_until": None,
        "finished_at": Computed.CLOCK,
        "worker_pid": None,
        "result": Param("result", "jsonb"),
        "progress": Computed.PROGRESS_DONE,
    },
)
# Scheduled -> Enqueued: a delayed job or a retry whose time came.
PROMOTE = Transition(
    "promote",
    State.SCHEDULED,
    State.ENQUEUED,
    {
        "state_reason": Param("reason"),
        "state_changed_at": Computed.NOW,
        "enqueued_at": Computed.NOW,
        "run_at": None,
    },
)
PROMOTE_REASON = "Scheduled time reached"


def claim_reason(server_id: str | None) -> str:
    return f"Claimed by server {server_id}" if server_id else "Claimed"


def succeed_reason(duration: float) -> str:
    return f"Completed in {duration:.3f} s"


# --- One row through the ORM -------------------------------------------------------------------


def apply_state(
    job: Job,
    new_state: str,
    reason: str = "",
    *,
    data: dict | None = None,
    now: datetime | None = None,
    fields: dict | None = None,
    check: bool = True,
) -> Job:
    """Move `job` to `new_state` (saving `fields` with it) and record it in the history."""
    old_state = job.state
    if check and new_state not in ALLOWED.get(old_state, ()):
        raise InvalidTransition(f"A job cannot go from {old_state} to {new_state}.")
    now = now or timezone.now()
    if job.state_changed_at and now < job.state_changed_at:
        # Clocks of different processes, or a time read before a lock wait: a job's timeline
        # never goes backwards.
        now = job.state_changed_at
    fields = dict(fields or {})
    fields.update(
        state=new_state,
        state_reason=reason,
        state_changed_at=now,
        expires_at=expiry_for(new_state, now, job.task_path),
    )
    if new_state == State.ENQUEUED:
        fields.setdefault("enqueued_at", now)
    if new_state == State.FAILED:
        # Its failure group (jobs/fingerprints.py), for the console's indexed GROUP BY.
        fields["failure_group"] = fingerprints.group_key(
            fields.get("exception_class", job.exception_class),
            fields.get("exception_message", job.exception_message),
        )
    for name, value in fields.items():
        setattr(job, name, value)
    Job.objects.filter(pk=job.pk).update(**fields)
    JobState.objects.create(job=job, name=new_state, reason=reason, data=data or {}, created_at=now)
    after_state_change(job, old_state, new_state, reason, now)
    return job


def apply_transition(transition: Transition, job: Job, params: dict, *, data: dict | None = None) -> Job:
    """`transition` on one locked row through the ORM: the portable twin of its SQL statement."""
    values = transition.orm_values(params, job)
    reason = values.pop("state_reason", "")
    now = values.pop("state_changed_at", params["now"])
    values.pop("state")
    return apply_state(job, transition.target, reason, data=data, now=now, fields=values)


def after_state_change(
    job: Job, old_state: str, new_state: str, reason: str, now: datetime, *, has_continuations: bool = True
) -> None:
    """What follows any transition of a job, in its transaction: its batch and continuations
    learn of it, and the on_state_changed hooks run once it commits."""
    if new_state in COUNTED_IN_BATCH and old_state not in COUNTED_IN_BATCH and job.batch_id:
        batches.count_in_batch(job, new_state, now)
    elif old_state in COUNTED_IN_BATCH and new_state not in COUNTED_IN_BATCH and job.batch_id:
        batches.uncount_in_batch(job, old_state)
    if has_continuations and (new_state in FINAL or new_state == State.FAILED):
        continuations.release_continuations(job, now)
    _changed([job], old_state, new_state, reason)


# --- Many rows, after a hot statement ------------------------------------------------------------


def claimed(job_ids: list, reason: str) -> None:
    """Jobs a claim statement made Processing (no batch or continuation effect: Enqueued and
    Processing both count as not done)."""
    _changed_by_id(job_ids, State.ENQUEUED, State.PROCESSING, reason)


def succeeded(job: Job, reason: str, now: datetime) -> None:
    """A job the fast-success statement made Succeeded (it only applies to jobs without a batch
    or continuations, so only the hook is left)."""
    _changed([job], State.PROCESSING, State.SUCCEEDED, reason)


def promoted(job_ids: list, reason: str = PROMOTE_REASON) -> None:
    """Scheduled jobs a bulk promotion made Enqueued."""
    _changed_by_id(job_ids, State.SCHEDULED, State.ENQUEUED, reason)


@cache
def _hook_owners(filter_set: tuple) -> tuple:
    return tuple(h for h in filter_set if type(h).on_state_changed is not filters.JobFilter.on_state_changed)


def state_hooks() -> tuple:
    """The global filters that override on_state_changed (none by default: then a bulk
    transition loads nothing)."""
    return _hook_owners(filters.global_filters())


def _changed(jobs: list[Job], old_state: str, new_state: str, reason: str) -> None:
    if task_logger.isEnabledFor(logging.DEBUG):
        for job in jobs:
            task_logger.debug(
                "Task id=%s path=%s state %s -> %s: %s", job.pk, job.task_path, old_state, new_state, reason
            )
    hooks = state_hooks()
    if hooks:

        def run_hooks() -> None:
            for job in jobs:
                filters.run_hook(hooks, "on_state_changed", job, old_state, new_state, reason)

        transaction.on_commit(run_hooks)


def _changed_by_id(job_ids: list, old_state: str, new_state: str, reason: str) -> None:
    if not job_ids or not (state_hooks() or task_logger.isEnabledFor(logging.DEBUG)):
        return
    _changed(list(Job.objects.filter(pk__in=job_ids)), old_state, new_state, reason)


# --- Cancel requests ------------------------------------------------------------------------------


def request_cancel(jobs, reason: CancelReason) -> int:
    """Ask Processing jobs (a queryset) to stop; their worker records the outcome `reason` asks
    for (Deleted, or back to the queue on shutdown) when it sees the flag or the job ends."""
    return jobs.filter(state=State.PROCESSING).update(cancel_requested=True, cancel_reason=reason)


# --- Server status --------------------------------------------------------------------------------

# The servers that may still hold jobs.
ALIVE = (ServerStatus.RUNNING, ServerStatus.STOPPING)
# django-q2's Stat.status, as our Server.status.
_FROM_DJANGO_Q = {"Stopping": ServerStatus.STOPPING, "Stopped": ServerStatus.STOPPED}


def server_status_for(django_q_status: str) -> ServerStatus:
    return _FROM_DJANGO_Q.get(str(django_q_status), ServerStatus.RUNNING)


def mark_dead_servers(now: datetime) -> int:
    """Servers silent for SERVER_TIMEOUT are dead (the reaper then takes their jobs)."""
    return Server.objects.filter(
        status__in=ALIVE, heartbeat_at__lt=now - timedelta(seconds=jobs_settings.SERVER_TIMEOUT)
    ).update(status=ServerStatus.DEAD)


def mark_stopped(server_id: str, now: datetime | None = None) -> None:
    Server.objects.filter(pk=server_id).update(status=ServerStatus.STOPPED, stopped_at=now or timezone.now())
