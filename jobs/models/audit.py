"""The console's audit trail: who did what, to which jobs, queues or schedules, when and why.

Rows are written by jobs.audit only, and never changed: the console has no page that edits or
deletes them, and the admin does not register them. Targets are a child table (not a JSON
list) so "everything done to job X" is an index lookup on PostgreSQL and SQLite alike.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class AuditEntry(models.Model):
    # A UUID like the other console rows, so the console's keyset pages (time, id) fit it.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    at = models.DateTimeField(default=timezone.now)
    # The person, and their name as it was (the user may be deleted or renamed later).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    username = models.CharField(max_length=150)
    # A short verb: "requeue", "delete", "reveal_arguments", "recurring_trigger", …
    action = models.CharField(max_length=50)
    summary = models.TextField(blank=True)
    reason = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["-at"], name="audit_at_idx"),
            models.Index(fields=["action", "-at"], name="audit_action_idx"),
            models.Index(fields=["username", "-at"], name="audit_user_idx"),
        ]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.username} {self.action}"


class AuditTarget(models.Model):
    """One thing an entry acted on: a job, a batch, a recurring job or a queue."""

    entry = models.ForeignKey(AuditEntry, on_delete=models.CASCADE, related_name="targets")
    kind = models.CharField(max_length=20)
    object_id = models.CharField(max_length=200)

    class Meta:
        indexes = [models.Index(fields=["kind", "object_id"], name="audit_target_idx")]

    def __str__(self):
        return f"{self.kind} {self.object_id}"
