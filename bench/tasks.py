"""The no-op tasks the benchmarks run: one for our engine, one for stock django-q2.

Both bodies are the same call: record "this job started now" and return. The record is one
line appended to a per-process file (line-buffered, a few microseconds), not a database row, so
the measurement adds nothing to the database that both systems are competing for. The bench
process reads the files (`bench.marks`) to find first starts and enqueue-to-start latencies.
"""

from django.tasks import task

from bench.marks import record_start


@task(queue_name="default")
def noop(label: str, seq: int) -> None:
    """Our engine's no-op job (a django.tasks task run by our broker and runner)."""
    record_start(label, seq)


def stock_noop(label: str, seq: int) -> None:
    """django-q2's no-op task (a plain function, as django-q2 runs them)."""
    record_start(label, seq)


@task(queue_name="low-priority")
def noop_low(label: str, seq: int) -> None:
    """The backlog of the priority-under-load scenario."""
    record_start(label, seq)


@task(queue_name="critical")
def noop_critical(label: str, seq: int) -> None:
    """The jobs that must overtake that backlog."""
    record_start(label, seq)
