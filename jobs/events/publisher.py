"""Publishing with publisher confirms on a connection of its own.

Its own connection because waiting for a confirm reads that connection's frames: on a
connection that also consumes, the wait would dispatch the next delivery into the consumer's
callback while the current one is still being handled.

`publish_many` sends a batch and then waits for the broker's confirms (one round trip for the
batch, not one per message); it returns which messages RabbitMQ confirmed. A nacked or
unconfirmed message counts as not sent: the caller keeps it and tries again.
"""

import contextlib
import time
from dataclasses import dataclass

from jobs.events.config import EventsConfig
from jobs.events.topology import connect

CONFIRM_TIMEOUT = 10.0


class PublishFailed(RuntimeError):
    pass


@dataclass
class Outgoing:
    body: bytes
    exchange: str
    routing_key: str
    message_id: str = ""
    type: str = ""
    headers: dict | None = None
    content_type: str = "application/json"


class ConfirmingPublisher:
    def __init__(self, cfg: EventsConfig):
        self.cfg = cfg
        self.connection = connect(cfg)
        self.channel = self.connection.channel()
        self.channel.confirm_select()
        self._next_tag = 1
        self._acked: set[int] = set()
        self._nacked: set[int] = set()
        self._pending: set[int] = set()
        self.channel.events["basic_ack"].add(self._on_ack)
        self.channel.events["basic_nack"].add(self._on_nack)

    def _settle(self, delivery_tag: int, multiple: bool, into: set[int]):
        done = {t for t in self._pending if t <= delivery_tag} if multiple else {delivery_tag} & self._pending
        self._pending -= done
        into |= done

    def _on_ack(self, delivery_tag, multiple):
        self._settle(delivery_tag, multiple, self._acked)

    def _on_nack(self, delivery_tag, multiple):
        self._settle(delivery_tag, multiple, self._nacked)

    def publish_many(self, messages: list[Outgoing], timeout: float = CONFIRM_TIMEOUT) -> list[bool]:
        tags = []
        for m in messages:
            properties = {
                "delivery_mode": 2,
                "message_id": m.message_id,
                "type": m.type,
                "timestamp": int(time.time()),
            }
            message = self.channel.prepare_message(
                m.body,
                content_type=m.content_type,
                content_encoding="utf-8",
                headers=m.headers or {},
                properties=properties,
            )
            tag = self._next_tag
            self._next_tag += 1
            self._pending.add(tag)
            tags.append(tag)
            self.channel.basic_publish(message, exchange=m.exchange, routing_key=m.routing_key)
        deadline = time.monotonic() + timeout
        while self._pending & set(tags):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PublishFailed(f"{len(self._pending)} messages unconfirmed after {timeout:.0f} s")
            try:
                self.connection.drain_events(timeout=min(remaining, 1.0))
            except TimeoutError:
                continue
        confirmed = [tag in self._acked for tag in tags]
        self._acked.difference_update(tags)
        self._nacked.difference_update(tags)
        return confirmed

    def publish(self, message: Outgoing, timeout: float = CONFIRM_TIMEOUT) -> None:
        if not self.publish_many([message], timeout)[0]:
            raise PublishFailed(f"RabbitMQ refused message {message.message_id or '(no id)'}")

    def close(self):
        # Closing a broken connection may fail in many ways; there is nothing left to save.
        with contextlib.suppress(Exception):
            self.connection.release()
