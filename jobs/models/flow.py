"""Flow control's own table: queue pauses (jobs/queues.py), read by every claim."""

from django.conf import settings
from django.db import models


class QueuePause(models.Model):
    """A paused queue: no server claims from it until it is resumed or `until` passes.

    One row per paused queue; resuming deletes it. It is a table rather than a server's memory,
    so the pause holds for every server at once and survives restarts.
    """

    queue = models.CharField(primary_key=True, max_length=50)
    paused_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The name as it was when paused (a user may be renamed or deleted later; API callers may pass none).
    paused_by_name = models.CharField(max_length=150, blank=True)
    reason = models.CharField(max_length=500)
    paused_at = models.DateTimeField()
    # Resumes by itself at this time (None: until someone resumes it).
    until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["queue"]

    def __str__(self):
        return f"{self.queue} paused"

    # The names jobs.api.queues() documents: who, since when (why and until are fields).
    @property
    def by(self) -> str:
        return self.paused_by_name

    @property
    def since(self):
        return self.paused_at
