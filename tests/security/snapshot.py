"""What "the database is unchanged" means in the security tests: every row of the job system
(states, counters, schedules included) and the row counts of every domain table."""

from django.apps import apps

from jobs.models import Alert, Batch, Job, JobState, RecurringJob

DOMAIN_APPS = ("sales", "purchase", "payroll", "community", "inventory", "testapp")


def database_snapshot() -> dict:
    counts = {}
    for label in DOMAIN_APPS:
        try:
            models = apps.get_app_config(label).get_models()
        except LookupError:
            continue
        for model in models:
            counts[model._meta.label] = model.objects.count()
    return {
        "jobs": sorted(
            Job.objects.values_list("id", "state", "attempt", "cancel_requested", "run_at", "expires_at")
        ),
        "history": JobState.objects.count(),
        "alerts": sorted(
            Alert.objects.values_list("id", "acknowledged_at", "resolved_at", "acknowledge_reason")
        ),
        "batches": sorted(
            Batch.objects.values_list("id", "state", "total", "succeeded", "failed", "deleted")
        ),
        "recurring": sorted(
            RecurringJob.objects.values_list(
                "id", "enabled", "cron", "timezone", "next_run_at", "last_run_at", "args"
            )
        ),
        "counts": counts,
    }
