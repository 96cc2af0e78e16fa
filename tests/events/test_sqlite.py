"""Without RabbitMQ, on the embedded SQLite default: services publish into the outbox, and the
consumer's transaction (processed id + handlers) works the same (make test's SQLite pass)."""

import json
import uuid
from datetime import UTC, datetime

import pytest

from jobs.events import publish
from jobs.events.consumer import run_handlers
from jobs.events.envelope import parse
from jobs.events.relay import select_batch
from jobs.models import EventOutbox, Job, ProcessedEvent

pytestmark = [pytest.mark.sqlite, pytest.mark.django_db]


def test_publishing_and_handling_work_on_sqlite():
    publish("tests.probe", {"key": "a"}, aggregate="x")
    publish("tests.probe", {"key": "b"}, aggregate="x")
    assert [r.data["key"] for r in select_batch(10)] == ["a"]
    assert EventOutbox.objects.count() == 2
    body = json.dumps(
        {
            "id": str(uuid.uuid4()),
            "type": "sales.invoice_created",
            "source": "dhanman-sales",
            "occurred_at": datetime.now(UTC).isoformat(),
            "data": {"invoice_id": 3, "due_at": "2030-01-10T00:00:00+05:30"},
        }
    )
    event = parse(body)
    assert run_handlers(event, "q") == "handled"
    assert run_handlers(event, "q") == "duplicate"
    assert Job.objects.filter(task_path__startswith="sales.tasks.send_invoice_").count() == 2
    assert ProcessedEvent.objects.count() == 1
