"""Community: the society's events, visitor passes and maintenance requests."""

from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class Event(models.Model):
    society = models.ForeignKey("sales.Society", on_delete=models.PROTECT, related_name="events")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    venue = models.CharField(max_length=200)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    cancelled = models.BooleanField(default=False)
    reminders_sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["starts_at"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="event_ends_after_start")
        ]
        indexes = [models.Index(fields=["starts_at"], name="event_start_idx")]

    def __str__(self):
        return f"{self.title} ({timezone.localtime(self.starts_at):%d %b %H:%M})"


class VisitorPass(models.Model):
    class Kind(models.TextChoices):
        ONE_TIME = "one_time", "One-time"
        MULTI_ENTRY = "multi_entry", "Multi-entry"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        USED = "used", "Used"
        EXPIRED = "expired", "Expired"
        REVOKED = "revoked", "Revoked"

    society = models.ForeignKey("sales.Society", on_delete=models.PROTECT, related_name="visitor_passes")
    host = models.ForeignKey("sales.Resident", on_delete=models.CASCADE, related_name="visitor_passes")
    code = models.CharField(max_length=12, unique=True, help_text="Shown at the gate.")
    visitor_name = models.CharField(max_length=200)
    visitor_phone = models.CharField(max_length=20, blank=True)
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.ONE_TIME)
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    used_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-valid_from"]
        verbose_name_plural = "visitor passes"  # Django's default appends an "s": "visitor passs"
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_until__gt=F("valid_from")), name="visitor_pass_valid_window"
            ),
        ]
        indexes = [models.Index(fields=["status", "valid_until"], name="visitor_pass_expiry_idx")]

    def __str__(self):
        return f"{self.code}: {self.visitor_name} for {self.host}"


class MaintenanceRequest(models.Model):
    class Category(models.TextChoices):
        PLUMBING = "plumbing", "Plumbing"
        ELECTRICAL = "electrical", "Electrical"
        LIFT = "lift", "Lift"
        CLEANING = "cleaning", "Cleaning"
        SECURITY = "security", "Security"
        OTHER = "other", "Other"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        IN_PROGRESS = "in_progress", "In progress"
        RESOLVED = "resolved", "Resolved"
        CLOSED = "closed", "Closed"

    PENDING = (Status.OPEN, Status.IN_PROGRESS)

    society = models.ForeignKey(
        "sales.Society", on_delete=models.PROTECT, related_name="maintenance_requests"
    )
    resident = models.ForeignKey(
        "sales.Resident", on_delete=models.PROTECT, related_name="maintenance_requests"
    )
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    category = models.CharField(max_length=20, choices=Category.choices)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    opened_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # The highest escalation level reached so far (0: not escalated).
    escalation_level = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-opened_at"]
        indexes = [models.Index(fields=["status", "opened_at"], name="maintenance_pending_idx")]

    def __str__(self):
        return f"#{self.pk} {self.title}"


class Escalation(models.Model):
    """One escalation of a request to a level. Unique per (request, level): each level once."""

    request = models.ForeignKey(MaintenanceRequest, on_delete=models.CASCADE, related_name="escalations")
    level = models.PositiveSmallIntegerField()
    escalated_at = models.DateTimeField(default=timezone.now)
    notified = models.EmailField()

    class Meta:
        ordering = ["request", "level"]
        constraints = [
            models.UniqueConstraint(fields=["request", "level"], name="escalation_once_per_level"),
            models.CheckConstraint(condition=Q(level__gte=1), name="escalation_level_positive"),
        ]

    def __str__(self):
        return f"{self.request} level {self.level}"
