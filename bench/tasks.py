"""The no-op tasks the benchmarks run: one for our engine, one for stock django-q2.

Both bodies are the same call: record "this job started now" and return. The record is one
line appended to a per-process file (line-buffered, a few microseconds), not a database row, so
the measurement adds nothing to the database that both systems are competing for. The bench
process reads the files (`bench.marks`) to find first starts and enqueue-to-start latencies.
"""

import logging

from django.tasks import task

from bench.marks import record_start
from jobs.flow import Concurrency


@task(queue_name="default")
def noop(label: str, seq: int) -> None:
    """Our engine's no-op job (a django.tasks task run by our broker and runner)."""
    record_start(label, seq)


def stock_noop(label: str, seq: int) -> None:
    """django-q2's no-op task (a plain function, as django-q2 runs them)."""
    record_start(label, seq)


_output_logger = logging.getLogger("bench.tasks")


@task(queue_name="default", takes_context=True)
def printing_noop(context, label: str, seq: int) -> None:
    """The no-op job that prints 10 lines — 5 with context.log, 5 logging records — for the
    output scenario (bench/scenarios/output.py): the cost of job output against `noop`. The
    records are warnings: the bench's servers log at WARNING (bench/environment.py), and a
    record below a logger's level never reaches any handler, ours included."""
    record_start(label, seq)
    for line in range(5):
        context.log(f"job {seq}: step {line + 1} of 5")
        _output_logger.warning("job %s: record %d of 5", seq, line + 1)


@task(queue_name="low-priority")
def noop_low(label: str, seq: int) -> None:
    """The backlog of the priority-under-load scenario."""
    record_start(label, seq)


@task(queue_name="critical")
def noop_critical(label: str, seq: int) -> None:
    """The jobs that must overtake that backlog."""
    record_start(label, seq)


@task(queue_name="default", concurrency=Concurrency(key="bench:{key}", limit=2))
def keyed_noop(label: str, seq: int, key: int) -> None:
    """The same no-op, at most two at a time per key (bench/scenarios/flow.py)."""
    record_start(label, seq)
