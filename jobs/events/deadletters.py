"""The dead-letter queue, for the console: look at its messages, put one back on our queue.

AMQP cannot peek, so looking means taking messages unacknowledged and closing the channel,
which returns them to the queue in their order (what RabbitMQ's own management UI does).
Replay takes messages until it finds the one named, publishes it (confirmed) to our queue
through the default exchange, so it reaches our queue only and not other services', with its
delivery count reset, and only then acknowledges it; the rest go back untouched.
"""

import contextlib
import json
from dataclasses import dataclass

from jobs.events.config import EventsConfig, config
from jobs.events.consumer import DELIVERIES_HEADER
from jobs.events.publisher import ConfirmingPublisher, Outgoing
from jobs.events.topology import connect, dead_letter_queue

PEEK_LIMIT = 50
REPLAY_SCAN_LIMIT = 10_000


class DeadLetterNotFound(LookupError):
    pass


@dataclass
class DeadLetter:
    id: str
    message_id: str
    type: str
    reason: str
    deliveries: int
    dead_lettered_at: str
    routing_key: str
    body: str


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def _describe(message) -> DeadLetter:
    headers = message.headers or {}
    body = _text(message.body)
    message_id, event_type = (
        _text(message.properties.get("message_id")),
        _text(message.properties.get("type")),
    )
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        document = json.loads(body)
        message_id = message_id or _text(document.get("id"))
        event_type = event_type or _text(document.get("type"))
    return DeadLetter(
        id=_text(headers.get("x-dhanman-dead-letter-id")),
        message_id=message_id,
        type=event_type,
        reason=_text(headers.get("x-dhanman-reason")),
        deliveries=int(headers.get(DELIVERIES_HEADER) or 0),
        dead_lettered_at=_text(headers.get("x-dhanman-dead-lettered-at")),
        routing_key=_text(headers.get("x-dhanman-original-routing-key")),
        body=body[:2000],
    )


def peek(cfg: EventsConfig | None = None, limit: int = PEEK_LIMIT) -> tuple[int, list[DeadLetter]]:
    """(messages in the dead-letter queue, the first `limit` of them). Raises the connection's
    errors when RabbitMQ is away."""
    cfg = cfg or config()
    connection = connect(cfg, heartbeat=0)
    try:
        channel = connection.channel()
        depth = dead_letter_queue(cfg)(channel).queue_declare().message_count
        letters: list[DeadLetter] = []
        while len(letters) < min(limit, depth):
            message = channel.basic_get(cfg.dead_letter_queue, no_ack=False)
            if message is None:
                break
            letters.append(_describe(channel.message_to_python(message)))
        return depth, letters
    finally:
        connection.release()  # unacknowledged: back in the queue, in order


def replay(dead_letter_id: str, cfg: EventsConfig | None = None) -> DeadLetter:
    """Move the named dead letter back to our queue, or raise DeadLetterNotFound."""
    cfg = cfg or config()
    connection = connect(cfg, heartbeat=0)
    publisher = ConfirmingPublisher(cfg)
    try:
        channel = connection.channel()
        dead_letter_queue(cfg)(channel).declare()
        for _ in range(REPLAY_SCAN_LIMIT):
            raw = channel.basic_get(cfg.dead_letter_queue, no_ack=False)
            if raw is None:
                break
            message = channel.message_to_python(raw)
            headers = dict(message.headers or {})
            if _text(headers.get("x-dhanman-dead-letter-id")) != dead_letter_id:
                continue
            letter = _describe(message)
            headers[DELIVERIES_HEADER] = 0
            headers["x-dhanman-replayed-from"] = dead_letter_id
            publisher.publish(
                Outgoing(
                    body=message.body if isinstance(message.body, bytes) else _text(message.body).encode(),
                    exchange="",
                    routing_key=cfg.queue,
                    message_id=letter.message_id,
                    type=letter.type,
                    headers={k: v for k, v in headers.items() if k != "x-dhanman-dead-letter-id"},
                    content_type=message.content_type or "application/json",
                )
            )
            message.ack()
            return letter
        raise DeadLetterNotFound(f"No dead letter {dead_letter_id} in {cfg.dead_letter_queue}.")
    finally:
        publisher.close()
        connection.release()
