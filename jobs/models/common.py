"""The common service's own tables: the notification outbox, refresh tokens and the link
between local users and the identity provider (Auth0) they are synced from."""

import hashlib

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class OutboxMessage(models.Model):
    """One message a job sends. The dedup key is unique, so a job that runs again (a retry, a
    recurring job fired twice) finds its message instead of sending a second one."""

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    dedup_key = models.CharField(max_length=200, unique=True)
    recipient = models.CharField(max_length=254)
    channel = models.CharField(max_length=20, choices=Channel.choices, default=Channel.EMAIL)
    subject = models.CharField(max_length=300)
    body = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "created_at"], name="outbox_status_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="sent", sent_at__isnull=False) | ~Q(status="sent"),
                name="outbox_sent_has_sent_at",
            ),
        ]

    def __str__(self):
        return f"{self.subject} → {self.recipient} ({self.status})"


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class RefreshToken(models.Model):
    """A long-lived token a client exchanges for new sessions. Only its SHA-256 is stored, so a
    leaked table does not leak usable tokens."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="refresh_tokens"
    )
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["expires_at"], name="refresh_token_expiry_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("created_at")), name="refresh_token_expires_after_created"
            ),
        ]

    def __str__(self):
        return f"Refresh token of {self.user} (expires {self.expires_at:%Y-%m-%d %H:%M})"

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()


class ExternalIdentity(models.Model):
    """A local user's account at an identity provider (`sync-auth0-users` keeps these)."""

    provider = models.CharField(max_length=50)
    subject = models.CharField(max_length=255, help_text="The provider's user id, e.g. auth0|64f…")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="external_identities"
    )
    email = models.EmailField(blank=True)
    blocked = models.BooleanField(default=False)
    last_login_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField()

    class Meta:
        ordering = ["provider", "subject"]
        verbose_name_plural = "external identities"
        constraints = [
            models.UniqueConstraint(fields=["provider", "subject"], name="external_identity_unique"),
        ]

    def __str__(self):
        return f"{self.provider}:{self.subject}"
