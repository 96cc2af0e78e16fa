"""The outbox and the common service's tables left the engine app, in state only.

OutboxMessage now belongs to notifications/, RefreshToken and ExternalIdentity to common/; their
0001 migrations take them over under the same table names. No table is dropped or renamed here,
so no row moves. (An engine installed without those apps keeps the three tables from 0002,
unused.)
"""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('jobs', '0008_job_external_id'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name='OutboxMessage'),
                migrations.DeleteModel(name='RefreshToken'),
                migrations.DeleteModel(name='ExternalIdentity'),
            ],
            database_operations=[],
        ),
    ]
