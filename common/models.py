"""The common service's own tables: refresh tokens and the link between local users and the
identity provider (Auth0) they are synced from.

Both were created by the jobs app's migration 0002 and moved here without touching data: the
table names stay `jobs_refreshtoken` and `jobs_externalidentity` (Meta.db_table), so a database
migrated before the move keeps every row.
"""

import hashlib

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


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
        db_table = "jobs_refreshtoken"
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
        db_table = "jobs_externalidentity"
        ordering = ["provider", "subject"]
        verbose_name_plural = "external identities"
        constraints = [
            models.UniqueConstraint(fields=["provider", "subject"], name="external_identity_unique"),
        ]

    def __str__(self):
        return f"{self.provider}:{self.subject}"
