"""Batched successes (jobs/server/completer.py, sql.SUCCEED_MANY_SQL): each job of a batch is
fenced by its own fetch token, the batch writes what the single success writes, every job's
on_state_changed hook fires, a success left pending is recorded by the flusher thread on time,
and a worker that dies with a success pending makes that job run again — never Succeeded unrun."""

import datetime
import time

import pytest
from django.db import connection
from django.utils import timezone

from jobs import filters, sql
from jobs.creation import insert_jobs, new_job
from jobs.filters import JobFilter
from jobs.models import Job, JobState, Server, State
from jobs.server import completer as completer_module
from jobs.server import runner
from jobs.server.completer import Success
from tests.jobs.helpers import QUEUES
from tests.testapp import tasks
from tests.testapp.models import Attempt


class Recorder(JobFilter):
    seen: list[tuple] = []

    def on_state_changed(self, job, old_state, new_state, reason):
        Recorder.seen.append((str(job.pk), str(old_state), str(new_state)))


@pytest.fixture
def recorder(settings):
    settings.DHANMAN_JOBS = {**settings.DHANMAN_JOBS, "FILTERS": [f"{__name__}.Recorder"]}
    filters.global_filters.cache_clear()
    Recorder.seen = []
    yield Recorder.seen
    filters.global_filters.cache_clear()


@pytest.fixture
def server():
    now = timezone.now()
    Server.objects.create(id="batch", host="test", pid=1, started_at=now, heartbeat_at=now)


def _claimed(count, task=tasks.add, *args):
    jobs = [new_job(task, args or (1, 2), {}) for _ in range(count)]
    insert_jobs(jobs)
    rows = sql.claim("batch", QUEUES, count)
    assert len(rows) == count
    return [Job.objects.get(pk=row[0]) for row in rows]


def _success(job, token=None, result=None):
    job.started_at = timezone.now()
    return Success(job, str(token or job.fetch_token), result, 0.25, timezone.now())


def _record(successes):
    params = sql.succeed_many_parameters(
        [(s.job, s.token, s.result, s.duration, s.finished) for s in successes]
    )
    with connection.cursor() as cursor:
        cursor.execute(sql.SUCCEED_MANY_SQL, params)
        return sql.split_succeed_many(cursor.fetchall())


COLUMNS = (
    "state",
    "state_reason",
    "expires_at",
    "fetch_token",
    "lease_until",
    "worker_pid",
    "result",
    "progress",
)


@pytest.mark.django_db
def test_a_batched_success_writes_what_the_portable_twin_writes(server):
    batched, portable = _claimed(2)
    Job.objects.filter(pk__in=[batched.pk, portable.pk]).update(progress=10)
    batched.refresh_from_db()
    success = _success(batched, result={"sum": 3})
    done = _record([success])
    assert list(done) == [batched.pk]
    locked = Job.objects.get(pk=portable.pk)
    params = {"now": success.finished, "reason": "Completed in 0.250 s", "stored": {"sum": 3}}
    sql.succeed_portable(locked, params, {})
    a, b = Job.objects.get(pk=batched.pk), Job.objects.get(pk=portable.pk)
    assert [getattr(a, c) for c in COLUMNS] == [getattr(b, c) for c in COLUMNS]
    assert a.state == State.SUCCEEDED and a.progress == 100 and a.result == {"sum": 3}
    assert a.finished_at == a.state_changed_at and a.started_at is not None
    history = list(a.history.order_by("created_at", "id").values_list("name", "data"))
    assert [name for name, _ in history] == ["enqueued", "processing", "succeeded"]
    assert history[2][1] == {"duration": 0.25, "attempt": 1, "server": "batch"}


@pytest.mark.django_db
def test_each_job_of_a_batch_is_fenced_by_its_own_token(server):
    good, stale, cancelled, continued = _claimed(4)
    Job.objects.filter(pk=cancelled.pk).update(cancel_requested=True)
    Job.objects.filter(pk=continued.pk).update(has_continuations=True)
    done = _record(
        [
            _success(good),
            _success(stale, token="00000000-0000-0000-0000-000000000000"),
            _success(cancelled),
            _success(continued),
        ]
    )
    # Only the job whose conditions hold; the others are left to the general path, untouched.
    assert list(done) == [good.pk]
    states = dict(Job.objects.values_list("pk", "state"))
    assert states == {
        good.pk: State.SUCCEEDED,
        stale.pk: State.PROCESSING,
        cancelled.pk: State.PROCESSING,
        continued.pk: State.PROCESSING,
    }
    assert JobState.objects.filter(name=State.SUCCEEDED).count() == 1


@pytest.mark.django_db
def test_settling_a_batch_fires_each_hook_and_sends_the_rest_down_the_general_path(
    server, recorder, django_capture_on_commit_callbacks
):
    first, second, cancelled = _claimed(3)
    Job.objects.filter(pk=cancelled.pk).update(cancel_requested=True, cancel_reason="deleted")
    successes = [_success(first), _success(second), _success(cancelled)]
    with django_capture_on_commit_callbacks(execute=True):
        outcomes = runner._settle(successes, _record(successes))
    assert outcomes == {first.pk: State.SUCCEEDED, second.pk: State.SUCCEEDED, cancelled.pk: State.DELETED}
    assert sorted(recorder) == sorted(
        [
            (str(first.pk), State.PROCESSING, State.SUCCEEDED),
            (str(second.pk), State.PROCESSING, State.SUCCEEDED),
            (str(cancelled.pk), State.PROCESSING, State.DELETED),
        ]
    )


@pytest.mark.django_db(transaction=True)
def test_a_pending_success_is_recorded_by_the_flusher_thread_on_time(server, settings):
    settings.DHANMAN_JOBS = {**settings.DHANMAN_JOBS, "COMPLETION_FLUSH_SECONDS": 0.2}
    [job] = _claimed(1)
    completer = completer_module.Completer(runner.record_pending)
    deferred_at = time.monotonic()
    completer.defer(_success(job))
    assert completer.recording_ids() == [job.pk]
    deadline = time.monotonic() + 30
    while Job.objects.get(pk=job.pk).state != State.SUCCEEDED:
        assert time.monotonic() < deadline, "the flusher thread never recorded the pending success"
        time.sleep(0.02)
    assert time.monotonic() - deferred_at >= 0.2  # not before its time: it waits for a size first
    assert completer.take() == [] and completer.recording_ids() == []


@pytest.mark.django_db(transaction=True)
def test_a_worker_that_dies_with_a_success_pending_runs_that_job_again(cluster_factory):
    # The pusher starts `first`; its worker claims `pending` and `killer` together, runs
    # `pending` (its success kept pending: the flush timer is an hour), then `killer` kills the
    # worker. `pending` ran, but its success was never written: it must run again, and its
    # history must show no success before that second run.
    tasks.noop.using(priority=3).enqueue()
    pending = tasks.count_attempt.using(priority=2).enqueue("pending")
    killer = tasks.exit_process.using(priority=1).enqueue("killer")
    server = cluster_factory(workers=1, env={"JOBS_COMPLETION_FLUSH_SECONDS": 3600})
    server.wait_for(lambda: Job.objects.get(pk=pending.id).state == State.SUCCEEDED, 90)
    assert Attempt.objects.filter(key="pending").count() == 2
    job = Job.objects.get(pk=pending.id)
    names = list(job.history.order_by("created_at", "id").values_list("name", flat=True))
    assert names == ["enqueued", "processing", "enqueued", "processing", "succeeded"]
    # The first claim took both jobs at once: one prefetched.
    claims = JobState.objects.filter(job_id__in=[pending.id, killer.id], name=State.PROCESSING)
    first_claims = sorted(claims.values_list("created_at", flat=True))[:2]
    assert first_claims[0] == first_claims[1]
    assert job.finished_at - job.started_at < datetime.timedelta(seconds=30)


@pytest.mark.django_db(transaction=True)
def test_each_job_of_a_batch_keeps_its_own_tasks_retention(server, settings):
    """Two jobs of tasks with different retention policies succeed in one statement: each expires
    by its own task's policy (tests.testapp.tasks.kept_an_hour: 1 hour) or the settings' (2 days),
    and a policy that keeps Succeeded jobs leaves no expiry at all."""
    settings.DHANMAN_JOBS = {**settings.DHANMAN_JOBS, "RETENTION_SUCCEEDED": 2 * 86400}
    (plain,) = _claimed(1)
    (own,) = _claimed(1, tasks.kept_an_hour, "kept")
    done = _record([_success(plain), _success(own)])
    assert set(done) == {plain.pk, own.pk}
    for job, seconds in ((plain, 2 * 86400), (own, 3600)):
        job.refresh_from_db()
        assert job.state == State.SUCCEEDED
        assert (job.expires_at - job.state_changed_at).total_seconds() == pytest.approx(seconds, abs=1)
    settings.DHANMAN_JOBS = {**settings.DHANMAN_JOBS, "RETENTION_SUCCEEDED": None}
    (kept,) = _claimed(1)
    _record([_success(kept)])
    kept.refresh_from_db()
    assert kept.state == State.SUCCEEDED and kept.expires_at is None


@pytest.mark.django_db(transaction=True)
def test_the_last_lines_of_each_printing_job_ride_in_the_batched_success(server):
    """Two jobs succeed in one statement: the one that printed gets its lines appended to its
    attempt's output row (after lines written earlier in the attempt), the quiet one gets none."""
    from jobs.models import JobOutput

    quiet, chatty = _claimed(2)
    JobOutput.objects.create(
        job=chatty,
        attempt=chatty.attempt,
        text="line 1\n",
        size=7,
        truncated=False,
        updated_at=timezone.now(),
    )
    rest = {
        "output_attempt": chatty.attempt,
        "output_text": "line 2\n",
        "output_size": 7,
        "output_truncated": True,
    }
    successes = [_success(quiet), _success(chatty)]
    params = sql.succeed_many_parameters(
        [(s.job, s.token, s.result, s.duration, s.finished) for s in successes], [None, rest]
    )
    with connection.cursor() as cursor:
        cursor.execute(sql.succeed_many_statement(claim=False, printed=True), params)
        done = sql.split_succeed_many(cursor.fetchall())
    assert set(done) == {quiet.pk, chatty.pk}
    row = JobOutput.objects.get(job=chatty)
    assert (row.text, row.size, row.truncated) == ("line 1\nline 2\n", 14, True)
    assert not JobOutput.objects.filter(job=quiet).exists()
