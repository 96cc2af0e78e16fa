"""Output: what job output costs a drain. N no-op jobs that print nothing, and N that print 10
lines each (bench.tasks.printing_noop: 5 context.log lines, 5 logging records), drained by one
server with 2 workers, alternating in the same run so that a noisy minute hurts both alike.

The figure the issue sets is the ratio of the two drain times (printing / quiet), ≤ 1.3×
(Hangfire.Console users report 2 → 17 minutes for a 170k-job run). django-q2 has no job output,
so the stock column says so instead of a figure.
"""

import time

from bench.report import HIGHER, LOWER, Row

POLL = 0.01
WORKERS = 2
NO_OUTPUT = "django-q2 has no job output"


def _drain(bench, system, task, *, printing: bool) -> float:
    """Seconds from the first start to the last finish of N jobs of `task`."""
    from bench.database import analyze
    from jobs.api import enqueue_many

    n = bench.sizes.drain_jobs
    bench.reset()
    label = bench.label("output-printing" if printing else "output-quiet", system.key)
    enqueue_many(task, [((label, seq), {}) for seq in range(n)])
    analyze(bench.conn)
    server = system.start(WORKERS)
    try:
        deadline = time.monotonic() + 60 + n / 10
        while system.pending():
            server.check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"output: {n} jobs not drained in time:\n{server.log_tail()}")
            time.sleep(POLL)
        finished = time.time()
    finally:
        server.stop()
    starts = bench.marks.wait_for(label, n, timeout=30)
    _verify(bench, n, printing)
    return finished - min(starts.values())


def _verify(bench, n: int, printing: bool) -> None:
    succeeded = bench.conn.execute("SELECT count(*) FROM jobs_job WHERE state = 'succeeded'").fetchone()[0]
    outputs, lines = bench.conn.execute(
        "SELECT count(*), coalesce(sum(array_length(regexp_split_to_array(rtrim(text, E'\\n'), E'\\n'), 1)), 0)"
        " FROM jobs_joboutput"
    ).fetchone()
    expected = (n, 10 * n) if printing else (0, 0)
    if succeeded != n or (outputs, lines) != expected:
        raise AssertionError(
            f"output: {succeeded} of {n} jobs succeeded, {outputs} output rows of {lines} lines (expected {expected})"
        )


def run(bench, systems) -> list[Row]:
    from bench.tasks import noop, printing_noop

    ours = next(system for system in systems if system.key == "ours")
    quiet, printing = [], []
    for rep in range(bench.sizes.repetitions):
        quiet.append(_drain(bench, ours, noop, printing=False))
        printing.append(_drain(bench, ours, printing_noop, printing=True))
        bench.log(f"output rep {rep + 1}: quiet {quiet[-1]:.2f} s, printing 10 lines {printing[-1]:.2f} s")
    n = bench.sizes.drain_jobs
    return [
        Row(
            key="output_drain_quiet",
            label=f"Drain, {WORKERS} workers, jobs printing nothing",
            unit="jobs/s",
            better=HIGHER,
            ours=[n / s for s in quiet],
            stock_note=NO_OUTPUT,
        ),
        Row(
            key="output_drain_printing",
            label=f"Drain, {WORKERS} workers, jobs printing 10 lines",
            unit="jobs/s",
            better=HIGHER,
            ours=[n / s for s in printing],
            stock_note=NO_OUTPUT,
        ),
        Row(
            key="output_cost",
            label="Output cost: drain time printing / quiet",
            unit="×",
            better=LOWER,
            ours=[p / q for p, q in zip(printing, quiet, strict=True)],
            stock_note=NO_OUTPUT,
            target=1.3,
            target_text="≤ 1.3×",
        ),
    ]
