"""What the tests use to see what the workers did: an execution log with a unique key, so a
job that runs twice cannot go unnoticed (the second insert fails)."""

from django.db import models


class Execution(models.Model):
    key = models.CharField(max_length=200, unique=True)
    job_id = models.CharField(max_length=64, blank=True)
    pid = models.IntegerField(default=0)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.key


class Attempt(models.Model):
    """Every attempt, duplicates allowed (for retry counting)."""

    key = models.CharField(max_length=200, db_index=True)
    job_id = models.CharField(max_length=64, blank=True)
    attempt = models.IntegerField(default=0)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.key} #{self.attempt}"
