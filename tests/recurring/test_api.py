"""The recurring-job API: add_or_update (idempotent upsert), remove, trigger, enable, disable,
and the refusal of bad declarations (a clear error naming the culprit, nothing written)."""

from datetime import UTC, datetime, timedelta

import pytest

from jobs import api, recurring
from jobs.models import Job, JobState, Misfire, RecurringJob, State
from jobs.recurring import Cron, InvalidSchedule, Recurring, RecurringJobNotFound
from tests.recurring.tasks import not_a_task, tick, urgent

pytestmark = pytest.mark.django_db

NOW = datetime(2027, 3, 10, 12, 0, 20, tzinfo=UTC)  # 17:30:20 in Kolkata


def test_add_creates_the_job_with_its_next_run_in_its_zone():
    row = recurring.add_or_update(
        "report", tick, Cron.daily(hour=2), args=["r"], tz="America/New_York", now=NOW
    )
    assert row.task_path == "tests.recurring.tasks.tick"
    assert (row.args, row.kwargs, row.cron, row.timezone) == (["r"], {}, "0 2 * * *", "America/New_York")
    assert row.queue == "default"  # the task's own queue
    assert row.enabled and row.misfire == Misfire.RELAXED
    assert row.next_run_at == datetime(2027, 3, 11, 7, 0, tzinfo=UTC)  # 02:00 EST
    assert row.last_run_at is None and row.last_job is None


def test_defaults_are_the_settings_zone_and_the_tasks_queue(settings):
    row = recurring.add_or_update("urgent-note", urgent, Cron.hourly(), kwargs={"note": "x"}, now=NOW)
    assert row.timezone == settings.TIME_ZONE == "Asia/Kolkata"
    assert row.queue == "critical"
    assert row.next_run_at == datetime(2027, 3, 10, 12, 30, tzinfo=UTC)  # 18:00 IST


def test_add_or_update_is_idempotent_and_keeps_the_next_run():
    first = recurring.add_or_update("report", tick, "0 2 * * *", args=["r"], now=NOW)
    later = NOW + timedelta(days=3)
    again = recurring.add_or_update(
        "report", "tests.recurring.tasks.tick", " 0  2 * * * ", args=("r",), now=later
    )
    assert again.updated_at == first.updated_at
    assert again.next_run_at == first.next_run_at
    assert RecurringJob.objects.count() == 1


def test_update_recomputes_the_next_run_only_when_the_schedule_changes():
    first = recurring.add_or_update("report", tick, Cron.daily(hour=2), args=["r"], now=NOW)
    later = NOW + timedelta(hours=1)
    changed_args = recurring.add_or_update("report", tick, Cron.daily(hour=2), args=["s"], now=later)
    assert changed_args.args == ["s"] and changed_args.next_run_at == first.next_run_at
    moved = recurring.add_or_update("report", tick, Cron.daily(hour=20), args=["s"], now=later)
    assert moved.next_run_at == datetime(2027, 3, 10, 14, 30, tzinfo=UTC)  # today 20:00 IST
    rezoned = recurring.add_or_update("report", tick, Cron.daily(hour=20), args=["s"], tz="UTC", now=later)
    assert rezoned.next_run_at == datetime(2027, 3, 10, 20, 0, tzinfo=UTC)
    queued = recurring.add_or_update(
        "report",
        tick,
        Cron.daily(hour=20),
        args=["s"],
        tz="UTC",
        queue="low-priority",
        misfire="strict",
        now=later,
    )
    assert (queued.queue, queued.misfire, queued.next_run_at) == (
        "low-priority",
        "strict",
        rezoned.next_run_at,
    )


def test_enabled_none_keeps_the_operators_choice():
    recurring.add_or_update("report", tick, Cron.daily(hour=2), args=["r"], now=NOW)
    recurring.disable("report")
    kept = recurring.add_or_update("report", tick, Cron.daily(hour=3), args=["r"], now=NOW)
    assert not kept.enabled and kept.next_run_at is None and kept.cron == "0 3 * * *"
    switched_on = recurring.add_or_update(
        "report", tick, Cron.daily(hour=3), args=["r"], enabled=True, now=NOW
    )
    assert switched_on.enabled and switched_on.next_run_at == datetime(2027, 3, 10, 21, 30, tzinfo=UTC)
    off = recurring.add_or_update("report", tick, Cron.daily(hour=3), args=["r"], enabled=False, now=NOW)
    assert not off.enabled and off.next_run_at is None


def test_a_new_job_can_start_disabled():
    row = recurring.add_or_update("report", tick, Cron.daily(hour=2), args=["r"], enabled=False, now=NOW)
    assert not row.enabled and row.next_run_at is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"cron": "61 * * * *"}, r"'report'.*Invalid cron expression '61 \* \* \* \*': bad minute"),
        ({"cron": "0 0 30 2 *"}, r"'report'.*bad day-of-month"),
        ({"cron": "*/5 * * * * *"}, r"'report'.*five fields"),
        ({"tz": "Asia/Calcutta-ish"}, r"'report'.*Unknown time zone 'Asia/Calcutta-ish'"),
        ({"task": not_a_task}, r"tests\.recurring\.tasks\.not_a_task is a plain function"),
        ({"task": "tests.recurring.tasks.missing"}, r"'report'.*has no 'missing'"),
        ({"task": "os.system"}, r"'report'.*not a registered task"),
        ({"task": 42}, r"'report'.*42 is not a task"),
        ({"queue": "urgent"}, r"'report'.*unknown queue 'urgent'"),
        ({"misfire": "sometimes"}, r"'report'.*unknown misfire policy 'sometimes'"),
        ({"args": [object()]}, r"'report'.*not JSON"),
        ({"args": "abc"}, r"'report'.*args must be a tuple or list"),
        ({"kwargs": ["x"]}, r"'report'.*kwargs must be a dict"),
        ({"id": "Monthly invoices!"}, r"'Monthly invoices!'.*must be a slug"),
        ({"id": "x" * 101}, r"longer than 100"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(change, message):
    values = {"id": "report", "task": tick, "cron": Cron.daily(hour=2), "args": ["r"], **change}
    with pytest.raises(InvalidSchedule, match=message):
        recurring.add_or_update(values.pop("id"), values.pop("task"), values.pop("cron"), now=NOW, **values)
    assert not RecurringJob.objects.exists()


def test_a_failed_update_leaves_the_existing_row_alone():
    before = recurring.add_or_update("report", tick, Cron.daily(hour=2), args=["r"], now=NOW)
    with pytest.raises(InvalidSchedule):
        recurring.add_or_update("report", tick, "0 2 * *", args=["r"], now=NOW)
    after = RecurringJob.objects.get(pk="report")
    assert (after.cron, after.next_run_at, after.updated_at) == (
        before.cron,
        before.next_run_at,
        before.updated_at,
    )


def test_invalid_schedule_is_a_value_error():
    assert issubclass(InvalidSchedule, ValueError)


def test_recurring_declaration_validates_to_field_values():
    values = Recurring("report", tick, Cron.weekly("friday", 18), args=("r",), tz="UTC").validate()
    assert values == {
        "id": "report",
        "task_path": "tests.recurring.tasks.tick",
        "args": ["r"],
        "kwargs": {},
        "cron": "0 18 * * 5",
        "timezone": "UTC",
        "queue": "default",
        "misfire": "relaxed",
        "enabled": True,
    }


def test_remove_deletes_the_row_and_keeps_its_jobs():
    recurring.add_or_update("report", tick, Cron.daily(hour=2), args=["r"], now=NOW)
    job = recurring.trigger("report", now=NOW)
    assert recurring.remove("report") is True
    assert recurring.remove("report") is False
    assert not RecurringJob.objects.exists()
    assert Job.objects.get(pk=job.pk).recurring_job is None


def test_trigger_creates_a_job_now_and_keeps_the_next_run():
    row = recurring.add_or_update("urgent-note", urgent, Cron.daily(hour=2), kwargs={"note": "n"}, now=NOW)
    job = recurring.trigger("urgent-note", now=NOW)
    assert (job.state, job.queue, job.task_path) == (
        State.ENQUEUED,
        "critical",
        "tests.recurring.tasks.urgent",
    )
    assert (job.args, job.kwargs, job.recurring_job_id) == ([], {"note": "n"}, "urgent-note")
    assert JobState.objects.get(job=job).reason == "Triggered from recurring job 'urgent-note'"
    after = RecurringJob.objects.get(pk="urgent-note")
    assert after.next_run_at == row.next_run_at
    assert after.last_run_at == NOW and after.last_job_id == job.pk


def test_trigger_uses_the_rows_queue_and_works_when_disabled():
    recurring.add_or_update("report", tick, Cron.daily(hour=2), args=["r"], queue="low-priority", now=NOW)
    recurring.disable("report")
    job = recurring.trigger("report", now=NOW)
    assert job.queue == "low-priority"
    assert RecurringJob.objects.get(pk="report").next_run_at is None


def test_trigger_of_a_task_that_no_longer_exists_says_so():
    RecurringJob.objects.create(id="gone", task_path="tests.recurring.tasks.gone", cron="0 2 * * *")
    with pytest.raises(InvalidSchedule, match="'gone' cannot run"):
        recurring.trigger("gone", now=NOW)
    assert not Job.objects.exists()


def test_disable_keeps_the_row_and_enable_starts_from_now():
    recurring.add_or_update("report", tick, Cron.daily(hour=2), args=["r"], now=NOW)
    off = recurring.disable("report")
    assert not off.enabled and off.next_run_at is None
    assert RecurringJob.objects.filter(pk="report", enabled=False).exists()
    a_week_later = NOW + timedelta(days=7)
    on = recurring.enable("report", now=a_week_later)
    assert on.enabled and on.next_run_at == datetime(2027, 3, 17, 20, 30, tzinfo=UTC)  # 02:00 IST on the 18th
    # Enabling what is enabled changes nothing (a due run is not pushed back).
    assert recurring.enable("report", now=a_week_later + timedelta(days=1)).next_run_at == on.next_run_at


def test_unknown_ids_are_reported():
    for operation in (recurring.trigger, recurring.enable, recurring.disable):
        with pytest.raises(RecurringJobNotFound, match="no recurring job 'nope'"):
            operation("nope")


def test_the_api_is_reexported_by_jobs_api():
    assert api.add_or_update is recurring.add_or_update
    assert {api.remove, api.trigger, api.enable, api.disable} == {
        recurring.remove,
        recurring.trigger,
        recurring.enable,
        recurring.disable,
    }
