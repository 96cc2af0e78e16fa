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

Outside a server (tests, the web) nothing is installed and every call is a no-op.
"""

import contextlib
import multiprocessing

_permits = None


def install(workers: int) -> None:
    global _permits
    _permits = multiprocessing.get_context("fork").BoundedSemaphore(workers)


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
