"""The console's Performance page: per task over the last hour, day or week, its runs, success
rate, run-time and wait percentiles, a trend, and its last failure — without reading the Job table.

Why rolled-up histograms, not the jobs themselves. With a million jobs stored, the percentiles
of one task's week are a sort of a hundred thousand run times: seconds per view, and gone once
the jobs expire. So the servers roll finished jobs up as they finish, like the finished-job
counters (jobs/statistics.py): every STATS_ROLLUP_INTERVAL, one server (the PerformanceMark row
is locked, the others skip) folds the jobs that reached Succeeded or Failed in each ended
15-minute interval into one TaskInterval row per task: counts, the longest run, the newest
failure, and two sparse histograms, run time (finished - started) and wait (started - enqueued
or due time). Each row also carries its task's running histograms (the previous row's plus its
own), so a window's histogram is a difference of two rows per task — the newest row before the
mark minus the newest row before the window starts — not a sum of 672 rows of JSON (summing them,
even in PostgreSQL, cost the page 150–180 ms on a loaded machine: bench/findings.md). Counts,
maxima, failures and the trend are plain columns, summed per task by one grouped statement
(jobs/sql.py). The jobs finished after the mark (a quarter of an hour at most) are counted live
through job_state_list_idx; the percentiles are computed from the summed histogram.

Why these buckets. Bucket i holds the values in (MIN·F^(i-1), MIN·F^i], F = 2^(1/4): a
logarithmic scale from a millisecond to beyond a week in LAST + 1 buckets, so a percentile is
off by at most one bucket's width, 19 % of the value (less after interpolating inside the
bucket), for a 5 ms notification as for an hour-long payroll run. Quantile digests would be
tighter, but histograms add up exactly: any window is a sum of intervals, and a row is never
rewritten. Sparse (only the buckets with runs are stored), a row holds a few dozen numbers.
The maximum is exact (kept per interval), and no percentile is shown above it.

What counts as a run: a job that ended Succeeded or Failed in the window, once (its retries are
not separate runs: a job that failed twice and then succeeded is one success). A job requeued
before the roll-up counted it is counted when it ends again.
"""

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from jobs import retention, sql
from jobs.models import Job, PerformanceMark, State, TaskInterval
from jobs.statistics import BUCKET, bucket_start
from jobs.tallies import EPOCH

MIN = 0.001  # seconds: the upper bound of bucket 0
FACTOR = 2**0.25
LAST = 120  # MIN·F^120 ≈ 12 days: the last bucket takes everything longer
# How far back the roll-up fills intervals (the page's longest window is 7 days).
ROLLUP_WINDOW = timedelta(days=8)
# An interval is rolled up this long after it ended (as the finished-job counters).
SETTLE = timedelta(minutes=2)
# A page that finds the mark further behind than this (no server ran) rolls up first, once for
# everyone, rather than counting hours of jobs itself.
LIVE_LIMIT = timedelta(hours=1)
# Rows older than this are removed by expire_jobs.
KEEP = timedelta(days=31)
FINISHED = (State.SUCCEEDED, State.FAILED)

# The page's windows (the URL's ?window=) and the width of one sparkline point in each.
WINDOWS = {
    "1h": (timedelta(hours=1), BUCKET, "last hour"),
    "24h": (timedelta(hours=24), timedelta(hours=1), "last 24 hours"),
    "7d": (timedelta(days=7), timedelta(hours=6), "last 7 days"),
}
DEFAULT_WINDOW = "24h"


def bucket_of(seconds: float) -> int:
    """The histogram bucket of a run time or wait, in seconds."""
    if seconds <= MIN:
        return 0
    # The small epsilon keeps a value exactly on a bound (1 s) in the bucket it closes.
    return min(LAST, max(1, math.ceil(math.log(seconds / MIN) / math.log(FACTOR) - 1e-9)))


def bucket_bounds(index: int) -> tuple[float, float]:
    """(lower, upper] of bucket `index`, in seconds."""
    if index <= 0:
        return 0.0, MIN
    return MIN * FACTOR ** (index - 1), MIN * FACTOR**index


def percentile(histogram: dict[int, int], q: float, maximum: float | None = None) -> float | None:
    """The q-quantile of a {bucket: count} histogram, interpolated inside its bucket and never
    above `maximum` (the exact longest value). None when it is empty."""
    total = sum(histogram.values())
    if not total:
        return None
    rank = q * total
    seen = 0
    for index in sorted(histogram):
        n = histogram[index]
        if n and seen + n >= rank:
            low, high = bucket_bounds(index)
            value = low + (high - low) * ((rank - seen) / n)
            return min(value, maximum) if maximum is not None else value
        seen += n
    return maximum


def _add(total: dict[int, int], histogram: dict) -> None:
    for index, n in histogram.items():
        index = int(index)
        total[index] = total.get(index, 0) + n


def _minus(later: dict[int, int], earlier: dict[int, int]) -> dict[int, int]:
    """The runs between two running histograms."""
    return {index: n - earlier.get(index, 0) for index, n in later.items() if n - earlier.get(index, 0)}


# --- The roll-up (servers' housekeeping) ---------------------------------------------------------


@dataclass
class Interval:
    """One task's runs in one interval, as counted (and as a TaskInterval row stores them)."""

    succeeded: int = 0
    failed: int = 0
    duration_count: int = 0
    duration_max: float = 0.0
    duration_histogram: dict = field(default_factory=dict)
    wait_count: int = 0
    wait_histogram: dict = field(default_factory=dict)
    last_failure_id: object = None
    last_failure_at: datetime | None = None

    def count(self, job_id, state, changed_at, wait_from, started_at, finished_at) -> None:
        if state == State.SUCCEEDED:
            self.succeeded += 1
        else:
            self.failed += 1
            if self.last_failure_at is None or changed_at > self.last_failure_at:
                self.last_failure_id, self.last_failure_at = job_id, changed_at
        if started_at is None:
            return
        # The reaper fails a job without a finish of its own attempt: no run time to observe.
        if finished_at is not None and finished_at >= started_at:
            seconds = (finished_at - started_at).total_seconds()
            index = bucket_of(seconds)
            self.duration_histogram[index] = self.duration_histogram.get(index, 0) + 1
            self.duration_count += 1
            self.duration_max = max(self.duration_max, seconds)
        if wait_from is not None and started_at >= wait_from:
            index = bucket_of((started_at - wait_from).total_seconds())
            self.wait_histogram[index] = self.wait_histogram.get(index, 0) + 1
            self.wait_count += 1


def count_intervals(since: datetime, until: datetime | None = None) -> dict:
    """{(interval start, task path): Interval} of the jobs that reached Succeeded or Failed from
    `since` (included) to `until` (excluded; no bound when None). One range over
    job_state_list_idx per state, read in chunks; the run times are bucketed here, the same on
    PostgreSQL and SQLite."""
    window = {"state__in": FINISHED, "state_changed_at__gte": since}
    if until is not None:
        window["state_changed_at__lt"] = until
    rows = (
        Job.objects.filter(**window)
        .order_by()
        .values_list(
            "id", "task_path", "state", "state_changed_at", "enqueued_at", "started_at", "finished_at"
        )
    )
    found: dict = {}
    for job_id, task_path, state, changed_at, enqueued_at, started_at, finished_at in rows.iterator(
        chunk_size=5000
    ):
        key = (bucket_start(changed_at), task_path)
        interval = found.get(key)
        if interval is None:
            interval = found[key] = Interval()
        interval.count(job_id, state, changed_at, enqueued_at, started_at, finished_at)
    return found


def roll_up(now: datetime | None = None) -> int:
    """Store every ended interval since the mark (at most ROLLUP_WINDOW back); returns how many
    rows it wrote. One server at a time: the others find the mark locked and skip."""
    now = now or timezone.now()
    end = bucket_start(now - SETTLE)
    with transaction.atomic():
        PerformanceMark.objects.bulk_create(
            [PerformanceMark(id=1, rolled_until=EPOCH)], ignore_conflicts=True
        )
        mark = PerformanceMark.objects.select_for_update(skip_locked=True).filter(id=1).first()
        if mark is None or mark.rolled_until >= end:
            return 0
        start = max(mark.rolled_until, end - ROLLUP_WINDOW)
        found = count_intervals(start, end)
        # Each row also carries its task's running histograms: the previous row's plus its own.
        running = running_before(start, {task_path for _, task_path in found})
        new = []
        for (bucket, task_path), i in sorted(found.items(), key=lambda item: (item[0][1], item[0][0])):
            durations, waits = running.get(task_path, ({}, {}))
            durations, waits = dict(durations), dict(waits)
            _add(durations, i.duration_histogram)
            _add(waits, i.wait_histogram)
            running[task_path] = (durations, waits)
            new.append(
                TaskInterval(
                    bucket=bucket,
                    task_path=task_path,
                    succeeded=i.succeeded,
                    failed=i.failed,
                    duration_count=i.duration_count,
                    duration_max=round(i.duration_max, 6),
                    duration_histogram=_stored(i.duration_histogram),
                    duration_running=_stored(durations),
                    wait_count=i.wait_count,
                    wait_histogram=_stored(i.wait_histogram),
                    wait_running=_stored(waits),
                    last_failure_id=i.last_failure_id,
                    last_failure_at=i.last_failure_at,
                )
            )
        TaskInterval.objects.bulk_create(new, batch_size=1000, ignore_conflicts=True)
        mark.rolled_until = end
        mark.save(update_fields=["rolled_until"])
    return len(found)


def _stored(histogram: dict) -> dict:
    """A histogram as a JSON object: string keys, in bucket order."""
    return {str(k): v for k, v in sorted(histogram.items(), key=lambda item: int(item[0]))}


def _newest_before(moment: datetime, tasks=None) -> Q:
    """The rows that are, per task, the newest one starting before `moment`."""
    rows = TaskInterval.objects.filter(bucket__lt=moment)
    if tasks is not None:
        rows = rows.filter(task_path__in=list(tasks))
    newest = Q(pk__in=[])
    for task_path, bucket in rows.order_by().values_list("task_path").annotate(last=Max("bucket")):
        newest |= Q(task_path=task_path, bucket=bucket)
    return newest


def running_before(moment: datetime, tasks=None) -> dict:
    """{task: (running duration histogram, running wait histogram)} as of `moment`: each task's
    newest row starting before it ({} for a task without one). Two small queries."""
    newest = _newest_before(moment, tasks)
    return {
        task_path: ({int(k): v for k, v in durations.items()}, {int(k): v for k, v in waits.items()})
        for task_path, durations, waits in TaskInterval.objects.filter(newest).values_list(
            "task_path", "duration_running", "wait_running"
        )
    }


def forget_old_intervals(now: datetime | None = None) -> int:
    """Remove the rows older than KEEP (expire_jobs), but each task's newest one: a window that
    starts later subtracts the running histograms as of its start, which that row holds.
    Returns how many rows went."""
    cutoff = (now or timezone.now()) - KEEP
    return TaskInterval.objects.filter(bucket__lt=cutoff).exclude(_newest_before(cutoff)).delete()[0]


# --- The page ------------------------------------------------------------------------------------


@dataclass
class TaskPerformance:
    """One row of the Performance page."""

    task_path: str
    succeeded: int = 0
    failed: int = 0
    duration_max: float | None = None
    duration_histogram: dict = field(default_factory=dict)
    wait_histogram: dict = field(default_factory=dict)
    last_failure_id: object = None
    last_failure_at: datetime | None = None
    # Runs and failures per sparkline point, oldest first.
    trend: list = field(default_factory=list)
    failed_trend: list = field(default_factory=list)

    @property
    def task_name(self) -> str:
        return self.task_path.rsplit(".", 1)[-1]

    @property
    def runs(self) -> int:
        return self.succeeded + self.failed

    @property
    def retention(self) -> str:
        """The keep-times in force for this task's jobs (its `retention=` over the settings)."""
        return retention.describe_policy(retention.policy_for(self.task_path))

    @property
    def success_rate(self) -> float | None:
        return self.succeeded / self.runs if self.runs else None

    def _duration(self, q: float) -> float | None:
        return percentile(self.duration_histogram, q, self.duration_max)

    @property
    def duration_p50(self) -> float | None:
        return self._duration(0.5)

    @property
    def duration_p95(self) -> float | None:
        return self._duration(0.95)

    @property
    def wait_p50(self) -> float | None:
        return percentile(self.wait_histogram, 0.5)

    @property
    def wait_p95(self) -> float | None:
        return percentile(self.wait_histogram, 0.95)

    def fold(self, point: int, i, *, duration_max: float, last_failure_id, last_failure_at) -> None:
        self.succeeded += i.succeeded
        self.failed += i.failed
        _add(self.duration_histogram, i.duration_histogram)
        _add(self.wait_histogram, i.wait_histogram)
        if i.duration_count:
            self.duration_max = max(self.duration_max or 0.0, duration_max)
        if last_failure_at is not None and (
            self.last_failure_at is None or last_failure_at > self.last_failure_at
        ):
            self.last_failure_id, self.last_failure_at = last_failure_id, last_failure_at
        self.trend[point] += i.succeeded + i.failed
        self.failed_trend[point] += i.failed


# The page's sortable columns (?sort=, "-" first for descending) and the value each sorts by.
SORTS = {
    "task": lambda row: row.task_path,
    "runs": lambda row: row.runs,
    "success": lambda row: row.success_rate,
    "p50": lambda row: row.duration_p50,
    "p95": lambda row: row.duration_p95,
    "max": lambda row: row.duration_max,
    "wait_p50": lambda row: row.wait_p50,
    "wait_p95": lambda row: row.wait_p95,
    "last_failure": lambda row: row.last_failure_at,
}
DEFAULT_SORT = "-runs"


def parse_sort(value: str) -> tuple[str, bool] | None:
    """'-p95' -> ('p95', True); None for a column the page does not have."""
    descending = value.startswith("-")
    column = value[1:] if descending else value
    return (column, descending) if column in SORTS else None


def sort_rows(rows: list[TaskPerformance], column: str, descending: bool) -> list[TaskPerformance]:
    """Sorted by `column`, rows without a value (no runs, no failure) last either way; ties in
    task path order, so the order is stable from one view to the next."""
    by_task = sorted(rows, key=lambda row: row.task_path)
    key = SORTS[column]
    present = [row for row in by_task if key(row) is not None]
    missing = [row for row in by_task if key(row) is None]
    # sorted() is stable: equal values keep their task path order in both directions.
    return sorted(present, key=key, reverse=descending) + missing


@dataclass
class Window:
    key: str
    label: str
    start: datetime
    point: timedelta
    points: int


def window_for(key: str, now: datetime) -> Window:
    span, point, label = WINDOWS[key]
    start = bucket_start(now - span)
    points = max(1, math.ceil((now - start) / point))
    return Window(key=key, label=label, start=start, point=point, points=points)


def task_performance(window_key: str, now: datetime | None = None) -> tuple[Window, list[TaskPerformance]]:
    """Every task that finished a run in the window, unsorted: the stored intervals, plus the
    jobs finished after the mark counted live. Rolls up first when no server has for an hour."""
    now = now or timezone.now()
    window = window_for(window_key, now)
    mark = PerformanceMark.objects.values_list("rolled_until", flat=True).first()
    if mark is None or mark < now - LIVE_LIMIT:
        roll_up(now)
        mark = PerformanceMark.objects.values_list("rolled_until", flat=True).first() or EPOCH
    rows: dict[str, TaskPerformance] = {}

    def row_for(task_path: str) -> TaskPerformance:
        row = rows.get(task_path)
        if row is None:
            row = rows[task_path] = TaskPerformance(
                task_path, trend=[0] * window.points, failed_trend=[0] * window.points
            )
        return row

    def point_of(bucket: datetime) -> int:
        return min(window.points - 1, max(0, int((bucket - window.start) / window.point)))

    stored = _stored_postgresql if connection.vendor == "postgresql" else _stored_portable
    stored(window, mark, row_for, point_of)
    # The window's histograms: each task's running ones at the mark minus those at its start.
    before = running_before(window.start)
    for task_path, (durations, waits) in running_before(mark).items():
        if task_path not in rows:
            continue  # no run in the window
        earlier_durations, earlier_waits = before.get(task_path, ({}, {}))
        row = rows[task_path]
        _add(row.duration_histogram, _minus(durations, earlier_durations))
        _add(row.wait_histogram, _minus(waits, earlier_waits))
    for (bucket, task_path), counted in count_intervals(max(mark, window.start)).items():
        row_for(task_path).fold(
            point_of(bucket),
            counted,
            duration_max=counted.duration_max,
            last_failure_id=counted.last_failure_id,
            last_failure_at=counted.last_failure_at,
        )
    return window, list(rows.values())


def _stored_portable(window: Window, until: datetime, row_for, point_of) -> None:
    """Fold the stored intervals' counts, maxima, failures and trend (the histograms come from
    the running ones) into the rows, in Python."""
    stored = TaskInterval.objects.filter(bucket__gte=window.start, bucket__lt=until).values_list(
        "bucket",
        "task_path",
        "succeeded",
        "failed",
        "duration_count",
        "duration_max",
        "last_failure_id",
        "last_failure_at",
    )
    for bucket, task_path, ok, failed, d_count, d_max, failure_id, failure_at in stored:
        counted = Interval(succeeded=ok, failed=failed, duration_count=d_count)
        row_for(task_path).fold(
            point_of(bucket),
            counted,
            duration_max=d_max,
            last_failure_id=failure_id,
            last_failure_at=failure_at,
        )


def _stored_postgresql(window: Window, until: datetime, row_for, point_of) -> None:
    """The same sums made by PostgreSQL (jobs/sql.py says why): totals, then the trend."""
    params: dict[str, datetime | float] = {
        "start": window.start,
        "until": until,
        "point": window.point.total_seconds(),
    }
    with connection.cursor() as cursor:
        cursor.execute(sql.PERFORMANCE_TOTALS_SQL, params)
        for task_path, ok, failed, d_max, failure_id, failure_at in cursor.fetchall():
            row = row_for(task_path)
            row.succeeded += ok
            row.failed += failed
            if d_max is not None:
                row.duration_max = max(row.duration_max or 0.0, d_max)
            if failure_at is not None and (row.last_failure_at is None or failure_at > row.last_failure_at):
                row.last_failure_id, row.last_failure_at = failure_id, failure_at
        cursor.execute(sql.PERFORMANCE_TREND_SQL, params)
        for task_path, point, runs, failed in cursor.fetchall():
            row = row_for(task_path)
            point = min(window.points - 1, max(0, point))
            row.trend[point] += runs
            row.failed_trend[point] += failed


def sparkline_points(
    values: list[int], width: float = 120.0, height: float = 24.0, peak: int | None = None
) -> str:
    """An SVG polyline's `points` for `values` (oldest first), scaled to `peak` (default: their
    own maximum). Numbers only: safe to put in an attribute."""
    top = peak if peak is not None else max(values or [0])
    if len(values) == 1:
        values = values * 2
    step = width / (len(values) - 1) if len(values) > 1 else width
    coordinates = []
    for i, value in enumerate(values):
        y = height - (value / top * (height - 2) if top else 0.0) - 1
        coordinates.append(f"{i * step:.1f},{y:.1f}")
    return " ".join(coordinates)
