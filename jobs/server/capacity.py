"""The permits: how many jobs a server may hold, one per worker, shared by its processes.

The protocol, end to end (it crosses three processes):

1. `manage.py qcluster` calls `install(workers)` in the main process, before the Sentinel
   forks, so the pusher and every worker inherit the same semaphore.
2. The pusher (broker.JobBroker.dequeue) takes one permit, waiting at most 0.5 s, then as many
   more as it can without waiting, and claims that many jobs at most; permits for which no job
   was claimed are released at once. So a server never holds a job that no worker is free to
   start, and a critical job that arrives is never stuck behind low-priority jobs fetched
   ahead (django-q2's pusher would otherwise fill its local FIFO queue).
3. A worker gives the permit back when `runner.perform` returns, however its job (and the jobs
   it then claimed for itself, which hold that same permit) ended.
4. A worker that dies while busy cannot: the Sentinel gives its permit back for it
   (cluster.JobSentinel.reincarnate).

The wake-up. When a NOTIFY has just announced a job and a worker is free, the pusher does not
claim it: it hands that worker a wake-up (with the permit) and the worker claims the job for
itself (runner.perform_next). One statement then claims and loads the job for the worker that
runs it, where a pusher's claim costs that statement plus the worker's START (sql.start), which
is most of an idle job's latency (bench/findings.md). Until the woken worker's claim has
answered, the pusher does not claim (it is awake first and would take the same job, which would
then go the slow way): `wake_sent` and `wake_answered` tell it, and WAKE_WINDOW bounds the wait
should the worker die before its claim.

Outside a server (tests, the web) nothing is installed and every call is a no-op.
"""

import contextlib
import multiprocessing
import time

# How long the pusher holds back its own claims for a woken worker that has not answered; its
# claim takes milliseconds (past this, the worker is taken to be gone).
WAKE_WINDOW = 0.05

_permits = None
# When the last wake-up was sent (time.monotonic()), 0.0 once its worker's claim answered.
_wake_sent_at = None


def install(workers: int) -> None:
    global _permits, _wake_sent_at
    context = multiprocessing.get_context("fork")
    _permits = context.BoundedSemaphore(workers)
    _wake_sent_at = context.Value("d", 0.0, lock=False)


def installed() -> bool:
    return _permits is not None


def acquire(timeout: float) -> bool:
    if _permits is None:
        return True
    return _permits.acquire(timeout=timeout)


def acquire_more(most: int) -> int:
    """Take up to `most` further permits without waiting; return how many were taken."""
    if _permits is None:
        return most
    taken = 0
    while taken < most and _permits.acquire(block=False):
        taken += 1
    return taken


def release() -> None:
    if _permits is None:
        return
    # ValueError: released more often than taken (a worker's job reaped and finished twice).
    with contextlib.suppress(ValueError):
        _permits.release()


def wake_sent() -> None:
    if _wake_sent_at is not None:
        _wake_sent_at.value = time.monotonic()


def wake_answered() -> None:
    if _wake_sent_at is not None:
        _wake_sent_at.value = 0.0


def wake_pending() -> bool:
    """True while a woken worker's claim is on its way (at most WAKE_WINDOW)."""
    if _wake_sent_at is None or not _wake_sent_at.value:
        return False
    return time.monotonic() - _wake_sent_at.value < WAKE_WINDOW
