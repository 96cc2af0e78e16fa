"""The outbox relay: sends unsent outbox rows to RabbitMQ, with publisher confirms.

It runs inside `manage.py consume_events` (a thread with its own connections), not in
qcluster's housekeeping: the housekeeping runs in the pusher loop of every job server, and an
AMQP connect or confirm that hangs while RabbitMQ is away would stall the claiming of jobs;
the events process is the one that holds RabbitMQ connections anyway, reconnects with backoff,
and is started only where RabbitMQ answers (docs/events.md).

Each pass takes the oldest unsent rows in id order and sends at most one row per aggregate:
the next row of an aggregate goes out only after the previous one was confirmed and marked
sent, so order per aggregate holds even when RabbitMQ nacks a message. Rows are marked sent
after their confirm; a crash in between sends them again (consumers deduplicate by id). On
PostgreSQL an advisory lock lets one relay at a time do a pass, wherever several run.
"""

import contextlib
import logging
import threading
import time
from datetime import timedelta

from django.db import close_old_connections, connection
from django.db.models import F
from django.utils import timezone

from jobs.events.config import EventsConfig, config
from jobs.events.envelope import encode, envelope
from jobs.events.publisher import ConfirmingPublisher, Outgoing, PublishFailed
from jobs.events.topology import CONNECTION_ERRORS, exchange
from jobs.models import EventConsumer, EventOutbox, ProcessedEvent

logger = logging.getLogger("jobs.events.relay")

RELAY_LOCK = 0x64686576  # "dhev"
EXPIRE_EVERY_SECONDS = 600
EXPIRE_BATCH = 5000
WINDOW_FACTOR = 4  # rows read per pass, per row sent at most


def select_batch(limit: int) -> list[EventOutbox]:
    """The oldest unsent rows, the first of each aggregate only."""
    rows = EventOutbox.objects.filter(sent_at__isnull=True).order_by("id")[: limit * WINDOW_FACTOR]
    seen, batch = set(), []
    for row in rows:
        if row.aggregate:
            if row.aggregate in seen:
                continue
            seen.add(row.aggregate)
        batch.append(row)
        if len(batch) >= limit:
            break
    return batch


@contextlib.contextmanager
def relay_lock():
    """True when this process may do a pass (always on SQLite: one process per file)."""
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [RELAY_LOCK])
        got = cursor.fetchone()[0]
    try:
        yield got
    finally:
        if got:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [RELAY_LOCK])


def relay_once(publisher: ConfirmingPublisher, cfg: EventsConfig) -> int:
    """One pass: send a batch, mark what was confirmed. Returns how many rows were sent."""
    with relay_lock() as mine:
        if not mine:
            return 0
        batch = select_batch(cfg.relay_batch)
        if not batch:
            return 0
        outgoing = [
            Outgoing(
                body=encode(
                    envelope(
                        id=row.event_id,
                        type=row.type,
                        occurred_at=row.occurred_at,
                        data=row.data,
                        source=row.source,
                    )
                ),
                exchange=cfg.exchange,
                routing_key=row.type,
                message_id=str(row.event_id),
                type=row.type,
                headers={"x-dhanman-aggregate": row.aggregate} if row.aggregate else {},
            )
            for row in batch
        ]
        try:
            confirmed = publisher.publish_many(outgoing)
        except PublishFailed as exc:
            EventOutbox.objects.filter(pk__in=[r.pk for r in batch]).update(
                attempts=F("attempts") + 1, last_error=str(exc)[:2000]
            )
            raise
        sent = [row.pk for row, ok in zip(batch, confirmed, strict=True) if ok]
        refused = [row.pk for row, ok in zip(batch, confirmed, strict=True) if not ok]
        now = timezone.now()
        if sent:
            EventOutbox.objects.filter(pk__in=sent).update(sent_at=now, attempts=F("attempts") + 1)
        if refused:
            EventOutbox.objects.filter(pk__in=refused).update(
                attempts=F("attempts") + 1, last_error="RabbitMQ nacked the message"
            )
            logger.warning("RabbitMQ refused %d outbox events; they stay unsent", len(refused))
        return len(sent)


def expire(cfg: EventsConfig | None = None, now=None) -> dict:
    """Delete sent outbox rows and processed message ids past their retention, and the rows of
    consumers that stopped (or vanished) longer ago than the outbox's retention."""
    cfg = cfg or config()
    now = now or timezone.now()
    removed = {"outbox": 0, "processed": 0, "consumers": 0}
    outbox_cutoff = now - timedelta(seconds=cfg.outbox_retention_seconds)
    for key, queryset in (
        ("outbox", EventOutbox.objects.filter(sent_at__lt=outbox_cutoff)),
        (
            "processed",
            ProcessedEvent.objects.filter(
                processed_at__lt=now - timedelta(seconds=cfg.processed_retention_seconds)
            ),
        ),
        ("consumers", EventConsumer.objects.filter(heartbeat_at__lt=outbox_cutoff)),
    ):
        while True:
            ids: list[int | str] = list(queryset.values_list("pk", flat=True)[:EXPIRE_BATCH])
            if not ids:
                break
            removed[key] += queryset.model.objects.filter(pk__in=ids).delete()[0]
    return removed


class Relay:
    """The relay's loop: connect, send passes until the outbox is empty, wait, repeat; on a lost
    connection wait (backing off) and reconnect. Rows wait in the outbox all the while."""

    def __init__(self, cfg: EventsConfig | None = None, on_sent=None):
        self.cfg = cfg or config()
        self.stop_event = threading.Event()
        self.on_sent = on_sent or (lambda n: None)
        self.connected = False

    def stop(self):
        self.stop_event.set()

    def run(self):
        delay = 0.5
        last_expiry = 0.0
        try:
            while not self.stop_event.is_set():
                publisher = None
                try:
                    publisher = ConfirmingPublisher(self.cfg)
                    exchange(self.cfg)(publisher.channel).declare()
                    self.connected = True
                    delay = 0.5
                    logger.info("Outbox relay connected to RabbitMQ")
                    while not self.stop_event.is_set():
                        close_old_connections()
                        sent = relay_once(publisher, self.cfg)
                        if sent:
                            self.on_sent(sent)
                            continue
                        if time.monotonic() - last_expiry > EXPIRE_EVERY_SECONDS:
                            expire(self.cfg)
                            last_expiry = time.monotonic()
                        self.stop_event.wait(self.cfg.relay_poll_interval)
                        publisher.connection.heartbeat_check()
                except (*CONNECTION_ERRORS, PublishFailed) as exc:
                    self.connected = False
                    logger.warning(
                        "Outbox relay: RabbitMQ unavailable (%s); events wait in the outbox, "
                        "retrying in %.1f s",
                        exc,
                        delay,
                    )
                    self.stop_event.wait(delay)
                    delay = min(delay * 2, self.cfg.reconnect_max_delay)
                except Exception:
                    # A database hiccup: log it, keep the rows, try again shortly.
                    self.connected = False
                    logger.exception("Outbox relay pass failed; retrying in %.1f s", delay)
                    close_old_connections()
                    self.stop_event.wait(delay)
                    delay = min(delay * 2, self.cfg.reconnect_max_delay)
                finally:
                    if publisher is not None:
                        publisher.close()
        finally:
            connection.close()
