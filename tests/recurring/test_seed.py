"""`manage.py seed_recurring_jobs`: declarations as data, upserted all or nothing."""

from io import StringIO
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from jobs import recurring
from jobs.management.commands import seed_recurring_jobs as command
from jobs.models import RecurringJob
from jobs.recurring import Cron, InvalidSchedule, Recurring, collect_declarations, validate_declarations
from tests.recurring.fakeapps.billing import schedules as billing
from tests.recurring.tasks import tick

pytestmark = pytest.mark.django_db

# Stand-in apps: two with a schedules.py, one without (skipped).
FAKE_APPS = [
    SimpleNamespace(name=f"tests.recurring.fakeapps.{name}") for name in ("billing", "plain", "stock")
]
DECLARED = ["fake-daily-report", "fake-hourly-check", "fake-month-end"]


@pytest.fixture
def fake_apps(monkeypatch):
    """The command collects from the stand-in apps instead of INSTALLED_APPS."""
    monkeypatch.setattr(command, "collect_declarations", lambda: collect_declarations(FAKE_APPS))


def seed(*options):
    out = StringIO()
    call_command("seed_recurring_jobs", *options, stdout=out)
    return out.getvalue()


def test_collects_every_apps_declarations_and_skips_apps_without_schedules():
    found = collect_declarations(FAKE_APPS)
    assert [(module, declaration.id) for module, declaration in found] == [
        ("tests.recurring.fakeapps.billing.schedules", "fake-daily-report"),
        ("tests.recurring.fakeapps.billing.schedules", "fake-hourly-check"),
        ("tests.recurring.fakeapps.stock.schedules", "fake-month-end"),
    ]


def test_first_run_creates_and_second_run_changes_nothing(fake_apps):
    out = seed()
    assert "created: 3 (fake-daily-report, fake-hourly-check, fake-month-end)" in out
    assert "updated: 0\nunchanged: 0\nremoved: 0" in out
    rows = {row.id: row for row in RecurringJob.objects.all()}
    assert sorted(rows) == DECLARED
    assert (rows["fake-hourly-check"].queue, rows["fake-hourly-check"].timezone) == (
        "critical",
        "America/New_York",
    )
    assert rows["fake-month-end"].cron == "0 23 L * *" and rows["fake-month-end"].next_run_at is not None
    stamps = {row.id: (row.updated_at, row.next_run_at) for row in rows.values()}

    out = seed()
    assert (
        "created: 0\nupdated: 0\nunchanged: 3 (fake-daily-report, fake-hourly-check, fake-month-end)" in out
    )
    assert {row.id: (row.updated_at, row.next_run_at) for row in RecurringJob.objects.all()} == stamps


def test_a_changed_declaration_is_updated(fake_apps, monkeypatch):
    seed()
    before = RecurringJob.objects.get(pk="fake-daily-report")
    monkeypatch.setattr(
        billing,
        "RECURRING",
        [
            Recurring("fake-daily-report", tick, Cron.daily(hour=4), args=("daily-report",)),
            billing.RECURRING[1],
        ],
    )
    out = seed()
    assert "updated: 1 (fake-daily-report)" in out and "unchanged: 2" in out
    after = RecurringJob.objects.get(pk="fake-daily-report")
    assert after.cron == "0 4 * * *" and after.next_run_at != before.next_run_at


def test_undeclared_jobs_are_kept_unless_pruned(fake_apps):
    recurring.add_or_update("retired-job", tick, Cron.daily(), args=["x"])
    out = seed()
    assert "not declared in any schedules.py (kept; --prune removes them): retired-job" in out
    assert RecurringJob.objects.filter(pk="retired-job").exists()
    out = seed("--prune")
    assert "removed: 1 (retired-job)" in out
    assert sorted(RecurringJob.objects.values_list("id", flat=True)) == DECLARED


def test_dry_run_changes_nothing(fake_apps):
    recurring.add_or_update("retired-job", tick, Cron.daily(), args=["x"])
    out = seed("--dry-run", "--prune")
    assert "would be created: 3 (fake-daily-report, fake-hourly-check, fake-month-end)" in out
    assert "would be removed: 1 (retired-job)" in out
    assert "Dry run: nothing was changed." in out
    assert list(RecurringJob.objects.values_list("id", flat=True)) == ["retired-job"]


def test_the_console_switch_survives_a_reseed(fake_apps):
    seed()
    recurring.disable("fake-daily-report")
    out = seed()
    assert "unchanged: 3" in out
    assert not RecurringJob.objects.get(pk="fake-daily-report").enabled


def test_one_invalid_declaration_means_nothing_is_written(fake_apps, monkeypatch):
    recurring.add_or_update("fake-daily-report", tick, Cron.daily(hour=9), args=["old"])
    monkeypatch.setattr(
        billing,
        "RECURRING",
        [
            Recurring("fake-daily-report", tick, Cron.daily(hour=2), args=("daily-report",)),
            Recurring("fake-broken", tick, "0 25 * * *", args=("x",)),
            Recurring("fake-elsewhere", tick, Cron.daily(), tz="Moon/Base"),
        ],
    )
    with pytest.raises(CommandError) as failure:
        seed()
    message = str(failure.value)
    assert "2 invalid recurring job declaration(s); nothing was written" in message
    assert "tests.recurring.fakeapps.billing.schedules: Recurring job 'fake-broken'" in message
    assert "bad hour" in message
    assert "'fake-elsewhere': Unknown time zone 'Moon/Base'" in message
    row = RecurringJob.objects.get()
    assert (row.id, row.args, row.cron) == ("fake-daily-report", ["old"], "0 9 * * *")


def test_duplicate_ids_across_apps_are_refused(fake_apps, monkeypatch):
    monkeypatch.setattr(
        billing,
        "RECURRING",
        [*billing.RECURRING, Recurring("fake-month-end", tick, Cron.daily(), args=("x",))],
    )
    with pytest.raises(CommandError, match="'fake-month-end' is declared twice"):
        seed()
    assert not RecurringJob.objects.exists()


def test_a_schedules_module_must_list_recurring_declarations(monkeypatch):
    monkeypatch.setattr(billing, "RECURRING", [("fake", tick, "* * * * *")])
    with pytest.raises(InvalidSchedule, match="billing.schedules: RECURRING lists .* not a Recurring"):
        collect_declarations(FAKE_APPS)
    monkeypatch.delattr(billing, "RECURRING")
    with pytest.raises(InvalidSchedule, match="billing.schedules has no RECURRING list"):
        collect_declarations(FAKE_APPS)


def test_a_schedules_module_that_fails_to_import_is_named():
    broken = SimpleNamespace(name="tests.recurring.fakeapps.broken")
    with pytest.raises(
        InvalidSchedule, match="tests.recurring.fakeapps.broken.schedules could not be imported"
    ):
        collect_declarations([broken])


def test_validation_reports_every_problem_at_once():
    declared = [
        ("a.schedules", Recurring("one", tick, "bad")),
        ("a.schedules", Recurring("two", "tests.recurring.tasks.not_a_task", Cron.daily())),
        ("b.schedules", Recurring("three", tick, Cron.daily(), queue="bulk")),
    ]
    with pytest.raises(InvalidSchedule) as failure:
        validate_declarations(declared)
    lines = str(failure.value).splitlines()
    assert lines[0] == "3 invalid recurring job declaration(s); nothing was written:"
    assert [line.split(":")[0].strip(" -") for line in lines[1:]] == [
        "a.schedules",
        "a.schedules",
        "b.schedules",
    ]


def test_the_installed_apps_seed_cleanly_and_idempotently():
    """The real INSTALLED_APPS: the jobs app's own expiration job and every context's schedules."""
    first = seed()
    assert RecurringJob.objects.filter(
        pk="expire-finished-jobs", queue="low-priority", cron="*/30 * * * *"
    ).exists()
    assert "created: " in first
    second = seed()
    assert "created: 0\nupdated: 0\n" in second
    assert f"unchanged: {RecurringJob.objects.count()} " in second
