"""A job's output, per attempt: what the task printed with `context.log(...)` and the logging
records its own code emitted while it ran, stored in JobOutput rows for the console.

The runner's one hook is `with capture(context):` around the task call. Inside it a logging
handler on the root logger takes the records of the thread that runs the task (a worker runs one
job at a time in its main thread; records of other threads and of the engine's own loggers are
not the job's). Lines are buffered and appended in batches — when FLUSH_BYTES are pending, when
a line comes FLUSH_SECONDS after the last write, and at the end of the attempt — so that a job
that prints is never one database write per line (Hangfire.Console's cost: bench/OUTPUT.md).

A write never happens inside a transaction the task opened: its rollback would take the lines
with it, and a failing task's output is the output one wants. Such lines wait for the task to
leave its transaction or for the end of the attempt. Output is best effort: a failed write is
logged and dropped, never the job's failure.

The cap (DHANMAN_JOBS["OUTPUT_MAX_BYTES"], UTF-8 bytes) is per job, over all its attempts:
past it, the attempt's text ends with TRUNCATED_MARKER and further lines are counted, not kept.
Rows go with their job (ForeignKey CASCADE), so output expires when expire_jobs removes the job.
"""

import logging
import threading
import time
from contextlib import contextmanager

from django.db import DatabaseError, connection, transaction
from django.db.models import Sum
from django.utils import timezone

from jobs import redaction
from jobs.conf import jobs_settings
from jobs.models import JobOutput

logger = logging.getLogger("jobs.output")

FLUSH_BYTES = 8 * 1024
FLUSH_SECONDS = 1.0
TRUNCATED_MARKER = (
    "[output truncated: JOBS_OUTPUT_MAX_BYTES ({limit} bytes) reached; further lines are dropped]\n"
)
# Loggers that are not the task's: the engine running it, django-q2's worker, SQL debugging
# (which our own writes would feed back into).
IGNORED_LOGGERS = (
    "jobs.runner",
    "jobs.filters",
    "jobs.worker",
    "jobs.broker",
    "jobs.server",
    "jobs.states",
    "jobs.output",
    "django_q",
    "django-q",
    "django.db",
)

_FORMATTER = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")

APPEND_SQL = """
INSERT INTO jobs_joboutput (job_id, attempt, text, size, truncated, updated_at)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (job_id, attempt) DO UPDATE
SET text = jobs_joboutput.text || excluded.text, size = jobs_joboutput.size + excluded.size,
    truncated = jobs_joboutput.truncated OR excluded.truncated, updated_at = excluded.updated_at
"""


class Capture(logging.Handler):
    """One attempt's output buffer, and the logging handler feeding it."""

    def __init__(self, job_id, attempt: int, *, max_bytes: int | None = None):
        super().__init__()
        # Redacted argument values are masked in the output as in the logs (jobs/redaction.py).
        self.addFilter(redaction.RedactingFilter())
        self.job_id = job_id
        self.attempt = attempt
        self.max_bytes = jobs_settings.OUTPUT_MAX_BYTES if max_bytes is None else max_bytes
        self.thread = threading.get_ident()
        self._pending: list[str] = []
        self._pending_bytes = 0
        self._pending_truncated = False
        self._budget: int | None = None  # bytes this attempt may still store; read at the first line
        self._dropped = 0
        self._written_at = time.monotonic()
        self._writing = False
        # Transactions already open when the attempt began (a test's, never a worker's): not the task's.
        self._outer_atomic_depth = len(connection.atomic_blocks)
        self.writes = 0  # database writes made: read by the tests that check the batching

    # --- feeding ------------------------------------------------------------------------------
    def line(self, message: str) -> None:
        """`context.log(message)`: one line (or several, if it holds newlines), time-stamped."""
        stamp = timezone.localtime().strftime("%H:%M:%S")
        secrets = redaction.running_secrets()
        if secrets or redaction.global_keys():
            message = redaction.scrub_keys(redaction.scrub(message, secrets))
        self._add(f"{stamp} {message}".rstrip("\n") + "\n")

    def emit(self, record: logging.LogRecord) -> None:
        if self._writing or record.thread != self.thread or record.name.startswith(IGNORED_LOGGERS):
            return
        try:
            self._add(_FORMATTER.format(record).rstrip("\n") + "\n")
        except Exception:
            self.handleError(record)

    def _add(self, text: str) -> None:
        if self._budget is None:
            self._budget = self.max_bytes - self._used_by_earlier_attempts()
        if self._dropped:
            self._dropped += 1
            return
        size = len(text.encode())
        if size > self._budget:
            # Keep what fits of this line, then the marker; later lines are only counted.
            kept = text.encode()[: max(self._budget - 1, 0)].decode(errors="ignore")  # 1 for its newline
            if kept:
                self._pending.append(kept + "\n")
                self._pending_bytes += len(kept.encode()) + 1
            # The marker is not counted against the cap: it is ours, not the job's.
            self._pending.append(TRUNCATED_MARKER.format(limit=self.max_bytes))
            self._budget = 0
            self._dropped = 1
            self._pending_truncated = True
        else:
            self._pending.append(text)
            self._pending_bytes += size
            self._budget -= size
        self.maybe_flush()

    def _used_by_earlier_attempts(self) -> int:
        if self.attempt <= 1:
            return 0
        used = JobOutput.objects.filter(job_id=self.job_id, attempt__lt=self.attempt).aggregate(
            total=Sum("size")
        )
        return used["total"] or 0

    # --- writing ------------------------------------------------------------------------------
    def maybe_flush(self) -> None:
        """Write what is pending if enough is, or enough time passed, and the task is not inside
        a transaction of its own. Only from the job's thread: another (an `async def` task's
        event loop) would open a connection of its own; its lines wait for the end."""
        if not self._pending or threading.get_ident() != self.thread:
            return
        due = self._pending_bytes >= FLUSH_BYTES or time.monotonic() - self._written_at >= FLUSH_SECONDS
        if due and len(connection.atomic_blocks) <= self._outer_atomic_depth:
            self.flush()

    def flush(self) -> None:
        """Append the pending lines to this attempt's row (created by the first write)."""
        if not self._pending or self._writing:
            return
        text = "".join(self._pending)
        size, truncated = self._pending_bytes, self._pending_truncated
        self._pending, self._pending_bytes, self._pending_truncated = [], 0, False
        self._written_at = time.monotonic()
        self._writing = True
        try:
            with transaction.atomic(savepoint=False), connection.cursor() as cursor:
                if connection.vendor == "postgresql":
                    # Output is best effort: its commit need not wait for the disk (the job's
                    # outcome, committed next, flushes it there anyway). That wait was most of
                    # what printing cost a job (bench/OUTPUT.md).
                    cursor.execute("SET LOCAL synchronous_commit TO OFF")
                cursor.execute(
                    APPEND_SQL, [self._job_key(), self.attempt, text, size, truncated, timezone.now()]
                )
            self.writes += 1
        except DatabaseError as exc:
            logger.warning("Job %s: %d byte(s) of output not stored (%s)", self.job_id, size, exc)
        finally:
            self._writing = False

    def _job_key(self):
        """The job's id as the database stores it (SQLite: 32 hex digits, no dashes)."""
        return JobOutput._meta.get_field("job").target_field.get_db_prep_value(self.job_id, connection)

    def close_attempt(self) -> None:
        """At the end of the attempt: the count of dropped lines, after the marker. The last
        lines stay pending: the runner writes them with the outcome (write_rest, rest_parameters)."""
        if self._dropped > 1:
            self._pending.append(f"[{self._dropped - 1} line(s) dropped]\n")
            self._dropped = 1


@contextmanager
def capture(context):
    """Capture the output of the attempt `context` (a jobs.task.JobContext) runs, while inside.
    The lines still pending at the end are the caller's to write (the runner's finish)."""
    output = Capture(context.job.pk, context.attempt)
    root = logging.getLogger()
    root.addHandler(output)
    context.output = output
    try:
        yield output
    finally:
        root.removeHandler(output)
        context.output = None
        output.close_attempt()


# --- The last lines, with the outcome --------------------------------------------------------
# A job that prints a few lines in well under FLUSH_SECONDS has them all pending at its end. On
# the fast success they are appended by the outcome's own statement (jobs.sql.SUCCEED_MANY_CTES'
# `printed`: one more CTE, no round trip, no commit of their own; batched with the worker's other
# successes): that write was most of what printing cost a job (bench/OUTPUT.md).


def rest_parameters(output: Capture | None) -> dict | None:
    """The parameters of OUTPUT_CTE for the lines still pending, or None when there are none."""
    if output is None or not output._pending:
        return None
    return {
        "output_attempt": output.attempt,
        "output_text": "".join(output._pending),
        "output_size": output._pending_bytes,
        "output_truncated": output._pending_truncated,
    }


def rest_written(output: Capture | None) -> None:
    """The fast success committed with OUTPUT_CTE: the pending lines are stored."""
    if output is not None and output._pending:
        output._pending, output._pending_bytes, output._pending_truncated = [], 0, False
        output.writes += 1


def write_rest(output: Capture | None) -> None:
    """Write the pending lines on their own (before the general path's outcome)."""
    if output is None:
        return
    try:
        output.flush()
    except Exception:  # never the job's failure (the write itself already logs its errors)
        logger.exception("Job %s: output of attempt %s not stored", output.job_id, output.attempt)


def outputs_of(job) -> list[JobOutput]:
    """The job's output rows, one per attempt that printed, oldest attempt first."""
    return list(JobOutput.objects.filter(job=job).order_by("attempt"))
