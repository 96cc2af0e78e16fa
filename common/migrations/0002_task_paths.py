"""Stored task paths follow the common service's tasks from jobs.tasks to common.tasks.

Recurring jobs seeded before the move, and jobs enqueued before it (waiting, scheduled, failed
and kept for a retry, or finished and shown in the console), name their task by dotted path. A
worker resolves that path at run time, so a row still naming `jobs.tasks.x` would fail with
UnknownTask. The six paths are rewritten in both directions; nothing else is touched.
"""

from django.db import migrations

TASKS = [
    "sync_auth0_users",
    "cleanup_expired_tokens",
    "generate_system_health_report",
    "generate_daily_reports",
    "cleanup_old_logs",
    "database_backup",
]


def _rewrite(apps, old_module, new_module):
    for model in ("RecurringJob", "Job"):
        manager = apps.get_model("jobs", model).objects
        for name in TASKS:
            manager.filter(task_path=f"{old_module}.{name}").update(task_path=f"{new_module}.{name}")


def forwards(apps, schema_editor):
    _rewrite(apps, "jobs.tasks", "common.tasks")


def backwards(apps, schema_editor):
    _rewrite(apps, "common.tasks", "jobs.tasks")


class Migration(migrations.Migration):

    dependencies = [
        ('common', '0001_initial'),
        ('jobs', '0006_finished_counts'),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
    ]
