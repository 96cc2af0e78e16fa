"""Search terms and tags on jobs (jobs/search.py), filled for the jobs already stored, and the
GIN index that makes a search over a million jobs an index lookup (PostgreSQL only)."""

from django.db import migrations, models

CHUNK = 2000

# GIN over the JSON list with jsonb_path_ops: the index answers `search_terms @> '[...]'`
# (Django's JSONField `contains`), smaller and faster than the default jsonb_ops. Partial: jobs
# Enqueued or Processing are not in it, so that an enqueue (the insert) and a claim (an UPDATE
# of state, never HOT) write no GIN entry on the hot path; a job enters the index when it
# finishes, fails, or is scheduled or awaiting. Those two lists are the live, short ones: their
# searches filter the state's rows (job_state_list_idx) instead. Written as SQL because a
# GinIndex in the model's Meta would be created on SQLite as well, which has no GIN.
# CONCURRENTLY (the migration is not atomic): a production table stays writable meanwhile.
CREATE_INDEX = (
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS job_search_idx ON jobs_job "
    "USING gin (search_terms jsonb_path_ops) WHERE state NOT IN ('enqueued', 'processing')"
)
DROP_INDEX = "DROP INDEX CONCURRENTLY IF EXISTS job_search_idx"


def backfill(apps, schema_editor):
    """Fill tags and search_terms of the stored jobs, in chunks by id, each chunk committed on
    its own (a million jobs in one transaction would hold its locks for minutes). The terms
    are computed by jobs.search as enqueue computes them today: they must be what a search for a
    new job would find."""
    from jobs.search import stored_search_fields

    job_model = apps.get_model("jobs", "Job")
    last = None
    while True:
        rows = job_model.objects.order_by("pk").only("pk", "task_path", "args", "kwargs")
        if last is not None:
            rows = rows.filter(pk__gt=last)
        chunk = list(rows[:CHUNK])
        if not chunk:
            return
        for job in chunk:
            found = stored_search_fields(job.task_path, job.args, job.kwargs)
            job.tags, job.search_terms = found["tags"], found["search_terms"]
        job_model.objects.bulk_update(chunk, ["tags", "search_terms"], batch_size=500)
        last = chunk[-1].pk


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE_INDEX)


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_INDEX)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("jobs", "0018_retention_expiry"),
    ]

    operations = [
        migrations.AddField(
            model_name="job",
            name="search_terms",
            field=models.JSONField(blank=True, db_default=[], default=list),
        ),
        migrations.AddField(
            model_name="job",
            name="tags",
            field=models.JSONField(blank=True, db_default=[], default=list),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
        migrations.RunPython(create_index, drop_index),
    ]
