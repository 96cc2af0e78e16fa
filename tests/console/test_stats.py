"""The dashboard's numbers: exact where small, estimated where huge, cached, and index-shaped."""

import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from jobs.console import listing, stats
from jobs.models import Job, State
from tests.console import factories

pytestmark = pytest.mark.django_db


def test_counts_by_state_are_exact_below_the_cap():
    factories.failed()
    factories.succeeded()
    factories.succeeded()
    factories.enqueued()
    counts, approximate = stats.count_by_state()
    assert counts == {
        "scheduled": 0,
        "enqueued": 1,
        "processing": 0,
        "succeeded": 2,
        "failed": 1,
        "deleted": 0,
        "awaiting": 0,
    }
    assert approximate == []


def test_states_above_the_cap_are_estimated_and_flagged(monkeypatch):
    monkeypatch.setattr(stats, "COUNT_CAP", 2)
    for _ in range(4):
        factories.succeeded()
    factories.failed()
    counts, approximate = stats.count_by_state()
    assert approximate == ["succeeded"]
    assert counts["succeeded"] >= 3 and counts["failed"] == 1


def test_retries_count_only_scheduled_jobs_that_ran_before():
    factories.awaiting_retry()
    factories.scheduled()
    assert stats.count_retries() == 1


def test_cached_values_are_computed_once_per_ttl_and_cleared_by_actions():
    calls = []

    def compute():
        calls.append(1)
        return len(calls)

    stats.forget_cached()
    assert stats.cached(stats.SNAPSHOT_KEY, 60, compute) == 1
    assert stats.cached(stats.SNAPSHOT_KEY, 60, compute) == 1
    stats.forget_cached()
    assert stats.cached(stats.SNAPSHOT_KEY, 60, compute) == 2


def test_a_due_value_is_recomputed_by_one_request_while_others_get_the_previous_one():
    from django.core.cache import cache

    stats.forget_cached()
    stats.cached(stats.SNAPSHOT_KEY, 0.1, lambda: "old")
    time.sleep(0.15)  # due now, still in the cache (kept STALE_FACTOR times longer)
    assert cache.add(f"{stats.SNAPSHOT_KEY}.lock", 1, 30)  # someone else is recomputing
    assert stats.cached(stats.SNAPSHOT_KEY, 60, lambda: "new") == "old"
    cache.delete(f"{stats.SNAPSHOT_KEY}.lock")
    assert stats.cached(stats.SNAPSHOT_KEY, 60, lambda: "new") == "new"


def test_finished_between_counts_a_window_and_never_more_than_five_minutes():
    before = timezone.now()
    factories.succeeded()
    factories.failed()
    after = timezone.now()
    assert stats.finished_between(before, after) == {"succeeded": 1, "failed": 1}
    assert stats.finished_between(after, timezone.now()) == {"succeeded": 0, "failed": 0}
    # A "since" of last week is read as five minutes ago.
    assert stats.finished_between(after - timedelta(days=7), after) == {"succeeded": 1, "failed": 1}


def test_history_has_24_hours_and_7_days_with_this_hours_jobs_in_the_last_bucket():
    factories.succeeded()
    factories.failed()
    history = stats.compute_history()
    assert len(history["hours"]) == 24 and len(history["days"]) == 7
    assert history["hours"][-1]["succeeded"] == 1 and history["hours"][-1]["failed"] == 1
    assert history["days"][-1]["succeeded"] == 1 and history["days"][-1]["failed"] == 1
    assert sum(b["succeeded"] + b["failed"] for b in history["hours"][:-1]) == 0
    starts = [timezone.datetime.fromisoformat(b["start"]) for b in history["hours"]]
    assert all(b - a == timedelta(hours=1) for a, b in zip(starts, starts[1:], strict=False))


def test_queue_rows_cover_every_configured_queue():
    from tests.testapp import tasks

    factories.enqueued(tasks.record_low, "x")
    rows = {row["queue"]: row for row in stats.queue_rows()}
    assert list(rows) == ["critical", "default", "low-priority"]
    assert rows["low-priority"]["enqueued"] == 1 and rows["low-priority"]["oldest_wait_seconds"] >= 0
    assert rows["critical"]["oldest_wait_seconds"] is None


def test_task_paths_lists_each_task_once():
    from tests.testapp import tasks

    factories.enqueued(tasks.add, 1, 1)
    factories.enqueued(tasks.add, 2, 2)
    factories.enqueued(tasks.noop)
    stats.forget_cached()
    from django.core.cache import cache

    cache.delete(stats.TASK_PATHS_KEY)
    assert stats.compute_task_paths() == ["tests.testapp.tasks.add", "tests.testapp.tasks.noop"]


# --- Query shapes: the indexes the console relies on can serve its queries ---------------------


def plan_of(queryset_or_sql, params=(), *, presorted=False):
    """The plan PostgreSQL would use; `presorted`: also forbid an explicit sort, for a query
    whose order an index must give (on a test-sized table another index plus a sort of its few
    rows can look cheaper: job_failure_group_idx holds the Failed jobs alone)."""
    sql, params = (
        (queryset_or_sql, params)
        if isinstance(queryset_or_sql, str)
        else queryset_or_sql.query.sql_with_params()
    )
    with connection.cursor() as cursor:
        # On a test-sized table the planner rightly prefers a sequential scan; forbidding it
        # shows which index it *can* use, which is what a million rows will need.
        cursor.execute("SET LOCAL enable_seqscan = off")
        if presorted:
            cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("SET LOCAL enable_seqscan = on")
        cursor.execute("SET LOCAL enable_sort = on")
    return plan


@pytest.mark.skipif(connection.vendor != "postgresql", reason="plans are PostgreSQL's")
def test_list_pages_walk_the_state_index_without_sorting_the_table():
    factories.failed()
    page_query = (
        Job.objects.filter(state=State.FAILED)
        .only(*("id", "state", "state_changed_at"))
        .order_by("-state_changed_at", "-pk")[:51]
    )
    plan = plan_of(page_query, presorted=True)
    assert "job_state_list_idx" in plan and "Limit" in plan
    cursor = listing.Cursor(timezone.now(), factories.failed().pk).encode()
    page = listing.keyset_page(
        Job.objects.filter(state=State.FAILED), time_field="state_changed_at", older=cursor
    )
    assert page.items is not None


@pytest.mark.skipif(connection.vendor != "postgresql", reason="plans are PostgreSQL's")
def test_counters_and_recent_finishes_use_index_only_scans():
    now = timezone.now()
    recent = (
        Job.objects.filter(state__in=stats.FINISHED, state_changed_at__gt=now - timedelta(seconds=2))
        .order_by()
        .values_list("state")
        .annotate(n=stats.Count("*"))
    )
    assert "job_state_list_idx" in plan_of(recent)
    capped = f"SELECT count(*) FROM (SELECT 1 FROM {Job._meta.db_table} WHERE state = %s LIMIT 10001) c"
    assert "Index Only Scan using job_state_list_idx" in plan_of(capped, ["succeeded"])
    waiting = Job.objects.filter(state=State.ENQUEUED).order_by().values("queue").annotate(n=stats.Count("*"))
    assert "job_claim_idx" in plan_of(waiting)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL statement timeout")
def test_a_search_that_runs_too_long_is_stopped_with_a_clear_message():
    with pytest.raises(listing.SearchTooSlow, match="narrow it"):
        listing.bounded(lambda: connection.cursor().execute("SELECT pg_sleep(1)"), timeout_ms=50)
    # The connection is usable afterwards, with its own timeout back.
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "0"


def test_a_cache_entry_of_another_shape_is_recomputed_not_crashed_on():
    from django.core.cache import cache

    cache.set(stats.TASK_PATHS_KEY, ["written", "by", "an older version"], 60)
    assert stats.cached(stats.TASK_PATHS_KEY, 60, lambda: ["fresh"]) == ["fresh"]
