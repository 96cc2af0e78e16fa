"""What a django-q2 worker runs for each claimed job: `perform(job_id, token)` — and, in a job
server's worker, the jobs it then claims for itself while there is work (jobs/worker.py).

The token fences the delivery: only the holder of the job's current fetch token may start or
finish it, so a stale or duplicate delivery (a job reaped while its first worker still ran)
does nothing. The outcome — final state, history row, retry scheduling, continuations released
and batch counters — is written in one transaction.
"""

import json
import logging
import os
import signal
import time
import traceback
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django.utils.json import normalize_json
from django_q.exceptions import TimeoutException

from jobs import capacity, output, worker
from jobs.broker import CLAIM_CTES, JOB_COLUMNS, JOB_FIELDS, claim_parameters, release_worker_claims
from jobs.filters import Stopwatch, filters_for, run_hook
from jobs.models import Job, State
from jobs.registry import UnknownTask, resolve_task
from jobs.retry import Retry
from jobs.states import apply_state

logger = logging.getLogger("jobs.runner")


class JobTimeout(BaseException):
    """The job ran past its timeout. A BaseException, so `except Exception` in a task cannot
    swallow it."""


class JobCancelled(BaseException):
    """Raised by `context.raise_if_cancelled()` when the job was deleted or its server stops."""


class ServerStoppedResponding(Exception):
    """Recorded on jobs the reaper gave up on."""


class WorkerKilled(Exception):
    """Recorded on a job whose worker process died under it DHANMAN_JOBS["MAX_WORKER_DEATHS"]
    times (a segfault, os._exit, the OOM killer): running it again would only kill another."""


class JobContext:
    """What a task declared with `takes_context=True` receives as its first argument."""

    CHECK_EVERY = 0.5  # seconds between database checks of the cancellation flag

    def __init__(self, job: Job, token: str):
        self.job = job
        self.job_id = str(job.pk)
        self.attempt = job.attempt
        self.token = token
        self._cancelled = False
        self._checked_at = 0.0
        # The attempt's output buffer while the task runs (jobs.output.capture sets it).
        self.output: output.Capture | None = None

    def log(self, message: str) -> None:
        """A line of the job's output, shown per attempt on its console page (jobs/output.py)."""
        if self.output is not None:
            self.output.line(str(message))
        else:  # outside the task body (a filter's hook): the worker's log is the only place
            logger.info("Job %s: %s", self.job_id, message)

    def is_cancelled(self) -> bool:
        if not self._cancelled and time.monotonic() - self._checked_at >= self.CHECK_EVERY:
            self._checked_at = time.monotonic()
            self._cancelled = Job.objects.filter(pk=self.job.pk, cancel_requested=True).exists()
        return self._cancelled

    def raise_if_cancelled(self) -> None:
        if self.is_cancelled():
            raise JobCancelled(f"Job {self.job_id} was cancelled")

    def progress(self, percent: float, message: str = "") -> None:
        percent = max(0, min(100, int(percent)))
        Job.objects.filter(pk=self.job.pk, fetch_token=self.token).update(
            progress=percent, progress_message=str(message)[:500]
        )
        if self.output is not None:  # a moment the task chose: let the console see its lines too
            self.output.maybe_flush()


@contextmanager
def time_limit(seconds: float | None):
    """Raise JobTimeout in this (main) thread after `seconds`."""
    if not seconds:
        yield
        return

    def expire(signum, frame):
        raise JobTimeout(f"Job exceeded its timeout of {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def perform(job_id: str, token: str) -> str:
    """Run a claimed job; then, in a job server's worker, the jobs it claims itself (worker.py).

    Returns the state the last job ended in ('stale' for a fenced-off delivery).
    """
    try:
        job = _start(job_id, token)
        if job is None:
            return "stale"
        runs = 1
        while True:
            try:
                outcome, job = _run(job, claim_next=runs < worker.chain_limit())
            except (Exception, SystemExit) as exc:  # e.g. a filter's hook calling exit()
                outcome, job = _fail_outside_task(job, exc), None
            if job is None:
                return outcome
            runs += 1
            # django-q2 armed its alarm and guard for the package's first job: re-arm for this one.
            signal.alarm(0)
            worker.arm_guard(job.timeout)
    finally:
        capacity.release()


def _fail_outside_task(job: Job, exc: BaseException) -> str:
    """The last resort for an error outside the task body (a filter, the outcome's own code): end
    the attempt as a task error would, so that the job is never left Processing under a live
    worker whose server keeps renewing its lease."""
    logger.exception("Job %s: error outside its task; recorded as the attempt's failure", job.pk)
    if worker.server_id() is not None:
        # A next job claimed in a statement that committed before the error is given back.
        with_database_retry(lambda: release_worker_claims(worker.server_id(), os.getpid(), keep=job.pk),
                            "giving back a worker's claims")
    return with_database_retry(
        lambda: _finish(job, str(job.fetch_token), result=None, exception=exc, duration=0.0, retry=True),
        "recording a job's outcome",
    )


# While the database restarts, a worker keeps trying to record its job's outcome for this long.
DATABASE_RETRY_SECONDS = 60.0


def with_database_retry(operation, what: str):
    """Run `operation`, reconnecting while the database is unavailable.

    A worker that still cannot reach the database after DATABASE_RETRY_SECONDS exits: its pid
    leaves the server's worker list, the job's lease is no longer renewed, and the reaper
    returns the job to its queue — a job is never left Processing with a live lease forever.
    """
    deadline = time.monotonic() + DATABASE_RETRY_SECONDS
    delay = 0.2
    while True:
        try:
            return operation()
        except DatabaseError as exc:
            connection.close()
            if time.monotonic() > deadline or not _in_worker_process():
                if _in_worker_process():
                    logger.error("Database unreachable while %s (%s); worker exits", what, exc)
                    os._exit(3)
                raise
            logger.warning("Database unavailable while %s (%s); retrying", what, exc)
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


def _in_worker_process() -> bool:
    return capacity.installed()


START_SQL = f"""
UPDATE jobs_job AS j SET worker_pid = %s, started_at = %s
WHERE j.id = %s AND j.fetch_token = %s AND j.state = 'processing'
RETURNING {JOB_COLUMNS}
"""

# The common outcome — success of a job with no batch, no continuation attached and no cancel
# request — is one statement: final state + history row, in autocommit. Every condition is a
# column of the row itself, so if continue_with or a cancel commits while this statement waits
# for the row, PostgreSQL re-checks them on the new row version; when they no longer hold it
# updates nothing and the job takes the general path.
SUCCEED_CTES = """
done AS (
    UPDATE jobs_job AS j
    SET state = 'succeeded', state_reason = %(reason)s, state_changed_at = GREATEST(%(now)s, j.state_changed_at),
        expires_at = GREATEST(%(now)s, j.state_changed_at) + %(expiration)s * interval '1 second',
        fetch_token = NULL, lease_until = NULL, finished_at = GREATEST(%(now)s, j.state_changed_at),
        worker_pid = NULL, result = %(result)s::jsonb, progress = CASE WHEN j.progress IS NULL THEN NULL ELSE 100 END
    WHERE j.id = %(id)s AND j.fetch_token = %(token)s AND j.state = 'processing'
      AND NOT j.cancel_requested AND NOT j.has_continuations AND j.batch_id IS NULL
    RETURNING j.id, j.attempt, j.server_id, j.state_changed_at, j.expires_at
), history AS (
    INSERT INTO jobs_jobstate (job_id, name, reason, data, created_at)
    SELECT id, 'succeeded', %(reason)s,
           jsonb_build_object('duration', %(duration)s::float8, 'attempt', attempt, 'server', server_id),
           state_changed_at
    FROM done
)
"""
SUCCEED_SQL = f"WITH {SUCCEED_CTES} SELECT state_changed_at, expires_at FROM done"
# The same, with this worker's next job claimed in it (broker.CLAIM_CTES): one row, its columns
# NULL for what did not happen.
SUCCEED_AND_CLAIM_SQL = f"""
WITH {SUCCEED_CTES}, {CLAIM_CTES}
SELECT done.state_changed_at, done.expires_at, claimed.*
FROM (SELECT 1) AS one LEFT JOIN done ON true LEFT JOIN claimed ON true
"""
WORKER_CLAIM_SQL = f"WITH {CLAIM_CTES} SELECT * FROM claimed"


def _converters(field):
    """The field's from-database conversions (JSON decoding), as the ORM would apply them."""
    column = field.get_col(Job._meta.db_table)
    functions = connection.ops.get_db_converters(column) + field.get_db_converters(connection)
    return [(function, column) for function in functions]


def load_job(row) -> Job:
    """A Job from a row of START_SQL: the ORM's from_db without the RawQuerySet machinery, which
    cost more than the statement itself on a no-op job (bench/findings.md)."""
    global _JOB_CONVERTERS
    if _JOB_CONVERTERS is None:
        _JOB_CONVERTERS = [_converters(field) for field in JOB_FIELDS]
    values = list(row)
    for index, converters in enumerate(_JOB_CONVERTERS):
        for function, column in converters:
            values[index] = function(values[index], column, connection)
    return Job.from_db(connection.alias, [field.attname for field in JOB_FIELDS], values)


_JOB_CONVERTERS = None


def _start(job_id: str, token: str) -> Job | None:
    """Fence the delivery and load the job; None when this delivery no longer holds it."""

    def start():
        if connection.vendor != "postgresql":
            fenced = Job.objects.filter(pk=job_id, fetch_token=token, state=State.PROCESSING).update(
                worker_pid=os.getpid(), started_at=timezone.now()
            )
            return Job.objects.get(pk=job_id) if fenced else None
        # Fence and load in one round trip: the row comes back only if this delivery holds it.
        with connection.cursor() as cursor:
            cursor.execute(START_SQL, [os.getpid(), timezone.now(), job_id, token])
            row = cursor.fetchone()
        return None if row is None else load_job(row)

    # django-q2 asks for a connection health check (a SELECT 1) before every task; this worker's
    # first statement is the fence, which with_database_retry already retries on a new connection
    # when the old one is broken — so the extra round trip buys nothing here.
    connection.health_check_done = True
    job = with_database_retry(start, "starting a job")
    if job is None:
        logger.info("Job %s: stale delivery ignored (token %s)", job_id, token)
    return job


def _run(job: Job, *, claim_next: bool) -> tuple[str, Job | None]:
    """Run a job this worker holds; return the state it ended in, and the next job when
    `claim_next` and one was claimed."""
    token = str(job.fetch_token)
    try:
        task = resolve_task(job.task_path)
    except UnknownTask as exc:
        return finish(job, token, exception=exc, duration=0.0, retry=False, claim_next=claim_next)
    except Exception as exc:
        # The task's module raised while this worker imported it (InvalidTask, a RuntimeError of
        # its own): a failed attempt like any task error, retried by the job's policy.
        return finish(job, token, exception=exc, duration=0.0, claim_next=claim_next)

    context = JobContext(job, token)
    filters = filters_for(task)
    run_hook(filters, "on_performing", context)
    watch = Stopwatch()
    result, exception = None, None
    try:
        with output.capture(context), time_limit(job.timeout):
            if task.takes_context:
                result = task.call(context, *job.args, **job.kwargs)
            else:
                result = task.call(*job.args, **job.kwargs)
        result = _json_result(task, result)
    except TimeoutException as exc:  # django-q2's guard timer fired before ours
        exception = JobTimeout(str(exc))
    except KeyboardInterrupt:
        raise  # someone stops this process: as in Django's own backends, let them
    except BaseException as exc:
        # SystemExit and exit() too: that task's failure, not its worker's end (Django's backends).
        exception = exc
    duration = watch.elapsed
    run_hook(filters, "on_performed", context, exception, duration)
    return finish(job, token, result=result, exception=exception, duration=duration, claim_next=claim_next)


_STRICT_JSON = json.JSONEncoder(allow_nan=False)


def _json_result(task, value):
    """The task's return value as JSON (tuples become lists), or the TypeError Django's contract
    gives a value that is not JSON (a set, an object, NaN): callers never read what they cannot use."""
    try:
        normalized = normalize_json(value)
        _STRICT_JSON.encode(normalized)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{task.module_path}() returned a {type(value).__name__}, which is not JSON ({exc}): "
            "return ids, strings, numbers, lists and dicts."
        ) from None
    return normalized


def _exception_fields(exc: BaseException) -> dict:
    kind = type(exc)
    return {
        "exception_class": f"{kind.__module__}.{kind.__qualname__}",
        "exception_message": str(exc)[:10000],
        "exception_traceback": "".join(traceback.format_exception(exc))[-20000:],
    }


def finish(
    job: Job, token: str, *, result=None, exception=None, duration: float, retry: bool = True, claim_next: bool = False
) -> tuple[str, Job | None]:
    """Write the outcome of a run, if this delivery still holds the job; with `claim_next`, also
    claim this worker's next job. Returns (the job's state or 'stale', the next job or None)."""
    # Asked now, after the run: the server may have begun to stop while the job ran.
    claim_next = claim_next and connection.vendor == "postgresql" and worker.may_claim()
    next_job = None
    if exception is None and connection.vendor == "postgresql" and job.batch_id is None:
        state, next_job = _with_claim_retry(
            lambda: _succeed(job, token, result, duration, claim=claim_next),
            lambda: _succeed(job, token, result, duration, claim=False),
            job, claim_next, "recording a job's outcome",
        )
        if state is not None:
            return state, next_job
    # The general path: failures, retries, cancellations, continuations, batches, SQLite.
    outcome = with_database_retry(
        lambda: _finish(job, token, result=result, exception=exception, duration=duration, retry=retry),
        "recording a job's outcome",
    )
    if next_job is None and claim_next:
        next_job = _with_claim_retry(_claim_for_worker, lambda: None, job, True, "claiming the next job")
    return outcome, next_job


def _with_claim_retry(with_claim, without_claim, job: Job, claiming: bool, what: str):
    """Run `with_claim`, retrying through with_database_retry. A statement that claims may have
    committed although its answer was lost with the connection: before a retry, give back what
    this worker holds besides `job`, and retry with `without_claim`."""
    attempts = 0

    def operation():
        nonlocal attempts
        attempts += 1
        if attempts == 1 or not claiming:
            return with_claim()
        release_worker_claims(worker.server_id(), os.getpid(), keep=job.pk)
        return without_claim()

    return with_database_retry(operation, what)


def _claim_for_worker() -> Job | None:
    with connection.cursor() as cursor:
        cursor.execute(WORKER_CLAIM_SQL, _worker_claim_parameters(timezone.now()))
        row = cursor.fetchone()
    return None if row is None else load_job(row)


def _worker_claim_parameters(now) -> dict:
    """The claim of one job, from this server's queues, for this worker."""
    return claim_parameters(worker.server_id(), settings.DHANMAN_JOBS["SERVER_QUEUES"], 1, worker_pid=os.getpid(), now=now)


def _succeed(job: Job, token: str, result, duration: float, *, claim: bool) -> tuple[str | None, Job | None]:
    """Succeeded in one statement — and, with `claim`, this worker's next job claimed in it.

    The state is None when the job needs the general path (a continuation attached, a cancel
    request, a lost lease); a job claimed in the same statement is returned all the same.
    """
    from jobs.states import after_state_change

    reason = f"Completed in {duration:.3f} s"
    stored = result
    params = {
        "id": job.pk, "token": token, "reason": reason, "now": timezone.now(),
        "expiration": settings.DHANMAN_JOBS["EXPIRATION_SECONDS"],
        # None is SQL NULL, as the ORM stores it, not JSON null.
        "result": None if stored is None else json.dumps(stored), "duration": round(duration, 6),
    }
    if claim:
        params.update(_worker_claim_parameters(params["now"]))
    with connection.cursor() as cursor:
        cursor.execute(SUCCEED_AND_CLAIM_SQL if claim else SUCCEED_SQL, params)
        row = cursor.fetchone()
    if claim:
        done = row[:2] if row[0] is not None else None
        next_job = None if row[2] is None else load_job(row[2:])
    else:
        done, next_job = row, None
    if done is None:
        return None, next_job
    old_state = job.state
    job.state, job.state_reason, job.state_changed_at, job.expires_at = State.SUCCEEDED, reason, done[0], done[1]
    job.finished_at = done[0]
    job.fetch_token = job.lease_until = job.worker_pid = None
    job.result = stored
    after_state_change(job, old_state, State.SUCCEEDED, reason, done[0], has_continuations=False)
    return State.SUCCEEDED, next_job


def _finish(job: Job, token: str, *, result, exception, duration: float, retry: bool) -> str:
    with transaction.atomic():
        locked = Job.objects.select_for_update().filter(pk=job.pk, fetch_token=token, state=State.PROCESSING).first()
        if locked is None:
            logger.warning("Job %s: finished after losing its lease; outcome dropped", job.pk)
            return "stale"
        # Read the clock only once the row is ours: a continuation added while we waited for
        # the lock must not get a release time earlier than its own creation.
        now = timezone.now()
        cleared = {"fetch_token": None, "lease_until": None, "finished_at": now, "worker_pid": None}
        data = {"duration": round(duration, 6), "attempt": locked.attempt, "server": locked.server_id}
        if locked.cancel_requested:
            cleared.update(cancel_requested=False, cancel_reason="")
            if locked.cancel_reason == "shutdown":
                apply_state(locked, State.ENQUEUED, f"Server {locked.server_id} shut down before the job finished",
                            now=now, fields={**cleared, "finished_at": None}, data=data)
            else:
                apply_state(locked, State.DELETED, "Deleted while processing", now=now, fields=cleared, data=data)
        elif exception is None:
            apply_state(
                locked, State.SUCCEEDED, f"Completed in {duration:.3f} s", now=now,
                fields={**cleared, "result": result, "progress": 100 if locked.progress is not None else None},
                data=data,
            )
        else:
            errors = _exception_fields(exception)
            summary = f"{type(exception).__name__}: {errors['exception_message']}"
            data.update(exception=errors)
            policy = Retry.from_json(locked.retry_policy)
            retry_number = locked.attempt
            if retry and policy.should_retry(exception, retry_number):
                delay = policy.delay_for(retry_number)
                apply_state(
                    locked, State.SCHEDULED, f"Retry attempt {retry_number} of {policy.attempts}: {summary}",
                    now=now, fields={**cleared, **errors, "run_at": now + timedelta(seconds=delay)}, data=data,
                )
            elif retry and policy.on_exhausted == "delete" and retry_number > policy.attempts:
                apply_state(
                    locked, State.DELETED, f"Retry attempts exhausted ({policy.attempts}): {summary}",
                    now=now, fields={**cleared, **errors}, data=data,
                )
            else:
                apply_state(locked, State.FAILED, summary, now=now, fields={**cleared, **errors}, data=data)
        return locked.state
