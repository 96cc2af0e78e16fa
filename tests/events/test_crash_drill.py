"""Real `consume_events` processes: SIGKILL mid-stream loses and doubles nothing; SIGTERM stops
gracefully; a RabbitMQ connection that drops (a proxy we stop) is reconnected."""

import os
import signal
import time
from collections import Counter

import pytest

from jobs.models import EventConsumer
from tests.events.rabbit import ConsumerProcess, TcpProxy, envelope, wait_for
from tests.testapp.models import Attempt

pytestmark = pytest.mark.django_db(transaction=True)

# make drills (DRILL_SIZE=full): the 1,000 messages, killed after 300. make test: the same
# drill at 400 (killed after 120), as one transaction per message costs ~25 ms on a busy machine.
SIZE = 1_000 if os.environ.get("DRILL_SIZE") == "full" else 400
KILL_AFTER = SIZE * 3 // 10


def handled() -> int:
    return Attempt.objects.count()


def test_consumer_sigkilled_after_30_percent_then_restarted_handles_each_message_exactly_once(
    broker, event_names
):
    broker.declare()
    broker.send_many([envelope("tests.probe", {"key": f"m{n}"}) for n in range(SIZE)])
    first = ConsumerProcess(event_names, env={"EVENTS_PREFETCH": "50", "EVENTS_RELAY": "false"})
    try:
        wait_for(lambda: handled() >= KILL_AFTER, 60, 0.01, f"{KILL_AFTER} handled", log=first.log)
        os.kill(first.process.pid, signal.SIGKILL)
        first.process.wait(10)
    finally:
        first.kill()
    at_kill = handled()
    assert at_kill < SIZE, "the consumer finished before it could be killed: make the drill larger"
    second = ConsumerProcess(event_names, env={"EVENTS_PREFETCH": "50", "EVENTS_RELAY": "false"})
    try:
        wait_for(
            lambda: Attempt.objects.values("key").distinct().count() >= SIZE,
            120,
            0.1,
            "every message handled",
            log=second.log,
        )
        wait_for(lambda: broker.depth(broker.queue) == 0, 10, 0.1, "the queue drained", log=second.log)
    finally:
        assert second.terminate() == 0, second.log()[-3000:]
    counts = Counter(Attempt.objects.values_list("key", flat=True))
    assert len(counts) == SIZE
    assert max(counts.values()) == 1, [k for k, v in counts.items() if v > 1][:10]
    assert broker.depth(broker.dead) == 0
    print(f"killed after {at_kill} of {SIZE}; restarted; {len(counts)} handled once each")


def test_sigterm_stops_gracefully_and_leaves_the_rest_on_the_queue(broker, event_names):
    broker.declare()
    broker.send_many([envelope("tests.probe", {"key": f"t{n}"}) for n in range(300)])
    consumer = ConsumerProcess(event_names, env={"EVENTS_PREFETCH": "20", "EVENTS_RELAY": "false"})
    wait_for(lambda: handled() >= 20, 60, 0.01, "some handled", log=consumer.log)
    started = time.monotonic()
    assert consumer.terminate(timeout=15) == 0, consumer.log()[-3000:]
    assert time.monotonic() - started < 10
    row = EventConsumer.objects.get(pid=consumer.process.pid)
    assert row.status == "stopped" and row.stopped_at is not None
    assert row.consumed == handled()
    # Every message is either handled or still queued (the prefetched ones went back).
    assert handled() + broker.depth(broker.queue) == 300


def test_the_consumer_reconnects_when_rabbitmq_goes_away_and_comes_back(broker, event_names):
    broker.declare()
    proxy = TcpProxy().start()
    consumer = ConsumerProcess(event_names, url=proxy.url, env={"EVENTS_RELAY": "false"})
    try:
        broker.send(envelope("tests.probe", {"key": "before"}))
        wait_for(lambda: handled() == 1, 30, 0.05, "the first message", log=consumer.log)
        proxy.stop()
        wait_for(
            lambda: EventConsumer.objects.filter(pid=consumer.process.pid, status="reconnecting").exists(),
            30,
            0.1,
            "the consumer to notice",
            log=consumer.log,
        )
        broker.send(envelope("tests.probe", {"key": "during"}))  # waits in the queue
        time.sleep(0.5)
        assert handled() == 1
        proxy.start()
        wait_for(lambda: handled() == 2, 30, 0.05, "the message sent during the outage", log=consumer.log)
        assert EventConsumer.objects.get(pid=consumer.process.pid).status == "connected"
    finally:
        consumer.terminate()
        proxy.stop()
