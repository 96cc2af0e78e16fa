"""The tables of domain events (jobs/events, docs/events.md).

- `EventOutbox`: events our services publish, written in the service's own transaction and sent
  to RabbitMQ afterwards by the relay. A row is the proof that the event must go out; `sent_at`
  says it went (a publisher confirm came back).
- `ProcessedEvent`: the id of every message the consumer handled, inserted in the transaction
  that runs its handlers, so a redelivered message finds its id and does nothing.
- `EventConsumer`: one `consume_events` process, with its heartbeat and counters (the console).
"""

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone


class EventOutbox(models.Model):
    """One event to publish. Sent in id order, one row per aggregate at a time (jobs/events/relay.py)."""

    id = models.BigAutoField(primary_key=True)
    event_id = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    type = models.CharField(max_length=200)
    # What the event is about ("sales.invoice:42"): events of one aggregate reach RabbitMQ in the
    # order they were written. Blank: no order to keep with any other event.
    aggregate = models.CharField(max_length=200, blank=True)
    data = models.JSONField()
    source = models.CharField(max_length=100)
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            # The relay's scan: the oldest unsent rows.
            models.Index(fields=["id"], condition=Q(sent_at__isnull=True), name="event_outbox_unsent_idx"),
            # Expiry of sent rows.
            models.Index(
                fields=["sent_at"], condition=Q(sent_at__isnull=False), name="event_outbox_sent_idx"
            ),
        ]

    def __str__(self):
        return f"{self.type} {self.event_id} ({'sent' if self.sent_at else 'unsent'})"


class ProcessedEvent(models.Model):
    """A message id the consumer has handled; its handlers' effects committed with this row."""

    message_id = models.CharField(primary_key=True, max_length=200)
    type = models.CharField(max_length=200)
    queue = models.CharField(max_length=200)
    processed_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-processed_at"]

    def __str__(self):
        return f"{self.type} {self.message_id}"


class EventConsumer(models.Model):
    """A `consume_events` process: its connection state, heartbeat and what it has done so far."""

    id = models.CharField(primary_key=True, max_length=200)
    host = models.CharField(max_length=200)
    pid = models.IntegerField()
    queue = models.CharField(max_length=200)
    # connecting, connected, reconnecting, stopped
    status = models.CharField(max_length=20, default="connecting")
    started_at = models.DateTimeField(default=timezone.now)
    heartbeat_at = models.DateTimeField(default=timezone.now, db_index=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    consumed = models.PositiveBigIntegerField(
        default=0, help_text="Messages handled (their handlers committed)."
    )
    duplicates = models.PositiveBigIntegerField(
        default=0, help_text="Redelivered messages found already handled."
    )
    failed = models.PositiveBigIntegerField(
        default=0, help_text="Deliveries that failed (bad message or handler error)."
    )
    dead_lettered = models.PositiveBigIntegerField(default=0)
    relayed = models.PositiveBigIntegerField(default=0, help_text="Outbox events this process's relay sent.")
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-heartbeat_at"]

    def __str__(self):
        return self.id
