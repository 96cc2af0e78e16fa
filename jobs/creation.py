"""Creating jobs: validation of what a caller passes, and the insert of Job + JobState rows.

Everything that makes jobs (enqueue, continuations, batches, recurring firing, requeue of a
copy) goes through `new_job` and `insert_jobs`, so the checks are the same everywhere and
nothing is written half-way: the rows are built and validated first, then inserted together in
the caller's transaction. On PostgreSQL a NOTIFY in that same transaction wakes idle servers
when it commits (and is dropped with it on rollback).
"""

import inspect
import json
import uuid
from datetime import datetime, timedelta
from functools import cache

from django.db import connection, transaction
from django.db.models import AutoField, JSONField
from django.tasks import Task
from django.tasks.exceptions import InvalidTask
from django.utils import timezone

from jobs import filters, sql
from jobs.conf import jobs_settings
from jobs.flow import flow_fields, has_flow
from jobs.models import Job, JobState, State
from jobs.search import search_fields
from jobs.task import JobTask
from jobs.wakeup import NOTIFY_CHANNEL, SCHEDULED_PAYLOAD, notify_servers

# From this many rows on, a bulk insert goes through COPY (sql.copy_sql).
COPY_THRESHOLD = 200
# Rows per write of insert_calls' COPY.
COPY_CHUNK = 1000
BACKSLASH = "\\"


class ArgumentsTooLarge(ValueError):
    pass


def _describe(value) -> str:
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}" if kind.__module__ != "builtins" else kind.__name__


def _check_json(name: str, value) -> None:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"Argument {name} is not JSON: a {_describe(value)} cannot be stored in a job ({exc}). "
            "Pass ids, strings and numbers (money as a string), not objects."
        ) from None


def validate_arguments(task_name: str, args, kwargs) -> tuple[list, dict]:
    """Return (args, kwargs) as JSON-ready values, or raise a clear TypeError/ValueError."""
    args, kwargs, _, _ = encode_arguments(task_name, args, kwargs)
    return args, kwargs


@cache
def _call_signature(func, takes_context: bool) -> inspect.Signature:
    """The parameters a caller passes: a takes_context task's first one is the runner's."""
    signature = inspect.signature(func)
    if takes_context:
        signature = signature.replace(parameters=list(signature.parameters.values())[1:])
    return signature


@cache
def _plain_shape(func, takes_context: bool) -> tuple[tuple[str, ...], int] | None:
    """(parameter names, how many are required) when every parameter is an ordinary one (no
    *args, **kwargs, positional- or keyword-only): then a fit is a length and a name check."""
    parameters = list(_call_signature(func, takes_context).parameters.values())
    if any(p.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD for p in parameters):
        return None
    return tuple(p.name for p in parameters), sum(
        1 for p in parameters if p.default is inspect.Parameter.empty
    )


def bind_arguments(task: Task, args, kwargs) -> None:
    """Check that the arguments fit the task's function, as a call would: a job whose arguments
    do not fit could only fail, attempt after attempt. Raises a TypeError that names the task
    and its parameters."""
    takes_context = bool(task.takes_context)
    # The common shapes first: Signature.bind cost about as much as encoding the arguments
    # (21 µs against 30 µs a call on this machine; the check below 4 µs), which enqueue_many
    # would feel. bind still decides every other case and gives the error its words.
    shape = _plain_shape(task.func, takes_context)
    if shape is not None:
        names, required = shape
        given = len(args or ())
        if given <= len(names):
            if not kwargs:
                if given >= required:
                    return
            elif all(name in kwargs for name in names[given:required]) and all(
                key in names[given:] for key in kwargs
            ):
                return
    signature = _call_signature(task.func, takes_context)
    try:
        signature.bind(*(args or ()), **(kwargs or {}))
    except TypeError as exc:
        raise TypeError(f"{task.name}{signature} cannot be called with these arguments: {exc}.") from None


# json.dumps(..., allow_nan=False) builds a new encoder per call; enqueue_many encodes thousands.
_STRICT_JSON = json.JSONEncoder(allow_nan=False)


def encode_arguments(task_name: str, args, kwargs) -> tuple[list, dict, str, str]:
    """validate_arguments, also returning the JSON text of args and kwargs (encoded once)."""
    args = list(args or ())
    kwargs = dict(kwargs or {})
    for key in kwargs:
        if type(key) is not str:
            raise TypeError(f"Keyword argument names of {task_name}() must be strings, not {key!r}.")
    try:
        args_json, kwargs_json = _STRICT_JSON.encode(args), _STRICT_JSON.encode(kwargs)
    except (TypeError, ValueError):
        # Name the argument that is not JSON (only on this error path: one dumps per value).
        for index, value in enumerate(args):
            _check_json(f"#{index + 1} of {task_name}()", value)
        for key, value in kwargs.items():
            _check_json(f"{key!r} of {task_name}()", value)
        raise
    # The size of json.dumps([args, kwargs]), without encoding them again (ASCII: chars = bytes).
    size = len(args_json) + len(kwargs_json) + 4
    limit = jobs_settings.MAX_ARGUMENTS_BYTES
    if size > limit:
        raise ArgumentsTooLarge(
            f"Arguments of {task_name}() are {size} bytes, over the {limit}-byte limit: "
            "pass ids and load the data inside the job."
        )
    return args, kwargs, args_json, kwargs_json


def validate_queue(queue: str) -> str:
    if queue not in jobs_settings.QUEUES:
        raise InvalidTask(f"Unknown queue {queue!r}: the queues are {', '.join(jobs_settings.QUEUES)}.")
    return queue


def validate_run_after(run_after: datetime | None) -> datetime | None:
    if run_after is None:
        return None
    if not isinstance(run_after, datetime):
        raise TypeError(f"run_after must be a datetime, not {_describe(run_after)}.")
    if timezone.is_naive(run_after):
        raise ValueError("run_after must be an aware datetime (it is naive): use django.utils.timezone.")
    return run_after


def validate_delay(delay) -> timedelta:
    if isinstance(delay, int | float):
        delay = timedelta(seconds=delay)
    if not isinstance(delay, timedelta):
        raise TypeError(f"A delay is a timedelta or seconds, not {_describe(delay)}.")
    if delay < timedelta(0):
        raise ValueError(f"A delay cannot be negative ({delay}).")
    return delay


def new_job(
    task: Task,
    args=(),
    kwargs=None,
    *,
    state: str | None = None,
    run_after: datetime | None = None,
    now=None,
    **links,
) -> Job:
    """Build (not save) a validated Job for `task`. `links`: parent, continuation_on, batch,
    awaiting_batch, recurring_job."""
    if not isinstance(task, JobTask):
        raise InvalidTask(f"{task!r} is not a task of this job system: declare it with django.tasks' @task.")
    now = now or timezone.now()
    args, kwargs = validate_arguments(task.name, args, kwargs)
    bind_arguments(task, args, kwargs)
    validate_queue(task.queue_name)
    run_after = validate_run_after(run_after if run_after is not None else task.run_after)
    if state is None:
        state = State.SCHEDULED if run_after is not None and run_after > now else State.ENQUEUED
    return Job(
        **flow_fields(task, args, kwargs, now),
        **search_fields(task, args, kwargs),
        task_path=task.module_path,
        args=args,
        kwargs=kwargs,
        queue=task.queue_name,
        priority=task.priority,
        state=state,
        state_changed_at=now,
        created_at=now,
        run_at=run_after if state == State.SCHEDULED else None,
        enqueued_at=now if state == State.ENQUEUED else None,
        retry_policy=task.retry_policy_json(),
        timeout=task.timeout,
        **links,
    )


def initial_reason(job: Job) -> str:
    if job.state == State.SCHEDULED and job.run_at is not None:
        return f"Scheduled for {job.run_at.isoformat()}"
    if job.state == State.AWAITING:
        return "Waiting for its parent to finish"
    return "Enqueued"


def insert_jobs(jobs: list[Job], reasons: list[str] | None = None) -> list[Job]:
    """Insert jobs and their first history rows together, and wake the servers on commit.

    Returns the jobs inserted: a unique job (jobs/flow.py) whose key is live already is not, and
    its `duplicate_of` is set to the existing job instead.
    """
    if not jobs:
        return jobs
    history = [
        JobState(
            job=job,
            name=job.state,
            reason=(reasons[i] if reasons else "") or initial_reason(job),
            created_at=job.created_at,
        )
        for i, job in enumerate(jobs)
    ]
    if any(job.unique_key is not None for job in jobs):
        return _insert_with_unique(jobs, history)
    if connection.vendor == "postgresql" and len(jobs) == 1:
        _insert_one(jobs[0], history[0])
        _on_enqueued_hooks(jobs)
        return jobs
    with transaction.atomic():
        if connection.vendor == "postgresql" and len(jobs) >= COPY_THRESHOLD:
            copy_rows(Job, jobs)
            copy_rows(JobState, history)
        else:
            Job.objects.bulk_create(jobs, batch_size=1000)
            JobState.objects.bulk_create(history, batch_size=1000)
        notify_servers({job.queue for job in jobs if job.state == State.ENQUEUED})
        if any(job.state == State.SCHEDULED for job in jobs):
            notify_servers({SCHEDULED_PAYLOAD})
    _on_enqueued_hooks(jobs)
    return jobs


def _columns(model):
    """The columns we write (an auto-increment key is left to the database)."""
    fields = [f for f in model._meta.concrete_fields if not isinstance(f, AutoField)]
    json_fields = {f.attname for f in fields if isinstance(f, JSONField)}
    return fields, json_fields


def _values(obj, fields, json_fields) -> list:
    return [
        (None if value is None else json.dumps(value)) if f.attname in json_fields else value
        for f in fields
        for value in (getattr(obj, f.attname),)
    ]


def copy_rows(model, objects) -> None:
    """Insert model instances with PostgreSQL's COPY (PKs must be set, as our UUIDs are)."""
    fields, json_fields = _columns(model)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(sql.copy_sql(model, [f.column for f in fields])) as copy,
    ):
        for obj in objects:
            copy.write_row(_values(obj, fields, json_fields))


def insert_calls(task: Task, calls, *, now) -> list | None:
    """Jobs of one task that differ only in their arguments (enqueue_many), written by COPY
    straight from their JSON, without a Job instance per call: building and reading those
    instances cost more than PostgreSQL's side of the insert (bench/findings.md).

    Returns the job ids, or None when this path does not apply (not PostgreSQL, fewer than
    COPY_THRESHOLD calls, or on_enqueued filters that want Job instances): the caller then
    uses new_job + insert_jobs, which give the same rows.
    """
    calls = list(calls)
    if (
        connection.vendor != "postgresql"
        or len(calls) < COPY_THRESHOLD
        or _enqueued_hooks()
        or has_flow(task)
    ):
        # (flow keys differ per call and unique jobs need ON CONFLICT: the general path)
        return None
    # Validates the task, queue and run_after once (and the first call's arguments).
    template = new_job(task, *calls[0], now=now)
    fields, json_fields = _columns(Job)
    # (and the search columns, which follow the arguments: jobs/search.py)
    varying = ("id", "args", "kwargs", "tags", "search_terms")
    constant_fields = [f for f in fields if f.attname not in varying]
    columns = [*varying, *(f.column for f in constant_fields)]
    # COPY's text format, built here: every column but three is the same for all the rows, so it
    # is formatted once; JSON text needs only its backslashes doubled (json.dumps escapes the
    # control characters COPY would otherwise take as separators).
    job_tail = "\t".join(_copy_text(value) for value in _values(template, constant_fields, json_fields))
    history_tail = "\t".join(
        _copy_text(value) for value in (template.state, initial_reason(template), "{}", template.created_at)
    )
    ids = []
    with transaction.atomic(), connection.cursor() as cursor:
        # Rows go out in chunks while the next ones are encoded, so PostgreSQL inserts on one core
        # while Python formats on the other. A call that fails validation raises inside the COPY:
        # the COPY and the transaction are rolled back, nothing is written.
        with cursor.cursor.copy(sql.copy_sql(Job, columns)) as copy:
            for start in range(0, len(calls), COPY_CHUNK):
                lines = []
                for args, kwargs in calls[start : start + COPY_CHUNK]:
                    _, _, args_json, kwargs_json = encode_arguments(task.name, args, kwargs)
                    bind_arguments(task, args, kwargs)
                    job_id = uuid.uuid4()
                    ids.append(job_id)
                    found = search_fields(task, args, kwargs)
                    tags_json, terms_json = json.dumps(found["tags"]), json.dumps(found["search_terms"])
                    lines.append(
                        f"{job_id}\t{args_json.replace(BACKSLASH, BACKSLASH * 2)}"
                        f"\t{kwargs_json.replace(BACKSLASH, BACKSLASH * 2)}"
                        f"\t{tags_json.replace(BACKSLASH, BACKSLASH * 2)}"
                        f"\t{terms_json.replace(BACKSLASH, BACKSLASH * 2)}\t{job_tail}\n"
                    )
                copy.write("".join(lines).encode())
        with cursor.cursor.copy(sql.HISTORY_COPY_SQL) as copy:
            copy.write("".join(f"{job_id}\t{history_tail}\n" for job_id in ids).encode())
        notify_servers({template.queue} if template.state == State.ENQUEUED else {SCHEDULED_PAYLOAD})
    return ids


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value) -> str:
    """One value in COPY's text format (the values a Job row holds)."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES)
    if isinstance(value, int | float | uuid.UUID):
        return str(value)
    raise TypeError(f"No COPY text format for {_describe(value)}")


def existing_job(job: Job) -> Job:
    """The live job that stands for `job`, a unique job insert_jobs did not write."""
    if job.duplicate_of is None:
        raise ValueError(f"Job {job.pk} was written: it is no duplicate.")
    return job.duplicate_of


def _insert_with_unique(jobs: list[Job], history: list[JobState]) -> list[Job]:
    """insert_jobs when some jobs are unique: each unique one is its own INSERT … ON CONFLICT DO
    NOTHING (the partial unique index decides, so concurrent callers make one job), the rest in
    bulk; all in one transaction. A duplicate gets `duplicate_of`, the live job of its key."""
    inserted = []
    with transaction.atomic():
        plain = [(job, state) for job, state in zip(jobs, history, strict=True) if job.unique_key is None]
        if plain:
            Job.objects.bulk_create([job for job, _ in plain], batch_size=1000)
            JobState.objects.bulk_create([state for _, state in plain], batch_size=1000)
        for job, state in zip(jobs, history, strict=True):
            if job.unique_key is None or _insert_unique(job, state):
                inserted.append(job)
        notify_servers({job.queue for job in inserted if job.state == State.ENQUEUED})
        if any(job.state == State.SCHEDULED for job in inserted):
            notify_servers({SCHEDULED_PAYLOAD})
    _on_enqueued_hooks(inserted)
    return inserted


def _insert_unique(job: Job, state: JobState) -> bool:
    """Insert a unique job unless its key is live; False (and job.duplicate_of set) if it is."""
    from django.db import IntegrityError
    from django.db.models import F
    from django.db.models.functions import StrIndex

    for _ in range(5):
        if connection.vendor == "postgresql":
            if _insert_one(job, state, on_conflict_do_nothing=True, notify=False):
                return True
        else:
            try:
                with transaction.atomic():
                    job.save(force_insert=True)
                    state.save(force_insert=True)
                return True
            except IntegrityError:
                pass
        # The key is live: the job that holds it. It may have finished since the insert looked
        # (then the key is free and the insert is tried again).
        existing = (
            Job.objects.alias(live=StrIndex(F("unique_states"), F("state")))
            .filter(unique_key=job.unique_key, live__gt=0)
            .first()
        )
        if existing is not None:
            job.duplicate_of = existing
            return False
    raise RuntimeError(f"Job {job.unique_key!r}: its unique key kept changing hands; not enqueued.")


def _insert_one(
    job: Job, state: JobState, *, on_conflict_do_nothing: bool = False, notify: bool = True
) -> bool:
    """One job, its history row and the NOTIFY in one statement (sql.insert_one_sql). With
    `on_conflict_do_nothing` (a unique job) a live key inserts nothing: returns False."""
    fields, json_fields = _columns(Job)
    if not notify:
        payload = None
    elif job.state == State.ENQUEUED:
        payload = job.queue
    elif job.state == State.SCHEDULED:
        payload = SCHEDULED_PAYLOAD
    else:
        payload = None
    params = [*_values(job, fields, json_fields), state.name, state.reason, state.created_at]
    if payload:
        params += [NOTIFY_CHANNEL, payload]
    with connection.cursor() as cursor:
        cursor.execute(_insert_one_sql(bool(payload), on_conflict_do_nothing), params)
        done = cursor.fetchone() is not None
    if done:
        job._state.adding = False
    return done


@cache
def _insert_one_sql(notify: bool, on_conflict_do_nothing: bool = False) -> str:
    return sql.insert_one_sql([f.column for f in _columns(Job)[0]], notify, on_conflict_do_nothing)


def _enqueued_hooks() -> tuple:
    """The global filters, when one of them acts on enqueue (none otherwise)."""
    hooks = filters.global_filters()
    return hooks if any(type(h).on_enqueued is not filters.JobFilter.on_enqueued for h in hooks) else ()


def _on_enqueued_hooks(jobs):
    hooks = _enqueued_hooks()
    if hooks:

        def run_hooks() -> None:
            for job in jobs:
                filters.run_hook(hooks, "on_enqueued", job)

        transaction.on_commit(run_hooks)
