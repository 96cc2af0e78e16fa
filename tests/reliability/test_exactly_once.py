"""Exactly once without faults: three servers drain jobs from all three queues, and every job
runs once — the execution log's unique key would reject a second run — and nothing is left."""

import pytest
from django.db.models import Count

from jobs.api import enqueue_many
from jobs.models import Job, JobState, State
from tests.reliability.drill import (
    SIZE,
    assert_executed_exactly_once,
    assert_quiet_logs,
    start_servers,
    wait_until_all_finished,
)
from tests.testapp.models import Execution
from tests.testapp.tasks import record, record_critical, record_low

TASKS = {"critical": record_critical, "default": record, "low-priority": record_low}


@pytest.mark.django_db(transaction=True)
def test_every_job_runs_exactly_once_across_three_servers(cluster_factory):
    servers = start_servers(cluster_factory, SIZE.servers, SIZE.workers)
    keys = set()
    per_queue = SIZE.jobs // len(TASKS)
    for queue, task in TASKS.items():
        calls = [((f"{queue}-{i}",), {}) for i in range(per_queue)]
        enqueue_many(task, calls)
        keys.update(args[0] for args, _ in calls)

    wait_until_all_finished(servers, timeout=60 + SIZE.jobs / 20)

    assert_executed_exactly_once(keys)
    assert Job.objects.count() == len(keys)
    assert Job.objects.filter(state=State.SUCCEEDED, attempt=1).count() == len(keys)
    # Each execution was recorded by the job that carried its key.
    carried = {str(job_id): args[0] for job_id, args in Job.objects.values_list("id", "args")}
    assert all(carried[job_id] == key for key, job_id in Execution.objects.values_list("key", "job_id"))
    # One history per run: Enqueued, Processing, Succeeded — no second claim anywhere.
    histories = JobState.objects.values("job").annotate(n=Count("id")).values_list("n", flat=True)
    assert set(histories) == {3}
    # The three servers shared the work (claims never overlapped, as the counts above show).
    by_server = dict(Job.objects.values_list("server").annotate(n=Count("id")).order_by())
    assert set(by_server) == {s.server().pk for s in servers}, by_server
    assert_quiet_logs(servers)
