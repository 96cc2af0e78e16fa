"""Counters of finished jobs: how many reached Succeeded and Failed in each 15-minute interval.

The console's history graph (jobs/console/stats.py) reads these rows instead of counting the
Job table, which took a second or more with a million jobs stored and forgot jobs once they
expired. Each server's housekeeping calls `roll_up_finished_counts()` every
STATS_ROLLUP_INTERVAL seconds: for every interval of the last ROLLUP_WINDOW that ended (SETTLE
ago) and is not stored yet, it stores one row per state, zero included, counted with one
grouped query over the missing range (an index-only range scan of job_state_list_idx). A stored
row never changes: it keeps counting jobs that expired since, as Hangfire's counters do. Several
servers may roll up at once: the rows are inserted with ON CONFLICT DO NOTHING, in one order.

Intervals are 15 minutes aligned on UTC: every time zone in use is offset from UTC by whole
quarter hours (India +05:30, Nepal +05:45), so each local hour or day is a union of intervals.
"""

from datetime import UTC, datetime, timedelta

from django.db.models import Count
from django.db.models.functions import ExtractMinute, Floor, TruncHour
from django.utils import timezone

from jobs.models import FinishedCount, Job, State

BUCKET = timedelta(minutes=15)
# How far back a roll-up fills missing intervals: the console's 7 days, and a day to spare.
ROLLUP_WINDOW = timedelta(days=8)
# An interval is rolled up this long after it ended: a job's finish time is taken in Python just
# before its transaction commits, and servers' clocks may differ by a little.
SETTLE = timedelta(minutes=2)
# Rows older than this are removed by expire_jobs (the console shows 7 days).
KEEP = timedelta(days=31)
# A reader (the console) counts the intervals not stored yet itself; when more than this many
# ended intervals are missing (no server ran), it rolls them up instead, once for everyone.
LIVE_LIMIT = 8
FINISHED = (State.SUCCEEDED, State.FAILED)


def bucket_start(at: datetime) -> datetime:
    """The start (UTC) of the 15-minute interval holding `at`."""
    at = at.astimezone(UTC)
    return at.replace(minute=at.minute - at.minute % 15, second=0, microsecond=0)


def _starts(since: datetime, until: datetime) -> list[datetime]:
    """The interval starts s with since <= s < until (since being an interval start)."""
    starts = []
    while since < until:
        starts.append(since)
        since += BUCKET
    return starts


def count_by_bucket(since: datetime, until: datetime, *, include_until: bool = False) -> dict:
    """{interval start: {state: n}} of the jobs that reached Succeeded or Failed from `since` to
    `until` (excluded, or included with include_until), counted from the Job table.

    One query, grouped by UTC hour and quarter of the hour (portable: PostgreSQL and SQLite),
    reading job_state_list_idx alone: an index-only range scan per state.
    """
    bound = "state_changed_at__lte" if include_until else "state_changed_at__lt"
    rows = (
        Job.objects.filter(state__in=FINISHED, state_changed_at__gte=since, **{bound: until})
        .order_by()
        .annotate(
            hour=TruncHour("state_changed_at", tzinfo=UTC),
            quarter=Floor(ExtractMinute("state_changed_at", tzinfo=UTC) / 15),
        )
        .values_list("state", "hour", "quarter")
        .annotate(n=Count("*"))
    )
    counts: dict = {}
    for state, hour, quarter, n in rows:
        counts.setdefault(hour.astimezone(UTC) + BUCKET * int(quarter), {})[state] = n
    return counts


def _stored(since: datetime, until: datetime) -> dict:
    """{interval start: {state: n}} of the stored intervals that lie within [since, until]."""
    counts: dict = {}
    rows = FinishedCount.objects.filter(bucket__gte=since, bucket__lte=until - BUCKET).values_list(
        "bucket", "state", "count"
    )
    for bucket, state, n in rows:
        counts.setdefault(bucket.astimezone(UTC), {})[state] = n
    return counts


def roll_up_finished_counts(now: datetime | None = None) -> int:
    """Store the counts of every ended interval of the last ROLLUP_WINDOW not stored yet.

    Returns how many intervals it counted (0 when all were stored). Idempotent; safe to run on
    several servers at once.
    """
    now = now or timezone.now()
    end = bucket_start(now - SETTLE)  # the intervals starting before this one ended SETTLE ago
    start = end - ROLLUP_WINDOW
    stored = set(
        bucket.astimezone(UTC)
        for bucket in FinishedCount.objects.filter(bucket__gte=start, bucket__lt=end)
        .order_by()
        .values_list("bucket", flat=True)
        .distinct()
    )
    missing = [s for s in _starts(start, end) if s not in stored]
    if not missing:
        return 0
    counts = count_by_bucket(missing[0], missing[-1] + BUCKET)
    # Sorted by (interval, state): concurrent roll-ups take the unique index's locks in one order.
    FinishedCount.objects.bulk_create(
        [
            FinishedCount(bucket=s, state=state, count=counts.get(s, {}).get(state, 0))
            for s in missing
            for state in FINISHED
        ],
        ignore_conflicts=True,
    )
    return len(missing)


def finished_counts(since: datetime, until: datetime) -> dict:
    """{interval start: {state: n}} from `since` (an interval start) to `until` (included).

    Stored rows where there are; the intervals not stored yet (the last few minutes, normally)
    counted from the Job table. When more than LIVE_LIMIT ended intervals are missing, they are
    rolled up first, so only the first reader pays for them.
    """
    stored = _stored(since, until)
    ended = _starts(since, bucket_start(until - SETTLE))
    if sum(1 for s in ended if s not in stored) > LIVE_LIMIT:
        roll_up_finished_counts(until)
        stored = _stored(since, until)
    unstored = next((s for s in _starts(since, until) if s not in stored), None)
    if unstored is not None:
        live = count_by_bucket(unstored, until, include_until=True)
        for s, counts in live.items():
            stored.setdefault(s, counts)
    return stored


def forget_old_counts(now: datetime | None = None) -> int:
    """Remove the rows older than KEEP (expire_jobs); returns how many."""
    now = now or timezone.now()
    return FinishedCount.objects.filter(bucket__lt=now - KEEP).delete()[0]
