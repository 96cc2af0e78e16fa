"""A worker's pending successes: recorded together, in one statement, on a size or a short timer.

Why: on a busy server most of a no-op job's PostgreSQL CPU is per statement, not per row
(bench/findings.md, change L). A worker claims its next jobs two at a time (the one it runs next
and one prefetched: never more, so a critical job waits behind at most one prefetched job per
worker); the success of the first is kept here while the second runs, and both are written by the
statement that claims the next two (jobs.sql.SUCCEED_MANY_AND_CLAIM_SQL).

Flushing, whichever comes first:
- size: the worker has no prefetched job left to run, so it records what is pending with the
  outcome of the job it just ran (runner.finish);
- time: a pending success older than COMPLETION_FLUSH_SECONDS (the job after it runs long) is
  written by this module's flusher thread, on the thread's own connection, without a claim.

Exactly once: every pending success still holds its job's fetch token and is fenced by it, as a
single success is. A worker that dies with successes pending leaves those jobs Processing under a
lease nobody renews: the reaper puts them back in their queue and they run again (at least once);
nothing is marked Succeeded that did not run, because only a job whose run returned is pending.
"""

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import DatabaseError, connection

from jobs.conf import jobs_settings
from jobs.models import Job

logger = logging.getLogger("jobs.completer")


@dataclass
class Success:
    """A run that returned, not recorded yet."""

    job: Job
    token: str
    result: Any  # JSON already
    duration: float
    finished: datetime
    task_result: Any = None  # django.tasks' TaskResult: task_finished is sent once it is recorded
    # The attempt's output whose last lines are not written yet (jobs.output.Capture): they are
    # written by the statement that records the success.
    printed: Any = None


class Completer:
    """The pending successes of this worker process, and the thread that flushes them on time."""

    def __init__(self, flush) -> None:
        # `flush(successes)` records successes without claiming (runner.record_pending).
        self._flush = flush
        self._pending: list[Success] = []
        self._flushing: list[Success] = []  # taken by the flusher thread, being recorded
        self._oldest: float | None = None
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def defer(self, success: Success) -> None:
        with self._wake:
            self._pending.append(success)
            if self._oldest is None:
                self._oldest = time.monotonic()
                self._wake.notify()
        if self._thread is None:
            self._thread = threading.Thread(target=self._flush_on_time, name="jobs-completer", daemon=True)
            self._thread.start()

    def take(self) -> list[Success]:
        """Every pending success, now the caller's to record."""
        with self._wake:
            taken, self._pending, self._oldest = self._pending, [], None
            return taken

    def recording_ids(self) -> list:
        """The jobs whose success is pending or being recorded: they ran, so nothing may give
        them back to their queue (worker.with_claim_retry keeps them)."""
        with self._wake:
            return [success.job.pk for success in (*self._pending, *self._flushing)]

    def _flush_on_time(self) -> None:
        while True:
            with self._wake:
                while self._oldest is None:
                    self._wake.wait()
                due = self._oldest + max(jobs_settings.COMPLETION_FLUSH_SECONDS, 0.001)
                delay = due - time.monotonic()
                if delay > 0:
                    self._wake.wait(delay)
                    continue
                taken, self._pending, self._oldest = self._pending, [], None
                self._flushing = taken
            try:
                self._flush(taken)
            except Exception as exc:
                # Not lost: back to the worker, which records them with its next outcome (or this
                # thread, a little later). Recording twice is harmless: the fence lets one through.
                level = logging.WARNING if isinstance(exc, DatabaseError) else logging.ERROR
                logger.log(level, "Recording %d pending successes failed (%s); retried", len(taken), exc)
                with self._wake:
                    self._pending[:0] = taken
                    self._oldest = self._oldest or time.monotonic()
                time.sleep(1.0)
            finally:
                with self._wake:
                    self._flushing = []
                connection.close()  # this thread's own connection: a timer flush is rare


_completer: Completer | None = None


def recording_ids() -> list:
    """Ids of the jobs this process's completer holds (none before its first use)."""
    return [] if _completer is None else _completer.recording_ids()


def completer(flush) -> Completer:
    """This process's completer (created on first use, after the worker's fork)."""
    global _completer
    if _completer is None:
        _completer = Completer(flush)
    return _completer
