"""Retention: how long a finished job is kept, and its removal when that time is up.

The policy in force for a job is its task's `@task(retention=Retention(...))` where the task
declares one, else the settings: JOBS_RETENTION_SUCCEEDED, JOBS_RETENTION_DELETED (both default
to JOBS_EXPIRATION_SECONDS, the rule before policies existed) and JOBS_RETENTION_FAILED (unset:
a Failed job is kept until someone acts). None anywhere means "kept until someone acts".

When a job reaches a final state (jobs/states.py) its `expires_at` is set from that policy, so
expiry is a range scan of job_expiry_idx. `expire()` (the expire_jobs task's first step) deletes
what is due in chunks of EXPIRE_CHUNK rows, each one statement in its own short transaction that
takes the job's history and output rows with it (jobs/sql.py, EXPIRE_CHUNK_SQL). It only locks
rows in a final state, skipping any someone holds: a claim (Enqueued rows) never waits on it,
and a job requeued meanwhile is not removed (its expiry is cleared by the transition).
"""

import functools
import time
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from django.core.exceptions import ImproperlyConfigured
from django.tasks.exceptions import InvalidTask

from jobs.conf import jobs_settings

# The states a job is kept in for a while and then removed.
SUCCEEDED, DELETED, FAILED = "succeeded", "deleted", "failed"
RETAINED_STATES = (SUCCEEDED, DELETED, FAILED)
# Rows removed per statement: small enough that one chunk is a short transaction.
EXPIRE_CHUNK = 1000


class _Default:
    """A field of Retention the task leaves to the settings."""

    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT = _Default()


def _check_seconds(value, what: str, error: type[Exception]) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise error(
            f"{what} must be a positive number of seconds or None (kept until someone acts), not {value!r}."
        )
    return value


@dataclass(frozen=True, kw_only=True)
class Retention:
    """Seconds a job is kept after it Succeeded, was Deleted or Failed; None: kept until someone
    acts. A field left out follows the settings (JOBS_RETENTION_*)."""

    succeeded: float | None | _Default = DEFAULT
    deleted: float | None | _Default = DEFAULT
    failed: float | None | _Default = DEFAULT

    def __post_init__(self):
        for field in fields(self):
            value = getattr(self, field.name)
            if value is not DEFAULT:
                _check_seconds(value, f"Retention {field.name}", InvalidTask)

    def seconds(self, state: str) -> float | None:
        """Keep-time of `state` (a resolved policy: no DEFAULT left)."""
        value = getattr(self, str(state))
        assert value is not DEFAULT, "resolve the policy first (policy_for)"
        return value

    def over(self, base: "Retention") -> "Retention":
        """This policy, with `base`'s values where this one says DEFAULT."""
        return Retention(
            **{
                f.name: getattr(base, f.name) if getattr(self, f.name) is DEFAULT else getattr(self, f.name)
                for f in fields(self)
            }
        )


def configured() -> Retention:
    """The settings' policy (checked: a wrong value is an ImproperlyConfigured, not a silent
    "keep forever")."""
    return Retention(
        **{
            state: _check_seconds(
                getattr(jobs_settings, f"RETENTION_{state.upper()}"),
                f"DHANMAN_JOBS RETENTION_{state.upper()}",
                ImproperlyConfigured,
            )
            for state in RETAINED_STATES
        }
    )


@functools.cache
def _declared_by_module(task_path: str) -> Retention | None:
    from jobs.registry import UnknownTask, resolve_task

    try:
        task = resolve_task(task_path)
    except UnknownTask:
        return None  # a job of a task since removed: the settings apply
    return getattr(task, "retention", None)


def _declared(task_path: str) -> Retention | None:
    """A task's own Retention, if it declares one (tasks do not change while a process runs, so
    the answer is kept). A module that raises at import (a broken deploy: the job is failing for
    that very reason) gets the settings' policy, and is asked again next time, not cached."""
    try:
        return _declared_by_module(task_path)
    except Exception:
        return None


def policy_for(task_path: str) -> Retention:
    """The policy in force for `task_path`'s jobs: its declaration over the settings."""
    declared = _declared(task_path)
    base = configured()
    return declared.over(base) if declared is not None else base


def keep_seconds(task_path: str, state: str) -> float | None:
    """How long a job of `task_path` is kept in `state` (None: until someone acts, or `state` is
    not one jobs are removed from)."""
    if state not in RETAINED_STATES:
        return None
    return policy_for(task_path).seconds(state)


def expiry_for(task_path: str, state: str, at: datetime) -> datetime | None:
    """When a job of `task_path` that reached `state` at `at` is removed (None: it is not)."""
    seconds = keep_seconds(task_path, state)
    return at + timedelta(seconds=seconds) if seconds is not None else None


def describe(task_path: str, state: str, expires_at: datetime | None, now: datetime) -> str:
    """What the console says of a job's expiry: "expires in 3 hours", "kept until someone acts",
    or "" for a job that is not finished."""
    from django.utils.timesince import timeuntil

    if state not in RETAINED_STATES:
        return ""
    if expires_at is None:
        return "kept until someone acts"
    if expires_at <= now:
        return "expired: removed at the next cleanup"
    return f"expires in {timeuntil(expires_at, now)}"


def describe_policy(policy: Retention) -> str:
    """A task's policy in a line: "succeeded 1 day, deleted 1 day, failed kept"."""
    from django.utils.timesince import timeuntil

    def one(seconds) -> str:
        if seconds is None:
            return "kept"
        now = datetime(2000, 1, 1)
        return timeuntil(now + timedelta(seconds=seconds), now)

    return ", ".join(f"{state} {one(policy.seconds(state))}" for state in RETAINED_STATES)


def expire(now: datetime, *, chunk: int = EXPIRE_CHUNK, pause: float = 0.0) -> int:
    """Delete the jobs whose expiry has come, `chunk` at a time, with their history and output.

    Each chunk is its own statement and transaction; `pause` seconds between chunks let a
    busy machine breathe during a large backlog. Returns how many jobs were removed.
    """
    from django.db import connection, transaction

    from jobs import sql
    from jobs.models import Job

    if not isinstance(chunk, int) or chunk <= 0:
        raise ValueError(f"chunk must be a positive number of rows, not {chunk!r}.")
    removed = 0
    while True:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(sql.EXPIRE_CHUNK_SQL, {"now": now, "limit": chunk})
                    gone = cursor.fetchone()[0]
            else:
                # The statement's twin: the ORM's delete collects the history and output
                # (CASCADE) and clears the links (SET_NULL) itself.
                ids = list(
                    Job.objects.filter(expires_at__lte=now, state__in=RETAINED_STATES)
                    .order_by("expires_at")
                    .values_list("id", flat=True)[:chunk]
                )
                gone = Job.objects.filter(pk__in=ids).delete()[1].get("jobs.Job", 0) if ids else 0
        removed += gone
        if gone < chunk:
            return removed
        if pause:
            time.sleep(pause)
