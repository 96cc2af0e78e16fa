"""The outbox and its relay against the real RabbitMQ: publisher confirms, order per aggregate,
an outage while services publish (a TCP proxy we stop: the machine's RabbitMQ keeps running),
expiry of sent rows."""

import json
import threading
from datetime import timedelta

import pytest
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from jobs.events import publish
from jobs.events.config import config
from jobs.events.outbox import PublishError
from jobs.events.publisher import ConfirmingPublisher
from jobs.events.relay import Relay, expire, relay_once, select_batch
from jobs.models import EventConsumer, EventOutbox, ProcessedEvent
from tests.events.rabbit import TcpProxy, wait_for

RELAY_DB = pytest.mark.django_db(transaction=True)  # the relay runs in a thread of its own


def received(broker, queue) -> list[dict]:
    return [json.loads(m.body) for m in broker.take_all(queue)]


@pytest.mark.django_db
def test_publish_writes_in_the_callers_transaction_only():
    with pytest.raises(RuntimeError), transaction.atomic():
        publish("tests.probe", {"key": "gone"})
        raise RuntimeError("rolled back")
    assert not EventOutbox.objects.exists()
    publish("tests.probe", {"key": "kept"}, aggregate="tests:1")
    assert EventOutbox.objects.get().data == {"key": "kept"}


@pytest.mark.parametrize(
    "event_type, data, match",
    [
        ("Sales.Invoice", {}, "not an event type"),
        ("sales.invoice_created", [], "data must be a dict"),
        (
            "sales.invoice_created",
            {"amount": __import__("decimal").Decimal("1.00")},
            "data.amount is a Decimal",
        ),
        ("sales.invoice_created", {"at": timezone.now()}, "data.at is a datetime"),
        ("sales.invoice_created", {"blob": "x" * 70_000}, "over the 65536 limit"),
    ],
)
@pytest.mark.django_db
def test_publish_refuses_bad_events_and_writes_nothing(event_type, data, match):
    with pytest.raises(PublishError, match=match):
        publish(event_type, data)
    assert not EventOutbox.objects.exists()


@RELAY_DB
def test_the_relay_sends_with_confirms_and_marks_rows_sent(broker):
    probe = broker.bind_probe()
    rows = [publish("tests.probe", {"key": f"k{n}"}) for n in range(5)]
    publisher = ConfirmingPublisher(config())
    try:
        assert relay_once(publisher, config()) == 5
    finally:
        publisher.close()
    assert not EventOutbox.objects.filter(sent_at__isnull=True).exists()
    messages = received(broker, probe)
    assert [m["id"] for m in messages] == [str(r.event_id) for r in rows]
    assert set(messages[0]) == {"id", "type", "occurred_at", "data", "source"}


@pytest.mark.django_db
def test_a_batch_holds_one_row_per_aggregate():
    for n in range(3):
        publish("tests.probe", {"key": f"a{n}"}, aggregate="a")
        publish("tests.probe", {"key": f"b{n}"}, aggregate="b")
        publish("tests.probe", {"key": f"free{n}"})
    assert [r.data["key"] for r in select_batch(100)] == ["a0", "b0", "free0", "free1", "free2"]


@RELAY_DB
def test_the_relay_keeps_the_order_of_events_per_aggregate(broker, settings):
    settings.DHANMAN_EVENTS = dict(settings.DHANMAN_EVENTS, RELAY_BATCH=7)
    probe = broker.bind_probe()
    expected = {f"inv:{a}": [] for a in range(5)}
    for n in range(40):
        aggregate = f"inv:{n * 7 % 5}"
        row = publish("tests.probe", {"key": f"{aggregate}#{n}"}, aggregate=aggregate)
        expected[aggregate].append(str(row.event_id))
    relay = Relay(config())
    thread = threading.Thread(target=relay.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: not EventOutbox.objects.filter(sent_at__isnull=True).exists(), 30, 0.05, "all sent")
    finally:
        relay.stop()
        thread.join(10)
    got = {a: [] for a in expected}
    for message in received(broker, probe):
        got[message["data"]["key"].split("#")[0]].append(message["id"])
    assert got == expected


@RELAY_DB
def test_events_published_while_rabbitmq_is_unreachable_wait_and_all_arrive_once_it_is_back(broker, settings):
    from sales import services as sales

    probe = broker.bind_probe("sales.invoice_created")
    proxy = TcpProxy().start()
    with override_settings(DHANMAN_EVENTS=dict(settings.DHANMAN_EVENTS, AMQP_URL=proxy.url)):
        relay = Relay(config())
        thread = threading.Thread(target=relay.run, daemon=True)
        thread.start()
        try:
            wait_for(lambda: relay.connected, 10, 0.05, "the relay to connect")
            proxy.stop()  # RabbitMQ is away, as the relay sees it
            society = sales.society_create(
                name="Outage CHS", code="outage", contact_email="o@example.com", monthly_charge="100.00"
            )
            resident = sales.resident_register(
                society_id=society.pk, name="R", email="r@example.com", unit="1"
            )
            due = timezone.localdate() + timedelta(days=5)
            invoices = [
                sales.invoice_create(resident_id=resident.pk, amount="10.00", due_date=due)
                for _ in range(100)
            ]
            unsent = EventOutbox.objects.filter(type="sales.invoice_created", sent_at__isnull=True)
            wait_for(lambda: not relay.connected, 10, 0.05, "the relay to find RabbitMQ gone")
            assert unsent.count() == 100
            assert broker.depth(probe) == 0
            proxy.start()
            wait_for(lambda: not unsent.exists(), 60, 0.1, "the outbox to drain")
        finally:
            relay.stop()
            thread.join(10)
            proxy.stop()
    messages = received(broker, probe)
    assert sorted(m["data"]["invoice_id"] for m in messages) == sorted(i.pk for i in invoices)
    assert len({m["id"] for m in messages}) == 100


@pytest.mark.django_db
def test_sent_rows_and_processed_ids_expire(settings):
    settings.DHANMAN_EVENTS = dict(
        settings.DHANMAN_EVENTS, OUTBOX_RETENTION_SECONDS=60, PROCESSED_RETENTION_SECONDS=60
    )
    old, fresh, unsent = (publish("tests.probe", {"key": k}) for k in ("old", "fresh", "unsent"))
    now = timezone.now()
    EventOutbox.objects.filter(pk=old.pk).update(sent_at=now - timedelta(minutes=5))
    EventOutbox.objects.filter(pk=fresh.pk).update(sent_at=now)
    ProcessedEvent.objects.create(
        message_id="old", type="tests.probe", queue="q", processed_at=now - timedelta(minutes=5)
    )
    ProcessedEvent.objects.create(message_id="new", type="tests.probe", queue="q")
    EventConsumer.objects.create(
        id="gone", host="h", pid=1, queue="q", heartbeat_at=now - timedelta(minutes=5)
    )
    EventConsumer.objects.create(id="here", host="h", pid=2, queue="q", heartbeat_at=now)
    assert expire() == {"outbox": 1, "processed": 1, "consumers": 1}
    assert list(EventConsumer.objects.values_list("id", flat=True)) == ["here"]
    assert set(EventOutbox.objects.values_list("pk", flat=True)) == {fresh.pk, unsent.pk}
    assert list(ProcessedEvent.objects.values_list("message_id", flat=True)) == ["new"]
