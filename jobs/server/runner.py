"""One job in a worker: `perform(job_id, token)`, what django-q2's worker runs for each package
— and then the jobs that worker claims for itself while there is work (jobs/server/worker.py).

The pipeline of one job: fence the delivery (sql.start) -> resolve the task (registry) -> send
django.tasks' task_started -> filters' on_performing -> run it, sync or `async def`, under its
time limit -> on_performed -> record the outcome -> task_finished.

The token fences the delivery: only the holder of the job's current fetch token may start or
finish it, so a stale or duplicate delivery (a job reaped while its first worker still ran) does
nothing. The outcome is written in one transaction: the fast success (sql.SUCCEED_MANY_SQL, one
statement for this job and the successes pending in completer.py) when nothing else hangs on the
job, else the general path below (retries, cancellation, continuations, batches, SQLite),
through states.py.
"""

import asyncio
import json
import logging
import os
import signal
import time
import traceback
from collections import deque
from contextlib import contextmanager
from datetime import timedelta
from inspect import iscoroutinefunction
from typing import Any

from asgiref.sync import async_to_sync
from django.db import DatabaseError, connection, transaction
from django.tasks import TaskResultStatus
from django.tasks.base import TaskError
from django.tasks.signals import task_finished, task_started
from django.utils import timezone
from django.utils.json import normalize_json
from django_q.exceptions import TimeoutException

from jobs import flow, output, redaction, sql, states
from jobs.backend import STATUS, JobBackend, result_for
from jobs.filters import Stopwatch, filters_for, run_hook
from jobs.flow import Snooze
from jobs.models import CancelReason, Job, State
from jobs.registry import UnknownTask, resolve_task
from jobs.retry import Retry
from jobs.server import capacity, worker
from jobs.server.completer import Completer, Success, recording_ids
from jobs.server.completer import completer as completer_of_process
from jobs.states import apply_state
from jobs.task import JobCancelled, JobContext, JobTimeout, class_path

logger = logging.getLogger("jobs.runner")

# An `async def` job whose coroutine blocks the event loop (sync sleep, CPU) cannot be stopped by
# the loop's own timeout: the alarm stops it this many seconds later.
ASYNC_ALARM_GRACE = 1.0


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
        started = _start(job_id, token)
        if started is None:
            return "stale"
        return _perform_chain(started)
    finally:
        capacity.release()


def perform_next() -> str:
    """A wake-up from the pusher (capacity.py): claim this worker's job itself, then run it and
    the jobs it claims after it, as `perform` does. Returns 'idle' when there was none left."""
    try:
        # As in _start: the claim is the first statement, retried on a new connection if need be.
        connection.health_check_done = True  # type: ignore[attr-defined]  # Django sets it; not in the stubs
        try:
            job = worker.with_claim_retry(
                lambda: worker.claim_next() if worker.may_claim() else None,
                lambda: None,
                [],
                True,
                "claiming a job",
                with_database_retry,
            )
        finally:
            capacity.wake_answered()
        if job is None:
            return "idle"
        # django-q2 armed its alarm and guard for a package without a job: arm them for this one.
        signal.alarm(0)
        worker.arm_guard(job.timeout)
        return _perform_chain(job)
    finally:
        capacity.release()


def _perform_chain(started: Job) -> str:
    """Run `started`, then the jobs this worker claims for itself while there is work."""
    # The jobs this worker holds and has not run yet: the next one, and while it runs at most
    # one prefetched (worker.prefetch). A worker claims only once it holds none.
    held: deque[Job] = deque([started])
    claimed = 1
    outcome = "stale"
    while held:
        job = held.popleft()
        claim = 0 if held else max(0, min(worker.prefetch(), worker.chain_limit() - claimed))
        try:
            outcome, next_jobs = _run(job, claim=claim, prefetched=bool(held))
        except (Exception, SystemExit) as exc:  # e.g. a filter's hook calling exit()
            outcome, next_jobs = _fail_outside_task(job, exc), []
            held.clear()  # given back by _fail_outside_task
        if held and not worker.may_claim():
            # The server began to stop while the job ran: its prefetched job goes back.
            with_database_retry(lambda: worker.give_back(list(held)), "giving back a prefetched job")
            held.clear()
        held.extend(next_jobs)
        claimed += len(next_jobs)
        if held:
            # django-q2 armed its alarm and guard for the package's first job: re-arm for this one.
            signal.alarm(0)
            worker.arm_guard(held[0].timeout)
    # Nothing stays pending once the worker goes back to django-q2's queue.
    with_database_retry(record_pending, "recording pending successes")
    return outcome


def _fail_outside_task(job: Job, exc: BaseException) -> str:
    """The last resort for an error outside the task body (a filter, the outcome's own code): end
    the attempt as a task error would, so that the job is never left Processing under a live
    worker whose server keeps renewing its lease."""
    logger.exception("Job %s: error outside its task; recorded as the attempt's failure", job.pk)
    if worker.server_id() is not None:
        # Jobs that ran are recorded first: what is given back next must not include them.
        with_database_retry(record_pending, "recording pending successes")
        # A next job claimed in a statement that committed before the error is given back.
        with_database_retry(
            lambda: worker.release_worker_claims(
                worker.server_id(), os.getpid(), keep=[job.pk, *recording_ids()]
            ),
            "giving back a worker's claims",
        )
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
            if time.monotonic() > deadline or not worker.in_worker():
                if worker.in_worker():
                    logger.error("Database unreachable while %s (%s); worker exits", what, exc)
                    os._exit(3)
                raise
            logger.warning("Database unavailable while %s (%s); retrying", what, exc)
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


def _start(job_id: str, token: str) -> Job | None:
    """Fence the delivery and load the job; None when this delivery no longer holds it."""
    # django-q2 asks for a connection health check (a SELECT 1) before every task; this worker's
    # first statement is the fence, which with_database_retry already retries on a new connection
    # when the old one is broken — so the extra round trip buys nothing here.
    connection.health_check_done = True  # type: ignore[attr-defined]  # Django sets it; not in the stubs
    job = with_database_retry(lambda: sql.start(job_id, token, os.getpid()), "starting a job")
    if job is None:
        logger.info("Job %s: stale delivery ignored (token %s)", job_id, token)
    return job


def _run(job: Job, *, claim: int, prefetched: bool) -> tuple[str, list[Job]]:
    """Run a job this worker holds; return the state it ended in ('pending': its success is kept
    to be recorded with the next outcome), and the up to `claim` next jobs claimed with it.
    `prefetched`: the worker holds another job to run after this one."""
    token = str(job.fetch_token)
    # A prefetched job was claimed before the job ahead of it ran: it starts now, and its outcome
    # records this time (sql.SUCCEED_MANY_SQL, or _finish), not its claim's.
    job.started_at = timezone.now()
    try:
        task = resolve_task(job.task_path)
    except UnknownTask as exc:
        return finish(job, token, exception=exc, duration=0.0, retry=False, claim=claim)
    except Exception as exc:
        # The task's module raised while this worker imported it (InvalidTask, a RuntimeError of
        # its own): a failed attempt like any task error, retried by the job's policy.
        return finish(job, token, exception=exc, duration=0.0, claim=claim)

    # From here to the recorded outcome, the job's redacted argument values are masked in
    # every log line (its own logging, the filters', the runner's "Job failed …").
    with redaction.bound(job):
        task_result = result_for(job, task)
        context = JobContext(task_result=task_result, job=job, token=token)
        task_started.send(JobBackend, task_result=task_result)
        filters = filters_for(task)
        run_hook(filters, "on_performing", context)
        watch = Stopwatch()
        result = None
        exception: BaseException | None = None
        printed: output.Capture | None = None
        try:
            with output.capture(context) as printed:
                args = (context, *job.args) if task.takes_context else tuple(job.args)
                if iscoroutinefunction(task.func):
                    result = run_coroutine(task.func(*args, **job.kwargs), job.timeout, context)
                else:
                    with time_limit(job.timeout):
                        result = task.func(*args, **job.kwargs)
            result = _json_result(task, result)
        except TimeoutException as exc:  # django-q2's guard timer fired before ours
            exception = JobTimeout(str(exc))
        except KeyboardInterrupt:
            raise  # someone stops this process: as in Django's own backends, let them
        except BaseException as exc:
            # SystemExit and exit() too: that task's failure, not its worker's end (Django's backends).
            exception = exc
        duration = watch.elapsed
        try:
            run_hook(filters, "on_performed", context, exception, duration)
        except BaseException:
            output.write_rest(printed)  # the last lines, before the outcome of an error outside the task
            raise
        return finish(
            job,
            token,
            result=result,
            exception=exception,
            duration=duration,
            claim=claim,
            prefetched=prefetched,
            printed=printed,
            task_result=task_result,
        )


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


def _send_finished(task_result, outcome: str, result, exception) -> None:
    """django.tasks' task_finished, with the TaskResult as the outcome left it."""
    if outcome == "stale":
        return  # another delivery owns the job now; it reports the outcome
    now = timezone.now()
    object.__setattr__(task_result, "status", STATUS.get(outcome, TaskResultStatus.FAILED))
    object.__setattr__(task_result, "finished_at", now)
    if exception is None:
        object.__setattr__(task_result, "_return_value", result)
        task_finished.send(JobBackend, task_result=task_result)
        return
    task_result.errors.append(
        TaskError(
            exception_class_path=class_path(type(exception)),
            traceback="".join(traceback.format_exception(exception)),
        )
    )
    # Django's receiver logs sys.exc_info(): send inside a handler of the job's exception, as
    # Django's own backends do.
    try:
        raise exception
    except BaseException:
        task_finished.send(JobBackend, task_result=task_result)


# --- `async def` tasks ------------------------------------------------------------------------------


def run_coroutine(coroutine, timeout: float | None, context: JobContext):
    """Run an `async def` job on an event loop, under its timeout, cancelled when its cancel flag
    is set (a person deleted it, its server stops).

    asgiref's async_to_sync runs the loop in a helper thread while this (main) thread serves the
    coroutine's thread-sensitive sync calls — the async ORM, the context's async helpers — so
    they use the worker's own database connection, as a sync job would.
    """
    with time_limit(timeout + ASYNC_ALARM_GRACE if timeout else None):
        return async_to_sync(_supervise)(coroutine, timeout, context)


async def _supervise(coroutine, timeout: float | None, context: JobContext):
    job_task = asyncio.ensure_future(coroutine)
    cancelled_by_flag = False

    async def watch_cancel_flag():
        nonlocal cancelled_by_flag
        while not job_task.done():
            await asyncio.sleep(context.CHECK_EVERY)
            if await context.ais_cancelled():
                cancelled_by_flag = True
                job_task.cancel()
                return

    watcher = asyncio.ensure_future(watch_cancel_flag())
    try:
        async with asyncio.timeout(timeout) as deadline:
            return await job_task
    except TimeoutError:
        if deadline.expired():
            raise JobTimeout(f"Job exceeded its timeout of {timeout:g} s") from None
        raise
    except asyncio.CancelledError:
        if cancelled_by_flag:
            raise JobCancelled(f"Job {context.job_id} was cancelled") from None
        raise
    finally:
        watcher.cancel()


# --- The outcome ---------------------------------------------------------------------------------


def _exception_fields(exc: BaseException) -> dict:
    return {
        "exception_class": class_path(type(exc)),
        "exception_message": str(exc)[:10000],
        "exception_traceback": "".join(traceback.format_exception(exc))[-20000:],
    }


PENDING = "pending"


def finish(
    job: Job,
    token: str,
    *,
    result=None,
    exception=None,
    duration: float,
    retry: bool = True,
    claim: int = 0,
    prefetched: bool = False,
    printed: output.Capture | None = None,
    task_result=None,
) -> tuple[str, list[Job]]:
    """Write the outcome of a run, if this delivery still holds the job; with `claim`, also
    claim up to that many next jobs for this worker. Returns (the job's state, 'stale' or
    'pending', the jobs claimed) and sends task_finished once the outcome is written.

    A success while the worker holds a prefetched job is kept pending (jobs/server/completer.py)
    and recorded with the next outcome, in one statement with the pending successes and the next
    claim. `printed`: the attempt's output whose last lines are not written yet — in the fast
    success's own statement when it applies (jobs/output.py), else just before the general path."""
    # Asked now, after the run: the server may have begun to stop while the job ran.
    claiming = worker.may_claim()
    claim = claim if claiming else 0
    if exception is None and connection.vendor == "postgresql" and job.batch_id is None:
        # A job that printed keeps this path too: its last lines ride in the same statement.
        success = Success(job, token, result, duration, timezone.now(), task_result, printed)
        if prefetched and claiming:
            _completer().defer(success)
            return PENDING, []
        successes = [*_completer().take(), success]
        done, next_jobs = worker.with_claim_retry(
            lambda: _record(successes, claim),
            lambda: _record(successes, 0),
            [s.job.pk for s in successes],
            claim > 0,
            "recording a job's outcome",
            with_database_retry,
        )
        return _settle(successes, done)[job.pk], next_jobs
    next_job = None
    # The general path: failures, retries, cancellations, continuations, batches, SQLite.
    output.write_rest(printed)
    outcome = with_database_retry(
        lambda: _finish(job, token, result=result, exception=exception, duration=duration, retry=retry),
        "recording a job's outcome",
    )
    if next_job is None and claim:
        next_job = worker.with_claim_retry(
            worker.claim_next, lambda: None, job, True, "claiming the next job", with_database_retry
        )
    if task_result is not None:
        _send_finished(task_result, outcome, result, exception)
    return outcome, [] if next_job is None else [next_job]


def _completer() -> Completer:
    return completer_of_process(record_pending)


def record_pending(successes: list[Success] | None = None) -> None:
    """Record pending successes without a claim: the completer's timer, a worker going back to
    django-q2's queue, or one about to give back what it holds."""
    successes = _completer().take() if successes is None else successes
    if successes:
        _settle(successes, _record(successes, 0)[0])


def _record(successes: list[Success], claim: int) -> tuple[dict, list[Job]]:
    """The batched success (sql.SUCCEED_MANY_SQL) of `successes`, with `claim` next jobs claimed
    in the same statement (sql.SUCCEED_MANY_AND_CLAIM_SQL). Returns the jobs that succeeded (id
    -> (state_changed_at, expires_at)) and the jobs claimed."""
    params = sql.succeed_many_parameters(
        [(s.job, s.token, s.result, s.duration, s.finished) for s in successes],
        [output.rest_parameters(s.printed) for s in successes],
    )
    if claim:
        params.update(worker.claim_parameters(timezone.now(), claim))
    with connection.cursor() as cursor:
        printed = any(text is not None for text in params["output_texts"])
        cursor.execute(sql.succeed_many_statement(claim=bool(claim), printed=printed), params)
        rows = cursor.fetchall()
    if not claim:
        return sql.split_succeed_many(rows), []
    done, claimed = sql.split_succeed_many_and_claim(rows)
    if claimed:
        states.claimed([next_job.pk for next_job in claimed], params["claim_reason"])
    return done, claimed


def _settle(successes: list[Success], done: dict) -> dict:
    """After the batched success: each job it recorded gets its on_state_changed hook
    (states.succeeded) and task_finished; one it left out (a continuation attached, a cancel
    request, a lost lease) takes the general path. Returns each job's state."""
    outcomes = {}
    for success in successes:
        job = success.job
        if job.pk in done:
            changed, expires = done[job.pk]
            reason = states.succeed_reason(success.duration)
            job.state, job.state_reason, job.state_changed_at, job.expires_at = (
                State.SUCCEEDED,
                reason,
                changed,
                expires,
            )
            job.finished_at = changed
            job.fetch_token = job.lease_until = job.worker_pid = None
            job.result = success.result
            output.rest_written(success.printed)
            states.succeeded(job, reason, changed)
            outcome = State.SUCCEEDED
        else:
            output.write_rest(success.printed)
            outcome = with_database_retry(
                lambda s=success: _finish(
                    s.job, s.token, result=s.result, exception=None, duration=s.duration, retry=True
                ),
                "recording a job's outcome",
            )
        outcomes[job.pk] = outcome
        if success.task_result is not None:
            with redaction.bound(job):
                _send_finished(success.task_result, outcome, success.result, None)
    return outcomes


def _snooze(locked: Job, snooze: Snooze, *, now, cleared: dict, data: dict) -> None:
    """Back to Scheduled at now + delay; the attempt it used is given back (a snooze is not a
    failed attempt). Past the snooze cap the job fails, so a bug cannot snooze it forever."""
    limit = flow.snooze_limit()
    if locked.snoozes >= limit:
        errors = _exception_fields(snooze)
        apply_state(
            locked,
            State.FAILED,
            f"Snoozed more than {limit} times (JOBS_MAX_SNOOZES)",
            now=now,
            fields={**cleared, **errors},
            data={**data, "exception": errors},
        )
        return
    apply_state(
        locked,
        State.SCHEDULED,
        str(snooze),
        now=now,
        fields={
            **cleared,
            "run_at": now + timedelta(seconds=snooze.seconds),
            "attempt": max(locked.attempt - 1, 0),
            "snoozes": locked.snoozes + 1,
        },
        data={**data, "snooze": snooze.seconds},
    )


def _finish(job: Job, token: str, *, result, exception, duration: float, retry: bool) -> str:
    with transaction.atomic():
        locked = (
            Job.objects.select_for_update()
            .filter(pk=job.pk, fetch_token=token, state=State.PROCESSING)
            .first()
        )
        if locked is None:
            logger.warning("Job %s: finished after losing its lease; outcome dropped", job.pk)
            return "stale"
        # Read the clock only once the row is ours: a continuation added while we waited for
        # the lock must not get a release time earlier than its own creation.
        now = timezone.now()
        cleared: dict[str, Any] = {
            "fetch_token": None,
            "lease_until": None,
            "finished_at": now,
            "worker_pid": None,
            "started_at": job.started_at,
        }
        data: dict[str, Any] = {
            "duration": round(duration, 6),
            "attempt": locked.attempt,
            "server": locked.server_id,
        }
        if locked.cancel_requested:
            cleared.update(cancel_requested=False, cancel_reason="")
            if locked.cancel_reason == CancelReason.SHUTDOWN:
                apply_state(
                    locked,
                    State.ENQUEUED,
                    f"Server {locked.server_id} shut down before the job finished",
                    now=now,
                    fields={**cleared, "finished_at": None},
                    data=data,
                )
            else:
                apply_state(
                    locked, State.DELETED, "Deleted while processing", now=now, fields=cleared, data=data
                )
        elif isinstance(exception, Snooze):
            _snooze(locked, exception, now=now, cleared=cleared, data=data)
        elif exception is None:
            sql.succeed_portable(
                locked, {"now": now, "reason": states.succeed_reason(duration), "stored": result}, data
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
                    locked,
                    State.SCHEDULED,
                    f"Retry attempt {retry_number} of {policy.attempts}: {summary}",
                    now=now,
                    fields={**cleared, **errors, "run_at": now + timedelta(seconds=delay)},
                    data=data,
                )
            elif retry and policy.on_exhausted == "delete" and retry_number > policy.attempts:
                apply_state(
                    locked,
                    State.DELETED,
                    f"Retry attempts exhausted ({policy.attempts}): {summary}",
                    now=now,
                    fields={**cleared, **errors},
                    data=data,
                )
            else:
                apply_state(locked, State.FAILED, summary, now=now, fields={**cleared, **errors}, data=data)
        return locked.state
