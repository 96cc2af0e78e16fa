"""`publish()`: an event leaves a service as a row in the outbox, in the service's transaction.

If the service's transaction rolls back, the event was never published; once it commits, the
relay (relay.py) sends it, however long RabbitMQ is away. Nothing talks to RabbitMQ here, so a
service works the same with RabbitMQ down or absent (SQLite, `make run` without RabbitMQ).
"""

import json
import uuid
from datetime import datetime

from django.db import connection
from django.utils import timezone

from jobs.events.config import config
from jobs.events.envelope import encode, envelope, validate_type
from jobs.models import EventOutbox


class PublishError(ValueError):
    """The event cannot be published as given; nothing was written."""


def _plain_json(value, path: str):
    if value is None or isinstance(value, bool | int | float | str):
        if isinstance(value, float) and value != value:  # NaN is not JSON
            raise PublishError(f"{path} is NaN.")
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _plain_json(item, f"{path}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise PublishError(f"{path} has a non-string key {key!r}.")
            _plain_json(item, f"{path}.{key}")
        return
    raise PublishError(
        f"{path} is a {type(value).__name__}: event data is plain JSON (money and times as strings)."
    )


def publish(
    event_type: str, data: dict, *, aggregate: str = "", occurred_at: datetime | None = None
) -> EventOutbox:
    """Write `event_type` with `data` to the outbox, in the current transaction.

    `aggregate` names what the event is about ("sales.invoice:42"): events of one aggregate are
    delivered in the order they were published. Inside a transaction on PostgreSQL, publishing
    takes a transaction lock on the aggregate, so two transactions publishing for the same
    aggregate write their rows one after the other (ids in commit order).
    """
    cfg = config()
    try:
        validate_type(event_type)
    except ValueError as exc:
        raise PublishError(str(exc)) from None
    if not isinstance(data, dict):
        raise PublishError(f"data must be a dict, not {type(data).__name__}.")
    _plain_json(data, "data")
    aggregate = str(aggregate or "")
    if len(aggregate) > 200:
        raise PublishError("aggregate is over 200 characters.")
    occurred_at = occurred_at or timezone.now()
    if timezone.is_naive(occurred_at):
        raise PublishError("occurred_at must be an aware datetime.")
    event_id = uuid.uuid4()
    size = len(
        encode(envelope(id=event_id, type=event_type, occurred_at=occurred_at, data=data, source=cfg.source))
    )
    if size > cfg.max_event_bytes:
        raise PublishError(
            f"the event is {size} bytes, over the {cfg.max_event_bytes} limit: send ids, not documents."
        )
    if aggregate and connection.vendor == "postgresql" and connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [aggregate])
    return EventOutbox.objects.create(
        event_id=event_id,
        type=event_type,
        aggregate=aggregate,
        data=json.loads(json.dumps(data)),
        source=cfg.source,
        occurred_at=occurred_at,
    )
