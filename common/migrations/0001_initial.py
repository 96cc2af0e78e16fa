"""The common service's models, moved from the jobs app without touching data.

The tables keep their jobs_* names (Meta.db_table); jobs 0009 removes the models from the
jobs app's state."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


MOVED = ['refreshtoken', 'externalidentity']


def relabel_content_types(apps, schema_editor):
    """Permissions and admin log entries point at content types: give the moved models' rows
    the new app label instead of leaving them stale and creating new ones."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    for model in MOVED:
        if not ContentType.objects.using(db).filter(app_label="common", model=model).exists():
            ContentType.objects.using(db).filter(app_label="jobs", model=model).update(app_label="common")


def unlabel_content_types(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    for model in MOVED:
        if not ContentType.objects.using(db).filter(app_label="jobs", model=model).exists():
            ContentType.objects.using(db).filter(app_label="common", model=model).update(app_label="jobs")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('jobs', '0002_common_models'),
        ('contenttypes', '0002_remove_content_type_name'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # The tables exist (jobs 0002 created them, under these names): only the state moves.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='ExternalIdentity',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('provider', models.CharField(max_length=50)),
                        ('subject', models.CharField(help_text="The provider's user id, e.g. auth0|64f…", max_length=255)),
                        ('email', models.EmailField(blank=True, max_length=254)),
                        ('blocked', models.BooleanField(default=False)),
                        ('last_login_at', models.DateTimeField(blank=True, null=True)),
                        ('synced_at', models.DateTimeField()),
                        ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='external_identities', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'verbose_name_plural': 'external identities',
                        'db_table': 'jobs_externalidentity',
                        'ordering': ['provider', 'subject'],
                        'constraints': [models.UniqueConstraint(fields=('provider', 'subject'), name='external_identity_unique')],
                    },
                ),
                migrations.CreateModel(
                    name='RefreshToken',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('token_hash', models.CharField(max_length=64, unique=True)),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('expires_at', models.DateTimeField()),
                        ('revoked_at', models.DateTimeField(blank=True, null=True)),
                        ('last_used_at', models.DateTimeField(blank=True, null=True)),
                        ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='refresh_tokens', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'jobs_refreshtoken',
                        'ordering': ['-created_at'],
                        'indexes': [models.Index(fields=['expires_at'], name='refresh_token_expiry_idx')],
                        'constraints': [models.CheckConstraint(condition=models.Q(('expires_at__gt', models.F('created_at'))), name='refresh_token_expires_after_created')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(relabel_content_types, unlabel_content_types),
    ]
