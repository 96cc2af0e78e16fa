"""Flow control in process: unique jobs, concurrency and rate limits held by the claim, queue
pauses, snooze, and the bad input of each (a clear error, nothing written).

The races (many processes, many servers) are in tests/reliability/test_flow_races.py.
"""

from datetime import timedelta

import pytest
from django.tasks import task
from django.tasks.exceptions import InvalidTask
from django.utils import timezone

import jobs.api
from jobs.flow import Concurrency, RateLimit, Snooze, Unique, limit_waiting_reason
from jobs.maintenance import promote_due_jobs
from jobs.models import Job, JobState, QueuePause, State
from jobs.queues import UnknownQueue
from jobs.retry import Retry
from jobs.server.broker import claim_jobs
from tests.jobs.helpers import QUEUES, run_all, run_next
from tests.testapp import tasks
from tests.testapp.models import Attempt

pytestmark = pytest.mark.django_db


# --- Unique ------------------------------------------------------------------------------------


def test_a_duplicate_enqueue_writes_nothing_and_returns_the_live_job():
    first = tasks.unique_noop.enqueue("inv-1")
    second = tasks.unique_noop.enqueue("inv-1", note="again")  # `note` is not part of the key
    other = tasks.unique_noop.enqueue("inv-2")
    assert second.id == first.id and other.id != first.id
    assert Job.objects.count() == 2 and JobState.objects.count() == 2
    job = Job.objects.get(pk=first.id)
    assert job.unique_key == 'tests.testapp.tasks.unique_noop:{"key":"inv-1"}'


def test_the_key_is_free_again_once_the_job_finished():
    first = tasks.unique_noop.enqueue("inv-1")
    run_all()
    assert Job.objects.get(pk=first.id).state == State.SUCCEEDED
    again = tasks.unique_noop.enqueue("inv-1")
    assert again.id != first.id


def test_within_its_period_a_finished_job_still_holds_the_key():
    first = tasks.unique_hourly.enqueue("inv-1")
    run_all()
    assert tasks.unique_hourly.enqueue("inv-1").id == first.id
    assert Job.objects.count() == 1


def test_enqueue_many_skips_duplicates_and_reports_them():
    live = tasks.unique_noop.enqueue("a")
    ids = jobs.api.enqueue_many(tasks.unique_noop, [(("a",), {}), (("b",), {}), (("b",), {}), (("c",), {})])
    assert Job.objects.count() == 3
    assert set(ids.duplicates) == {0, 2}
    assert str(ids[0]) == live.id and ids[2] == ids[1] != ids[3]


def test_a_batch_skips_duplicates_and_counts_only_its_own_jobs():
    tasks.unique_noop.enqueue("a")
    with jobs.api.batch("uniques") as b:
        b.enqueue(tasks.unique_noop, "a")
        b.enqueue(tasks.unique_noop, "b")
    assert [job.unique_key.endswith('"a"}') for job, _ in b.duplicates] == [True]
    assert b.created.total == 1 and Job.objects.filter(batch=b.created).count() == 1


def keyed(key):
    raise RuntimeError("no")


def test_a_retrying_job_still_holds_its_key():
    flaky = task(unique=Unique(keys=("key",)), retry=Retry(attempts=2, delays=(60, 60)))(keyed)
    first = flaky.enqueue("x")
    # As if its first attempt failed and it waits for its retry.
    Job.objects.filter(pk=first.id).update(state=State.SCHEDULED, attempt=1)
    assert flaky.enqueue("x").id == first.id


# --- Concurrency -------------------------------------------------------------------------------


def test_the_claim_holds_a_concurrency_limit_and_takes_the_jobs_behind_it():
    a1 = tasks.mutex_run.enqueue("a", 0)
    a2 = tasks.mutex_run.enqueue("a", 0)
    b1 = tasks.mutex_run.enqueue("b", 0)
    plain = tasks.noop.enqueue()
    claimed = {str(row[0]) for row in claim_jobs(None, QUEUES, 4)}
    assert claimed == {a1.id, b1.id, plain.id}  # a2 waits: group a is at its limit of 1
    job = Job.objects.get(pk=a2.id)
    assert job.state == State.ENQUEUED and job.concurrency_key == "group:a" and job.concurrency_limit == 1
    assert limit_waiting_reason(job) == "waiting: group:a is at its limit of 1"
    assert claim_jobs(None, QUEUES, 4) == []
    # The holder finishes (or is returned by the reaper): the slot is free.
    Job.objects.filter(pk=a1.id).update(state=State.SUCCEEDED)
    assert [str(row[0]) for row in claim_jobs(None, QUEUES, 4)] == [a2.id]


def test_a_limit_of_two_admits_two_in_one_claim():
    ids = [tasks.pair_run.enqueue("g", 0).id for _ in range(3)]
    claimed = [str(row[0]) for row in claim_jobs(None, QUEUES, 4)]
    assert claimed == ids[:2]


# --- Rate limit --------------------------------------------------------------------------------


def test_the_claim_holds_a_rate_limit_on_a_sliding_window():
    ids = [tasks.rate_limited.enqueue(n).id for n in range(12)]
    first = [str(row[0]) for row in claim_jobs(None, QUEUES, 20)]
    assert first == ids[:10]
    assert claim_jobs(None, QUEUES, 20) == []
    waiting = Job.objects.get(pk=ids[10])
    assert limit_waiting_reason(waiting) == "waiting: gateway is at its rate of 10 per 1 s"
    # The window slides: starts older than a second no longer count.
    Job.objects.filter(pk__in=ids[:10]).update(started_at=timezone.now() - timedelta(seconds=1.5))
    assert [str(row[0]) for row in claim_jobs(None, QUEUES, 20)] == ids[10:]


# --- Pause -------------------------------------------------------------------------------------


def test_a_paused_queue_is_not_claimed_and_resume_releases_it(django_user_model):
    user = django_user_model.objects.create(username="ops")
    job = tasks.noop.enqueue()
    critical = tasks.record_critical.enqueue("c")
    jobs.api.pause_queue("default", by=user, reason="month-end run")
    assert [str(row[0]) for row in claim_jobs(None, QUEUES, 4)] == [critical.id]
    info = {q.name: q for q in jobs.api.queues()}
    assert info["default"].paused.reason == "month-end run" and info["default"].paused.paused_by == user
    assert info["default"].paused.by == "ops" and info["default"].paused.since is not None
    assert info["default"].enqueued == 1 and info["critical"].paused is None
    assert jobs.api.resume_queue("default", by=user) is True
    assert [str(row[0]) for row in claim_jobs(None, QUEUES, 4)] == [job.id]


def test_a_pause_with_until_resumes_by_itself():
    job = tasks.noop.enqueue()
    jobs.api.pause_queue("default", reason="brief", until=timezone.now() + timedelta(hours=1))
    assert claim_jobs(None, QUEUES, 4) == []
    QueuePause.objects.update(until=timezone.now() - timedelta(seconds=1))
    assert [str(row[0]) for row in claim_jobs(None, QUEUES, 4)] == [job.id]
    assert jobs.api.queues()[1].paused is None and not QueuePause.objects.exists()


# --- Snooze ------------------------------------------------------------------------------------


def test_a_job_that_snoozes_twice_then_succeeds_has_attempt_1_and_its_snoozes_in_history():
    result = tasks.snooze_twice.enqueue("s")
    for _ in range(3):
        run_next()
        promote_due_jobs(now=timezone.now() + timedelta(seconds=1))
    job = Job.objects.get(pk=result.id)
    assert job.state == State.SUCCEEDED and job.attempt == 1 and job.snoozes == 2 and job.result == 1
    reasons = list(job.history.filter(name=State.SCHEDULED).values_list("reason", flat=True))
    assert reasons == ["Snoozed for 0 s", "Snoozed for 0 s"]
    assert list(Attempt.objects.filter(key="s").values_list("attempt", flat=True)) == [1, 1, 1]


def test_a_snooze_names_its_delay():
    assert str(Snooze(30)) == "Snoozed for 30 s" and Snooze(timedelta(minutes=1)).seconds == 60


def test_snoozing_past_the_cap_fails_the_job(settings):
    settings.DHANMAN_JOBS = {**settings.DHANMAN_JOBS, "MAX_SNOOZES": 2}
    result = tasks.snooze_forever.enqueue()
    for _ in range(3):
        run_next()
        promote_due_jobs(now=timezone.now() + timedelta(seconds=1))
    job = Job.objects.get(pk=result.id)
    assert job.state == State.FAILED and job.state_reason == "Snoozed more than 2 times (JOBS_MAX_SNOOZES)"


# --- Bad input: a clear error, nothing written --------------------------------------------------


def salaries(society_id: int, month: str = ""):
    return None


def _declare(**options):
    return task(**options)(salaries)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: Concurrency(key="society:{society_id}", limit=0),
            "limit must be a whole number of 1 or more",
        ),
        (lambda: RateLimit(key="sms", limit=0), "limit must be a whole number of 1 or more"),
        (lambda: RateLimit(key="sms", limit=10, per=0), "per must be a positive number of seconds"),
        (lambda: RateLimit(key="sms", limit=10, per=-1.0), "per must be a positive number of seconds"),
        (
            lambda: _declare(concurrency=Concurrency(key="society:{society}")),
            "names 'society', which is not a parameter",
        ),
        (lambda: _declare(rate_limit=RateLimit(key="x:{}", limit=1)), "names no parameter"),
        (lambda: _declare(unique=Unique(keys=("invoice_id",))), "Unique keys 'invoice_id' name no parameter"),
        (lambda: _declare(unique=Unique(period=0)), "period must be a positive number"),
        (lambda: _declare(unique=Unique(states=("running",))), "states must be some of"),
        (lambda: _declare(concurrency="society"), "concurrency must be a jobs.flow.Concurrency"),
    ],
)
def test_bad_declarations_are_errors_at_declaration(make, message):
    with pytest.raises(InvalidTask, match=message):
        make()


def test_a_good_declaration_renders_keys_by_parameter_name():
    declared = _declare(concurrency=Concurrency(key="society:{society_id}", limit=1))
    result = declared.enqueue(12, month="2026-12")
    assert Job.objects.get(pk=result.id).concurrency_key == "society:12"


@pytest.mark.parametrize("seconds", [-1, float("nan"), "30"])
def test_a_bad_snooze_is_an_error(seconds):
    with pytest.raises((ValueError, TypeError), match="Snooze"):
        Snooze(seconds)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: jobs.api.pause_queue("nightly", reason="x"), UnknownQueue, "Unknown queue 'nightly'"),
        (lambda: jobs.api.pause_queue("default", reason="  "), ValueError, "needs a reason"),
        (
            lambda: jobs.api.pause_queue("default", reason="x", until=timezone.now() - timedelta(minutes=1)),
            ValueError,
            "must be in the future",
        ),
        (lambda: jobs.api.resume_queue("nightly"), UnknownQueue, "Unknown queue"),
    ],
)
def test_bad_pauses_are_errors_and_write_nothing(call, error, message):
    with pytest.raises(error, match=message):
        call()
    assert not QueuePause.objects.exists()


def test_requeueing_a_job_whose_unique_key_is_held_again_is_a_clear_error():
    first = tasks.unique_noop.enqueue("k")
    jobs.api.delete(first.id)
    second = tasks.unique_noop.enqueue("k")
    with pytest.raises(jobs.api.InvalidOperation, match=f"job {second.id} with the same unique key"):
        jobs.api.requeue(first.id)
    assert Job.objects.get(pk=first.id).state == State.DELETED


def test_the_installed_admission_function_is_the_one_the_claim_expects():
    """The migration froze a copy of jobs.flow's SQL: a change to one without the other (and a
    new migration) would leave databases running another function than the code describes."""
    import importlib

    migration = importlib.import_module("jobs.migrations.0016_flow_control")
    from jobs import flow

    assert migration.ADMIT_FUNCTION_SQL == flow.ADMIT_FUNCTION_SQL
