"""A job server's worker process: django-q2's worker loop, plus what the runner needs of it to
claim its next job itself.

django-q2 hands a worker one package at a time: the pusher claims a job, signs and pickles it,
and puts it on a queue; the worker unpickles it, runs it, and puts a result on another queue for
the monitor. For a job of a few milliseconds that hand-off costs more than the job (bench/
findings.md). So a worker that finishes a job claims its next one in the same statement that
records the outcome, as Hangfire's workers fetch their own jobs, and runs it without going back
through the queues — while there is work, the server is not stopping, and at most
DHANMAN_JOBS["WORKER_CHAIN_LIMIT"] jobs in a row (django-q2 then recycles and checks the worker
as usual). An idle server still
gets its work from the pusher, which the NOTIFY at enqueue wakes.

`run_worker` is the process's entry (see cluster.JobSentinel.spawn_worker): it keeps the
server's id, the worker's guard timer and the server's stop event for the runner, then runs
django-q2's loop unchanged.
"""

# django-q2's guard kills a worker whose timer runs down to 0 while busy. A job without a timeout
# still gets a guard, so that the timer tells "busy" from "idle" (see cluster.JobSentinel.reincarnate).
NO_TIMEOUT_GUARD = 10**7
# What django-q2's worker adds to a package's timeout before it arms the guard.
GUARD_MARGIN = 3

_server_id: str | None = None
_timer = None
_stopping = None


def run_worker(task_queue, result_queue, timer, timeout, server_id, stopping) -> None:
    from django_q.worker import worker as django_q_worker

    global _server_id, _timer, _stopping
    _server_id, _timer, _stopping = server_id, timer, stopping
    django_q_worker(task_queue, result_queue, timer, timeout)


def chain_limit() -> int:
    from django.conf import settings

    return max(1, settings.DHANMAN_JOBS["WORKER_CHAIN_LIMIT"])


def server_id() -> str | None:
    return _server_id


def may_claim() -> bool:
    """True in a job server's worker whose server is not stopping."""
    return _server_id is not None and _stopping is not None and not _stopping.is_set()


def guard_seconds(timeout: float | None) -> int:
    """The guard of a job: its own timeout fires first (runner.time_limit), the guard after."""
    return int(timeout) + 5 if timeout else NO_TIMEOUT_GUARD


def arm_guard(timeout: float | None) -> None:
    """Give django-q2's guard the budget of a job this worker claimed itself."""
    if _timer is not None:
        _timer.value = guard_seconds(timeout) + GUARD_MARGIN
