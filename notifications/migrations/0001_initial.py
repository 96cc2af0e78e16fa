"""The outbox model, moved from the jobs app without touching data.

The table keeps its name, jobs_outboxmessage (Meta.db_table); jobs 0009 removes the model from
the jobs app's state."""

import django.utils.timezone
from django.db import migrations, models


MOVED = ['outboxmessage']


def relabel_content_types(apps, schema_editor):
    """Permissions and admin log entries point at content types: give the moved models' rows
    the new app label instead of leaving them stale and creating new ones."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    for model in MOVED:
        if not ContentType.objects.using(db).filter(app_label="notifications", model=model).exists():
            ContentType.objects.using(db).filter(app_label="jobs", model=model).update(app_label="notifications")


def unlabel_content_types(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    for model in MOVED:
        if not ContentType.objects.using(db).filter(app_label="jobs", model=model).exists():
            ContentType.objects.using(db).filter(app_label="notifications", model=model).update(app_label="jobs")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('jobs', '0002_common_models'),
        ('contenttypes', '0002_remove_content_type_name'),
    ]

    operations = [
        # The tables exist (jobs 0002 created them, under these names): only the state moves.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='OutboxMessage',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('dedup_key', models.CharField(max_length=200, unique=True)),
                        ('recipient', models.CharField(max_length=254)),
                        ('channel', models.CharField(choices=[('email', 'Email')], default='email', max_length=20)),
                        ('subject', models.CharField(max_length=300)),
                        ('body', models.TextField()),
                        ('status', models.CharField(choices=[('pending', 'Pending'), ('sent', 'Sent'), ('failed', 'Failed')], default='pending', max_length=10)),
                        ('attempts', models.PositiveIntegerField(default=0)),
                        ('last_error', models.TextField(blank=True)),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('sent_at', models.DateTimeField(blank=True, null=True)),
                    ],
                    options={
                        'db_table': 'jobs_outboxmessage',
                        'ordering': ['-created_at'],
                        'indexes': [models.Index(fields=['status', 'created_at'], name='outbox_status_idx')],
                        'constraints': [models.CheckConstraint(condition=models.Q(models.Q(('sent_at__isnull', False), ('status', 'sent')), models.Q(('status', 'sent'), _negated=True), _connector='OR'), name='outbox_sent_has_sent_at')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(relabel_content_types, unlabel_content_types),
    ]
