"""How many jobs a server may hold: one per worker, shared by the server's processes.

The pusher claims a job only after taking a permit, and the worker that ran the job gives it
back; so a server never holds a job that no worker is free to start, and a critical job that
arrives is never stuck behind low-priority jobs fetched ahead of time (django-q2's pusher would
otherwise fill its local FIFO queue). The semaphore is made in the `qcluster` main process before
the Sentinel forks, so the pusher and every worker inherit the same one.
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
