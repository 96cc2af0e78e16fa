"""Domain events over RabbitMQ: jobs triggered by events, events published from an outbox.

    from jobs.events import handles, publish

    @handles("sales.invoice_created", data={"invoice_id": int, "due_at": datetime})
    def schedule_invoice_jobs(event): ...          # in a context's events.py

    publish("sales.invoice_created", {...}, aggregate=f"sales.invoice:{invoice.pk}")   # in a service

`manage.py consume_events` consumes our queue and relays the outbox. The envelope, the names
and the guarantees are in docs/events.md.
"""

from jobs.events.envelope import BadMessage, Event
from jobs.events.outbox import publish
from jobs.events.registry import handles

__all__ = ["BadMessage", "Event", "handles", "publish"]
