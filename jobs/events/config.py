"""The events' settings (settings.DHANMAN_EVENTS) as one object, read at each use so that a
test's override_settings applies, and the names derived from them."""

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class EventsConfig:
    amqp_url: str
    exchange: str
    queue: str
    max_deliveries: int
    prefetch: int
    source: str
    relay: bool
    relay_batch: int
    relay_poll_interval: float
    heartbeat_interval: float
    connect_timeout: float
    reconnect_max_delay: float
    outbox_retention_seconds: int
    processed_retention_seconds: int
    max_event_bytes: int

    @property
    def dead_letter_queue(self) -> str:
        return self.queue + ".dead"


def config() -> EventsConfig:
    s = settings.DHANMAN_EVENTS
    return EventsConfig(
        amqp_url=s["AMQP_URL"],
        exchange=s["EXCHANGE"],
        queue=s["QUEUE"],
        max_deliveries=max(1, int(s["MAX_DELIVERIES"])),
        prefetch=max(1, int(s["PREFETCH"])),
        source=s["SOURCE"],
        relay=bool(s["RELAY"]),
        relay_batch=max(1, int(s["RELAY_BATCH"])),
        relay_poll_interval=float(s["RELAY_POLL_INTERVAL"]),
        heartbeat_interval=float(s["HEARTBEAT_INTERVAL"]),
        connect_timeout=float(s["CONNECT_TIMEOUT"]),
        reconnect_max_delay=float(s["RECONNECT_MAX_DELAY"]),
        outbox_retention_seconds=int(s["OUTBOX_RETENTION_SECONDS"]),
        processed_retention_seconds=int(s["PROCESSED_RETENTION_SECONDS"]),
        max_event_bytes=int(s["MAX_EVENT_BYTES"]),
    )
