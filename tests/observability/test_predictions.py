"""Duration predictions (jobs.predictions): the estimates from a deterministic set of runs, their
incremental update by the roll-up, and what the console shows from them.

Runs are placed as bulk-created finished rows with exact run times (1 s, 2 s, … 100 s), so the
quantiles are known numbers.
"""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from jobs import predictions, tallies
from jobs.api import batch, batch_progress
from jobs.models import DurationEstimate, Job, RecurringJob, Server, State
from tests.console import factories
from tests.observability.test_metrics import ran
from tests.testapp import tasks

pytestmark = pytest.mark.django_db
ADD = "tests.testapp.tasks.add"
NOOP = "tests.testapp.tasks.noop"
Kind = DurationEstimate.Kind


def runs(task, seconds, *, queue="default", finished_ago=timedelta(minutes=10)):
    for s in seconds:
        ran(State.SUCCEEDED, task=task, queue=queue, duration=s, finished_ago=finished_ago)


def server(workers=4, queues=("critical", "default", "low-priority")):
    now = timezone.now()
    return Server.objects.create(
        id=f"s{workers}{len(queues)}",
        host="h",
        pid=1,
        worker_count=workers,
        queues=list(queues),
        status="running",
        started_at=now,
        heartbeat_at=now,
    )


def test_quantiles_interpolate_between_ranks():
    ordered = [float(i) for i in range(1, 101)]
    assert predictions.quantile(ordered, 0.5) == pytest.approx(50.5)
    assert predictions.quantile(ordered, 0.9) == pytest.approx(90.1)
    assert predictions.quantile([7.0], 0.9) == 7.0
    assert predictions.quantile([], 0.5) == 0.0


def test_the_roll_up_builds_estimates_per_task_queue_and_recurring_job():
    runs(ADD, range(1, 101))
    runs(NOOP, [0.5] * 10, queue="critical")
    ran(State.FAILED, task=ADD, duration=1000)  # failures are not what a success takes
    assert tallies.roll_up()
    task = DurationEstimate.objects.get(kind=Kind.TASK, key=ADD)
    assert (task.p50, task.p90, task.mean, task.runs) == (pytest.approx(50.5), pytest.approx(90.1), 50.5, 100)
    assert DurationEstimate.objects.get(kind=Kind.QUEUE, key="critical").p50 == 0.5
    assert DurationEstimate.objects.get(kind=Kind.QUEUE, key="default").runs == 100


def test_estimates_are_updated_incrementally_from_new_runs_only_and_keep_the_recent_window():
    runs(ADD, [10.0] * 150, finished_ago=timedelta(hours=2))
    tallies.roll_up(timezone.now() - timedelta(minutes=10))
    runs(ADD, [20.0] * 100, finished_ago=timedelta(minutes=5))  # after that roll-up's mark
    tallies.roll_up()
    estimate = DurationEstimate.objects.get(kind=Kind.TASK, key=ADD)
    assert estimate.runs == 250 and len(estimate.recent) == predictions.WINDOW
    # The window holds the 200 newest runs: 100 of 10 s, then the 100 of 20 s.
    assert estimate.recent[:100] == [10.0] * 100 and estimate.recent[100:] == [20.0] * 100
    assert estimate.p50 == pytest.approx(15.0) and estimate.p90 == 20.0
    assert not tallies.roll_up(timezone.now() - timedelta(minutes=30))  # behind the mark: nothing read


def test_a_recurring_jobs_estimate():
    recurring = RecurringJob.objects.create(id="nightly", task_path=ADD, cron="0 2 * * *")
    runs(ADD, [30.0, 40.0, 50.0])
    Job.objects.update(recurring_job=recurring)
    tallies.roll_up()
    assert predictions.estimate(Kind.RECURRING, "nightly").p50 == 40.0


def test_a_processing_job_is_told_when_it_is_likely_done_and_when_it_runs_unusually_long():
    runs(ADD, range(1, 101))
    tallies.roll_up()
    job = factories.processing(tasks.add, 1, 2)
    now = timezone.now()
    job.started_at = now - timedelta(seconds=20)
    told = predictions.processing_job(job, now)
    assert told["remaining"] == pytest.approx(30.5) and told["text"].startswith(
        "Likely done in ~30 s (p90 70 s)"
    )
    job.started_at = now - timedelta(seconds=97)
    told = predictions.processing_job(job, now)
    assert told["overdue"] and "longer than 95 % of its past runs" in told["text"]


def test_the_batch_eta_comes_from_each_remaining_jobs_own_task_and_the_workers_serving_its_queue():
    runs(ADD, [10.0] * 20)
    runs(NOOP, [30.0] * 20, queue="critical")
    tallies.roll_up()
    server(workers=4)
    server(workers=8, queues=("low-priority",))  # serves none of the batch's queues
    with batch("mixed") as b:
        for i in range(6):
            b.enqueue(tasks.add, i, 1)
        b.enqueue(tasks.noop)
        b.enqueue(tasks.noop)
    now = timezone.now()
    eta = predictions.batch_eta(b.created, now)
    # (6 × 10 s + 2 × 30 s) shared by 4 workers.
    assert (eta - now).total_seconds() == pytest.approx(30.0)
    progress = batch_progress(b.id)
    assert abs((progress["eta"] - now).total_seconds() - 30.0) < 5


def test_the_eta_is_never_shorter_than_the_longest_job_left():
    means = {"a": DurationEstimate(mean=100.0), "b": DurationEstimate(mean=1.0)}
    assert predictions.eta_seconds({"a": 1, "b": 3}, [], means, workers=10) == 100.0
    assert predictions.eta_seconds({"a": 1}, [("b", 0.5)], means, workers=0) is None
    assert predictions.eta_seconds({"unknown": 1}, [], means, workers=2) is None


def test_a_queue_drains_at_its_worker_count():
    runs(ADD, [2.0] * 10)
    tallies.roll_up()
    server(workers=4)
    assert predictions.queue_drain("default", 100) == pytest.approx(50.0)
    assert predictions.queue_drain("default", 0) == 0.0
    assert predictions.queue_drain("low-priority", 5) is None  # no estimate yet


def test_the_console_shows_the_predictions(client_for):
    runs(ADD, range(1, 101))
    recurring = RecurringJob.objects.create(
        id="nightly", task_path=NOOP, cron="0 2 * * *", next_run_at=timezone.now() + timedelta(hours=2)
    )
    runs(NOOP, [120.0, 180.0])
    Job.objects.filter(task_path=NOOP).update(recurring_job=recurring)
    tallies.roll_up()
    server(workers=2)
    job = factories.processing(tasks.add, 1, 2)
    Job.objects.filter(pk=job.pk).update(started_at=timezone.now() - timedelta(seconds=10))
    for _ in range(4):
        tasks.add.enqueue(1, 2)
    client = client_for("viewer")
    detail = client.get(reverse("jobs_console:job_detail", args=[job.pk])).content.decode()
    assert 'id="job-prediction"' in detail
    assert re.search(r"Likely done in ~(3\d|40) s \(p90 (7\d|80) s\)", detail)  # p50 50.5 s, 10 s in
    dashboard = client.get(reverse("jobs_console:dashboard")).content.decode()
    assert 'data-column="drain">~1' in dashboard  # 4 × 50.5 s ÷ 2 workers ≈ 101 s
    listing = client.get(reverse("jobs_console:recurring_list")).content.decode()
    assert "expected to take ~2" in listing
