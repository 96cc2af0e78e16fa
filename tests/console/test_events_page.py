"""The console's Events page: consumers, counts, backlog, dead letters and their replay."""

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from jobs.events import publish
from jobs.events.config import config
from jobs.models import EventConsumer
from tests.events import rabbit
from tests.events.rabbit import dead_letter, queued_replay_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker():
    """This session's queues (tests/conftest.py), emptied first."""
    if reason := rabbit.reachable():
        pytest.skip(f"RabbitMQ is not reachable: {reason}")
    cfg = config()
    connection = rabbit.Rabbit({"EXCHANGE": cfg.exchange, "QUEUE": cfg.queue}, cfg.amqp_url)
    connection.declare()
    connection.take_all(connection.queue)
    connection.take_all(connection.dead)
    yield connection
    connection.close()


def test_the_page_shows_consumers_counts_backlog_and_dead_letters(client_for, broker):
    EventConsumer.objects.create(
        id="host:1:a",
        host="host",
        pid=1,
        queue="q",
        status="connected",
        heartbeat_at=timezone.now(),
        consumed=12,
        failed=3,
        dead_lettered=1,
    )
    publish("tests.probe", {"key": "waiting"})
    letter = dead_letter("handler sales.events.x raised ValueError: boom")
    page = client_for("viewer").get(reverse("jobs_console:events"))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-consumer="host:1:a" data-alive="true"' in html
    assert '<td data-count="consumed">12</td>' in html and '<td data-count="dead_lettered">1</td>' in html
    assert '<td data-count="backlog">1</td>' in html
    assert f'data-dead-letter="{letter}"' in html and "raised ValueError: boom" in html
    assert "Replay" not in html  # a viewer does not act
    assert "Replay" in client_for("operator").get(reverse("jobs_console:events")).content.decode()


def test_replay_puts_the_message_back_on_our_queue(client_for, broker):
    letter = dead_letter()
    before = broker.depth(broker.dead)
    response = client_for("operator").post_with_csrf(reverse("jobs_console:event_replay", args=[letter]))
    assert response.status_code == 302
    assert broker.depth(broker.dead) == before - 1
    assert queued_replay_of(letter)
    [message] = broker.take_all(broker.queue)
    assert message.application_headers["x-dhanman-deliveries"] == 0


def test_the_page_says_when_rabbitmq_is_unreachable(client_for, settings):
    with override_settings(
        DHANMAN_EVENTS=dict(
            settings.DHANMAN_EVENTS, AMQP_URL="amqp://guest:guest@127.0.0.1:1//", CONNECT_TIMEOUT=1
        )
    ):
        page = client_for("viewer").get(reverse("jobs_console:events"))
    assert page.status_code == 200
    assert 'id="rabbitmq-unreachable"' in page.content.decode()
