"""The dashboard's numbers, computed with queries that stay cheap with a million jobs stored.

Measured with EXPLAIN ANALYZE on a table of a million jobs (900k succeeded, 50k failed, 30k
enqueued, 18k scheduled), on PostgreSQL:
- Counters by state: exact up to COUNT_CAP per state, estimated above it (count_by_state):
  a few ms, where a GROUP BY over job_state_list_idx took ~350-500 ms (parallel index-only
  scan of every entry). Cached SNAPSHOT_TTL (2 s) in the shared cache, recomputed by one
  request at a time (`cached`).
- "Finished since the last poll" (realtime graph): an index-only range scan of the same index
  for two states over two seconds: < 1 ms.
- History (24 h by hour, 7 days by day): read from the 15-minute counters the servers roll up
  (jobs.statistics): the week's 1,344 stored rows (a primary-key range scan, < 1 ms) plus the
  minutes not rolled up yet, counted live (an index-only range scan of job_state_list_idx over
  ~20 minutes: ~7 ms for 2,000 jobs). compute_history takes ~40 ms in all with a million jobs,
  where counting the week's jobs took ~0.95 s; it is still cached HISTORY_TTL. The counters keep
  counting jobs after they expire. A database no server rolled up for over 2 hours is rolled up
  by the first request that needs it: ~0.9 s for a week of a million jobs, once.
- Queues: enqueued per queue from the claim index (partial, index-only), processing from the
  state index: ~15 ms with 30k waiting.
- Lists (listing.py): keyset pages along job_state_list_idx / job_task_list_idx: < 1 ms.
"""

import json
from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Min
from django.utils import dateformat, timezone

from jobs import predictions, states, statistics
from jobs.conf import jobs_settings
from jobs.models import Job, RecurringJob, Server, State

SNAPSHOT_KEY = "jobs.console.snapshot.v2"
HISTORY_KEY = "jobs.console.history.v3"  # v3: buckets carry their label
TASK_PATHS_KEY = "jobs.console.task-paths.v2"
SNAPSHOT_TTL = 2
# Below this many jobs a state is counted exactly; above it, estimated (see count_by_state).
COUNT_CAP = 10_000
HISTORY_TTL = 60
# A value past its TTL may still be served this many TTLs long while one request recomputes it.
STALE_FACTOR = 30
LOCK_SECONDS = 30
TASK_PATHS_TTL = 60
# The realtime graph asks for what finished since its previous poll; a tab left in the
# background must not turn that into a scan of days.
RECENT_MAX_WINDOW = timedelta(minutes=5)
# Succeeded and Failed: the states the graphs count.
FINISHED = statistics.FINISHED
ALIVE_STATUSES = states.ALIVE


def server_timeout() -> timedelta:
    return timedelta(seconds=jobs_settings.SERVER_TIMEOUT)


def server_is_alive(server: Server, now=None) -> bool:
    now = now or timezone.now()
    return server.status in ALIVE_STATUSES and now - server.heartbeat_at <= server_timeout()


def alive_servers(now=None):
    now = now or timezone.now()
    return Server.objects.filter(status__in=ALIVE_STATUSES, heartbeat_at__gte=now - server_timeout())


def count_by_state() -> tuple[dict[str, int], list[str]]:
    """Jobs per state, and which of those numbers are estimates.

    On PostgreSQL each state is counted exactly up to COUNT_CAP rows (an index-only scan of at
    most that many entries of job_state_list_idx, all states in one round trip); a state with
    more rows than that (Succeeded, typically: a day of them is kept) is shown as the planner's
    estimate. A full GROUP BY would read every entry of the index: ~400 ms for a million jobs,
    against a few ms here. Other databases (the SQLite default) count exactly.
    """
    counts = {state.value: 0 for state in State}
    if connection.vendor != "postgresql":
        counts.update(dict(Job.objects.order_by().values_list("state").annotate(n=Count("*"))))
        return counts, []
    table = Job._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT wanted.state,
                   (SELECT count(*) FROM (SELECT 1 FROM {table} j WHERE j.state = wanted.state LIMIT %s) capped)
            FROM unnest(%s::text[]) AS wanted(state)
            """,
            [COUNT_CAP + 1, list(counts)],
        )
        counts.update(dict(cursor.fetchall()))
    approximate = [state for state, n in counts.items() if n > COUNT_CAP]
    for state in approximate:
        counts[state] = max(estimated_count(state), COUNT_CAP + 1)
    return counts, approximate


def estimated_count(state: str) -> int:
    """The planner's row estimate for one state (statistics kept by autovacuum's ANALYZE)."""
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM {Job._meta.db_table} WHERE state = %s", [state])
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def count_retries() -> int:
    """Jobs waiting for their next attempt: Scheduled after a failed run (via job_due_idx)."""
    return Job.objects.filter(state=State.SCHEDULED, attempt__gt=0).count()


def queue_rows(now=None) -> list[dict]:
    """One row per queue: enqueued, processing, and how long the oldest waiting job has waited."""
    now = now or timezone.now()
    waiting: dict[str, Mapping[str, Any]] = {
        row["queue"]: row
        for row in Job.objects.filter(state=State.ENQUEUED)
        .order_by()
        .values("queue")
        .annotate(n=Count("*"), oldest=Min("enqueued_at"))
    }
    processing = dict(
        Job.objects.filter(state=State.PROCESSING).order_by().values_list("queue").annotate(n=Count("*"))
    )
    names = list(jobs_settings.QUEUES)
    names += sorted((set(waiting) | set(processing)) - set(names))
    rows = []
    for name in names:
        oldest = waiting.get(name, {}).get("oldest")
        rows.append(
            {
                "queue": name,
                "enqueued": waiting.get(name, {}).get("n", 0),
                "processing": processing.get(name, 0),
                "oldest_enqueued_at": oldest,
                "oldest_wait_seconds": max(0.0, (now - oldest).total_seconds()) if oldest else None,
                # At the current worker count, from the queue's recent run times (jobs.predictions).
                "drain_seconds": predictions.queue_drain(name, waiting.get(name, {}).get("n", 0), now),
            }
        )
    return rows


def compute_snapshot(now=None) -> dict:
    now = now or timezone.now()
    states, approximate = count_by_state()
    return {
        "computed_at": now,
        "states": states,
        "approximate": approximate,
        "retries": count_retries(),
        "recurring": RecurringJob.objects.count(),
        "servers_alive": alive_servers(now).count(),
        "queues": queue_rows(now),
    }


def snapshot() -> dict:
    """The counters and the queues table, at most SNAPSHOT_TTL seconds old."""
    return cached(SNAPSHOT_KEY, SNAPSHOT_TTL, compute_snapshot)


def cached(key: str, ttl: float, compute):
    """`compute()`'s value, recomputed at most once per `ttl` seconds by all processes together.

    When the value is due, one request recomputes it (it takes a lock in the cache) while the
    others keep serving the previous value, so a dashboard watched by many people does not
    start many identical counts at the same moment.
    """
    now = timezone.now().timestamp()
    entry = cache.get(key)
    if not (isinstance(entry, dict) and "fresh_until" in entry and "value" in entry):
        entry = None  # nothing, or written by another version of this code: recompute
    if entry is not None and entry["fresh_until"] > now:
        return entry["value"]
    if entry is not None and not cache.add(f"{key}.lock", 1, LOCK_SECONDS):
        return entry["value"]
    try:
        value = compute()
        cache.set(key, {"value": value, "fresh_until": now + ttl}, ttl * STALE_FACTOR)
    finally:
        if entry is not None:
            cache.delete(f"{key}.lock")
    return value


def forget_cached() -> None:
    """After an action the console shows its effect at once, not a TTL later."""
    cache.delete_many([SNAPSHOT_KEY, HISTORY_KEY])


def finished_between(since, until) -> dict[str, int]:
    """How many jobs reached Succeeded / Failed in (since, until]."""
    since = max(since, until - RECENT_MAX_WINDOW)
    rows = dict(
        Job.objects.filter(state__in=FINISHED, state_changed_at__gt=since, state_changed_at__lte=until)
        .order_by()
        .values_list("state")
        .annotate(n=Count("*"))
    )
    return {state.value: rows.get(state.value, 0) for state in FINISHED}


def compute_history(now=None) -> dict:
    """Succeeded and failed jobs per local hour over 24 hours and per local day over 7 days.

    Read from the 15-minute counters (jobs.statistics): the stored intervals of the week, and
    the few minutes not rolled up yet counted from the Job table. An interval belongs to the
    local hour and day holding its start; local hours and days are unions of whole intervals in
    every zone offset from UTC by quarter hours, so the fold is exact. The counters keep jobs
    that expired since they finished.
    """
    now = now or timezone.now()
    tz = timezone.get_current_timezone()
    this_hour = timezone.localtime(now, tz).replace(minute=0, second=0, microsecond=0)
    # Counted back in absolute time (UTC): across a DST change a wall-clock hour repeats or is skipped.
    hours = [timezone.localtime(this_hour.astimezone(UTC) - timedelta(hours=23 - i), tz) for i in range(24)]
    # Day starts are computed in the zone one by one: across a DST change they are not 24 h apart.
    first_day = this_hour.date() - timedelta(days=6)
    days = [
        timezone.make_aware(datetime.combine(first_day + timedelta(days=i), time.min), tz) for i in range(7)
    ]
    day_index = {start.date(): i for i, start in enumerate(days)}
    by_hour: list[dict[str, int]] = [{} for _ in hours]
    by_day: list[dict[str, int]] = [{} for _ in days]
    for start, counts in statistics.finished_counts(days[0], now).items():
        hour = (start - hours[0]) // timedelta(hours=1)
        day = day_index.get(timezone.localtime(start, tz).date())
        for state, n in counts.items():
            if 0 <= hour < len(hours):
                by_hour[hour][state] = by_hour[hour].get(state, 0) + n
            if day is not None:
                by_day[day][state] = by_day[day].get(state, 0) + n
    return {
        "hours": [_bucket(start, counts, "H:00") for start, counts in zip(hours, by_hour, strict=True)],
        "days": [_bucket(start, counts, "D j M") for start, counts in zip(days, by_day, strict=True)],
        "time_zone": timezone.get_current_timezone_name(),
        "expiration_hours": jobs_settings.EXPIRATION_SECONDS / 3600,
    }


def _bucket(start, counts: dict, label_format: str) -> dict:
    return {
        "start": start.isoformat(),
        # Labelled here, in TIME_ZONE: the browser's zone would put "today" on another date.
        "label": dateformat.format(start, label_format),
        "succeeded": counts.get(State.SUCCEEDED, 0),
        "failed": counts.get(State.FAILED, 0),
    }


def history() -> dict:
    return cached(HISTORY_KEY, HISTORY_TTL, compute_history)


def task_paths() -> list[str]:
    """The distinct task paths stored, for the task filter (at most 500)."""
    return cached(TASK_PATHS_KEY, TASK_PATHS_TTL, compute_task_paths)


def compute_task_paths() -> list[str]:
    """On PostgreSQL a recursive "loose index scan" over job_task_list_idx: one index probe per
    distinct task, instead of reading every row as SELECT DISTINCT would."""
    if connection.vendor != "postgresql":
        return list(Job.objects.order_by("task_path").values_list("task_path", flat=True).distinct()[:500])
    table = Job._meta.db_table
    sql = f"""
        WITH RECURSIVE paths(path) AS (
            (SELECT task_path FROM {table} ORDER BY task_path LIMIT 1)
            UNION ALL
            SELECT (SELECT task_path FROM {table} WHERE task_path > paths.path ORDER BY task_path LIMIT 1)
            FROM paths WHERE paths.path IS NOT NULL
        )
        SELECT path FROM paths WHERE path IS NOT NULL LIMIT 500
    """
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [row[0] for row in cursor.fetchall()]
