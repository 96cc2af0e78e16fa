"""Accuracy of the batch ETA (jobs.predictions): median absolute percentage error at 25 %, 50 %
and 75 % of a batch's progress.

The workload has a known duration distribution: three tasks with log-normal run times (medians
2 s, 5 s and 12 s, sigma 0.5). Their past runs (WINDOW each) are stored as finished jobs and
rolled up by the real roll-up, which builds the estimates as servers do. Then a batch of 300
jobs of the three tasks, in random order, is executed in simulated time on 2 servers × 4 workers
(first free worker takes the next job; durations drawn from the same distributions — sleeping
through them would take minutes per trial). At each progress mark the ETA is computed by
predictions.eta_seconds from what is left (waiting jobs per task, running jobs' elapsed time),
exactly as the batch page does, and compared with the simulated remaining time. One figure per
trial; the row's median is the MdAPE. django-q2 has no predictions.
"""

import heapq
import math
import random
from datetime import timedelta

from bench.report import LOWER, Row

TASKS = {"bench.tasks.short": 2.0, "bench.tasks.medium": 5.0, "bench.tasks.long": 12.0}
SIGMA = 0.5
BATCH = 300
WORKERS = 8  # 2 servers × 4 workers
MARKS = (0.25, 0.50, 0.75)


def draw(rng: random.Random, median: float) -> float:
    return rng.lognormvariate(math.log(median), SIGMA)


def store_history(rng: random.Random) -> None:
    """WINDOW past runs per task, as finished jobs an hour old, then the roll-up."""
    from django.utils import timezone

    from jobs import predictions, tallies
    from jobs.models import Job, State

    end = timezone.now() - timedelta(hours=1)
    rows = []
    for task, median in TASKS.items():
        for _ in range(predictions.WINDOW):
            seconds = draw(rng, median)
            rows.append(
                Job(
                    task_path=task,
                    queue="default",
                    state=State.SUCCEEDED,
                    state_changed_at=end,
                    created_at=end,
                    enqueued_at=end - timedelta(seconds=seconds + 1),
                    started_at=end - timedelta(seconds=seconds),
                    finished_at=end,
                    attempt=1,
                )
            )
    Job.objects.bulk_create(rows, batch_size=1000)
    tallies.roll_up()


def trial(rng: random.Random, means: dict) -> dict:
    """One batch run in simulated time; {mark: absolute percentage error of the ETA}."""
    from jobs import predictions

    jobs = [task for task in TASKS for _ in range(BATCH // len(TASKS))]
    rng.shuffle(jobs)
    durations = [draw(rng, TASKS[task]) for task in jobs]
    free = [0.0] * WORKERS  # when each worker is free
    heapq.heapify(free)
    spans = []  # (start, end, task) per job, in start order
    for task, seconds in zip(jobs, durations, strict=True):
        start = heapq.heappop(free)
        spans.append((start, start + seconds, task))
        heapq.heappush(free, start + seconds)
    finished_at = sorted(end for _, end, _ in spans)
    total = finished_at[-1]
    errors = {}
    for mark in MARKS:
        now = finished_at[int(len(spans) * mark) - 1]  # the moment that share of the jobs is done
        waiting, running = {}, []
        for start, end, task in spans:
            if start > now:
                waiting[task] = waiting.get(task, 0) + 1
            elif end > now:
                running.append((task, now - start))
        predicted = predictions.eta_seconds(waiting, running, means, WORKERS)
        actual = total - now
        errors[mark] = abs(predicted - actual) / actual * 100
    return errors


def run(bench, systems) -> list[Row]:
    from jobs import predictions

    bench.reset()
    rng = random.Random(20261201)
    store_history(rng)
    means = predictions.estimates(predictions.Kind.TASK, TASKS)
    trials = 10 if bench.quick else 50
    results = [trial(rng, means) for _ in range(trials)]
    rows = []
    for mark in MARKS:
        percent = int(mark * 100)
        row = Row(
            key=f"predictions_mdape_{percent}",
            label=f"Batch ETA error at {percent} % done (MdAPE)",
            unit="%",
            better=LOWER,
            stock_note="no predictions",
            comparable=False,
            target=20.0 if mark == 0.5 else None,
            target_text="≤ 20 %" if mark == 0.5 else "",
        )
        row.ours = [round(r[mark], 2) for r in results]
        rows.append(row)
        bench.log(
            f"batch ETA at {percent} %: MdAPE {sorted(row.ours)[len(row.ours) // 2]:.1f} % over {trials} trials"
        )
    bench.notes.append(
        f"Batch ETA accuracy: {trials} simulated batches of {BATCH} jobs over three tasks with log-normal run times "
        f"(medians 2/5/12 s, sigma {SIGMA}) on {WORKERS} workers, estimates built by the real roll-up from "
        f"{predictions.WINDOW} past runs per task (bench/scenarios/predictions.py)."
    )
    return rows
