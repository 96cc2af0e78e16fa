"""Three real `qcluster` servers share one recurring job: every run becomes exactly one job,
created within a second of its time, and runs once.

The default version uses a seconds-level schedule ("*/2 * * * * *": every two seconds). Such
expressions are refused by declarations and the API (`validate_cron` wants five fields); the
test writes the row directly, and the servers' next-run computation understands them. The slow
version watches a standard every-minute job for three minutes.
"""

from datetime import timedelta

import pytest
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from jobs.cron import next_run, runs_between
from jobs.models import Job, RecurringJob, State
from tests.testapp.models import Attempt

SERVERS = 3


def watch_three_servers(cluster_factory, row_id, expression, runs_wanted, timeout):
    servers = [cluster_factory(workers=1, wait=False) for _ in range(SERVERS)]
    for server in servers:
        server.wait_until_ready(60)
    first = next_run(expression, "UTC", timezone.now() + timedelta(seconds=1))
    RecurringJob.objects.create(
        id=row_id,
        task_path="tests.recurring.tasks.tick",
        args=[row_id],
        cron=expression,
        timezone="UTC",
        next_run_at=first,
    )
    jobs = Job.objects.filter(recurring_job_id=row_id)
    servers[0].wait_for(lambda: jobs.count() >= runs_wanted, timeout, f"{runs_wanted} runs of {row_id}")

    with transaction.atomic():  # switch it off, noting where the servers had got to
        row = RecurringJob.objects.select_for_update().get(pk=row_id)
        stopped_before = row.next_run_at
        row.enabled, row.next_run_at = False, None
        row.save()
    servers[0].wait_for(
        lambda: not jobs.exclude(state=State.SUCCEEDED).exists(), 30, "every recurring job to have run"
    )

    # Every run from the first to the one the servers were waiting for, each exactly once.
    expected = [
        first,
        *runs_between(expression, "UTC", first, stopped_before - timedelta(microseconds=1), 10_000),
    ]
    created = sorted(jobs.values_list("created_at", flat=True))
    assert len(created) == len(expected) >= runs_wanted
    lateness = [(at - run).total_seconds() for at, run in zip(created, expected, strict=True)]
    assert all(0 <= late < 1.0 for late in lateness), lateness
    # And each job ran once.
    per_job = Attempt.objects.filter(key=row_id).values("job_id").annotate(n=Count("id"))
    assert sorted(str(job_id) for job_id in jobs.values_list("id", flat=True)) == sorted(
        p["job_id"] for p in per_job
    )
    assert {p["n"] for p in per_job} == {1}


@pytest.mark.django_db(transaction=True)
def test_three_servers_fire_a_seconds_level_job_exactly_once(cluster_factory):
    watch_three_servers(cluster_factory, "every-two-seconds", "*/2 * * * * *", runs_wanted=4, timeout=40)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_three_servers_fire_an_every_minute_job_exactly_once(cluster_factory):
    watch_three_servers(cluster_factory, "every-minute", "* * * * *", runs_wanted=3, timeout=240)
