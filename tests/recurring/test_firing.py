"""The firing step: due rows become jobs exactly once, misfire policies after an outage, and
recurring jobs whose task or schedule went bad do not stop the others."""

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from jobs import recurring
from jobs.models import Job, JobState, Misfire, RecurringJob, State
from jobs.recurring import Cron, fire_due_recurring_jobs

T0 = datetime(2027, 6, 1, 9, 0, tzinfo=UTC)
NEW_YORK = ZoneInfo("America/New_York")


def make(id="tick", cron="*/10 * * * *", *, next_run_at=T0, misfire=Misfire.RELAXED, tz="UTC", **fields):
    fields.setdefault("task_path", "tests.recurring.tasks.tick")
    fields.setdefault("args", [id])
    return RecurringJob.objects.create(
        id=id, cron=cron, timezone=tz, misfire=misfire, next_run_at=next_run_at, **fields
    )


def reasons(row_id):
    return list(
        JobState.objects.filter(job__recurring_job_id=row_id)
        .order_by("created_at", "id")
        .values_list("reason", flat=True)
    )


@pytest.mark.django_db
def test_nothing_due_costs_one_query(django_assert_num_queries):
    make(next_run_at=T0 + timedelta(minutes=10))
    make("off", enabled=False, next_run_at=T0 - timedelta(days=1))
    with django_assert_num_queries(1):
        assert fire_due_recurring_jobs(T0) == 0


@pytest.mark.django_db
def test_a_due_job_fires_once_and_moves_to_the_next_run():
    make(kwargs={}, queue="default")
    now = T0 + timedelta(milliseconds=300)
    assert fire_due_recurring_jobs(now) == 1
    job = Job.objects.get()
    assert (job.task_path, job.args, job.queue, job.state) == (
        "tests.recurring.tasks.tick",
        ["tick"],
        "default",
        State.ENQUEUED,
    )
    assert job.recurring_job_id == "tick" and job.created_at == now
    row = RecurringJob.objects.get()
    assert row.next_run_at == T0 + timedelta(minutes=10)
    assert (row.last_run_at, row.last_job_id, row.last_error) == (now, job.pk, "")
    assert reasons("tick") == ["Recurring job 'tick', run of 2027-06-01 09:00 UTC"]
    # The same moment again, or a little later: nothing more.
    assert fire_due_recurring_jobs(now) == 0
    assert fire_due_recurring_jobs(T0 + timedelta(minutes=9, seconds=59)) == 0
    assert fire_due_recurring_jobs(T0 + timedelta(minutes=10)) == 1
    assert Job.objects.count() == 2


@pytest.mark.django_db
def test_the_job_goes_to_the_rows_queue_with_its_arguments():
    make(task_path="tests.recurring.tasks.urgent", args=[], kwargs={"note": "n"}, queue="low-priority")
    fire_due_recurring_jobs(T0)
    job = Job.objects.get()
    assert (job.queue, job.args, job.kwargs) == ("low-priority", [], {"note": "n"})


@pytest.mark.django_db
def test_disabled_and_future_jobs_do_not_fire():
    make("off", enabled=False)
    make("later", next_run_at=T0 + timedelta(seconds=1))
    assert fire_due_recurring_jobs(T0) == 0
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_relaxed_makes_one_job_however_many_runs_were_missed():
    make()  # every 10 minutes, due at 09:00; the servers were down until 11:05
    now = T0 + timedelta(hours=2, minutes=5)
    assert fire_due_recurring_jobs(now) == 1
    row = RecurringJob.objects.get()
    assert row.next_run_at == T0 + timedelta(hours=2, minutes=10)
    assert reasons("tick") == [
        "Recurring job 'tick', run of 2027-06-01 11:00 UTC (13 missed run(s) since 2027-06-01 09:00 UTC, one job)"
    ]
    assert fire_due_recurring_jobs(now + timedelta(minutes=1)) == 0


@pytest.mark.django_db
def test_relaxed_after_a_long_outage_runs_the_latest_run():
    make(cron=Cron.minutely())  # a month down: 43,200 runs missed
    now = T0 + timedelta(days=30, seconds=20)
    assert fire_due_recurring_jobs(now) == 1
    assert reasons("tick") == [
        "Recurring job 'tick', run of 2027-07-01 09:00 UTC (at least 100 missed run(s) since 2027-06-01 09:00 UTC, one job)"
    ]
    assert RecurringJob.objects.get().next_run_at == T0 + timedelta(days=30, minutes=1)


@pytest.mark.django_db
def test_strict_makes_one_job_per_missed_run():
    make(misfire=Misfire.STRICT)
    now = T0 + timedelta(hours=1)  # 09:00 … 10:00: seven runs, the last one on time
    assert fire_due_recurring_jobs(now) == 7
    assert reasons("tick") == [
        *(f"Recurring job 'tick', run of 2027-06-01 09:{m}0 UTC (missed)" for m in range(6)),
        "Recurring job 'tick', run of 2027-06-01 10:00 UTC",
    ]
    row = RecurringJob.objects.get()
    assert row.next_run_at == T0 + timedelta(hours=1, minutes=10) and row.last_error == ""
    assert row.last_job_id == JobState.objects.get(reason__endswith="10:00 UTC").job_id


@pytest.mark.django_db
def test_strict_stops_at_its_cap_and_says_so(settings):
    settings.DHANMAN_JOBS = {**settings.DHANMAN_JOBS, "RECURRING_STRICT_MISFIRE_CAP": 5}
    make(misfire=Misfire.STRICT)
    now = T0 + timedelta(days=2)
    assert fire_due_recurring_jobs(now) == 5
    row = RecurringJob.objects.get()
    assert row.next_run_at == now + timedelta(minutes=10)
    assert "More than 5 runs were missed since 2027-06-01 09:00 UTC" in row.last_error
    assert reasons("tick")[0] == "Recurring job 'tick', run of 2027-06-01 09:00 UTC (missed)"


@pytest.mark.django_db
def test_ignore_drops_missed_runs_and_waits_for_the_next():
    make(misfire=Misfire.IGNORE)
    now = T0 + timedelta(hours=2, minutes=5)
    assert fire_due_recurring_jobs(now) == 0
    row = RecurringJob.objects.get()
    assert row.next_run_at == T0 + timedelta(hours=2, minutes=10) and row.last_job is None
    # A run found on time still fires, even when earlier ones were missed.
    assert fire_due_recurring_jobs(row.next_run_at + timedelta(seconds=2)) == 1
    RecurringJob.objects.update(next_run_at=T0)
    assert fire_due_recurring_jobs(T0 + timedelta(days=3, seconds=2)) == 1
    assert reasons("tick")[-1] == "Recurring job 'tick', run of 2027-06-04 09:00 UTC"


@pytest.mark.django_db
def test_the_misfire_grace_decides_what_was_missed(settings):
    settings.DHANMAN_JOBS = {**settings.DHANMAN_JOBS, "RECURRING_MISFIRE_GRACE_SECONDS": 5}
    make(misfire=Misfire.IGNORE)
    assert fire_due_recurring_jobs(T0 + timedelta(seconds=6)) == 0
    make("again", misfire=Misfire.IGNORE)
    assert fire_due_recurring_jobs(T0 + timedelta(seconds=5)) == 1


@pytest.mark.django_db
def test_a_task_that_no_longer_exists_is_recorded_and_the_others_still_fire():
    make("gone", task_path="tests.recurring.tasks.removed_last_release")
    make("fine")
    assert fire_due_recurring_jobs(T0) == 1
    gone = RecurringJob.objects.get(pk="gone")
    assert "removed_last_release" in gone.last_error and "No job was created" in gone.last_error
    assert gone.next_run_at == T0 + timedelta(minutes=10) and gone.last_job is None
    assert Job.objects.get().recurring_job_id == "fine"
    # Once the task is back (here: the row is pointed at one), the error clears.
    RecurringJob.objects.filter(pk="gone").update(task_path="tests.recurring.tasks.tick")
    assert fire_due_recurring_jobs(T0 + timedelta(minutes=10)) == 2
    assert RecurringJob.objects.get(pk="gone").last_error == ""


@pytest.mark.django_db
def test_an_unusable_schedule_takes_the_row_out_of_the_due_set():
    make("bad-cron", cron="every tuesday")
    make("bad-zone", tz="Mars/Olympus")
    assert fire_due_recurring_jobs(T0) == 0
    for row in RecurringJob.objects.all():
        assert row.next_run_at is None and "not scheduled until its schedule is fixed" in row.last_error
    assert fire_due_recurring_jobs(T0 + timedelta(days=1)) == 0


@pytest.mark.django_db
def test_an_unexpected_error_in_one_row_is_kept_and_does_not_stop_the_others(monkeypatch):
    make("poisoned")
    make("fine")
    real_plan = recurring._plan

    def plan_with_a_bug(row, now):  # fault injection: a bug that only this row meets
        if row.id == "poisoned":
            raise RuntimeError("a bug")
        return real_plan(row, now)

    monkeypatch.setattr(recurring, "_plan", plan_with_a_bug)
    assert fire_due_recurring_jobs(T0) == 1
    poisoned = RecurringJob.objects.get(pk="poisoned")
    assert poisoned.last_error == "Firing failed: RuntimeError: a bug"
    assert poisoned.next_run_at == T0 + timedelta(minutes=10)
    assert list(Job.objects.values_list("recurring_job_id", flat=True)) == ["fine"]


@pytest.mark.django_db
def test_next_due_at_is_the_earliest_enabled_run():
    make("a", next_run_at=T0 + timedelta(minutes=5))
    make("b", next_run_at=T0 + timedelta(minutes=2))
    make("off", next_run_at=T0, enabled=False)
    assert recurring.next_due_at() == T0 + timedelta(minutes=2)


@pytest.mark.django_db
def test_limit_bounds_one_call():
    for n in range(5):
        make(f"job-{n}")
    assert fire_due_recurring_jobs(T0, limit=3) == 3
    assert fire_due_recurring_jobs(T0, limit=3) == 2


def poll_every_ten_minutes(start, end):
    """What a server does all day (the firing step), on real time: in UTC, because adding
    minutes to a New York datetime is wall-clock arithmetic and would skip the repeated hour."""
    at, end = start.astimezone(UTC), end.astimezone(UTC)
    while at <= end:
        fire_due_recurring_jobs(at)
        at += timedelta(minutes=10)


def fired_at(row_id):
    return [
        f"{job.created_at.astimezone(NEW_YORK):%Y-%m-%d %H:%M %Z}"
        for job in Job.objects.filter(recurring_job_id=row_id).order_by("created_at")
    ]


@pytest.mark.django_db
def test_new_york_daily_jobs_fire_once_on_both_daylight_saving_days():
    start = datetime(2027, 3, 13, 23, 0, tzinfo=NEW_YORK)
    recurring.add_or_update(
        "two-thirty",
        "tests.recurring.tasks.tick",
        Cron.daily(hour=2, minute=30),
        args=["a"],
        tz="America/New_York",
        now=start,
    )
    recurring.add_or_update(
        "one-thirty",
        "tests.recurring.tasks.tick",
        Cron.daily(hour=1, minute=30),
        args=["b"],
        tz="America/New_York",
        now=start,
    )
    poll_every_ten_minutes(start, datetime(2027, 3, 14, 23, 0, tzinfo=NEW_YORK))
    assert fired_at("two-thirty") == ["2027-03-14 03:00 EDT"]
    assert fired_at("one-thirty") == ["2027-03-14 01:30 EST"]

    Job.objects.all().delete()
    start = datetime(2027, 11, 6, 23, 0, tzinfo=NEW_YORK)
    for row_id in ("two-thirty", "one-thirty"):
        recurring.disable(row_id)
        recurring.enable(row_id, now=start)
    poll_every_ten_minutes(start, datetime(2027, 11, 7, 23, 0, tzinfo=NEW_YORK))
    assert fired_at("two-thirty") == ["2027-11-07 02:30 EST"]
    assert fired_at("one-thirty") == ["2027-11-07 01:30 EDT"]


# --- Many servers at once ------------------------------------------------------------------------


def fire_from_threads(count, now):
    """`count` threads, each with its own database connection, fire at the same moment."""
    barrier = threading.Barrier(count)
    created, errors = [], []

    def server():
        try:
            barrier.wait(10)
            created.append(fire_due_recurring_jobs(now))
        except Exception as exc:  # reported by the test below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=server) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    return created


@pytest.mark.django_db(transaction=True)
def test_concurrent_servers_fire_each_run_exactly_once():
    for n in range(10):
        make(f"relaxed-{n}")
        make(f"strict-{n}", misfire=Misfire.STRICT)
    now = T0 + timedelta(minutes=30)  # relaxed: one job each; strict: 09:00, :10, :20, :30
    created = fire_from_threads(8, now)
    assert sum(created) == Job.objects.count() == 10 * 1 + 10 * 4
    for n in range(10):
        assert Job.objects.filter(recurring_job_id=f"relaxed-{n}").count() == 1
        assert len(set(reasons(f"strict-{n}"))) == len(reasons(f"strict-{n}")) == 4
    assert set(RecurringJob.objects.values_list("next_run_at", flat=True)) == {T0 + timedelta(minutes=40)}
    # Again, with every server a little later: each row fires its next run once more.
    assert sum(fire_from_threads(8, T0 + timedelta(minutes=40, seconds=1))) == 20
