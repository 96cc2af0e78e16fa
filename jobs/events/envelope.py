"""The envelope every event travels in (docs/events.md), and its strict parsing.

    {"id": "…", "type": "sales.invoice_created", "occurred_at": "2026-12-01T10:00:00+05:30",
     "data": {…}, "source": "dhanman-sales"}

Parsing never guesses: a body that is not UTF-8 JSON, a missing or mistyped field, a naive
timestamp are each a `BadMessage` whose text is the reason written on the dead letter.
"""

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils.dateparse import parse_datetime

TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
FIELDS = ("id", "type", "occurred_at", "data", "source")
MAX_ID_LENGTH = 200


class BadMessage(ValueError):
    """The message cannot be handled as it is; the text says why."""


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    occurred_at: datetime
    data: dict[str, Any]
    source: str
    # Set by the consumer: whether RabbitMQ delivered this message before (a crash, a requeue).
    redelivered: bool = field(default=False, compare=False)


def validate_type(value) -> str:
    if not isinstance(value, str) or not TYPE_PATTERN.match(value) or len(value) > 200:
        raise BadMessage(
            f"type {value!r} is not an event type: lowercase dotted words such as 'sales.invoice_created'."
        )
    return value


def parse_timestamp(value, name: str) -> datetime:
    if not isinstance(value, str):
        raise BadMessage(f"{name} must be an ISO-8601 string, not {type(value).__name__}.")
    try:
        parsed = parse_datetime(value)
    except ValueError:
        parsed = None
    if parsed is None:
        raise BadMessage(f"{name} {value!r} is not an ISO-8601 date and time.")
    if parsed.tzinfo is None:
        raise BadMessage(f"{name} {value!r} has no time zone offset.")
    return parsed


def parse(body: bytes | str) -> Event:
    """The Event in a message body, or BadMessage."""
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            raise BadMessage("body is not UTF-8 text.") from None
    try:
        document = json.loads(body)
    except (ValueError, TypeError) as exc:
        raise BadMessage(f"body is not JSON: {exc}.") from None
    if not isinstance(document, dict):
        raise BadMessage(f"body is a JSON {type(document).__name__}, not an object.")
    missing = [name for name in FIELDS if name not in document]
    if missing:
        raise BadMessage(f"missing fields: {', '.join(missing)}.")
    message_id = document["id"]
    if not isinstance(message_id, str) or not message_id.strip() or len(message_id) > MAX_ID_LENGTH:
        raise BadMessage(f"id must be a non-empty string of at most {MAX_ID_LENGTH} characters.")
    source = document["source"]
    if not isinstance(source, str) or not source.strip():
        raise BadMessage("source must be a non-empty string.")
    if not isinstance(document["data"], dict):
        raise BadMessage(f"data must be a JSON object, not {type(document['data']).__name__}.")
    return Event(
        id=message_id,
        type=validate_type(document["type"]),
        occurred_at=parse_timestamp(document["occurred_at"], "occurred_at"),
        data=document["data"],
        source=source,
    )


def envelope(*, id: str | uuid.UUID, type: str, occurred_at: datetime, data: dict, source: str) -> dict:
    return {
        "id": str(id),
        "type": type,
        "occurred_at": occurred_at.isoformat(),
        "data": data,
        "source": source,
    }


def encode(document: dict) -> bytes:
    # Compact and ASCII-safe; DjangoJSONEncoder would silently turn Decimals and dates into
    # strings here, but publish() already refused anything that is not plain JSON.
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
