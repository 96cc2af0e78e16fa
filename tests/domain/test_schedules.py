"""Every recurring job of the old setup is declared and registered with its schedule."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.utils import timezone

from jobs.models import RecurringJob

pytestmark = pytest.mark.django_db

# The seed's tables (and its example configuration), as cron on Asia/Kolkata wall-clock time.
SEED_SCHEDULES = {
    # Common service
    "sync-auth0-users": "0 */6 * * *",
    "cleanup-expired-tokens": "0 3 * * *",
    "generate-system-health-report": "0 8 * * *",
    "generate-daily-reports": "0 2 * * *",
    "cleanup-old-logs": "0 0 * * 0",
    "database-backup": "0 */6 * * *",
    # Sales
    "generate-monthly-invoices": "0 6 1 * *",
    "send-payment-reminders": "0 10 * * *",
    "check-overdue-invoices": "0 * * * *",
    "calculate-late-fees": "0 0 * * *",
    # Purchase
    "send-po-approvals": "0 */2 * * *",
    "check-grn-matching": "0 9 * * *",
    "vendor-payment-reminders": "0 9 * * 1",
    # Payroll
    "process-monthly-salaries": "0 23 L * *",
    "generate-payslips": "0 0 1 * *",
    "statutory-compliance-report": "0 6 2 * *",
    "attendance-summary": "0 18 * * *",
    # Community
    "send-event-reminders": "0 8 * * *",
    "expire-visitor-passes": "*/30 * * * *",
    "maintenance-request-escalation": "0 */4 * * *",
    # Inventory
    "check-low-stock-alerts": "0 9 * * *",
    "generate-stock-report": "0 17 * * 5",
    "expire-items-check": "0 0 * * *",
}


def test_seed_recurring_jobs_registers_all_23_with_the_seeds_schedules():
    assert len(SEED_SCHEDULES) == 23
    call_command("seed_recurring_jobs")
    rows = {job.id: job for job in RecurringJob.objects.filter(id__in=SEED_SCHEDULES)}
    assert {job_id: row.cron for job_id, row in rows.items()} == SEED_SCHEDULES
    assert {row.timezone for row in rows.values()} == {"Asia/Kolkata"}
    assert all(row.enabled and row.next_run_at for row in rows.values())
    assert rows["generate-monthly-invoices"].task_path == "sales.tasks.generate_monthly_invoices"
    assert rows["check-overdue-invoices"].queue == "default"
    assert rows["cleanup-old-logs"].queue == "low-priority"
    # The engine's own housekeeping entry is still there beside them.
    assert RecurringJob.objects.filter(id="expire-finished-jobs").exists()


def test_the_monthly_invoices_run_at_six_in_the_morning_india_time_on_the_first():
    call_command("seed_recurring_jobs")
    next_run = RecurringJob.objects.get(id="generate-monthly-invoices").next_run_at
    local = next_run.astimezone(ZoneInfo("Asia/Kolkata"))
    assert (local.day, local.hour, local.minute) == (1, 6, 0)
    assert local > timezone.now().astimezone(ZoneInfo("Asia/Kolkata"))
    salaries = RecurringJob.objects.get(id="process-monthly-salaries").next_run_at.astimezone(
        ZoneInfo("Asia/Kolkata")
    )
    tomorrow = (salaries + timedelta(days=1)).day
    assert (salaries.hour, tomorrow) == (23, 1)  # the last day of its month, 23:00


def test_seeding_twice_changes_nothing():
    call_command("seed_recurring_jobs")
    before = list(RecurringJob.objects.values_list("id", "cron", "next_run_at", "updated_at"))
    call_command("seed_recurring_jobs")
    assert list(RecurringJob.objects.values_list("id", "cron", "next_run_at", "updated_at")) == before
