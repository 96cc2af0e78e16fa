"""Which queues one server claims: JOBS_QUEUES is every queue (what @task is checked against);
`qcluster --queues` / JOBS_SERVER_QUEUES is a server's subset, kept in priority order."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from jobs.models import Job, JobState, Server, State
from jobs.server.broker import serving_queues
from tests.testapp import tasks
from tests.testapp.models import Execution


def test_a_servers_queues_keep_the_priority_order_of_every_queue():
    assert serving_queues(["low-priority", "critical"]) == ["critical", "low-priority"]
    assert serving_queues(["default", " critical"]) == ["critical", "default"]


def test_an_unknown_or_empty_queue_list_is_a_clear_error():
    with pytest.raises(
        ImproperlyConfigured, match=r"Unknown queue 'critcal' for this server: the queues are critical"
    ):
        serving_queues(["critcal", "default"])
    with pytest.raises(ImproperlyConfigured, match="at least one queue"):
        serving_queues([""])


@pytest.mark.django_db(transaction=True)
def test_a_server_started_with_queues_runs_only_those_and_other_jobs_wait_untouched(cluster_factory):
    waiting = [tasks.record.enqueue("default-1"), tasks.record_low.enqueue("low-1")]
    urgent = tasks.record_critical.enqueue("critical-1")
    server = cluster_factory(workers=1, args=("--queues", "critical"))
    server.wait_for(lambda: Job.objects.get(pk=urgent.id).state == State.SUCCEEDED, 20)
    assert server.server().queues == ["critical"]
    # A critical job enqueued while it runs is served too; the others still wait, never claimed.
    later = tasks.record_critical.enqueue("critical-2")
    server.wait_for(lambda: Job.objects.get(pk=later.id).state == State.SUCCEEDED, 20)
    for result in waiting:
        job = Job.objects.get(pk=result.id)
        assert (job.state, job.attempt, job.server_id) == (State.ENQUEUED, 0, None)
        assert list(JobState.objects.filter(job=job).values_list("name", flat=True)) == [State.ENQUEUED]
    assert set(Execution.objects.values_list("key", flat=True)) == {"critical-1", "critical-2"}


@pytest.mark.django_db(transaction=True)
def test_jobs_server_queues_sets_a_servers_queues_in_priority_order(cluster_factory):
    tasks.record.enqueue("default-1")
    low = tasks.record_low.enqueue("low-1")
    server = cluster_factory(workers=1, env={"JOBS_SERVER_QUEUES": "low-priority,critical"})
    server.wait_for(lambda: Job.objects.get(pk=low.id).state == State.SUCCEEDED, 20)
    assert server.server().queues == ["critical", "low-priority"]
    assert Job.objects.get(task_path__endswith=".record").state == State.ENQUEUED


@pytest.mark.django_db(transaction=True)
def test_qcluster_with_an_unknown_queue_stops_at_start_with_a_clear_error(cluster_factory):
    server = cluster_factory(workers=1, wait=False, args=("--queues", "critical,urgent"))
    assert server.process.wait(60) != 0
    assert (
        "Unknown queue 'urgent' for this server: the queues are critical, default, low-priority"
        in server.log()
    )
    assert not Server.objects.exists()
