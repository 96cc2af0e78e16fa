"""Recurring: three servers share a recurring job and each occurrence becomes exactly one job,
even when a server dies in the middle (it may hold the row's lock while firing, or be running
one of the jobs) and a replacement joins.

The default size uses an every-second schedule ("* * * * * *", seconds first). Six-field
expressions are refused by declarations and the API, so the drill writes the row itself, as
tests/recurring does; the servers' firing code reads them. The full-size drill watches a standard
every-minute job for five minutes.
"""

from datetime import timedelta

import pytest
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from jobs.cron import next_run, runs_between
from jobs.models import Job, RecurringJob, Server, State
from tests.reliability.drill import SIZE, assert_quiet_logs, history, start_servers
from tests.support.cluster import wait_for
from tests.testapp.models import Attempt


def watch_recurring(cluster_factory, row_id: str, expression: str, seconds: float, late_bound: float):
    servers = start_servers(cluster_factory, 3, 1)
    first = next_run(expression, "UTC", timezone.now() + timedelta(seconds=1))
    RecurringJob.objects.create(
        id=row_id,
        task_path="tests.reliability.probes.tick",
        args=[row_id],
        cron=expression,
        timezone="UTC",
        next_run_at=first,
    )
    jobs = Job.objects.filter(recurring_job_id=row_id)

    # Halfway through, a server vanishes and another one joins.
    wait_for(lambda: timezone.now() >= first + timedelta(seconds=seconds / 2), seconds + 10, 0.2)
    victim = servers.pop(0)
    victim_id = victim.server().pk
    victim.kill()
    servers.append(cluster_factory(workers=1))
    wait_for(lambda: timezone.now() >= first + timedelta(seconds=seconds), seconds + 10, 0.2)

    with transaction.atomic():  # switch it off, noting where the servers had got to
        row = RecurringJob.objects.select_for_update().get(pk=row_id)
        stopped_before = row.next_run_at
        row.enabled, row.next_run_at = False, None
        row.save()
    servers[0].wait_for(
        lambda: not jobs.exclude(state=State.SUCCEEDED).exists(), 30, "every occurrence to have run"
    )

    # Each occurrence from the first to the one the servers were waiting for: exactly one job.
    expected = [
        first,
        *runs_between(expression, "UTC", first, stopped_before - timedelta(microseconds=1), 100_000),
    ]
    created = sorted(jobs.values_list("created_at", flat=True))
    assert len(created) == len(expected), (len(created), len(expected))
    lateness = [(at - run).total_seconds() for at, run in zip(created, expected, strict=True)]
    assert all(0 <= late < late_bound for late in lateness), lateness
    # Each job ran once, except a job the dead server was running: that one ran again, as attempt 2.
    per_job = dict(Attempt.objects.filter(key=row_id).values_list("job_id").annotate(n=Count("id")))
    assert set(per_job) == {str(pk) for pk in jobs.values_list("pk", flat=True)}
    reran = {job_id for job_id, n in per_job.items() if n > 1}
    for job in jobs.filter(pk__in=reran):
        assert job.attempt == 2 and history(job).count("enqueued") == 2
        assert job.history.filter(reason=f"Server {victim_id} stopped responding").exists()
    assert all(n <= 2 for n in per_job.values())
    wait_for(lambda: Server.objects.get(pk=victim_id).status == "dead", 10, 0.2)
    assert_quiet_logs(servers)
    print(
        f"{len(expected)} occurrences, one job each; max lateness {max(lateness):.2f} s; "
        f"{len(reran)} rerun after the crash"
    )


@pytest.mark.django_db(transaction=True)
def test_every_second_job_fires_once_per_occurrence_across_server_churn(cluster_factory):
    watch_recurring(
        cluster_factory, "drill-every-second", "* * * * * *", SIZE.recurring_seconds, late_bound=2.0
    )


@pytest.mark.drill
@pytest.mark.django_db(transaction=True)
def test_every_minute_job_fires_once_per_occurrence_for_five_minutes(cluster_factory):
    watch_recurring(cluster_factory, "drill-every-minute", "* * * * *", 5 * 60, late_bound=2.0)
