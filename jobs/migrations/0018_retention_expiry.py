# Written by hand (makemigrations --empty): a data migration, no schema change.

from datetime import timedelta

from django.db import migrations
from django.db.models import DateTimeField, ExpressionWrapper, F, Value

# Rows updated per statement: each is its own short UPDATE, whatever the table's size.
CHUNK = 10_000


def settings_keep_seconds(state: str):
    """The settings' keep-time of `state` as retention policies read it today (jobs/conf.py):
    Succeeded and Deleted follow EXPIRATION_SECONDS when not set; Failed is kept when not set."""
    from jobs.conf import jobs_settings

    return getattr(jobs_settings, f"RETENTION_{state.upper()}")


def give_finished_jobs_an_expiry(apps, schema_editor):
    """Jobs that finished before retention policies existed get their expiry from the rule in
    force then: their state change + the keep-time of their state. A Succeeded or Deleted job
    already had one (kept as is); a Failed job gets one only when RETENTION_FAILED is set."""
    Job = apps.get_model("jobs", "Job")
    for state in ("succeeded", "deleted", "failed"):
        seconds = settings_keep_seconds(state)
        if seconds is None:
            continue
        expiry = ExpressionWrapper(
            F("state_changed_at") + Value(timedelta(seconds=seconds)), output_field=DateTimeField()
        )
        while True:
            ids = list(
                Job.objects.filter(state=state, expires_at__isnull=True).values_list("id", flat=True)[:CHUNK]
            )
            if not ids:
                break
            Job.objects.filter(pk__in=ids).update(expires_at=expiry)


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0017_performance_and_failure_groups"),
    ]

    operations = [
        migrations.RunPython(give_finished_jobs_an_expiry, migrations.RunPython.noop, elidable=True),
    ]
