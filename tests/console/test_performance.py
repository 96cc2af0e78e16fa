"""The Performance page (jobs/performance.py) on jobs run through the engine: counted live, then
from the servers' rolled-up intervals, with the same figures; sorting; the histogram maths."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from jobs import performance
from jobs.models import Job, PerformanceMark, State, TaskInterval
from tests.console import factories
from tests.testapp import tasks

pytestmark = pytest.mark.django_db

SLOW = "tests.testapp.tasks.record_slowly"
FAIL = "tests.testapp.tasks.fail_once"
ADD = "tests.testapp.tasks.add"


def run_workload():
    """Three timed runs, four quick ones, two failures: all run by the engine here."""
    slow = [
        factories.run(factories.enqueued(tasks.record_slowly, f"slow-{i}", s))
        for i, s in enumerate((0.05, 0.1, 0.3))
    ]
    for _ in range(4):
        factories.succeeded()
    failed = [factories.failed(message=f"Invoice {n} not found") for n in (7, 8)]
    return slow, failed


def run_seconds(job: Job) -> float:
    return (job.finished_at - job.started_at).total_seconds()


def rows_of(window="1h") -> dict:
    _, rows = performance.task_performance(window)
    return {row.task_path: row for row in rows}


def check_figures(rows, slow, failed):
    durations = sorted(run_seconds(j) for j in slow)
    row = rows[SLOW]
    assert (row.runs, row.succeeded, row.failed, row.success_rate) == (3, 3, 0, 1.0)
    # Exact maximum; the median within one bucket's width (19 %) of the true one.
    assert row.duration_max == pytest.approx(durations[-1], abs=1e-6)
    assert row.duration_p50 == pytest.approx(durations[1], rel=0.19)
    assert durations[1] * 0.8 <= row.duration_p95 <= durations[-1]
    assert row.wait_p50 is not None and row.wait_p50 >= 0
    assert rows[ADD].runs == 4 and rows[ADD].success_rate == 1.0
    fail = rows[FAIL]
    assert (fail.runs, fail.failed, fail.success_rate) == (2, 2, 0.0)
    newest = max(failed, key=lambda j: j.state_changed_at)
    assert fail.last_failure_id == newest.pk
    assert sum(fail.failed_trend) == 2 and sum(row.trend) == 3


def test_live_figures_then_the_same_figures_from_rolled_up_intervals():
    slow, failed = run_workload()
    check_figures(rows_of(), slow, failed)
    assert not TaskInterval.objects.exists()  # counted live: nothing ended yet

    # The servers' roll-up, once the interval has ended (its clock half an hour on).
    later = timezone.now() + timedelta(minutes=30)
    assert performance.roll_up(later) == 3
    assert TaskInterval.objects.count() == 3
    assert performance.roll_up(later) == 0  # the mark moved: nothing twice
    check_figures(rows_of(), slow, failed)
    # What the page shows comes from the rows now: the jobs themselves may go.
    Job.objects.filter(task_path=ADD).delete()
    assert rows_of()[ADD].runs == 4


def test_a_roll_up_stores_the_histograms_of_the_runs():
    slow, _ = run_workload()
    performance.roll_up(timezone.now() + timedelta(minutes=30))
    stored = TaskInterval.objects.get(task_path=SLOW)
    expected = {}
    for job in slow:
        index = str(performance.bucket_of(run_seconds(job)))
        expected[index] = expected.get(index, 0) + 1
    assert stored.duration_histogram == expected
    assert stored.duration_running == expected  # its task's first interval: the running sum is its own
    assert stored.duration_count == 3 and stored.wait_count == 3
    assert PerformanceMark.objects.get().rolled_until > timezone.now()


def test_the_page_shows_each_task_with_its_figures_and_links_the_last_failure(client_for):
    _, failed = run_workload()
    page = client_for("viewer").get(reverse("jobs_console:performance") + "?window=1h")
    assert page.status_code == 200
    html = page.content.decode()
    for path in (SLOW, FAIL, ADD):
        assert f'data-task="{path}"' in html
    newest = max(failed, key=lambda j: j.state_changed_at)
    assert reverse("jobs_console:job_detail", args=[newest.pk]) in html
    assert "0.0 %" in html and "100.0 %" in html
    assert '<polyline class="spark-runs" points="' in html
    assert "<script>" not in html.split('id="performance-table"')[1]
    assert 'href="/admin/jobs/performance/"' in html  # the navigation's link


def order(html: str) -> list[str]:
    return re.findall(r'<tr data-task="([^"]+)"', html)


def test_sorting_by_each_column_is_server_side_and_stable(client_for):
    run_workload()
    client = client_for("viewer")
    url = reverse("jobs_console:performance")
    by_runs = order(client.get(url, {"window": "1h", "sort": "-runs"}).content.decode())
    assert by_runs == [ADD, SLOW, FAIL]
    assert order(client.get(url, {"window": "1h", "sort": "runs"}).content.decode()) == [FAIL, SLOW, ADD]
    assert order(client.get(url, {"window": "1h", "sort": "task"}).content.decode()) == sorted(by_runs)
    # Success: the failing task last, the two at 100 % in task order either way (stable ties).
    assert order(client.get(url, {"window": "1h", "sort": "-success"}).content.decode()) == [ADD, SLOW, FAIL]
    assert order(client.get(url, {"window": "1h", "sort": "success"}).content.decode()) == [FAIL, ADD, SLOW]
    # Tasks without a failure sort last whichever way.
    assert order(client.get(url, {"window": "1h", "sort": "-last_failure"}).content.decode())[0] == FAIL
    assert order(client.get(url, {"window": "1h", "sort": "last_failure"}).content.decode())[0] == FAIL
    for column in performance.SORTS:
        for sort in (column, f"-{column}"):
            assert client.get(url, {"window": "7d", "sort": sort}).status_code == 200


def test_a_bad_window_or_sort_is_a_clear_400(client_for):
    client = client_for("viewer")
    url = reverse("jobs_console:performance")
    page = client.get(url, {"window": "2y"})
    assert page.status_code == 400 and "is not one of 1h, 24h, 7d" in page.content.decode()
    page = client.get(url, {"sort": "-password"})
    assert page.status_code == 400 and "is not a column" in page.content.decode()


def test_percentiles_from_buckets_stay_within_a_bucket_of_the_truth():
    values = [0.004 * 1.07**i for i in range(200)]  # 4 ms to about 3 min
    histogram: dict[int, int] = {}
    for value in values:
        index = performance.bucket_of(value)
        histogram[index] = histogram.get(index, 0) + 1
    ordered = sorted(values)
    for q in (0.5, 0.95):
        truth = ordered[int(q * len(ordered)) - 1]
        assert performance.percentile(histogram, q, max(values)) == pytest.approx(truth, rel=0.19)
    assert performance.percentile(histogram, 1.0, max(values)) == max(values)
    assert performance.percentile({}, 0.5) is None
    # A value on a bound stays in the bucket it closes.
    low, high = performance.bucket_bounds(performance.bucket_of(1.0))
    assert low < 1.0 <= high


def test_a_week_old_job_leaves_the_24_hour_window_but_not_the_week():
    slow, _ = run_workload()
    performance.roll_up(timezone.now() + timedelta(minutes=30))
    TaskInterval.objects.filter(task_path=SLOW).update(
        bucket=performance.bucket_start(timezone.now() - timedelta(days=3))
    )
    assert SLOW not in rows_of("24h")
    assert rows_of("7d")[SLOW].runs == 3
    assert Job.objects.filter(task_path=SLOW, state=State.SUCCEEDED).count() == 3


def test_the_postgresql_sums_equal_their_portable_twin():
    run_workload()
    performance.roll_up(timezone.now() + timedelta(minutes=30))
    window = performance.window_for("7d", timezone.now())
    mark = PerformanceMark.objects.get().rolled_until

    def fold(stored):
        rows: dict = {}

        def row_for(path):
            return rows.setdefault(
                path,
                performance.TaskPerformance(
                    path, trend=[0] * window.points, failed_trend=[0] * window.points
                ),
            )

        def point_of(bucket):
            return min(window.points - 1, max(0, int((bucket - window.start) / window.point)))

        stored(window, mark, row_for, point_of)
        return {
            path: (
                r.succeeded,
                r.failed,
                r.duration_max,
                r.last_failure_id,
                r.trend,
                r.failed_trend,
            )
            for path, r in rows.items()
        }

    postgresql = fold(performance._stored_postgresql)
    assert postgresql == fold(performance._stored_portable)
    assert set(postgresql) == {SLOW, FAIL, ADD}


def test_running_histograms_make_any_window_a_difference_of_two_rows_and_survive_expiry():
    """Three intervals of one task, rows made by the roll-up from jobs run here and then moved
    to three days: the running sums add up, a window starting after the first row subtracts it,
    and expiry keeps each task's newest old row (a later window still subtracts from it)."""
    now = timezone.now()
    slow, _ = run_workload()
    performance.roll_up(now + timedelta(minutes=30))
    row = TaskInterval.objects.get(task_path=SLOW)
    days = [performance.bucket_start(now - timedelta(days=d)) for d in (40, 35, 2)]
    TaskInterval.objects.filter(task_path__in=[FAIL, ADD]).delete()
    TaskInterval.objects.filter(pk=row.pk).update(bucket=days[2])
    first = {str(performance.bucket_of(0.02)): 2}
    second = {str(performance.bucket_of(5.0)): 1}
    TaskInterval.objects.create(
        bucket=days[0],
        task_path=SLOW,
        succeeded=2,
        duration_count=2,
        duration_max=0.02,
        duration_histogram=first,
        duration_running=first,
    )
    TaskInterval.objects.create(
        bucket=days[1],
        task_path=SLOW,
        succeeded=1,
        duration_count=1,
        duration_max=5.0,
        duration_histogram=second,
        duration_running={**first, **second},
    )
    late = {**first, **second}
    for index, n in row.duration_histogram.items():
        late[index] = late.get(index, 0) + n
    TaskInterval.objects.filter(bucket=days[2], task_path=SLOW).update(duration_running=late)

    week = rows_of("7d")[SLOW]
    assert week.duration_histogram == {int(k): v for k, v in row.duration_histogram.items()}
    assert week.runs == 3 and week.duration_max == pytest.approx(max(run_seconds(j) for j in slow))
    assert performance.forget_old_intervals(now) == 1  # the 40-day row; the 35-day one is the newest old one
    assert set(TaskInterval.objects.values_list("bucket", flat=True)) == {days[1], days[2]}
    assert rows_of("7d")[SLOW].duration_histogram == week.duration_histogram


def test_each_row_shows_the_retention_policy_in_force_for_its_task(client_for, settings):
    """The task's own `retention=` over the settings; a task without one follows the settings."""
    factories.run(factories.enqueued(tasks.kept_an_hour, "kept"))
    factories.succeeded()  # tests.testapp.tasks.add: no policy of its own
    settings.DHANMAN_JOBS = {**settings.DHANMAN_JOBS, "RETENTION_SUCCEEDED": 2 * 86400}
    settings.DHANMAN_JOBS.pop("RETENTION_FAILED", None)
    html = client_for("viewer").get(reverse("jobs_console:performance") + "?window=1h").content.decode()
    own = html.split('data-task="tests.testapp.tasks.kept_an_hour"')[1].split("</tr>")[0]
    assert "succeeded 1\xa0hour" in own and "failed 4\xa0weeks, 2\xa0days" in own
    plain = html.split(f'data-task="{ADD}"')[1].split("</tr>")[0]
    assert "succeeded 2\xa0days" in plain and "failed kept" in plain
