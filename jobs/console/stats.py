"""The dashboard's numbers, computed with queries that stay cheap with a million jobs stored.

- Counters by state are one GROUP BY over `job_state_list_idx` (an index-only scan), cached for
  a couple of seconds in the shared cache: however many people watch the dashboard, the table
  is counted at most once per TTL.
- "Succeeded/failed lately" and the history graphs count jobs whose state changed inside a
  time range: a range scan of the same index for two states, never the whole table.
- Queues: the enqueued side reads the claim index (partial on state=enqueued), the processing
  side the lease index (partial on state=processing).
The plans were checked with EXPLAIN on a table of a million jobs (see tests/console/test_stats.py).
"""

from datetime import datetime, time, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Min, Q
from django.db.models.functions import TruncDay, TruncHour
from django.utils import timezone

from jobs.models import Job, RecurringJob, Server, State

SNAPSHOT_KEY = "jobs.console.snapshot.v1"
HISTORY_KEY = "jobs.console.history.v1"
TASK_PATHS_KEY = "jobs.console.task-paths.v1"
SNAPSHOT_TTL = 2
HISTORY_TTL = 60
TASK_PATHS_TTL = 60
# The realtime graph asks for what finished since its previous poll; a tab left in the
# background must not turn that into a scan of days.
RECENT_MAX_WINDOW = timedelta(minutes=5)
FINISHED = (State.SUCCEEDED, State.FAILED)
ALIVE_STATUSES = ("running", "stopping")


def server_timeout() -> timedelta:
    return timedelta(seconds=settings.DHANMAN_JOBS["SERVER_TIMEOUT"])


def server_is_alive(server: Server, now=None) -> bool:
    now = now or timezone.now()
    return server.status in ALIVE_STATUSES and now - server.heartbeat_at <= server_timeout()


def alive_servers(now=None):
    now = now or timezone.now()
    return Server.objects.filter(status__in=ALIVE_STATUSES, heartbeat_at__gte=now - server_timeout())


def count_by_state() -> dict[str, int]:
    rows = Job.objects.order_by().values_list("state").annotate(n=Count("*"))
    counts = {state.value: 0 for state in State}
    counts.update(dict(rows))
    return counts


def count_retries() -> int:
    """Jobs waiting for their next attempt: Scheduled after a failed run (via job_due_idx)."""
    return Job.objects.filter(state=State.SCHEDULED, attempt__gt=0).count()


def queue_rows(now=None) -> list[dict]:
    """One row per queue: enqueued, processing, and how long the oldest waiting job has waited."""
    now = now or timezone.now()
    waiting = {
        row["queue"]: row
        for row in Job.objects.filter(state=State.ENQUEUED)
        .order_by()
        .values("queue")
        .annotate(n=Count("*"), oldest=Min("enqueued_at"))
    }
    processing = dict(
        Job.objects.filter(state=State.PROCESSING).order_by().values_list("queue").annotate(n=Count("*"))
    )
    names = list(settings.JOB_QUEUES)
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
            }
        )
    return rows


def compute_snapshot(now=None) -> dict:
    now = now or timezone.now()
    return {
        "computed_at": now,
        "states": count_by_state(),
        "retries": count_retries(),
        "recurring": RecurringJob.objects.count(),
        "recurring_enabled": RecurringJob.objects.filter(enabled=True).count(),
        "servers_alive": alive_servers(now).count(),
        "queues": queue_rows(now),
    }


def snapshot() -> dict:
    """The counters and the queues table, at most SNAPSHOT_TTL seconds old."""
    data = cache.get(SNAPSHOT_KEY)
    if data is None:
        data = compute_snapshot()
        cache.set(SNAPSHOT_KEY, data, SNAPSHOT_TTL)
    return data


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
    """Succeeded and failed jobs per hour over 24 hours and per day over 7 days.

    Counted from the jobs still stored: a Succeeded job is removed EXPIRATION_SECONDS after it
    finished (24 h by default), so older days show the failures and what has not expired yet.
    """
    now = timezone.localtime(now or timezone.now())
    tz = timezone.get_current_timezone()
    first_hour = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
    hours = [first_hour + timedelta(hours=i) for i in range(24)]
    # Days are computed in the zone one by one: across a DST change they are not 24 h apart.
    first_day = now.date() - timedelta(days=6)
    days = [timezone.make_aware(datetime.combine(first_day + timedelta(days=i), time.min), tz) for i in range(7)]
    return {
        "hours": _buckets(TruncHour, hours, now),
        "days": _buckets(TruncDay, days, now),
        "expiration_hours": settings.DHANMAN_JOBS["EXPIRATION_SECONDS"] / 3600,
    }


def _buckets(trunc, starts, now) -> list[dict]:
    tz = timezone.get_current_timezone()
    rows = (
        Job.objects.filter(state__in=FINISHED, state_changed_at__gte=starts[0], state_changed_at__lte=now)
        .order_by()
        .annotate(bucket=trunc("state_changed_at", tzinfo=tz))
        .values("bucket")
        .annotate(
            succeeded=Count("pk", filter=Q(state=State.SUCCEEDED)),
            failed=Count("pk", filter=Q(state=State.FAILED)),
        )
    )
    found = {row["bucket"]: row for row in rows}
    return [
        {
            "start": start.isoformat(),
            "succeeded": found.get(start, {}).get("succeeded", 0),
            "failed": found.get(start, {}).get("failed", 0),
        }
        for start in starts
    ]


def history() -> dict:
    data = cache.get(HISTORY_KEY)
    if data is None:
        data = compute_history()
        cache.set(HISTORY_KEY, data, HISTORY_TTL)
    return data


def task_paths() -> list[str]:
    """The distinct task paths stored, for the task filter.

    On PostgreSQL a recursive "loose index scan" over job_task_list_idx: one index probe per
    distinct task, instead of reading every row as SELECT DISTINCT would.
    """
    data = cache.get(TASK_PATHS_KEY)
    if data is not None:
        return data
    if connection.vendor == "postgresql":
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
            data = [row[0] for row in cursor.fetchall()]
    else:
        data = list(Job.objects.order_by("task_path").values_list("task_path", flat=True).distinct()[:500])
    cache.set(TASK_PATHS_KEY, data, TASK_PATHS_TTL)
    return data
