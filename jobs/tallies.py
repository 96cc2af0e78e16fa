"""Running totals of finished jobs for /metrics: rolled up by the servers, read by a scrape.

Every STATS_ROLLUP_INTERVAL each server's housekeeping calls `roll_up()`. One server at a time
(it holds TallyMark's row lock; the others skip) counts the jobs that reached Succeeded, Failed
or Deleted between the mark and SETTLE ago, grouped by task, queue and state with their run-time
and wait histograms, adds them to JobTally, remembers recurring jobs' last success, and moves the
mark. A scrape (`read()`) takes those rows and counts only the jobs that finished after the mark
— a minute or two of them — in one consistent snapshot, so no job is counted twice or not at all
while a roll-up commits.

The totals survive restarts (they are rows) and expiry (a job is counted long before it expires:
SETTLE is 1 minute, expiry a day by default). A job counted live that is then requeued by a
person leaves the live count; jobs/metrics.py keeps each process's series from going backwards.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, DurationField, ExpressionWrapper, F, Max, Q, Sum
from django.utils import timezone

from jobs import predictions
from jobs.models import Job, JobTally, RecurringSuccess, State, TallyMark

# The states a job ends in, as far as the counters go.
FINISHED = (State.SUCCEEDED, State.FAILED, State.DELETED)
# The states whose runs go into the histograms (a Deleted job may never have run, or ran before).
RUN_STATES = (State.SUCCEEDED, State.FAILED)
# Run time, seconds: from a few milliseconds (a notification) to an hour (a payroll run).
# Fourteen bounds: every task × queue series costs a scrape one line per bound.
DURATION_BOUNDS = (0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
# Wait from enqueue (or due time) to start, seconds: milliseconds when idle, hours when backed up.
WAIT_BOUNDS = (0.01, 0.05, 0.25, 1, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400)
# A job's state_changed_at is read in Python just before its transaction commits: a roll-up only
# counts jobs that finished at least this long ago, so none commits behind the mark.
SETTLE = timedelta(minutes=1)
# A scrape that finds the mark further behind than this (no server ran) rolls up first, once for
# everyone, rather than counting hours of jobs live at every scrape.
LIVE_LIMIT = timedelta(minutes=15)
# Where the first roll-up starts: before any job.
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass
class Tally:
    """One (task, queue, state) series: a count and, for runs, two histograms."""

    count: int = 0
    duration_count: int = 0
    duration_sum: float = 0.0
    duration_buckets: list = field(default_factory=lambda: [0] * len(DURATION_BOUNDS))
    wait_count: int = 0
    wait_sum: float = 0.0
    wait_buckets: list = field(default_factory=lambda: [0] * len(WAIT_BOUNDS))

    def add(self, other: "Tally") -> None:
        self.count += other.count
        self.duration_count += other.duration_count
        self.duration_sum += other.duration_sum
        self.duration_buckets = [
            a + b
            for a, b in zip(
                _padded(self.duration_buckets, DURATION_BOUNDS), other.duration_buckets, strict=True
            )
        ]
        self.wait_count += other.wait_count
        self.wait_sum += other.wait_sum
        self.wait_buckets = [
            a + b for a, b in zip(_padded(self.wait_buckets, WAIT_BOUNDS), other.wait_buckets, strict=True)
        ]


def _padded(buckets: list, bounds: tuple) -> list:
    """Stored bucket lists always match the bounds; a row written before a bound was added
    (none yet) would count 0 there."""
    return list(buckets) + [buckets[-1] if buckets else 0] * (len(bounds) - len(buckets))


@dataclass
class Totals:
    """What a scrape reports: every series' tally, and recurring jobs' last success."""

    tallies: dict  # (task_path, queue, state) -> Tally
    last_success: dict  # recurring id -> datetime
    counted_until: datetime


def _seconds(value) -> float:
    return value.total_seconds() if value is not None else 0.0


def _finished_sql() -> str:
    """count_finished's query on PostgreSQL, written once: the ORM's version of these 38
    aggregates cost ~15 ms of Python per scrape to compile, ten times the query itself."""
    run = "state IN ('succeeded', 'failed') AND started_at IS NOT NULL"
    columns = [
        "count(*)",
        "count(d)",
        "coalesce(sum(d), 0)",
        "count(w)",
        "coalesce(sum(w), 0)",
        *(f"count(*) FILTER (WHERE d <= {bound!r})" for bound in map(float, DURATION_BOUNDS)),
        *(f"count(*) FILTER (WHERE w <= {bound!r})" for bound in map(float, WAIT_BOUNDS)),
    ]
    return f"""
        SELECT task_path, queue, state, {", ".join(columns)}
        FROM (
            SELECT task_path, queue, state,
                   CASE WHEN {run} AND finished_at >= started_at
                        THEN EXTRACT(EPOCH FROM finished_at - started_at) END AS d,
                   CASE WHEN {run} AND enqueued_at IS NOT NULL AND started_at >= enqueued_at
                        THEN EXTRACT(EPOCH FROM started_at - enqueued_at) END AS w
            FROM {Job._meta.db_table}
            WHERE state IN ('succeeded', 'failed', 'deleted') AND state_changed_at >= %s
              AND (%s::timestamptz IS NULL OR state_changed_at < %s)
        ) AS finished
        GROUP BY task_path, queue, state
    """


def count_finished(since: datetime, until: datetime | None = None) -> dict:
    """{(task_path, queue, state): Tally} of the jobs that finished from `since` (included) to
    `until` (excluded; no bound when None). One grouped query over job_state_list_idx's range."""
    if connection.vendor == "postgresql":
        return _count_finished_sql(since, until)
    window = Q(state__in=FINISHED, state_changed_at__gte=since)
    if until is not None:
        window &= Q(state_changed_at__lt=until)
    ran = Q(state__in=RUN_STATES, started_at__isnull=False)
    # The reaper fails a job without a finish time of its own attempt: no run time to observe.
    timed = ran & Q(finished_at__gte=F("started_at"))
    waited = ran & Q(enqueued_at__isnull=False, started_at__gte=F("enqueued_at"))
    aggregates = {
        "n": Count("pk"),
        "d_n": Count("pk", filter=timed),
        "d_sum": Sum("d", filter=timed),
        "w_n": Count("pk", filter=waited),
        "w_sum": Sum("w", filter=waited),
    }
    for i, bound in enumerate(DURATION_BOUNDS):
        aggregates[f"d{i}"] = Count("pk", filter=timed & Q(d__lte=timedelta(seconds=bound)))
    for i, bound in enumerate(WAIT_BOUNDS):
        aggregates[f"w{i}"] = Count("pk", filter=waited & Q(w__lte=timedelta(seconds=bound)))
    rows = (
        Job.objects.filter(window)
        .order_by()
        .annotate(
            d=ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField()),
            w=ExpressionWrapper(F("started_at") - F("enqueued_at"), output_field=DurationField()),
        )
        .values("task_path", "queue", "state")
        .annotate(**aggregates)
    )
    found = {}
    for typed_row in rows:
        # The aggregates' names are built above, not literals the stubs' TypedDict knows.
        row: dict[str, Any] = dict(typed_row)
        found[(row["task_path"], row["queue"], row["state"])] = Tally(
            count=row["n"],
            duration_count=row["d_n"],
            duration_sum=_seconds(row["d_sum"]),
            duration_buckets=[row[f"d{i}"] for i in range(len(DURATION_BOUNDS))],
            wait_count=row["w_n"],
            wait_sum=_seconds(row["w_sum"]),
            wait_buckets=[row[f"w{i}"] for i in range(len(WAIT_BOUNDS))],
        )
    return found


_FINISHED_SQL = None


def _count_finished_sql(since: datetime, until: datetime | None) -> dict:
    global _FINISHED_SQL
    if _FINISHED_SQL is None:
        _FINISHED_SQL = _finished_sql()
    durations, waits = len(DURATION_BOUNDS), len(WAIT_BOUNDS)
    found = {}
    with connection.cursor() as cursor:
        cursor.execute(_FINISHED_SQL, [since, until, until])
        for row in cursor.fetchall():
            n, d_n, d_sum, w_n, w_sum = row[3:8]
            found[(row[0], row[1], row[2])] = Tally(
                count=n,
                duration_count=d_n,
                duration_sum=float(d_sum),
                wait_count=w_n,
                wait_sum=float(w_sum),
                duration_buckets=list(row[8 : 8 + durations]),
                wait_buckets=list(row[8 + durations : 8 + durations + waits]),
            )
    return found


def last_successes(since: datetime, until: datetime | None = None) -> dict:
    """{recurring id: last success} among the jobs that succeeded in the window."""
    window = Q(state=State.SUCCEEDED, state_changed_at__gte=since, recurring_job__isnull=False)
    if until is not None:
        window &= Q(state_changed_at__lt=until)
    return dict(
        Job.objects.filter(window)
        .order_by()
        .values_list("recurring_job")
        .annotate(at=Max("state_changed_at"))
    )


def roll_up(now: datetime | None = None) -> bool:
    """Fold the jobs finished since the mark (up to SETTLE ago) into the totals.

    Returns False when another server is rolling up right now, or there is nothing to do.
    """
    now = now or timezone.now()
    end = now - SETTLE
    with transaction.atomic():
        TallyMark.objects.bulk_create([TallyMark(id=1, counted_until=EPOCH)], ignore_conflicts=True)
        mark = TallyMark.objects.select_for_update(skip_locked=True).filter(id=1).first()
        if mark is None or mark.counted_until >= end:
            return False
        found = count_finished(mark.counted_until, end)
        stored = (
            {(t.task_path, t.queue, t.state): t for t in JobTally.objects.filter(_keys(found))}
            if found
            else {}
        )
        changed, new = [], []
        for key, tally in found.items():
            row = stored.get(key)
            if row is None:
                row = JobTally(task_path=key[0], queue=key[1], state=key[2])
                new.append(row)
            else:
                changed.append(row)
            total = _tally(row)
            total.add(tally)
            _store(row, total)
        JobTally.objects.bulk_create(new)
        JobTally.objects.bulk_update(
            changed,
            [
                "count",
                "duration_count",
                "duration_sum",
                "duration_buckets",
                "wait_count",
                "wait_sum",
                "wait_buckets",
            ],
        )
        for recurring_id, at in last_successes(mark.counted_until, end).items():
            # Only ever forward: a roll-up never moves a last success back in time.
            updated = RecurringSuccess.objects.filter(
                recurring_job_id=recurring_id, succeeded_at__lt=at
            ).update(succeeded_at=at)
            if not updated:
                RecurringSuccess.objects.bulk_create(
                    [RecurringSuccess(recurring_job_id=recurring_id, succeeded_at=at)], ignore_conflicts=True
                )
        # The duration estimates learn from the same window's successful runs.
        predictions.observe(mark.counted_until, end, now)
        mark.counted_until = end
        mark.save(update_fields=["counted_until"])
    return True


def _keys(found: dict) -> Q:
    q = Q(pk__in=[])
    for task_path, queue, state in found:
        q |= Q(task_path=task_path, queue=queue, state=state)
    return q


def _tally(row: JobTally) -> Tally:
    return Tally(
        count=row.count,
        duration_count=row.duration_count,
        duration_sum=row.duration_sum,
        duration_buckets=_padded(row.duration_buckets, DURATION_BOUNDS),
        wait_count=row.wait_count,
        wait_sum=row.wait_sum,
        wait_buckets=_padded(row.wait_buckets, WAIT_BOUNDS),
    )


def _store(row: JobTally, tally: Tally) -> None:
    for name in (
        "count",
        "duration_count",
        "duration_sum",
        "duration_buckets",
        "wait_count",
        "wait_sum",
        "wait_buckets",
    ):
        setattr(row, name, getattr(tally, name))


def roll_up_if_stale(now: datetime) -> None:
    """Roll up first when no server did for LIVE_LIMIT (none running), rather than counting
    hours of jobs live. Outside any snapshot: the roll-up commits its own transaction."""
    mark = TallyMark.objects.filter(id=1).values_list("counted_until", flat=True).first()
    if mark is None or mark < now - LIVE_LIMIT:
        roll_up(now)


def read(now: datetime | None = None, *, fresh: bool = False) -> Totals:
    """The totals up to now: the stored rows plus the jobs finished after the mark, read in one
    snapshot (REPEATABLE READ on PostgreSQL), so a roll-up committing meanwhile changes nothing.

    `fresh`: the caller ran roll_up_if_stale and holds the snapshot (jobs/metrics.py reads every
    series in one)."""
    now = now or timezone.now()
    if not fresh:
        roll_up_if_stale(now)
    outermost = not connection.in_atomic_block
    with transaction.atomic(savepoint=False):  # a read: nothing to roll back to
        # Inside a caller's transaction (a test, a scrape) the snapshot is the caller's to choose.
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        mark = TallyMark.objects.filter(id=1).values_list("counted_until", flat=True).first() or EPOCH
        tallies = {(t.task_path, t.queue, t.state): _tally(t) for t in JobTally.objects.all()}
        for key, tally in count_finished(mark).items():
            tallies.setdefault(key, Tally()).add(tally)
        last = dict(RecurringSuccess.objects.values_list("recurring_job_id", "succeeded_at"))
        for recurring_id, at in last_successes(mark).items():
            if recurring_id not in last or last[recurring_id] < at:
                last[recurring_id] = at
    return Totals(tallies=tallies, last_success=last, counted_until=mark)
