"""The consumer against the real RabbitMQ, in this process: what a message does, once."""

import json
from datetime import datetime, timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from jobs.events.consumer import Consumer
from jobs.events.envelope import BadMessage, parse
from jobs.events.registry import handlers_for
from jobs.models import EventConsumer, Job, ProcessedEvent, State
from tests.events.rabbit import envelope
from tests.testapp.models import Attempt

pytestmark = pytest.mark.django_db(transaction=True)


def consume(idle: float = 0.4) -> Consumer:
    consumer = Consumer(relay=False)
    consumer.run(idle_exit=idle)
    return consumer


def test_invoice_created_schedules_the_reminder_and_enqueues_the_notification(broker):
    broker.declare()
    due_at = (timezone.now() + timedelta(days=10)).replace(microsecond=0)
    broker.send(envelope("sales.invoice_created", {"invoice_id": 4242, "due_at": due_at.isoformat()}))
    consume()
    reminder = Job.objects.get(task_path="sales.tasks.send_invoice_reminder")
    assert reminder.state == State.SCHEDULED
    assert reminder.run_at == due_at - timedelta(hours=24)
    assert reminder.args == [4242]
    notification = Job.objects.get(task_path="sales.tasks.send_invoice_notification")
    assert notification.state == State.ENQUEUED
    assert notification.args == [4242]
    assert broker.depth(broker.queue) == 0


def test_the_same_message_delivered_twice_makes_one_set_of_jobs(broker):
    broker.declare()
    message = envelope("sales.invoice_created", {"invoice_id": 7, "due_at": "2030-01-10T00:00:00+05:30"})
    broker.send(message)
    broker.send(message)
    consumer = consume()
    assert Job.objects.filter(task_path="sales.tasks.send_invoice_reminder").count() == 1
    assert Job.objects.filter(task_path="sales.tasks.send_invoice_notification").count() == 1
    assert ProcessedEvent.objects.filter(message_id=message["id"]).count() == 1
    assert consumer.counts["consumed"] == 1 and consumer.counts["duplicates"] == 1
    row = EventConsumer.objects.get(pk=consumer.id)
    assert (row.status, row.consumed, row.duplicates) == ("stopped", 1, 1)


@override_settings()
def test_bad_messages_are_dead_lettered_with_a_reason_and_the_next_good_one_is_handled(broker, settings):
    settings.DHANMAN_EVENTS = dict(settings.DHANMAN_EVENTS, MAX_DELIVERIES=3)
    # The unknown type reaches our queue only through a binding of its own (a stale binding,
    # another service's mistake).
    broker.declare(bindings=["tests.unheard_of"])
    consume(idle=0.1)  # declares our bindings
    broker.send(b"{not json", routing_key="tests.probe")
    broker.send(
        {"id": "no-type-or-data", "occurred_at": "2026-12-01T00:00:00Z", "source": "x"},
        routing_key="tests.probe",
    )
    broker.send(envelope("tests.probe", {"other": 1}))  # the handler's data.key is missing
    broker.send(envelope("tests.unheard_of", {}))
    broker.send(envelope("tests.explode", {}))
    good = envelope("tests.probe", {"key": "good"})
    broker.send(good)
    consumer = consume()

    assert list(Attempt.objects.values_list("key", flat=True)) == ["good"]  # explode's attempts rolled back
    assert broker.depth(broker.queue) == 0
    letters = broker.take_all(broker.dead)
    reasons = sorted(m.application_headers["x-dhanman-reason"] for m in letters)
    assert len(reasons) == 5
    assert any(r.startswith("body is not JSON") for r in reasons)
    assert any(r.startswith("missing fields: type, data") for r in reasons)
    assert any("data.key is missing" in r for r in reasons)
    assert any(r.startswith("unknown type 'tests.unheard_of'") for r in reasons)
    assert any("RuntimeError: the probe handler always fails" in r for r in reasons)
    assert {m.application_headers["x-dhanman-deliveries"] for m in letters} == {3}
    assert all(m.application_headers["x-dhanman-dead-letter-id"] for m in letters)
    assert consumer.counts["dead_lettered"] == 5 and consumer.counts["failed"] == 15
    assert consumer.counts["consumed"] == 1


def test_our_own_events_are_skipped(broker, settings):
    broker.declare()
    consume(idle=0.1)
    broker.send(envelope("tests.probe", {"key": "mine"}, source=settings.DHANMAN_EVENTS["SOURCE"]))
    consume()
    assert not Attempt.objects.exists()
    assert broker.depth(broker.queue) == 0


def test_the_queue_is_bound_to_the_declared_types_only(broker):
    consume(idle=0.1)
    broker.send(envelope("tests.probe", {"key": "bound"}))
    broker.send(envelope("sales.something_else", {}))  # no handler, no binding: never arrives
    assert broker.depth(broker.queue) == 1


def test_handler_data_is_converted_for_the_handler():
    handler = handlers_for("sales.invoice_created")[0]
    body = json.dumps(envelope("sales.invoice_created", {"invoice_id": 1, "due_at": "2030-01-01T00:00:00Z"}))
    event = handler.prepare(parse(body))
    assert isinstance(event.data["due_at"], datetime) and event.data["due_at"].tzinfo is not None
    with pytest.raises(BadMessage, match="data.invoice_id must be an integer"):
        handler.prepare(parse(body.replace('"invoice_id": 1', '"invoice_id": "1"')))
