"""A job's output, per attempt: what the task printed with `context.log(...)` and the logging
records its own code emitted while it ran, stored in JobOutput rows for the console.

The runner's one hook is `with capture(context):` around the task call. Inside it the one
handler this module keeps on the root logger (_Router, installed once, not per job) hands the
records of the thread that runs the task to its attempt (a worker runs one job at a time in its
main thread; records of other threads and of the engine's own loggers are not the job's). A line
is kept as it came (its time and message) and formatted — time stamp, masking, the cap — only
when it is about to be written: a record costs the capture a lookup and an append, not a
Formatter, a lock and a filter (bench/findings.md). Lines are appended in batches — when
FLUSH_BYTES are pending, when a line comes FLUSH_SECONDS after the last write, and at the end of
the attempt — so that a job that prints is never one database write per line (Hangfire.Console's
cost: bench/OUTPUT.md).

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

APPEND_SQL = """
INSERT INTO jobs_joboutput (job_id, attempt, text, size, truncated, updated_at)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (job_id, attempt) DO UPDATE
SET text = jobs_joboutput.text || excluded.text, size = jobs_joboutput.size + excluded.size,
    truncated = jobs_joboutput.truncated OR excluded.truncated, updated_at = excluded.updated_at
"""


# A record's time stamp (as the lines'): the console's TIME_ZONE, which Django sets as the
# process's TZ. Only the time of day: the page shows the attempt's date.
STAMP = "%H:%M:%S"
# Only for a record's traceback and stack, formatted as logging.Formatter does.
_FORMATTER = logging.Formatter()
# Added per line to its message's length: the stamp, its space and the newline.
_LINE_OVERHEAD = len("00:00:00 \n")


class Capture:
    """One attempt's output: the lines fed since the last format (not formatted yet), then the
    text waiting to be written."""

    def __init__(self, job_id, attempt: int, *, max_bytes: int | None = None):
        self.job_id = job_id
        self.attempt = attempt
        self.max_bytes = jobs_settings.OUTPUT_MAX_BYTES if max_bytes is None else max_bytes
        self.thread = threading.get_ident()
        # Redacted argument values are masked in the output as in the logs (jobs/redaction.py):
        # what to mask is the job's, resolved when its run began (redaction.bound).
        self._redactor = redaction.current()
        # Fed, not formatted yet: (time.time(), "LEVEL logger: " or "" for a context.log line,
        # message). Formatted by _format_lines, in the order they came.
        self._lines: list[tuple[float, str, str]] = []
        self._lines_size = 0  # their formatted size, near enough (characters) to know when to write
        self._pending: list[str] = []  # formatted, capped, waiting for a write
        self._pending_bytes = 0
        self._pending_truncated = False
        self._budget: int | None = None  # bytes this attempt may still store; read at the first format
        self._dropped = 0
        self._written_at = time.monotonic()
        self._writing = False
        # Transactions already open when the attempt began (a test's, never a worker's): not the task's.
        self._outer_atomic_depth = len(connection.atomic_blocks)
        self.writes = 0  # database writes made: read by the tests that check the batching

    # --- feeding ------------------------------------------------------------------------------
    def line(self, message: str) -> None:
        """`context.log(message)`: one line (or several, if it holds newlines), time-stamped."""
        if self._dropped:  # past the cap: only counted
            self._dropped += 1
            return
        self._lines.append((time.time(), "", message))
        self._fed(len(message))

    def record(self, record: logging.LogRecord) -> None:
        """A logging record of this attempt's thread (from _Router)."""
        if self._writing or record.name.startswith(IGNORED_LOGGERS):
            return
        if self._dropped:
            self._dropped += 1
            return
        try:
            # The message now, not at the write: its arguments may change after the call.
            message = record.getMessage()
            if record.exc_info or record.exc_text or record.stack_info:
                message = _with_traceback(record, message)
        except Exception:
            _ROUTER.handleError(record)
            return
        prefix = f"{record.levelname} {record.name}: "
        self._lines.append((record.created, prefix, message))
        self._fed(len(prefix) + len(message))

    def _fed(self, size: int) -> None:
        self._lines_size += size + _LINE_OVERHEAD
        if self._lines_size >= FLUSH_BYTES:
            # Formatted (and capped) even where it cannot be written yet — inside the task's
            # transaction, from another thread — so what waits stays within the cap.
            self._format_lines()
            self.maybe_flush()
        elif time.monotonic() - self._written_at >= FLUSH_SECONDS:
            self.maybe_flush()

    def _format_lines(self) -> None:
        """Stamp, mask and cap the lines fed since the last call."""
        lines, self._lines, self._lines_size = self._lines, [], 0
        if not lines:
            return
        redactor = self._redactor
        # One search over the batch says whether any line needs masking (most batches: none).
        masking = bool(redactor) and redactor.finds("\n".join(message for _, _, message in lines))
        second, stamp = -1, ""
        texts = []
        for created, prefix, message in lines:
            if int(created) != second:  # lines come many per second: one strftime per second
                second = int(created)
                stamp = time.strftime(STAMP, time.localtime(created))
            if masking:
                message = redactor.clean(message)
            texts.append(f"{stamp} {prefix}{message}".rstrip("\n") + "\n")
        self._keep(texts)

    def _keep(self, texts: list[str]) -> None:
        """Formatted lines, in order, within the cap: pending for the next write."""
        budget = self._budget
        if budget is None:
            budget = self.max_bytes - self._used_by_earlier_attempts()
        if not self._dropped:
            text = "".join(texts)
            size = len(text.encode())
            if size <= budget:  # the whole batch fits (most do): one append, one encode
                self._pending.append(text)
                self._pending_bytes += size
                self._budget = budget - size
                return
        for text in texts:
            if self._dropped:
                self._dropped += 1
                continue
            size = len(text.encode())
            if size > budget:
                # Keep what fits of this line, then the marker; later lines are only counted.
                kept = text.encode()[: max(budget - 1, 0)].decode(errors="ignore")  # 1 for its newline
                if kept:
                    self._pending.append(kept + "\n")
                    self._pending_bytes += len(kept.encode()) + 1
                # The marker is not counted against the cap: it is ours, not the job's.
                self._pending.append(TRUNCATED_MARKER.format(limit=self.max_bytes))
                budget = 0
                self._dropped = 1
                self._pending_truncated = True
            else:
                self._pending.append(text)
                self._pending_bytes += size
                budget -= size
        self._budget = budget

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
        if not (self._lines or self._pending) or threading.get_ident() != self.thread:
            return
        due = (
            self._lines_size + self._pending_bytes >= FLUSH_BYTES
            or time.monotonic() - self._written_at >= FLUSH_SECONDS
        )
        if due and len(connection.atomic_blocks) <= self._outer_atomic_depth:
            self.flush()

    def flush(self) -> None:
        """Append the pending lines to this attempt's row (created by the first write)."""
        if self._writing:
            return
        self._format_lines()
        if not self._pending:
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
        """At the end of the attempt: the lines still fed are formatted, then the count of dropped
        lines after the marker. The last lines stay pending: the runner writes them with the
        outcome (write_rest, rest_parameters)."""
        self._format_lines()
        if self._dropped > 1:
            self._pending.append(f"[{self._dropped - 1} line(s) dropped]\n")
            self._dropped = 1


def _with_traceback(record: logging.LogRecord, message: str) -> str:
    """The message and the record's traceback and stack, as logging.Formatter.format adds them."""
    if record.exc_info and not record.exc_text:
        record.exc_text = _FORMATTER.formatException(record.exc_info)
    if record.exc_text:
        message = (message if message.endswith("\n") else message + "\n") + record.exc_text
    if record.stack_info:
        message = (message if message.endswith("\n") else message + "\n") + _FORMATTER.formatStack(
            record.stack_info
        )
    return message


# The attempt each thread runs now, by thread id (a record carries its thread's).
_running: dict[int | None, Capture] = {}


class _Router(logging.Handler):
    """The one handler on the root logger for every attempt: hands a record to the attempt its
    thread runs, if any. One for the process rather than a handler per attempt: adding and
    removing a handler takes logging's locks, and Handler.handle takes a lock and runs the
    filters for every record of every thread; the lookup here takes neither."""

    def handle(self, record: logging.LogRecord) -> bool:
        capture = _running.get(record.thread)
        if capture is not None:
            capture.record(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        self.handle(record)


_ROUTER = _Router()


@contextmanager
def capture(context):
    """Capture the output of the attempt `context` (a jobs.task.JobContext) runs, while inside.
    The lines still pending at the end are the caller's to write (the runner's finish)."""
    output = Capture(context.job.pk, context.attempt)
    root = logging.getLogger()
    if _ROUTER not in root.handlers:  # once per process, and again if logging was configured anew
        root.addHandler(_ROUTER)
    previous = _running.get(output.thread)
    _running[output.thread] = output
    context.output = output
    try:
        yield output
    finally:
        if previous is None:
            del _running[output.thread]
        else:
            _running[output.thread] = previous
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
