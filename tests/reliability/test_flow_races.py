"""Flow control under real concurrency: many processes enqueuing one unique key, and real
`qcluster` servers holding concurrency limits, rate limits and queue pauses between them.

Start and end times come from the jobs themselves: each run writes an Attempt when it starts
and an Execution (keyed by its job id) when it ends.
"""

import json
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.utils import timezone

import jobs.api
from jobs.models import Job, JobState, State
from tests.reliability.drill import start_servers, wait_until_all_finished
from tests.support.cluster import FAST, ROOT, database_url, wait_for
from tests.testapp import tasks
from tests.testapp.models import Attempt, Execution

pytestmark = pytest.mark.django_db(transaction=True)

ENQUEUER = """
import json, os, sys, threading, time
import django
django.setup()
from django.db import connection
from tests.testapp.tasks import unique_noop

start_at, per_thread, threads = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
ids, lock = [], threading.Lock()

def enqueue():
    mine = []
    while time.time() < start_at:
        time.sleep(0.001)
    for _ in range(per_thread):
        mine.append(unique_noop.enqueue("the-key").id)
    connection.close()
    with lock:
        ids.extend(mine)

workers = [threading.Thread(target=enqueue) for _ in range(threads)]
for w in workers: w.start()
for w in workers: w.join()
print(json.dumps(ids))
"""


def _enqueuers(processes: int, per_process: int, threads: int = 8) -> list[str]:
    env = {
        **__import__("os").environ,
        "DATABASE_URL": database_url(),
        "DHANMAN_TEST_APPS": "1",
        "DJANGO_SETTINGS_MODULE": "dhanman.settings",
        "DEBUG": "False",
        "SECRET_KEY": FAST["SECRET_KEY"],
    }
    start_at = time.time() + 3.0  # every process imported Django and waits at the same instant
    running = [
        subprocess.Popen(
            [sys.executable, "-c", ENQUEUER, str(start_at), str(per_process // threads), str(threads)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    ids = []
    for process in running:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err[-3000:]
        ids += json.loads(out.strip().splitlines()[-1])
    return ids


def test_two_processes_enqueuing_one_unique_key_200_times_each_make_one_job():
    ids = _enqueuers(processes=2, per_process=200)
    assert len(ids) == 400
    jobs_made = list(Job.objects.filter(task_path="tests.testapp.tasks.unique_noop"))
    assert len(jobs_made) == 1
    assert set(ids) == {str(jobs_made[0].pk)}  # every caller got the one job's id
    assert JobState.objects.filter(job=jobs_made[0]).count() == 1


def _intervals(job_ids) -> list[tuple]:
    starts = {a.job_id: a.at for a in Attempt.objects.filter(job_id__in=job_ids)}
    ends = {e.job_id: e.at for e in Execution.objects.filter(job_id__in=job_ids)}
    return sorted((starts[i], ends[i]) for i in job_ids)


def test_a_mutex_key_never_overlaps_on_two_servers_and_other_keys_run_meanwhile(cluster_factory):
    servers = start_servers(cluster_factory, 2, 4)
    held = [tasks.mutex_run.enqueue("a", 0.15).id for _ in range(20)]
    others = [tasks.mutex_run.enqueue(f"other-{n}", 0.15).id for n in range(6)]
    wait_until_all_finished(servers, timeout=60)
    runs = _intervals(held)
    assert len(runs) == 20
    for (_, end), (next_start, _) in zip(runs, runs[1:], strict=False):
        assert end <= next_start, "two jobs of group:a ran at the same time"
    # The other keys did not wait for group a's twenty runs (3 s in a row).
    assert max(end for _, end in _intervals(others)) < runs[-1][1] - timedelta(seconds=1)
    assert set(Job.objects.values_list("state", flat=True)) == {State.SUCCEEDED}


def test_a_killed_servers_job_gives_its_slot_back_after_the_lease(cluster_factory):
    servers = start_servers(cluster_factory, 2, 2)
    holder = tasks.mutex_run.enqueue("k", 3.0)
    wait_for(lambda: Attempt.objects.filter(job_id=holder.id).exists(), 20, message="the holder to start")
    waiting = tasks.mutex_run.enqueue("k", 0.05)
    holder_server = Job.objects.get(pk=holder.id).server_id
    victim, survivor = sorted(servers, key=lambda s: s.server().pk != holder_server)
    time.sleep(0.5)
    assert Job.objects.get(pk=waiting.id).state == State.ENQUEUED  # k is at its limit of 1
    victim.kill()
    wait_until_all_finished([survivor], timeout=30 + float(FAST["JOBS_LEASE_SECONDS"]))
    holder_job = Job.objects.get(pk=holder.id)
    assert holder_job.attempt == 2 and holder_job.server_id == survivor.server().pk
    # On the survivor the two jobs of k ran one after the other.
    runs = sorted(
        (Attempt.objects.get(job_id=job_id, attempt=attempt).at, Execution.objects.get(job_id=job_id).at)
        for job_id, attempt in ((holder.id, 2), (waiting.id, 1))
    )
    assert runs[0][1] <= runs[1][0]


def test_a_rate_limit_of_10_per_second_spreads_100_jobs_across_two_servers(cluster_factory):
    servers = start_servers(cluster_factory, 2, 4)
    jobs.api.enqueue_many(tasks.rate_limited, [((n,), {}) for n in range(100)])
    wait_until_all_finished(servers, timeout=60)
    # A start is the claim that makes the job Processing (its history row): that is what the
    # limit counts. The task body begins a hand-off later (docs/flow-control.md).
    starts = sorted(
        JobState.objects.filter(
            name=State.PROCESSING, job__task_path="tests.testapp.tasks.rate_limited"
        ).values_list("created_at", flat=True)
    )
    assert len(starts) == 100 and Attempt.objects.filter(key="rate").count() == 100
    assert (starts[-1] - starts[0]).total_seconds() >= 9.0
    second = timedelta(seconds=1)
    busiest = max(sum(1 for s in starts[i : i + 11] if s - start < second) for i, start in enumerate(starts))
    assert busiest <= 10, f"{busiest} starts within one second"


def test_pausing_a_draining_queue_stops_its_claims_within_a_second(cluster_factory):
    (server,) = start_servers(cluster_factory, 1, 4)
    keys = [f"p-{n}" for n in range(300)]
    jobs.api.enqueue_many(tasks.record_slowly, [((key, 0.02), {}) for key in keys])
    server.wait_for(lambda: Execution.objects.count() >= 20, 30, "the backlog to start draining")
    jobs.api.pause_queue("default", reason="month-end run")
    paused_at = timezone.now()
    time.sleep(2.0)
    late = JobState.objects.filter(name=State.PROCESSING, created_at__gt=paused_at + timedelta(seconds=1))
    assert not late.exists(), "a paused queue was claimed more than a second after the pause"
    assert Job.objects.filter(state=State.PROCESSING).count() == 0  # running jobs finished
    left = Job.objects.filter(state=State.ENQUEUED).count()
    assert left > 0
    # A pause with `until` resumes by itself; before that, still nothing is claimed.
    jobs.api.pause_queue("default", reason="a short one", until=timezone.now() + timedelta(seconds=1.5))
    time.sleep(1.0)
    assert Job.objects.filter(state=State.ENQUEUED).count() == left
    wait_until_all_finished([server], timeout=60)
    assert Execution.objects.count() == 300
