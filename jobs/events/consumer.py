"""The consumer behind `manage.py consume_events`.

For each message, in this order:
1. parse the envelope and prepare each handler's data (a bad message fails here);
2. in ONE database transaction: insert the message id into ProcessedEvent (already there: a
   redelivery of a handled message, nothing more to do) and run every handler of the type, so
   the jobs the handlers enqueue and the id commit together or not at all;
3. only then acknowledge the message.

A crash before 3 leaves the message unacknowledged: RabbitMQ delivers it again, and step 2
finds its id. A delivery that fails (bad message, handler error) is published again at the
tail of our queue with its delivery count in a header, and after EVENTS_MAX_DELIVERIES failed
deliveries to the dead-letter queue, with the reason in its headers; either copy is confirmed
by RabbitMQ before the original is acknowledged. So a poison message never blocks the queue.

A database that is away is not the message's fault: the consumer closes its connection (the
unacknowledged messages go back to the queue without counting a failure) and reconnects.
"""

import logging
import os
import socket
import threading
import time
import uuid

from django.db import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    close_old_connections,
    transaction,
)
from django.db import connection as db
from django.db.models import F
from django.utils import timezone
from kombu import Consumer as KombuConsumer

from jobs.events import registry
from jobs.events.config import EventsConfig, config
from jobs.events.envelope import BadMessage, Event, parse
from jobs.events.publisher import ConfirmingPublisher, Outgoing, PublishFailed
from jobs.events.relay import Relay
from jobs.events.topology import CONNECTION_ERRORS, connect, declare
from jobs.models import EventConsumer, ProcessedEvent

logger = logging.getLogger("jobs.events")

DELIVERIES_HEADER = "x-dhanman-deliveries"


class DatabaseUnavailable(RuntimeError):
    pass


def deliveries_so_far(headers) -> int:
    try:
        return max(0, int((headers or {}).get(DELIVERIES_HEADER, 0)))
    except (TypeError, ValueError):
        return 0


def record_processed(event: Event, queue: str) -> bool:
    """Insert the message id; False when it is there already. One statement (no savepoint):
    on PostgreSQL a concurrent transaction inserting the same id makes this one wait for its
    outcome, so two consumers holding one message never both go on."""
    table = ProcessedEvent._meta.db_table
    with db.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {db.ops.quote_name(table)} (message_id, type, queue, processed_at) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (message_id) DO NOTHING",
            [event.id, event.type, queue, timezone.now()],
        )
        return cursor.rowcount == 1


def run_handlers(event: Event, queue: str) -> str:
    """Step 2 above. Returns "handled" or "duplicate"; raises BadMessage or the handler's error."""
    handlers = registry.handlers_for(event.type)
    if not handlers:
        raise BadMessage(f"unknown type {event.type!r}: no handler here.")
    prepared = [(handler, handler.prepare(event)) for handler in handlers]
    with transaction.atomic():
        if not record_processed(event, queue):
            return "duplicate"
        for handler, view in prepared:
            try:
                handler.function(view)
            except (OperationalError, InterfaceError):
                raise
            except BadMessage:
                raise
            except Exception as exc:
                raise HandlerFailed(handler, exc) from exc
    return "handled"


class HandlerFailed(RuntimeError):
    def __init__(self, handler, exc):
        super().__init__(f"handler {handler.name} raised {type(exc).__name__}: {exc}")


class Consumer:
    def __init__(
        self, cfg: EventsConfig | None = None, *, relay: bool | None = None, name: str | None = None
    ):
        self.cfg = cfg or config()
        self.id = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.stopping = threading.Event()
        self.counts = {"consumed": 0, "duplicates": 0, "failed": 0, "dead_lettered": 0, "relayed": 0}
        self._flushed = dict(self.counts)
        self._last_heartbeat = 0.0
        self._status = "connecting"
        self._last_error = ""
        # The confirming publisher of the live connection (retries, dead letters); None between connections.
        self._publisher: ConfirmingPublisher | None = None
        self.relay = (
            Relay(self.cfg, on_sent=self._relayed) if (self.cfg.relay if relay is None else relay) else None
        )
        self._lock = threading.Lock()

    # --- bookkeeping -----------------------------------------------------------------------

    def _count(self, key: str, n: int = 1):
        with self._lock:
            self.counts[key] += n

    def _relayed(self, n: int):
        self._count("relayed", n)

    def _heartbeat(self, force: bool = False):
        now = time.monotonic()
        if not force and now - self._last_heartbeat < self.cfg.heartbeat_interval:
            return
        self._last_heartbeat = now
        with self._lock:
            delta = {k: self.counts[k] - self._flushed[k] for k in self.counts}
            self._flushed = dict(self.counts)
        fields = {
            "heartbeat_at": timezone.now(),
            "status": self._status,
            "last_error": self._last_error[:2000],
        }
        fields.update({k: F(k) + v for k, v in delta.items() if v})
        if self._status == "stopped":
            fields["stopped_at"] = timezone.now()
        try:
            close_old_connections()
            updated = EventConsumer.objects.filter(pk=self.id).update(**fields)
            if not updated:
                EventConsumer.objects.create(
                    id=self.id,
                    host=socket.gethostname(),
                    pid=os.getpid(),
                    queue=self.cfg.queue,
                    status=self._status,
                    last_error=self._last_error[:2000],
                    **delta,
                )
        except DatabaseError:
            with self._lock:  # counted again at the next heartbeat
                for k, v in delta.items():
                    self._flushed[k] -= v
            logger.warning("Event consumer heartbeat: database unavailable")

    # --- the loop -------------------------------------------------------------------------

    def stop(self, *args):
        self.stopping.set()

    def run(self, idle_exit: float | None = None) -> None:
        """Consume until stop() (or, for tests and the bench, until `idle_exit` seconds pass
        without a message)."""
        self._idle_exit = idle_exit
        relay_thread = None
        if self.relay is not None:
            relay_thread = threading.Thread(target=self.relay.run, name="outbox-relay", daemon=True)
            relay_thread.start()
        delay = 0.5
        self._heartbeat(force=True)
        try:
            while not self.stopping.is_set():
                try:
                    self._consume()
                    delay = 0.5
                    if self._idle_exit is not None and not self.stopping.is_set():
                        break
                except (*CONNECTION_ERRORS, PublishFailed, DatabaseUnavailable) as exc:
                    if self.stopping.is_set():
                        break
                    self._status, self._last_error = "reconnecting", f"{type(exc).__name__}: {exc}"
                    logger.warning("Event consumer: %s; reconnecting in %.1f s", self._last_error, delay)
                    self._heartbeat(force=True)
                    self.stopping.wait(delay)
                    delay = min(delay * 2, self.cfg.reconnect_max_delay)
        finally:
            if self.relay is not None and relay_thread is not None:
                self.relay.stop()
                relay_thread.join(10)
            self._status = "stopped"
            self._heartbeat(force=True)

    def _consume(self):
        connection = connect(self.cfg)
        publisher = None
        try:
            publisher = ConfirmingPublisher(self.cfg)
            channel = connection.channel()
            queue = declare(channel, self.cfg)
            channel.basic_qos(0, self.cfg.prefetch, False)
            self._publisher = publisher
            consumer = KombuConsumer(
                channel,
                queues=[queue],
                on_message=self._on_message,
                no_ack=False,
                prefetch_count=self.cfg.prefetch,
            )
            consumer.consume()
            self._status, self._last_error = "connected", ""
            logger.info(
                "Consuming %s (types: %s)", self.cfg.queue, ", ".join(registry.declared_types()) or "none"
            )
            self._heartbeat(force=True)
            idle_since = time.monotonic()
            while not self.stopping.is_set():
                try:
                    connection.drain_events(timeout=0.5 if self._idle_exit is None else 0.1)
                    idle_since = time.monotonic()
                except TimeoutError:
                    connection.heartbeat_check()
                    publisher.connection.heartbeat_check()  # idle between failures: keep it alive
                    if self._idle_exit is not None and time.monotonic() - idle_since > self._idle_exit:
                        break
                self._heartbeat()
            # Graceful stop: nothing is being handled now (handlers run inside drain_events);
            # what is prefetched but unacknowledged goes back to the queue as the channel closes.
            consumer.cancel()
        finally:
            self._publisher = None
            if publisher is not None:
                publisher.close()
            try:
                connection.release()
            except Exception:  # noqa: BLE001 (a broken connection may fail to close in many ways)
                logger.debug("closing the consumer connection failed", exc_info=True)

    # --- one message ------------------------------------------------------------------------

    def _on_message(self, message):
        headers = dict(message.headers or {})
        delivery = deliveries_so_far(headers) + 1
        event = None
        try:
            event = parse(message.body)
            if event.source == self.cfg.source:
                # Ours: whatever it causes here happened in the transaction that published it.
                message.ack()
                return
            outcome = run_handlers(event, self.cfg.queue)
        except (OperationalError, InterfaceError) as exc:
            close_old_connections()
            raise DatabaseUnavailable(f"database unavailable: {exc}") from exc
        except (BadMessage, HandlerFailed) as exc:
            self._failed(message, headers, delivery, str(exc), event)
            return
        except Exception as exc:  # an error in our own preparation code: same treatment
            logger.exception("Event %s failed", getattr(event, "id", "?"))
            self._failed(message, headers, delivery, f"{type(exc).__name__}: {exc}", event)
            return
        message.ack()
        self._count("consumed" if outcome == "handled" else "duplicates")

    def _failed(self, message, headers, delivery: int, reason: str, event):
        self._count("failed")
        routing_key = message.delivery_info.get("routing_key", "")
        original = headers.get("x-dhanman-original-routing-key") or routing_key
        headers.update(
            {
                DELIVERIES_HEADER: delivery,
                "x-dhanman-reason": reason[:1000],
                "x-dhanman-original-routing-key": original,
                "x-dhanman-original-exchange": headers.get("x-dhanman-original-exchange")
                or message.delivery_info.get("exchange", ""),
            }
        )
        properties = message.properties or {}
        dead = delivery >= self.cfg.max_deliveries
        if dead:
            headers.update(
                {
                    "x-dhanman-dead-letter-id": uuid.uuid4().hex,
                    "x-dhanman-dead-lettered-at": timezone.now().isoformat(),
                    "x-dhanman-consumer": self.id,
                }
            )
        assert self._publisher is not None, "dead-lettering happens only while connected"
        self._publisher.publish(
            Outgoing(
                body=message.body if isinstance(message.body, bytes) else str(message.body).encode(),
                exchange="",
                routing_key=self.cfg.dead_letter_queue if dead else self.cfg.queue,
                message_id=str(properties.get("message_id") or (event.id if event else "")),
                type=str(properties.get("type") or (event.type if event else "")),
                headers=headers,
                content_type=message.content_type or "application/octet-stream",
            )
        )
        message.ack()
        if dead:
            self._count("dead_lettered")
            logger.warning(
                "Dead-lettered message %s after %d deliveries: %s",
                event.id if event else "(unparsed)",
                delivery,
                reason,
            )
        else:
            logger.info(
                "Delivery %d of message %s failed, requeued: %s",
                delivery,
                event.id if event else "(unparsed)",
                reason,
            )
