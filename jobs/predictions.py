"""Duration predictions: a running estimate of how long each task, recurring job and queue's
jobs take, and what follows from it where people wait.

The estimate is the last WINDOW successful run times (finished_at - started_at), oldest first,
with their p50, p90, p95 and mean. The servers' roll-up (jobs/tallies.py) calls `observe()` with
the window it has just counted: it reads only the runs that finished in it (at most WINDOW per
task, newest first, from job_task_list_idx) and never scans history again. Pages read one row
per estimate:
- a Processing job: "likely done in ~40 s (p90 2 min)", or "running longer than 95 % of its
  past runs";
- a batch: its remaining jobs' own task means, shared by the workers serving their queues (plus
  what the running ones still need) — not one average;
- a queue: its Enqueued backlog × its jobs' mean ÷ the workers serving it;
- a recurring job: how long its next run should take.
"""

import math
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Count
from django.utils import timezone

from jobs.conf import jobs_settings
from jobs.models import DurationEstimate, Job, Server, State

WINDOW = 200
Kind = DurationEstimate.Kind
ALIVE = ("running", "stopping")


def quantile(ordered: list[float], q: float) -> float:
    """The q-quantile of sorted values, interpolated between the two nearest ranks."""
    if not ordered:
        return 0.0
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarize(recent: list[float]) -> dict:
    ordered = sorted(recent)
    return {
        "p50": quantile(ordered, 0.5),
        "p90": quantile(ordered, 0.9),
        "p95": quantile(ordered, 0.95),
        "mean": sum(ordered) / len(ordered) if ordered else 0.0,
    }


RUNS_SQL = f"""
SELECT {{key}}, EXTRACT(EPOCH FROM finished_at - started_at)
FROM (
    SELECT task_path, queue, recurring_job_id, started_at, finished_at, state_changed_at,
           row_number() OVER (PARTITION BY {{key}} ORDER BY state_changed_at DESC) AS newest
    FROM {Job._meta.db_table}
    WHERE state = 'succeeded' AND state_changed_at >= %s AND state_changed_at < %s
      AND started_at IS NOT NULL AND finished_at >= started_at AND {{key}} IS NOT NULL
) AS runs
WHERE newest <= {WINDOW}
ORDER BY {{key}}, state_changed_at
"""
COLUMNS: dict[str, str] = {Kind.TASK: "task_path", Kind.RECURRING: "recurring_job_id", Kind.QUEUE: "queue"}


def _runs(kind: str, since: datetime, until: datetime) -> dict:
    """{key: [run time, oldest first]}: at most WINDOW of each key's newest runs in the window."""
    column = COLUMNS[kind]
    found: dict = {}
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(RUNS_SQL.format(key=column), [since, until])
            for key, seconds in cursor.fetchall():
                found.setdefault(key, []).append(float(seconds))
        return found
    rows = (
        Job.objects.filter(
            state=State.SUCCEEDED,
            state_changed_at__gte=since,
            state_changed_at__lt=until,
            started_at__isnull=False,
            **{f"{column}__isnull": False},
        )
        .order_by("state_changed_at")
        .values_list(column, "started_at", "finished_at")
    )
    for key, started, finished in rows:
        if finished >= started:
            found.setdefault(key, []).append((finished - started).total_seconds())
    return {key: runs[-WINDOW:] for key, runs in found.items()}


def observe(since: datetime, until: datetime, now: datetime | None = None) -> int:
    """Fold the runs that succeeded in [since, until) into the estimates; returns how many
    estimates changed. Called by the roll-up, under its lock."""
    now = now or timezone.now()
    changed = 0
    for kind in (Kind.TASK, Kind.RECURRING, Kind.QUEUE):
        runs = _runs(kind, since, until)
        if not runs:
            continue
        stored = {
            e.key: e for e in DurationEstimate.objects.filter(kind=kind, key__in=[str(k) for k in runs])
        }
        new, updated = [], []
        for key, seconds in runs.items():
            key = str(key)
            estimate = stored.get(key)
            if estimate is None:
                estimate = DurationEstimate(kind=kind, key=key, recent=[], runs=0)
                new.append(estimate)
            else:
                updated.append(estimate)
            estimate.recent = (list(estimate.recent) + [round(s, 6) for s in seconds])[-WINDOW:]
            estimate.runs += len(seconds)
            estimate.updated_at = now
            for name, value in summarize(estimate.recent).items():
                setattr(estimate, name, round(value, 6))
        DurationEstimate.objects.bulk_create(new)
        DurationEstimate.objects.bulk_update(
            updated, ["recent", "runs", "p50", "p90", "p95", "mean", "updated_at"]
        )
        changed += len(new) + len(updated)
    return changed


def estimate(kind: str, key) -> DurationEstimate | None:
    return DurationEstimate.objects.filter(kind=kind, key=str(key)).defer("recent").first()


def estimates(kind: str, keys) -> dict:
    keys = [str(k) for k in keys]
    return (
        {e.key: e for e in DurationEstimate.objects.filter(kind=kind, key__in=keys).defer("recent")}
        if keys
        else {}
    )


# --- What follows from them -----------------------------------------------------------------------


def describe_seconds(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 1:
        return "under a second"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def processing_job(job: Job, now: datetime | None = None) -> dict | None:
    """For a Processing job: {"text", "remaining", "overdue", "finish_at"} from its task's estimate."""
    if job.state != State.PROCESSING or job.started_at is None:
        return None
    return _predicted(job, estimate(Kind.TASK, job.task_path), now or timezone.now())


def processing_jobs(jobs, now: datetime | None = None) -> dict:
    """{job id: processing_job(job)} for a page of jobs, with one query for their estimates."""
    now = now or timezone.now()
    running = [job for job in jobs if job.state == State.PROCESSING and job.started_at is not None]
    found = estimates(Kind.TASK, {job.task_path for job in running})
    return {job.pk: _predicted(job, found.get(job.task_path), now) for job in running}


def _predicted(job: Job, found: DurationEstimate | None, now: datetime) -> dict | None:
    if found is None or job.started_at is None:
        return None
    elapsed = (now - job.started_at).total_seconds()
    if elapsed > found.p95:
        return {
            "text": f"Running longer than 95 % of its past runs (p95 {describe_seconds(found.p95)}, "
            f"running {describe_seconds(elapsed)})",
            "remaining": None,
            "overdue": True,
            "finish_at": None,
        }
    remaining = found.p50 - elapsed
    if remaining > 0:
        text = f"Likely done in ~{describe_seconds(remaining)} (p90 {describe_seconds(found.p90 - elapsed)})"
    else:
        text = f"Past its median run time; p90 in {describe_seconds(found.p90 - elapsed)}"
    return {
        "text": text,
        "remaining": max(remaining, 0.0),
        "overdue": False,
        "finish_at": now + timedelta(seconds=max(remaining, 0.0)),
    }


def workers_for(queues, now: datetime | None = None) -> int:
    """Workers of the live servers that serve any of `queues`."""

    now = now or timezone.now()
    fresh = now - timedelta(seconds=jobs_settings.SERVER_TIMEOUT)
    wanted = set(queues)
    return sum(
        count
        for served, count in Server.objects.filter(status__in=ALIVE, heartbeat_at__gte=fresh).values_list(
            "queues", "worker_count"
        )
        if wanted & set(served or ())
    )


def eta_seconds(waiting: dict, running: list[tuple[str, float]], means: dict, workers: int) -> float | None:
    """Seconds until the work is done: the waiting jobs' task means plus what the running ones
    still need, shared by `workers` — and never less than the longest single job left.

    waiting: {task: n}; running: [(task, seconds elapsed)]; means: {task: DurationEstimate}.
    None when a task has no estimate yet or no worker serves the queues.
    """
    if workers <= 0:
        return None
    work = longest = 0.0
    for task, n in waiting.items():
        if task not in means:
            return None
        work += n * means[task].mean
        longest = max(longest, means[task].mean)
    for task, elapsed in running:
        if task not in means:
            return None
        left = max(means[task].mean - elapsed, 0.0)
        work += left
        longest = max(longest, left)
    return max(work / workers, longest)


def batch_eta(batch, now: datetime | None = None) -> datetime | None:
    """When the batch's remaining jobs should be done, from their own tasks' estimates."""
    now = now or timezone.now()
    left = Job.objects.filter(batch=batch).exclude(state__in=(State.SUCCEEDED, State.FAILED, State.DELETED))
    waiting: dict[str, int] = {}
    queues: set[str] = set()
    for task, queue, n in (
        left.filter(state__in=(State.ENQUEUED, State.SCHEDULED, State.AWAITING))
        .order_by()
        .values_list("task_path", "queue")
        .annotate(n=Count("pk"))
    ):
        waiting[task] = waiting.get(task, 0) + n
        queues.add(queue)
    running = []
    for task, queue, started in left.filter(state=State.PROCESSING).values_list(
        "task_path", "queue", "started_at"
    ):
        running.append((task, (now - started).total_seconds() if started else 0.0))
        queues.add(queue)
    if not waiting and not running:
        return None
    seconds = eta_seconds(
        waiting,
        running,
        estimates(Kind.TASK, set(waiting) | {t for t, _ in running}),
        workers_for(queues, now),
    )
    return None if seconds is None else now + timedelta(seconds=seconds)


def queue_drains(enqueued: dict[str, int], workers: dict[str, int]) -> dict[str, float | None]:
    """queue_drain for several queues at once ({queue: Enqueued}, {queue: workers serving it}),
    with one query for their estimates: the queues page."""
    found = estimates(Kind.QUEUE, enqueued)
    drains: dict[str, float | None] = {}
    for queue, n in enqueued.items():
        if not n:
            drains[queue] = 0.0
        elif queue not in found or workers.get(queue, 0) <= 0:
            drains[queue] = None
        else:
            drains[queue] = n * found[queue].mean / workers[queue]
    return drains


def queue_drain(queue: str, enqueued: int, now: datetime | None = None) -> float | None:
    """Seconds to drain the queue's Enqueued backlog at its current worker count."""
    if not enqueued:
        return 0.0
    found = estimate(Kind.QUEUE, queue)
    workers = workers_for([queue], now)
    if found is None or workers <= 0:
        return None
    return enqueued * found.mean / workers
