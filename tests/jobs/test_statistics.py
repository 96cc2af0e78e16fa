"""The finished-job counters (jobs.statistics) and the console history that reads them.

Most tests place finished jobs at chosen instants with bulk-created Job rows: the counters only
read (state, state_changed_at), and a week of history cannot be made by running jobs. The
expiry test runs real jobs through the engine.
"""

import threading
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.utils import timezone

from jobs import maintenance, statistics
from jobs.console import stats
from jobs.models import FinishedCount, Job, State
from tests.console import factories

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 10, 10, 7, tzinfo=UTC)  # 15:37 in India, 15:52 in Nepal
INTERVALS = 8 * 24 * 4  # the roll-up window, in 15-minute intervals


def finished(state, *instants):
    Job.objects.bulk_create(
        [
            Job(task_path="tests.testapp.tasks.add", state=state, state_changed_at=at, created_at=at)
            for at in instants
        ]
    )


def stored() -> dict:
    """{(interval start, state): count} of the non-zero stored rows."""
    return {(row.bucket, row.state): row.count for row in FinishedCount.objects.exclude(count=0)}


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_roll_up_stores_every_ended_interval_zeros_included_and_not_the_current_one():
    finished(State.SUCCEEDED, at(2026, 3, 10, 9, 44, 59, 999999))  # 09:30 interval
    finished(State.FAILED, at(2026, 3, 10, 9, 45), at(2026, 3, 10, 9, 59, 59))  # 09:45
    finished(State.SUCCEEDED, at(2026, 3, 10, 10, 1))  # 10:00: not ended at 10:07
    finished(State.DELETED, at(2026, 3, 10, 9, 50))  # not counted
    finished(State.SUCCEEDED, at(2026, 3, 2, 9, 40))  # more than 8 days before either roll-up
    # 10:01:30: the 09:45 interval ended 90 s ago, less than SETTLE: not stored yet.
    assert statistics.roll_up_finished_counts(at(2026, 3, 10, 10, 1, 30)) == INTERVALS
    assert stored() == {(at(2026, 3, 10, 9, 30), "succeeded"): 1}
    assert statistics.roll_up_finished_counts(NOW) == 1
    assert stored() == {(at(2026, 3, 10, 9, 30), "succeeded"): 1, (at(2026, 3, 10, 9, 45), "failed"): 2}
    assert FinishedCount.objects.count() == 2 * (INTERVALS + 1)
    assert not FinishedCount.objects.filter(bucket__gte=at(2026, 3, 10, 10)).exists()
    assert FinishedCount.objects.filter(count=0).count() == 2 * (INTERVALS + 1) - 2


def test_a_roll_up_is_idempotent_and_a_stored_interval_never_changes():
    finished(State.SUCCEEDED, at(2026, 3, 10, 9, 50))
    assert statistics.roll_up_finished_counts(NOW) == INTERVALS
    assert statistics.roll_up_finished_counts(NOW) == 0
    finished(State.SUCCEEDED, at(2026, 3, 10, 9, 51), at(2026, 3, 10, 10, 2))  # late: a stored interval
    assert statistics.roll_up_finished_counts(NOW + timedelta(minutes=15)) == 1
    assert stored() == {(at(2026, 3, 10, 9, 45), "succeeded"): 1, (at(2026, 3, 10, 10), "succeeded"): 1}
    assert FinishedCount.objects.count() == 2 * (INTERVALS + 1)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="plans are PostgreSQL's")
def test_the_roll_up_counts_with_one_index_only_range_scan():
    finished(State.SUCCEEDED, at(2026, 3, 10, 9, 50))
    queries = []
    with connection.execute_wrapper(
        lambda execute, sql, params, many, context: (
            queries.append((sql, params)) or execute(sql, params, many, context)
        )
    ):
        statistics.roll_up_finished_counts(NOW)
    counting = [(sql, params) for sql, params in queries if '"jobs_job"' in sql]
    assert len(counting) == 1
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + counting[0][0], counting[0][1])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Index Only Scan using job_state_list_idx" in plan, plan


@pytest.mark.django_db(transaction=True)
def test_concurrent_roll_ups_store_each_row_once_without_errors(monkeypatch):
    finished(State.SUCCEEDED, at(2026, 3, 10, 9, 50), at(2026, 3, 9, 12, 0))
    finished(State.FAILED, at(2026, 3, 5, 0, 0))
    # Both callers have found the same intervals missing and counted them before either inserts.
    barrier = threading.Barrier(2, timeout=20)
    count_by_bucket = statistics.count_by_bucket

    def counted_then_wait(*args, **kwargs):
        counts = count_by_bucket(*args, **kwargs)
        barrier.wait()
        return counts

    monkeypatch.setattr(statistics, "count_by_bucket", counted_then_wait)
    results, errors = [], []

    def roll_up():
        try:
            results.append(statistics.roll_up_finished_counts(NOW))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=roll_up) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == [] and results == [INTERVALS, INTERVALS]
    assert FinishedCount.objects.count() == 2 * INTERVALS
    assert stored() == {
        (at(2026, 3, 10, 9, 45), "succeeded"): 1,
        (at(2026, 3, 9, 12, 0), "succeeded"): 1,
        (at(2026, 3, 5, 0, 0), "failed"): 1,
    }


def test_the_history_keeps_counting_jobs_after_they_expired():
    done = [factories.succeeded(), factories.succeeded(), factories.failed()]
    later = max(job.state_changed_at for job in done) + timedelta(minutes=20)
    statistics.roll_up_finished_counts(later)
    Job.objects.filter(state=State.SUCCEEDED).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert maintenance.expire_jobs.call()["jobs"] == 2
    assert not Job.objects.filter(state=State.SUCCEEDED).exists()
    history = stats.compute_history(later)
    assert sum(hour["succeeded"] for hour in history["hours"]) == 2
    assert sum(day["failed"] for day in history["days"]) == 1


# --- The console's history: stored intervals plus the live tail, folded into local time -----------


def spread_of_jobs():
    """Finished jobs over the week before NOW and a little outside it, and some not finished."""
    week = 7 * 86400 + 3 * 3600
    instants = [NOW - timedelta(seconds=(i * 7919) % week) for i in range(400)]
    instants += [NOW - timedelta(seconds=s) for s in (1, 59, 61, 300, 301, 899, 900, 1799, 3600)]
    instants += [NOW + timedelta(seconds=30)]  # not finished yet at NOW (another server's clock)
    finished(State.SUCCEEDED, *[t for i, t in enumerate(instants) if i % 5])
    finished(State.FAILED, *[t for i, t in enumerate(instants) if not i % 5])
    finished(State.ENQUEUED, *instants[:20])


def history_counted_from_jobs(now, zone) -> tuple[dict, dict]:
    """The history as the console computed it before the counters: every job, in local time."""
    local_now = now.astimezone(zone)
    first_day = local_now.date() - timedelta(days=6)
    this_hour = local_now.replace(minute=0, second=0, microsecond=0)
    hours, days = {}, {}
    for state, changed in Job.objects.filter(state__in=stats.FINISHED, state_changed_at__lte=now).values_list(
        "state", "state_changed_at"
    ):
        local = changed.astimezone(zone)
        if local.date() >= first_day:
            days.setdefault(local.date().isoformat(), {"succeeded": 0, "failed": 0})[state] += 1
        hour = local.replace(minute=0, second=0, microsecond=0)
        if this_hour - timedelta(hours=23) <= hour:
            hours.setdefault(hour.isoformat(), {"succeeded": 0, "failed": 0})[state] += 1
    return hours, days


def as_dicts(history) -> tuple[dict, dict]:
    def counts(bucket):
        return {"succeeded": bucket["succeeded"], "failed": bucket["failed"]}

    hours = {b["start"]: counts(b) for b in history["hours"] if b["succeeded"] or b["failed"]}
    days = {b["start"][:10]: counts(b) for b in history["days"] if b["succeeded"] or b["failed"]}
    return hours, days


def check_history_matches_the_jobs(rolled_up_before: timedelta, zone_name: str) -> int:
    """Roll up some time before NOW, then compare the console's history at NOW with a count of
    the jobs; returns how many intervals the history rolled up itself."""
    spread_of_jobs()
    statistics.roll_up_finished_counts(NOW - rolled_up_before)
    rows_before = FinishedCount.objects.count()
    with timezone.override(zone_name):
        history = stats.compute_history(NOW)
    hours, days = as_dicts(history)
    expected_hours, expected_days = history_counted_from_jobs(NOW, ZoneInfo(zone_name))
    assert sum(c["succeeded"] + c["failed"] for c in expected_days.values()) > 300
    assert hours == expected_hours
    assert days == expected_days
    assert len(history["hours"]) == 24 and len(history["days"]) == 7
    return (FinishedCount.objects.count() - rows_before) // 2


@pytest.mark.parametrize("zone_name", ["Asia/Kolkata", "Asia/Kathmandu", "UTC"])
def test_history_from_stored_intervals_and_a_live_tail_equals_a_count_of_the_jobs(zone_name):
    # Rolled up 90 minutes ago: six ended intervals and the current one are counted live.
    assert check_history_matches_the_jobs(timedelta(minutes=90), zone_name) == 0
    assert FinishedCount.objects.filter(bucket__gte=at(2026, 3, 10, 8, 30)).count() == 0


def test_a_history_missing_hours_of_intervals_rolls_them_up_once():
    # Rolled up 3 hours ago (no server since): the console stores the missing intervals itself.
    assert check_history_matches_the_jobs(timedelta(hours=3), "Asia/Kolkata") == 12
    assert statistics.roll_up_finished_counts(NOW) == 0


@pytest.mark.sqlite
def test_history_from_stored_intervals_and_a_live_tail_on_sqlite():
    assert check_history_matches_the_jobs(timedelta(hours=3), "Asia/Kolkata") == 12


@pytest.mark.parametrize(
    ("zone_name", "offset"),
    [("Asia/Kolkata", timedelta(hours=5, minutes=30)), ("Asia/Kathmandu", timedelta(hours=5, minutes=45))],
)
def test_intervals_fold_into_the_local_hour_and_day_holding_their_start(zone_name, offset):
    def utc(local):  # a local wall-clock time of that zone, as UTC
        return local.replace(tzinfo=UTC) - offset

    finished(State.SUCCEEDED, utc(datetime(2026, 3, 10, 9, 59, 59)), utc(datetime(2026, 3, 10, 10, 0)))
    finished(State.FAILED, utc(datetime(2026, 3, 8, 23, 59, 59)), utc(datetime(2026, 3, 9, 0, 0)))
    finished(State.FAILED, NOW - timedelta(minutes=1))  # the live tail: the current local hour
    statistics.roll_up_finished_counts(NOW)
    with timezone.override(zone_name):
        history = stats.compute_history(NOW)
    suffix = "+05:30" if offset == timedelta(hours=5, minutes=30) else "+05:45"
    hours = {b["start"]: (b["succeeded"], b["failed"]) for b in history["hours"]}
    assert hours[f"2026-03-10T09:00:00{suffix}"] == (1, 0)
    assert hours[f"2026-03-10T10:00:00{suffix}"] == (1, 0)
    assert (
        history["hours"][-1]["start"] == f"2026-03-10T15:00:00{suffix}"
        and history["hours"][-1]["failed"] == 1
    )
    assert sum(s + f for s, f in hours.values()) == 3
    days = {b["start"]: (b["succeeded"], b["failed"]) for b in history["days"]}
    assert days[f"2026-03-08T00:00:00{suffix}"] == (0, 1)
    assert days[f"2026-03-09T00:00:00{suffix}"] == (0, 1)
    assert days[f"2026-03-10T00:00:00{suffix}"] == (2, 1)
    assert history["days"][0]["start"] == f"2026-03-04T00:00:00{suffix}"


# --- Housekeeping ------------------------------------------------------------------------------


def test_housekeeping_rolls_up_on_its_own_clock(monkeypatch, settings):
    settings.DHANMAN_JOBS = {**settings.DHANMAN_JOBS, "STATS_ROLLUP_INTERVAL": 60.0}
    clock = SimpleNamespace(now=1000.0)
    monkeypatch.setattr(maintenance, "time", SimpleNamespace(monotonic=lambda: clock.now))
    finished(State.SUCCEEDED, timezone.now() - timedelta(hours=1))
    housekeeping = maintenance.Housekeeping()
    housekeeping.run(None)
    assert FinishedCount.objects.count() == 2 * INTERVALS
    assert sum(stored().values()) == 1
    FinishedCount.objects.all().delete()
    clock.now += 59
    housekeeping.run(None)
    assert FinishedCount.objects.count() == 0
    clock.now += 1
    housekeeping.run(None)
    assert FinishedCount.objects.count() == 2 * INTERVALS


def test_expiry_removes_counters_older_than_31_days():
    now = timezone.now()
    FinishedCount.objects.bulk_create(
        [
            FinishedCount(
                bucket=statistics.bucket_start(now - timedelta(days=32)), state="succeeded", count=5
            ),
            FinishedCount(bucket=statistics.bucket_start(now - timedelta(days=32)), state="failed", count=0),
            FinishedCount(
                bucket=statistics.bucket_start(now - timedelta(days=30)), state="succeeded", count=7
            ),
        ]
    )
    assert maintenance.expire_jobs.call()["counters"] == 2
    assert list(FinishedCount.objects.values_list("count", flat=True)) == [7]
