"""Delayed precision: jobs asked to run a few seconds ahead; start mark − requested time, p50/p95.

Ours: `task.using(run_after=…).enqueue()`, due 2 s ahead and spread over a few seconds; the server
promotes each when due (it knows the earliest due time, and a NOTIFY tells it about new ones).
procrastinate: `configure(schedule_at=…).defer()`; its worker fetches a job once it is due, waking
on NOTIFY or on its fetch polling interval (5 s by default, as shipped).
Stock: django-q2's way to run a task later is a Schedule of type ONCE, which its scheduler turns
into a task on its guard loop's 30-second tick; the jobs' times are spread over one whole tick, so
the figure samples where in the tick a due time falls (one repetition: it takes a minute).
"""

from datetime import timedelta

from django.utils import timezone

from bench.report import LOWER, Row
from bench.stats import percentile

STOCK_TICK = 30.0  # django-q2 runs its scheduler every 30 s of guard cycles (cluster.Sentinel.guard)


def measure(bench, system, n: int, lead: float, spread: float) -> list[float]:
    label = bench.label("delayed", system.key)
    base = timezone.now() + timedelta(seconds=lead)
    due = {seq: base + timedelta(seconds=spread * seq / max(n - 1, 1)) for seq in range(n)}
    for seq, at in due.items():
        system.enqueue_at(label, seq, at)
    starts = bench.marks.wait_for(label, n, timeout=lead + spread + STOCK_TICK + 30)
    return [starts[seq] - due[seq].timestamp() for seq in range(n)]


def run(bench, systems) -> list[Row]:
    p50 = Row(key="delayed_p50", label="Delayed start − run_after, p50", unit="s", better=LOWER)
    p95 = Row(
        key="delayed_p95",
        label="Delayed start − run_after, p95",
        unit="s",
        better=LOWER,
        target=1.0,
        target_text="p95 ≤ 1 s",
    )
    sizes = bench.sizes
    for system in systems:
        if system.key == "stock":
            if not sizes.stock_delayed_jobs:
                p50.stock_note = p95.stock_note = "not in --quick: its scheduler ticks every 30 s"
                continue
            plan = [(sizes.stock_delayed_jobs, 2.0, STOCK_TICK)]
        else:
            plan = [(sizes.delayed_jobs, 2.0, sizes.delayed_spread)] * sizes.repetitions
        values50, values95 = [], []
        with bench.start_warm_server(system, bench.sizes.latency_workers):
            for rep, (n, lead, spread) in enumerate(plan):
                lateness = measure(bench, system, n, lead, spread)
                values50.append(percentile(lateness, 0.5))
                values95.append(percentile(lateness, 0.95))
                bench.log(
                    f"delayed {system.key} rep {rep + 1}: p50 {values50[-1]:.3f} s, p95 {values95[-1]:.3f} s"
                )
        setattr(p50, system.key, values50)
        setattr(p95, system.key, values95)
    return [p50, p95]
