"""A job server's worker process: django-q2's worker loop, plus the self-claim chain.

The self-claim protocol. django-q2 hands a worker one package at a time: the pusher claims a
job, signs and pickles it, and puts it on a queue; the worker unpickles it, runs it, and puts a
result on another queue for the monitor. For a job of a few milliseconds that hand-off costs
more than the job (bench/findings.md). So a worker that finishes a job claims its next one
itself, as Hangfire's workers fetch their own jobs, and runs it without going back through the
queues:

1. `run_worker` is the process's entry (cluster.JobSentinel.spawn_worker passes the server's
   id, the worker's guard timer and the server's stop event); it then runs django-q2's loop.
2. After each job, `runner.finish` asks `may_claim()` (a server's worker, the server not
   stopping) and the chain length (at most WORKER_CHAIN_LIMIT jobs in a row: django-q2 then
   recycles and checks the worker as usual).
3. The claim rides on the outcome: a success takes jobs.sql.SUCCEED_MANY_AND_CLAIM_SQL, one
   statement that records the successes this worker has pending and claims its next
   `prefetch()` jobs (2: the next one and one prefetched) from the server's queues, in their
   order, with this worker's pid set at once (so their leases are renewed from the start). The
   success of the first of two is kept pending while the second runs (jobs/server/completer.py),
   so a busy worker makes one statement per two jobs. Any other outcome is recorded through the
   ORM, then `claim_next` claims one job with WORKER_CLAIM_SQL.
4. The claimed job holds the permit the pusher took for the first job of the chain
   (capacity.py): no permit is taken or given back along the chain.
5. Before running it, `arm_guard` gives django-q2's guard timer the new job's budget.
6. A claim whose answer was lost with the connection may still have committed: before it
   retries, `with_claim_retry` gives back (`release_worker_claims`) whatever this worker holds besides
   the jobs it is finishing and the successes still pending, and retries without claiming.
7. A server that begins to stop while a worker holds a prefetched job: the job goes back to its
   queue (`give_back`) once the running one's outcome is recorded.

An idle server gets its work through the pusher, which the NOTIFY at enqueue wakes: it hands a
free worker a wake-up and the worker claims the job itself (runner.perform_next; capacity.py
says why), or, for work that no NOTIFY announced, the pusher claims and hands the job over.
"""

import os

from django.db import connection, transaction
from django.utils import timezone
from django_q.worker import worker as django_q_worker

from jobs import sql, states
from jobs.conf import jobs_settings
from jobs.models import Job, State
from jobs.server import completer

# django-q2's guard kills a worker whose timer runs down to 0 while busy. A job without a timeout
# still gets a guard, so that the timer tells "busy" from "idle" (see cluster.JobSentinel.reincarnate).
NO_TIMEOUT_GUARD = 10**7
# What django-q2's worker adds to a package's timeout before it arms the guard.
GUARD_MARGIN = 3

_in_worker = False
_server_id: str | None = None
_timer = None
_stopping = None


def run_worker(task_queue, result_queue, timer, timeout, server_id, stopping) -> None:
    global _in_worker, _server_id, _timer, _stopping
    _in_worker, _server_id, _timer, _stopping = True, server_id, timer, stopping
    django_q_worker(task_queue, result_queue, timer, timeout)


def in_worker() -> bool:
    """True in a job server's worker process (not in a test, the pusher or a web process)."""
    return _in_worker


def chain_limit() -> int:
    return max(1, jobs_settings.WORKER_CHAIN_LIMIT)


def prefetch() -> int:
    """Jobs a worker claims at once: its next job and at most one prefetched (the priority rule:
    a critical job never waits behind more than one prefetched job per worker)."""
    return min(max(1, jobs_settings.WORKER_PREFETCH), 2)


def server_id() -> str | None:
    return _server_id


def may_claim() -> bool:
    """True in a job server's worker whose server is not stopping (PostgreSQL only)."""
    return (
        _server_id is not None
        and _stopping is not None
        and not _stopping.is_set()
        and connection.vendor == "postgresql"
    )


def guard_seconds(timeout: float | None) -> int:
    """The guard of a job: its own timeout fires first (runner.time_limit), the guard after."""
    return int(timeout) + 5 if timeout else NO_TIMEOUT_GUARD


def arm_guard(timeout: float | None) -> None:
    """Give django-q2's guard the budget of a job this worker claimed itself."""
    if _timer is not None:
        _timer.value = guard_seconds(timeout) + GUARD_MARGIN


def claim_parameters(now, limit: int = 1) -> dict:
    """The claim of `limit` jobs, from this server's queues, for this worker."""
    return sql.claim_parameters(
        _server_id, jobs_settings.SERVER_QUEUES, limit, worker_pid=os.getpid(), now=now
    )


def claim_next() -> Job | None:
    """Claim this worker's next job on its own (after an outcome that was not a fast success)."""
    params = claim_parameters(timezone.now())
    # On its own, the claim need not wait for its WAL flush; inside a transaction, whose other
    # writes may need theirs, it must.
    statement = sql.WORKER_CLAIM_SQL if connection.in_atomic_block else sql.WORKER_CLAIM_ASYNC_COMMIT_SQL
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        row = cursor.fetchone()
    if row is None:
        return None
    job = sql.load_job(row)
    states.claimed([job.pk], params["claim_reason"])
    return job


def with_claim_retry(with_claim, without_claim, job, claiming: bool, what: str, retry):
    """Run `with_claim` through `retry` (runner.with_database_retry). A statement that claims may
    have committed although its answer was lost with the connection: before a retry, give back
    what this worker holds besides `job` (a job, or the ids of the jobs whose outcome it is
    recording), and retry with `without_claim`."""
    attempts = 0

    def operation():
        nonlocal attempts
        attempts += 1
        if attempts == 1 or not claiming:
            return with_claim()
        kept = [job.pk] if isinstance(job, Job) else list(job)
        # Successes still pending ran: they are recorded, never given back (completer.py).
        release_worker_claims(_server_id, os.getpid(), keep=kept + completer.recording_ids())
        return without_claim()

    return retry(operation, what)


def give_back(jobs: list[Job]) -> int:
    """Return to their queue prefetched jobs this worker will not run (its server is stopping),
    each fenced by its fetch token."""
    given = 0
    with transaction.atomic():
        for job in Job.objects.select_for_update().filter(
            pk__in=[job.pk for job in jobs], state=State.PROCESSING, worker_pid=os.getpid()
        ):
            if str(job.fetch_token) not in {str(held.fetch_token) for held in jobs if held.pk == job.pk}:
                continue
            states.apply_state(
                job,
                State.ENQUEUED,
                "Back to its queue: prefetched by a worker whose server stopped",
                fields={
                    "fetch_token": None,
                    "lease_until": None,
                    "worker_pid": None,
                    "attempt": max(job.attempt - 1, 0),
                },
            )
            given += 1
    return given


def release_worker_claims(server_id: str | None, worker_pid: int, keep=None) -> int:
    """Return to their queue the jobs claimed for this worker, but for `keep` (the job it runs,
    or a list of ids: the jobs whose outcome it is recording).

    A worker that claimed its next job in a statement whose answer it never got (the connection
    broke after the commit) would otherwise hold that job, its lease renewed, without running it.
    """
    released = 0
    with transaction.atomic():
        held = Job.objects.select_for_update().filter(
            server_id=server_id, worker_pid=worker_pid, state=State.PROCESSING
        )
        kept = keep if isinstance(keep, list | tuple | set) else [keep] if keep is not None else []
        for job in held.exclude(pk__in=kept):
            states.apply_state(
                job,
                State.ENQUEUED,
                "Back to its queue: the worker's claim was cut off by a database error",
                fields={
                    "fetch_token": None,
                    "lease_until": None,
                    "worker_pid": None,
                    "attempt": max(job.attempt - 1, 0),
                },
            )
            released += 1
    return released
