"""What the console's Events page shows, read from our tables (RabbitMQ's side is deadletters.py)."""

from datetime import timedelta

from django.db.models import Min, Sum
from django.utils import timezone

from jobs.events.config import config
from jobs.models import EventConsumer, EventOutbox

MAX_CONSUMERS = 100


def consumer_is_alive(consumer: EventConsumer, now=None) -> bool:
    now = now or timezone.now()
    limit = timedelta(seconds=max(3 * config().heartbeat_interval, 15))
    return consumer.status != "stopped" and now - consumer.heartbeat_at <= limit


def overview(now=None) -> dict:
    now = now or timezone.now()
    consumers = list(EventConsumer.objects.order_by("-heartbeat_at")[:MAX_CONSUMERS])
    totals = EventConsumer.objects.aggregate(
        consumed=Sum("consumed"),
        duplicates=Sum("duplicates"),
        failed=Sum("failed"),
        dead_lettered=Sum("dead_lettered"),
        relayed=Sum("relayed"),
    )
    unsent = EventOutbox.objects.filter(sent_at__isnull=True)
    oldest = unsent.aggregate(at=Min("created_at"))["at"]
    return {
        "consumers": [
            {
                "consumer": c,
                "alive": consumer_is_alive(c, now),
                "heartbeat_age": (now - c.heartbeat_at).total_seconds(),
            }
            for c in consumers
        ],
        "totals": {k: v or 0 for k, v in totals.items()},
        "backlog": unsent.count(),
        "oldest_unsent_age": (now - oldest).total_seconds() if oldest else None,
    }
