"""Connections and the names on RabbitMQ: the exchange, our queue and its dead-letter queue,
declared (durable, idempotently) by whoever connects first.

- exchange `EVENTS_EXCHANGE` (dhanman.events): topic, durable; the routing key is the event type;
- queue `EVENTS_QUEUE` (dhanman-jobs.events): durable, bound to every type our handlers declare;
- queue `EVENTS_QUEUE.dead`: durable, bound to nothing. Dead letters and replays go through the
  default exchange straight to a queue by name, so they never reach other services' queues.
"""

import socket

import amqp.exceptions
import kombu
import kombu.exceptions

from jobs.events import registry
from jobs.events.config import EventsConfig

# What a lost or refused connection raises, whichever layer notices first.
CONNECTION_ERRORS = (
    kombu.exceptions.OperationalError,
    amqp.exceptions.ConnectionError,
    amqp.exceptions.RecoverableConnectionError,
    ConnectionError,
    socket.timeout,
    OSError,
)


def connect(cfg: EventsConfig, *, heartbeat: float = 30.0) -> kombu.Connection:
    """An open connection, or one of CONNECTION_ERRORS. Retrying is the caller's business."""
    connection = kombu.Connection(
        cfg.amqp_url,
        connect_timeout=cfg.connect_timeout,
        heartbeat=heartbeat,
        transport_options={"max_retries": 0},
    )
    try:
        connection.connect()
    except BaseException:
        connection.release()
        raise
    return connection


def exchange(cfg: EventsConfig) -> kombu.Exchange:
    return kombu.Exchange(cfg.exchange, type="topic", durable=True)


def queue(cfg: EventsConfig, types=None) -> kombu.Queue:
    types = registry.declared_types() if types is None else types
    ex = exchange(cfg)
    return kombu.Queue(
        cfg.queue,
        durable=True,
        auto_delete=False,
        bindings=[kombu.binding(ex, routing_key=t) for t in types],
    )


def dead_letter_queue(cfg: EventsConfig) -> kombu.Queue:
    return kombu.Queue(cfg.dead_letter_queue, durable=True, auto_delete=False, no_declare=False)


def declare(channel, cfg: EventsConfig, types=None) -> kombu.Queue:
    """Declare everything (safe to repeat) and return our bound queue."""
    exchange(cfg)(channel).declare()
    dead_letter_queue(cfg)(channel).declare()
    bound = queue(cfg, types)(channel)
    bound.declare()
    return bound
