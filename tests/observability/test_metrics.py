"""/metrics: the token, the values against what was run, histograms, roll-ups across expiry and
restarts, and promtool's lint on a real scrape.

Histogram tests place finished jobs with chosen start and finish times as bulk-created rows (a
run of exactly 0.3 s cannot be made by running a job); the counter test runs real jobs on two
real servers.
"""

import shutil
import subprocess
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from jobs import maintenance, metrics, tallies
from jobs.models import Job, JobTally, RecurringJob, Server, State, TallyMark
from tests.observability.metrics_helpers import names, samples, value
from tests.testapp import tasks

pytestmark = pytest.mark.django_db
TOKEN = "s3cret-metrics-token"
ADD = "tests.testapp.tasks.add"


def jobs_settings(**overrides):
    from django.conf import settings

    return override_settings(DHANMAN_JOBS={**settings.DHANMAN_JOBS, **overrides})


def scrape(client, token=TOKEN):
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return client.get("/metrics", headers=headers)


def fresh_scrape() -> str:
    """A scrape by a process that served none before (a restarted web instance)."""
    return metrics.generate_latest(_fresh_registry()).decode()


def _fresh_registry():
    registry = metrics.CollectorRegistry(auto_describe=False)
    registry.register(metrics.JobsCollector(metrics.Monotonic()))
    return registry


def ran(state, *, task=ADD, queue="default", duration=0.3, wait=2.0, finished_ago=timedelta(minutes=10), n=1):
    """n finished jobs that waited `wait` s and ran `duration` s, finished `finished_ago` ago;
    returns when they finished."""
    end = timezone.now() - finished_ago
    start = end - timedelta(seconds=duration)
    enqueued = start - timedelta(seconds=wait)
    Job.objects.bulk_create(
        [
            Job(
                task_path=task,
                queue=queue,
                state=state,
                state_changed_at=end,
                created_at=enqueued,
                enqueued_at=enqueued,
                started_at=start,
                finished_at=end,
                attempt=1,
                expires_at=end + timedelta(days=1) if state != State.FAILED else None,
            )
            for _ in range(n)
        ]
    )
    return end


class TestToken:
    def test_without_a_token_configured_metrics_does_not_exist(self, client):
        with jobs_settings(METRICS_TOKEN=""):
            assert scrape(client).status_code == 404

    @pytest.mark.parametrize("token", [None, "wrong", ""])
    def test_a_missing_or_wrong_token_is_refused(self, client, token):
        with jobs_settings(METRICS_TOKEN=TOKEN):
            response = scrape(client, token)
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert b"dhanman_jobs" not in response.content

    def test_the_right_token_gets_the_exposition(self, client):
        with jobs_settings(METRICS_TOKEN=TOKEN):
            response = scrape(client)
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/plain; version=")
        assert "dhanman_jobs_servers" in response.content.decode()


def test_histogram_buckets_hold_the_runs_durations_and_waits():
    ran(State.SUCCEEDED, duration=0.3, wait=2.0, n=3)
    ran(State.FAILED, duration=7.0, wait=0.02, n=1)
    ran(State.SUCCEEDED, task="tests.testapp.tasks.noop", queue="critical", duration=0.004, wait=0.004, n=2)
    found = samples(fresh_scrape())
    bucket = "dhanman_jobs_duration_seconds_bucket"
    labels = {"task": ADD, "queue": "default"}
    assert value(found, bucket, **labels, le="0.25") == 0
    assert value(found, bucket, **labels, le="0.5") == 3
    assert value(found, bucket, **labels, le="5.0") == 3
    assert value(found, bucket, **labels, le="10.0") == 4
    assert value(found, bucket, **labels, le="2.5") == 3
    assert value(found, bucket, **labels, le="+Inf") == 4
    assert value(found, "dhanman_jobs_duration_seconds_count", **labels) == 4
    assert value(found, "dhanman_jobs_duration_seconds_sum", **labels) == pytest.approx(3 * 0.3 + 7.0)
    noop = {"task": "tests.testapp.tasks.noop", "queue": "critical"}
    assert value(found, bucket, **noop, le="0.005") == 2
    wait = "dhanman_jobs_wait_seconds_bucket"
    assert value(found, wait, queue="default", le="0.01") == 0
    assert value(found, wait, queue="default", le="0.05") == 1
    assert value(found, wait, queue="default", le="1.0") == 1
    assert value(found, wait, queue="default", le="5.0") == 4
    assert value(found, wait, queue="critical", le="0.01") == 2
    assert value(found, "dhanman_jobs_wait_seconds_sum", queue="default") == pytest.approx(3 * 2.0 + 0.02)
    assert value(found, "dhanman_jobs_finished_total", task=ADD, queue="default", state="succeeded") == 3
    assert value(found, "dhanman_jobs_finished_total", task=ADD, queue="default", state="failed") == 1


def test_a_deleted_job_counts_as_finished_but_not_as_a_run():
    ran(State.DELETED, duration=50.0)
    found = samples(fresh_scrape())
    assert value(found, "dhanman_jobs_finished_total", task=ADD, queue="default", state="deleted") == 1
    assert value(found, "dhanman_jobs_duration_seconds_count", task=ADD, queue="default") is None


def test_counters_survive_the_roll_up_the_expiry_of_their_jobs_and_a_restart():
    ran(State.SUCCEEDED, n=5, finished_ago=timedelta(minutes=30))
    ran(State.SUCCEEDED, n=2, finished_ago=timedelta(seconds=5))  # after the mark: counted live
    before = samples(fresh_scrape())
    assert value(before, "dhanman_jobs_finished_total", task=ADD, queue="default", state="succeeded") == 7
    assert tallies.roll_up()
    assert JobTally.objects.get(task_path=ADD, queue="default", state="succeeded").count == 5
    after_roll_up = samples(fresh_scrape())
    assert after_roll_up == before
    # Every rolled-up job expires; the live ones are still there.
    Job.objects.filter(state_changed_at__lt=TallyMark.objects.get().counted_until).delete()
    assert Job.objects.count() == 2
    assert samples(fresh_scrape()) == before
    # A roll-up later, with nothing new: the same.
    assert tallies.roll_up(timezone.now() + timedelta(minutes=2))
    assert samples(fresh_scrape()) == before


def test_a_counter_never_goes_back_in_one_process_when_a_live_job_is_requeued():
    ran(State.SUCCEEDED, n=2, finished_ago=timedelta(seconds=5))
    registry = _fresh_registry()
    first = value(
        metrics.generate_latest(registry).decode(),
        "dhanman_jobs_finished_total",
        task=ADD,
        queue="default",
        state="succeeded",
    )
    assert first == 2
    # A person requeues one of them before the roll-up counted it.
    job = Job.objects.filter(state=State.SUCCEEDED).first()
    from jobs.api import requeue

    requeue(job.pk)
    text = metrics.generate_latest(registry).decode()
    assert value(text, "dhanman_jobs_finished_total", task=ADD, queue="default", state="succeeded") == 2
    assert value(text, "dhanman_jobs_queued", queue="default", state="enqueued") == 1


def test_a_scrape_that_finds_no_recent_roll_up_rolls_up_itself():
    ran(State.SUCCEEDED, n=3, finished_ago=timedelta(hours=2))
    assert not TallyMark.objects.exists()
    fresh_scrape()
    assert JobTally.objects.get(task_path=ADD, state="succeeded").count == 3


def test_a_second_roll_up_at_the_same_moment_does_nothing():
    ran(State.SUCCEEDED, n=3, finished_ago=timedelta(hours=2))
    now = timezone.now()
    assert tallies.roll_up(now)
    assert not tallies.roll_up(now)
    assert JobTally.objects.get(task_path=ADD, state="succeeded").count == 3


def test_the_housekeeping_rolls_the_tallies_up():
    ran(State.SUCCEEDED, n=4, finished_ago=timedelta(minutes=5))
    maintenance.Housekeeping().run(None)
    assert JobTally.objects.get(task_path=ADD, state="succeeded").count == 4


def test_queues_oldest_wait_servers_workers_and_recurring_jobs():
    now = timezone.now()
    for _ in range(3):
        tasks.add.enqueue(1, 2)
    tasks.record_critical.enqueue("k")
    tasks.add.using(run_after=now + timedelta(hours=1)).enqueue(1, 2)
    Job.objects.filter(queue="default", state=State.ENQUEUED).update(enqueued_at=now - timedelta(seconds=90))
    Server.objects.create(
        id="a", host="a", pid=1, worker_count=4, status="running", started_at=now, heartbeat_at=now
    )
    Server.objects.create(
        id="b",
        host="b",
        pid=2,
        worker_count=2,
        status="running",
        started_at=now,
        heartbeat_at=now - timedelta(minutes=5),
    )  # silent: dead already
    Server.objects.create(
        id="c", host="c", pid=3, worker_count=2, status="stopped", started_at=now, heartbeat_at=now
    )
    from jobs.server.broker import claim_jobs

    claim_jobs("a", ["critical"], 1)
    RecurringJob.objects.create(
        id="nightly", task_path=ADD, cron="0 2 * * *", next_run_at=now + timedelta(hours=3)
    )
    RecurringJob.objects.create(id="off", task_path=ADD, cron="0 2 * * *", enabled=False, next_run_at=now)
    found = samples(fresh_scrape())
    assert value(found, "dhanman_jobs_queued", queue="default", state="enqueued") == 3
    assert value(found, "dhanman_jobs_queued", queue="default", state="scheduled") == 1
    assert value(found, "dhanman_jobs_queued", queue="critical", state="processing") == 1
    assert value(found, "dhanman_jobs_queued", queue="low-priority", state="enqueued") == 0
    assert 90 <= value(found, "dhanman_jobs_oldest_wait_seconds", queue="default") < 120
    assert value(found, "dhanman_jobs_oldest_wait_seconds", queue="critical") == 0
    assert value(found, "dhanman_jobs_servers", status="running") == 1
    assert value(found, "dhanman_jobs_servers", status="dead") == 1
    assert value(found, "dhanman_jobs_servers", status="stopped") == 1
    assert value(found, "dhanman_jobs_workers", state="busy") == 1
    assert value(found, "dhanman_jobs_workers", state="idle") == 3
    next_run = value(found, "dhanman_jobs_recurring_next_run_timestamp_seconds", recurring="nightly")
    assert next_run == pytest.approx((now + timedelta(hours=3)).timestamp())
    assert value(found, "dhanman_jobs_recurring_next_run_timestamp_seconds", recurring="off") is None
    assert value(found, "dhanman_jobs_recurring_enabled", recurring="off") == 0


def test_a_recurring_jobs_last_success_outlives_its_job():
    recurring = RecurringJob.objects.create(id="monthly", task_path=ADD, cron="0 6 1 * *")
    ran(State.SUCCEEDED, finished_ago=timedelta(hours=1))
    job = Job.objects.get()
    Job.objects.filter(pk=job.pk).update(recurring_job=recurring)
    expected = job.state_changed_at.timestamp()
    assert value(
        fresh_scrape(), "dhanman_jobs_recurring_last_success_timestamp_seconds", recurring="monthly"
    ) == pytest.approx(expected)
    tallies.roll_up()
    Job.objects.all().delete()
    assert value(
        fresh_scrape(), "dhanman_jobs_recurring_last_success_timestamp_seconds", recurring="monthly"
    ) == pytest.approx(expected)


@pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool (Debian's prometheus) is not installed"
)
def test_promtool_accepts_a_real_scrape(client):
    ran(State.SUCCEEDED, n=2)
    ran(State.FAILED, n=1, finished_ago=timedelta(seconds=3))
    tasks.add.enqueue(1, 2)
    RecurringJob.objects.create(id="nightly", task_path=ADD, cron="0 2 * * *", next_run_at=timezone.now())
    with jobs_settings(METRICS_TOKEN=TOKEN):
        text = scrape(client).content
    check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, timeout=30)
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
    assert check.stdout.decode().strip() == "" and check.stderr.decode().strip() == ""


def test_every_series_the_issue_lists_is_exported():
    ran(State.SUCCEEDED)
    exported = names(fresh_scrape())
    for name in (
        "dhanman_jobs_finished_total",
        "dhanman_jobs_duration_seconds_bucket",
        "dhanman_jobs_wait_seconds_bucket",
        "dhanman_jobs_queued",
        "dhanman_jobs_oldest_wait_seconds",
        "dhanman_jobs_servers",
        "dhanman_jobs_workers",
        "dhanman_jobs_queue_paused",
    ):
        assert name in exported, name


@pytest.mark.django_db(transaction=True)
def test_jobs_run_on_two_servers_raise_the_counter_by_as_many(cluster_factory):
    n = 30
    first, second = cluster_factory(workers=2), cluster_factory(workers=2)
    before = (
        value(fresh_scrape(), "dhanman_jobs_finished_total", task=ADD, queue="default", state="succeeded")
        or 0
    )
    for i in range(n):
        tasks.add.enqueue(i, 1)
    tasks.fail_once.enqueue("metrics")
    first.wait_for(
        lambda: Job.objects.filter(state__in=(State.SUCCEEDED, State.FAILED)).count() == n + 1,
        message="every job finished",
    )
    found = samples(fresh_scrape())
    assert (
        value(found, "dhanman_jobs_finished_total", task=ADD, queue="default", state="succeeded")
        == before + n
    )
    assert (
        value(
            found,
            "dhanman_jobs_finished_total",
            task="tests.testapp.tasks.fail_once",
            queue="default",
            state="failed",
        )
        == 1
    )
    assert value(found, "dhanman_jobs_duration_seconds_count", task=ADD, queue="default") == n
    assert value(found, "dhanman_jobs_servers", status="running") == 2
    assert (
        value(found, "dhanman_jobs_workers", state="idle")
        + value(found, "dhanman_jobs_workers", state="busy")
        == 4
    )
    assert set(Job.objects.values_list("server_id", flat=True)) <= {first.server().id, second.server().id}
