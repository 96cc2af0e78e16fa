"""The move of the outbox to notifications/ and of the common service to common/ keeps data.

A database migrated to the state before the move (jobs at 0008, the new apps unmigrated) gets
rows through the historical models, then migrates forward: every row is still there, the moved
models read the same tables, the stored task paths name common.tasks, and the content types
(and so the permissions on them) carry the new app label. Migrating back restores the paths.
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE_MOVE = [
    ("jobs", "0008_job_external_id"),
    ("common", None),
    ("notifications", None),
    ("contenttypes", "0002_remove_content_type_name"),  # its leaf: for today's ContentType columns
]
MOVED_TASKS = ["sync_auth0_users", "database_backup"]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    # The models as of those nodes ((app, None), "unmigrated", is no node of the graph).
    return MigrationExecutor(connection).loader.project_state([t for t in targets if t[1]]).apps


def _leaves():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def _seed_before_move(old):
    now = timezone.now()
    user = old.get_model("auth", "User").objects.create(username="moved-user", email="m@example.com")
    old.get_model("jobs", "OutboxMessage").objects.create(
        dedup_key="welcome:1",
        recipient="m@example.com",
        subject="Welcome",
        body="Hello",
        status="sent",
        sent_at=now,
        attempts=1,
    )
    old.get_model("jobs", "RefreshToken").objects.create(
        user_id=user.pk, token_hash="a" * 64, created_at=now, expires_at=now + timedelta(days=30)
    )
    old.get_model("jobs", "ExternalIdentity").objects.create(
        provider="auth0", subject="auth0|1", user_id=user.pk, email="m@example.com", synced_at=now
    )
    RecurringJob = old.get_model("jobs", "RecurringJob")
    Job = old.get_model("jobs", "Job")
    for name in MOVED_TASKS:
        RecurringJob.objects.create(
            id=name.replace("_", "-"), task_path=f"jobs.tasks.{name}", cron="0 * * * *"
        )
        Job.objects.create(
            task_path=f"jobs.tasks.{name}", state="failed", state_changed_at=now, created_at=now
        )
    # A context's task keeps its path.
    Job.objects.create(
        task_path="sales.tasks.send_welcome_email",
        state="enqueued",
        state_changed_at=now,
        created_at=now,
        enqueued_at=now,
    )
    ContentType = old.get_model("contenttypes", "ContentType")
    return {
        model: ContentType.objects.get_or_create(app_label="jobs", model=model)[0].pk
        for model in ("outboxmessage", "refreshtoken", "externalidentity")
    }


def test_a_database_migrated_before_the_move_keeps_every_row():
    old = _migrate(BEFORE_MOVE)
    try:
        content_type_ids = _seed_before_move(old)
        user_id = old.get_model("auth", "User").objects.get(username="moved-user").pk
    finally:
        new = _migrate(_leaves())

    assert list(
        new.get_model("notifications", "OutboxMessage").objects.values_list("dedup_key", "status")
    ) == [("welcome:1", "sent")]
    assert list(new.get_model("common", "RefreshToken").objects.values_list("token_hash", "user_id")) == [
        ("a" * 64, user_id)
    ]
    assert list(new.get_model("common", "ExternalIdentity").objects.values_list("subject", "user_id")) == [
        ("auth0|1", user_id)
    ]
    # The live models read the same tables.
    from common.models import ExternalIdentity, RefreshToken
    from notifications.models import OutboxMessage

    assert (
        OutboxMessage.objects.count(),
        RefreshToken.objects.count(),
        ExternalIdentity.objects.count(),
    ) == (1, 1, 1)
    assert sorted(new.get_model("jobs", "RecurringJob").objects.values_list("task_path", flat=True)) == [
        f"common.tasks.{name}" for name in sorted(MOVED_TASKS)
    ]
    assert sorted(new.get_model("jobs", "Job").objects.values_list("task_path", flat=True)) == sorted(
        [f"common.tasks.{name}" for name in MOVED_TASKS] + ["sales.tasks.send_welcome_email"]
    )
    ContentType = new.get_model("contenttypes", "ContentType")
    labels = {
        ct.model: (ct.app_label, ct.pk) for ct in ContentType.objects.filter(pk__in=content_type_ids.values())
    }
    assert labels == {
        "outboxmessage": ("notifications", content_type_ids["outboxmessage"]),
        "refreshtoken": ("common", content_type_ids["refreshtoken"]),
        "externalidentity": ("common", content_type_ids["externalidentity"]),
    }

    # And back: the paths name jobs.tasks again, the outbox is the jobs app's model again.
    try:
        old = _migrate(BEFORE_MOVE)
        assert sorted(old.get_model("jobs", "RecurringJob").objects.values_list("task_path", flat=True)) == [
            f"jobs.tasks.{name}" for name in sorted(MOVED_TASKS)
        ]
        assert old.get_model("jobs", "OutboxMessage").objects.get().dedup_key == "welcome:1"
        assert ContentType.objects.get(pk=content_type_ids["outboxmessage"]).app_label == "jobs"
    finally:
        _migrate(_leaves())
