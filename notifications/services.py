"""The outbox: every message a job sends, written once under a dedup key, then delivered through
Django's email backend (console in development, SMTP from EMAIL_URL in production, locmem in
tests).

Jobs may run more than once (retries, a recurring job fired again, a job requeued from the
console). A message is therefore named by a dedup key derived from what it is about
("welcome:42", "invoice-due:17"): the second run finds the row, sees it SENT and sends nothing.

Call `notify()` outside your own `transaction.atomic()` block — the way the tasks here do —
so that a message is only sent for work that has committed.

The contexts share this app: `from notifications.services import notify`.
"""

import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from notifications.models import OutboxMessage

logger = logging.getLogger("notifications")

Status = OutboxMessage.Status


def notification_enqueue(
    *, dedup_key: str, recipient: str, subject: str, body: str, channel: str = OutboxMessage.Channel.EMAIL
) -> tuple[OutboxMessage, bool]:
    """Write the message unless one with this dedup key exists. Returns (message, created)."""
    dedup_key = (dedup_key or "").strip()
    if not dedup_key:
        raise ValidationError({"dedup_key": "A message needs a dedup key."})
    if len(dedup_key) > 200:
        raise ValidationError({"dedup_key": f"Dedup key is {len(dedup_key)} characters, over 200."})
    if channel not in OutboxMessage.Channel.values:
        raise ValidationError(
            {"channel": f"Unknown channel {channel!r}: one of {OutboxMessage.Channel.values}."}
        )
    try:
        validate_email(recipient)
    except ValidationError:
        raise ValidationError({"recipient": f"{recipient!r} is not an email address."}) from None
    if not subject or len(subject) > 300:
        raise ValidationError({"subject": "A subject of 1 to 300 characters is required."})
    existing = OutboxMessage.objects.filter(dedup_key=dedup_key).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            message = OutboxMessage.objects.create(
                dedup_key=dedup_key, recipient=recipient, channel=channel, subject=subject, body=body
            )
        return message, True
    except IntegrityError:
        # Another run wrote the same message between our read and our insert.
        existing = OutboxMessage.objects.filter(dedup_key=dedup_key).first()
        if existing is None:
            raise
        return existing, False


def notification_deliver(*, message_id: int) -> OutboxMessage:
    """Send one message unless it was sent already. A failed send is recorded on the row and
    re-raised, so the job that asked for it fails and its retry sends again."""
    try:
        with transaction.atomic():
            # The row lock makes two workers delivering the same message take turns; the second
            # sees SENT.
            message = OutboxMessage.objects.select_for_update().get(pk=message_id)
            if message.status == Status.SENT:
                return message
            EmailMessage(
                subject=message.subject,
                body=message.body,
                from_email=settings.DEFAULT_FROM_EMAIL,
                to=[message.recipient],
            ).send()
            message.status = Status.SENT
            message.sent_at = timezone.now()
            message.attempts += 1
            message.last_error = ""
            message.save(update_fields=["status", "sent_at", "attempts", "last_error"])
            return message
    except OutboxMessage.DoesNotExist:
        raise
    except Exception as exc:
        OutboxMessage.objects.filter(pk=message_id).exclude(status=Status.SENT).update(
            status=Status.FAILED, attempts=F("attempts") + 1, last_error=f"{type(exc).__name__}: {exc}"[:2000]
        )
        logger.warning("Message %s could not be delivered: %s", message_id, exc)
        raise


def notify(*, dedup_key: str, recipient: str, subject: str, body: str) -> OutboxMessage:
    """Write the message (once per dedup key) and deliver it now if it is not sent yet.

    Subjects are built from names people typed (a society, an event); a long one is shortened
    rather than failing the job that sends it."""
    if len(subject) > 300:
        subject = subject[:299] + "…"
    message, _created = notification_enqueue(
        dedup_key=dedup_key, recipient=recipient, subject=subject, body=body
    )
    if message.status == Status.SENT:
        return message
    return notification_deliver(message_id=message.pk)


def admin_recipients() -> list[str]:
    """Who gets the system's own reports: settings.ADMINS, superusers and the Admin group."""
    from django.contrib.auth import get_user_model

    emails = {email for _name, email in settings.ADMINS if email}
    users = get_user_model().objects.filter(Q(is_superuser=True) | Q(groups__name="Admin"), is_active=True)
    emails.update(email for email in users.values_list("email", flat=True) if email)
    return sorted(emails)
