"""The state machine (jobs/states.py): the ALLOWED table, the on_state_changed hook on every
transition — the SQL fast paths and the bulk ones included — and the SQL and ORM twins of a
transition writing the same columns."""

import datetime
import threading

import pytest
from django.db import connection
from django.utils import timezone

from jobs import api, filters, maintenance, sql, states
from jobs.creation import insert_jobs, new_job
from jobs.filters import JobFilter
from jobs.models import Job, JobState, Server, State
from jobs.server import worker
from jobs.server.runner import perform
from tests.jobs.helpers import QUEUES, run_next
from tests.testapp import tasks

pytestmark = pytest.mark.django_db


class StateRecorder(JobFilter):
    seen: list[tuple] = []

    def on_state_changed(self, job, old_state, new_state, reason):
        StateRecorder.seen.append((str(job.pk), str(old_state), str(new_state)))


@pytest.fixture
def recorder(settings):
    settings.DHANMAN_JOBS = {**settings.DHANMAN_JOBS, "FILTERS": [f"{__name__}.StateRecorder"]}
    filters.global_filters.cache_clear()
    StateRecorder.seen = []
    yield StateRecorder.seen
    filters.global_filters.cache_clear()


def _job(task=tasks.noop, *args, state=None, run_after=None, **links):
    job = new_job(task, args, {}, state=state, run_after=run_after, **links)
    insert_jobs([job])
    return job


# --- ALLOWED ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("old", list(State))
def test_every_pair_of_states_is_allowed_or_refused_as_the_table_says(old):
    job = _job()
    for new in State:
        Job.objects.filter(pk=job.pk).update(state=old)
        job.refresh_from_db()
        history = JobState.objects.filter(job=job).count()
        if new in states.ALLOWED[old]:
            states.apply_state(job, new, "test")
            assert Job.objects.get(pk=job.pk).state == new
            assert JobState.objects.filter(job=job).count() == history + 1
        else:
            with pytest.raises(states.InvalidTransition, match=f"from {old} to {new}"):
                states.apply_state(job, new, "test")
            assert Job.objects.get(pk=job.pk).state == old  # nothing written half-way
            assert JobState.objects.filter(job=job).count() == history


def test_the_table_names_every_state_and_only_states():
    assert set(states.ALLOWED) == set(State)
    assert all(targets <= set(State) for targets in states.ALLOWED.values())
    # Nothing leaves Processing but through an outcome or a requeue, and nothing enters it but a claim.
    assert {old for old, targets in states.ALLOWED.items() if State.PROCESSING in targets} == {State.ENQUEUED}


def test_the_timeline_never_goes_backwards():
    job = _job()
    later = job.state_changed_at + datetime.timedelta(seconds=5)
    states.apply_state(job, State.SCHEDULED, "later", now=later)
    states.apply_state(job, State.ENQUEUED, "earlier clock", now=later - datetime.timedelta(seconds=3))
    assert Job.objects.get(pk=job.pk).state_changed_at == later


# --- The hook on every transition -------------------------------------------------------------------


@pytest.fixture
def servers():
    now = timezone.now()
    for name in ("states-server", "twin", "dead-server"):
        Server.objects.create(id=name, host="test", pid=1, started_at=now, heartbeat_at=now)


def test_on_state_changed_fires_for_every_transition(recorder, servers, django_capture_on_commit_callbacks):
    expected = []

    def saw(job_or_result, old, new):
        expected.append((str(job_or_result.id), old, new))

    with django_capture_on_commit_callbacks(execute=True):
        # The claim (SQL) and the fast success (SQL).
        ok = _job(tasks.add, 2, 3)
        run_next()
        saw(ok, State.ENQUEUED, State.PROCESSING)
        saw(ok, State.PROCESSING, State.SUCCEEDED)
        # A person's requeue and delete (ORM, apply_state).
        api.requeue(ok.pk)
        saw(ok, State.SUCCEEDED, State.ENQUEUED)
        api.delete(ok.pk)
        saw(ok, State.ENQUEUED, State.DELETED)
        # A failure with retries left (Scheduled), the bulk promotion, and the retry's success.
        retried = tasks.fail_times.enqueue("states", 1)
        run_next()
        saw(retried, State.PROCESSING, State.SCHEDULED)
        assert maintenance.promote_due_jobs(timezone.now() + datetime.timedelta(seconds=5)) == 1
        saw(retried, State.SCHEDULED, State.ENQUEUED)
        run_next()
        saw(retried, State.PROCESSING, State.SUCCEEDED)
        # Failed (the general outcome path), and a continuation released by its parent.
        failed = tasks.fail_once.enqueue("states-failed")
        child = api.continue_with(failed, tasks.noop, on="any finished")
        run_next()
        saw(failed, State.PROCESSING, State.FAILED)
        api.delete(failed.id)
        saw(failed, State.FAILED, State.DELETED)
        saw(child, State.AWAITING, State.ENQUEUED)
        # The reaper: a lease that ran out goes back to its queue.
        reaped = _job()
        sql.claim("dead-server", QUEUES, 5)
        maintenance.reap(timezone.now() + datetime.timedelta(minutes=10))
        saw(reaped, State.PROCESSING, State.ENQUEUED)
    # The hooks run once each transaction commits.
    for transition in expected:
        assert transition in recorder, f"no on_state_changed for {transition[1]} -> {transition[2]}"
    assert len(expected) == 11


def test_the_bulk_promotion_reports_each_job(recorder, django_capture_on_commit_callbacks):
    soon = timezone.now() + datetime.timedelta(hours=1)
    due = [_job(state=State.SCHEDULED, run_after=soon) for _ in range(3)]
    Job.objects.filter(pk__in=[j.pk for j in due]).update(run_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        assert maintenance.promote_due_jobs(timezone.now() + datetime.timedelta(seconds=1)) == 3
    assert sorted(recorder) == sorted((str(j.pk), State.SCHEDULED, State.ENQUEUED) for j in due)


def test_a_worker_self_claim_reports_the_claim(
    recorder, servers, django_capture_on_commit_callbacks, monkeypatch
):
    # A worker of a running server: after the first job it claims the second in the same statement.
    monkeypatch.setattr(worker, "_server_id", "states-server")
    monkeypatch.setattr(worker, "_stopping", threading.Event())
    first, second = _job(tasks.add, 1, 1), _job(tasks.add, 2, 2)
    with django_capture_on_commit_callbacks(execute=True):
        job_id, token, _, _ = sql.claim("states-server", QUEUES, 1)[0]
        assert perform(str(job_id), str(token)) == State.SUCCEEDED
    assert [r for r in recorder if r[0] == str(second.pk)] == [
        (str(second.pk), State.ENQUEUED, State.PROCESSING),
        (str(second.pk), State.PROCESSING, State.SUCCEEDED),
    ]
    assert (
        Job.objects.get(pk=second.pk).worker_pid is None
        and Job.objects.get(pk=first.pk).state == State.SUCCEEDED
    )


def test_without_state_hooks_a_bulk_transition_loads_no_rows(django_assert_num_queries):
    filters.global_filters.cache_clear()
    assert states.state_hooks() == ()
    ids = [_job().pk for _ in range(3)]
    with django_assert_num_queries(0):
        states.claimed(ids, "Claimed")
        states.promoted(ids)


# --- One definition for the SQL and the ORM paths ----------------------------------------------------

CLAIM_COLUMNS = ("state", "state_reason", "attempt", "server_id", "worker_pid", "expires_at", "run_at")


def test_the_claim_statement_and_its_portable_twin_write_the_same_columns(servers):
    by_sql, by_orm = _job(tasks.add, 1, 2), _job(tasks.add, 3, 4)
    Job.objects.filter(pk=by_orm.pk).update(queue="low-priority")
    params = sql.claim_parameters("twin", ["default"], 1, worker_pid=4242)
    [(sql_id, sql_token, _, _)] = sql.claim("twin", ["default"], 1, worker_pid=4242)
    [(orm_id, orm_token, _, _)] = sql.claim_portable({**params, "queues": ["low-priority"]})
    assert (sql_id, orm_id) == (by_sql.pk, by_orm.pk)
    a, b = Job.objects.get(pk=sql_id), Job.objects.get(pk=orm_id)
    assert [getattr(a, c) for c in CLAIM_COLUMNS] == [getattr(b, c) for c in CLAIM_COLUMNS]
    assert a.state == State.PROCESSING and a.attempt == 1 and a.worker_pid == 4242
    assert (a.fetch_token, b.fetch_token) == (sql_token, orm_token) and sql_token != orm_token
    assert a.lease_until > timezone.now() and b.lease_until > timezone.now()
    history = JobState.objects.filter(job_id__in=[sql_id, orm_id], name=State.PROCESSING)
    assert sorted(h.data["worker"] for h in history) == [4242, 4242]


def test_the_success_statement_and_its_portable_twin_write_the_same_columns(servers):
    fast, slow = _job(tasks.add, 1, 2), _job(tasks.add, 3, 4)
    for job in (fast, slow):
        Job.objects.filter(pk=job.pk).update(progress=10)
    claimed = {row[0]: row[1] for row in sql.claim("twin", QUEUES, 2)}
    now = timezone.now()
    fast_job = Job.objects.get(pk=fast.pk)
    params = sql.succeed_parameters(fast_job, str(claimed[fast.pk]), {"sum": 3}, 0.5, now)
    with connection.cursor() as cursor:
        cursor.execute(sql.SUCCEED_SQL, params)
        assert cursor.fetchone() is not None
    slow_job = Job.objects.get(pk=slow.pk)
    sql.succeed_portable(slow_job, {"now": now, "reason": params["reason"], "stored": {"sum": 3}}, {})
    a, b = Job.objects.get(pk=fast.pk), Job.objects.get(pk=slow.pk)
    columns = (
        "state",
        "state_reason",
        "state_changed_at",
        "expires_at",
        "finished_at",
        "fetch_token",
        "lease_until",
        "worker_pid",
        "result",
        "progress",
    )
    assert [getattr(a, c) for c in columns] == [getattr(b, c) for c in columns]
    assert a.progress == 100 and a.result == {"sum": 3} and a.expires_at > now


def test_statements_name_tables_and_states_from_the_models():
    for statement in (sql.CLAIM_SQL, sql.START_SQL, sql.SUCCEED_SQL, sql.SUCCEED_AND_CLAIM_SQL):
        assert f'"{Job._meta.db_table}"' in statement
    assert f"'{State.PROCESSING.value}'" in sql.START_SQL
    assert f'"{JobState._meta.db_table}"' in sql.SUCCEED_SQL


# --- Batches and servers -------------------------------------------------------------------------------


def test_the_batch_machine_refuses_what_it_does_not_allow():
    from jobs import batches
    from jobs.models import BatchState

    assert batches.BATCH_ALLOWED[BatchState.SUCCEEDED] == set()
    with pytest.raises(batches.InvalidBatchTransition):
        batches.set_batch_state(None, BatchState.CANCELLED, BatchState.STARTED)


def test_server_status_comes_from_django_q_and_the_reaper():
    from jobs.models import ServerStatus

    assert states.server_status_for("Stopping") == ServerStatus.STOPPING
    assert states.server_status_for("Idle") == ServerStatus.RUNNING
    old = timezone.now() - datetime.timedelta(minutes=5)
    Server.objects.create(id="quiet", host="h", pid=1, started_at=old, heartbeat_at=old)
    assert states.mark_dead_servers(timezone.now()) == 1
    assert Server.objects.get(pk="quiet").status == ServerStatus.DEAD
    states.mark_stopped("quiet")
    assert Server.objects.get(pk="quiet").status == ServerStatus.STOPPED
