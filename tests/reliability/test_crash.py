"""Crash: a server vanishes (SIGKILL to its whole process tree) while its workers run jobs.

Nothing reports the death, so recovery rests on the lease: the dead server stops renewing it,
the reaper on a surviving server returns each of its jobs to the queue once the lease runs out
(JOBS_LEASE_SECONDS=3 here), another server runs it as attempt 2, and the silent server is
marked dead (SERVER_TIMEOUT 3 s).
"""

import pytest
from django.utils import timezone

from jobs.models import Job, Server, State
from tests.reliability.drill import (
    SIZE,
    assert_executed_exactly_once,
    assert_quiet_logs,
    history,
    start_servers,
    wait_until_all_finished,
)
from tests.support.cluster import FAST, wait_for
from tests.testapp.models import Attempt
from tests.testapp.tasks import record_slowly

RUN_SECONDS = 2.0
LEASE = float(FAST["JOBS_LEASE_SECONDS"])


@pytest.mark.django_db(transaction=True)
def test_jobs_of_a_killed_server_run_again_elsewhere_after_their_lease(cluster_factory):
    servers = start_servers(cluster_factory, SIZE.servers, SIZE.workers)
    victim, survivors = servers[0], servers[1:]
    victim_id = victim.server().pk
    # More jobs than the servers' workers, so some wait in the queue while the crash happens.
    jobs_count = SIZE.servers * SIZE.workers + SIZE.slow_jobs
    keys = {f"slow-{i}" for i in range(jobs_count)}
    for key in sorted(keys):
        record_slowly.enqueue(key, RUN_SECONDS)

    # Kill the victim once every one of its workers has started a job (the job wrote its attempt).
    def victim_busy():
        running = Job.objects.filter(server_id=victim_id, state=State.PROCESSING, worker_pid__isnull=False)
        started = Attempt.objects.filter(job_id__in=[str(pk) for pk in running.values_list("pk", flat=True)])
        return started.count() == SIZE.workers

    victim.wait_for(victim_busy, 20, "the victim's workers to be running jobs")
    victim.kill()
    killed_at = timezone.now()
    assert victim.process.returncode is not None
    orphans = list(
        Job.objects.filter(server_id=victim_id, state=State.PROCESSING).values_list("pk", flat=True)
    )
    assert len(orphans) == SIZE.workers

    wait_until_all_finished(survivors, timeout=60 + jobs_count * RUN_SECONDS / len(survivors))

    assert_executed_exactly_once(keys)
    for job in Job.objects.filter(pk__in=orphans):
        assert job.state == State.SUCCEEDED
        assert job.attempt == 2, (job.pk, job.attempt)
        assert job.server_id != victim_id
        assert history(job) == ["enqueued", "processing", "enqueued", "processing", "succeeded"]
        requeued = job.history.filter(name=State.ENQUEUED).order_by("-created_at").first()
        assert requeued.reason == f"Server {victim_id} stopped responding"
        # Back in the queue within the lease plus one reaper cycle (and scheduling slack).
        assert (requeued.created_at - killed_at).total_seconds() < LEASE + 3.0
        first_key = job.args[0]
        assert list(Attempt.objects.filter(key=first_key).values_list("attempt", flat=True)) == [1, 2]
    # Every other job ran once, on a server that was alive.
    others = Job.objects.exclude(pk__in=orphans)
    assert set(others.values_list("attempt", flat=True)) == {1}
    assert not Attempt.objects.exclude(job_id__in=[str(pk) for pk in orphans]).filter(attempt__gt=1).exists()

    wait_for(lambda: Server.objects.get(pk=victim_id).status == "dead", 10, "the victim to be marked dead")
    assert {s.server().status for s in survivors} == {"running"}
    assert_quiet_logs(survivors)
