"""Every test here runs against the real RabbitMQ (127.0.0.1:5672 here and in CI) with an
exchange and queues of its own, deleted afterwards, so parallel runs never meet."""

import pytest
from django.test import override_settings

from tests.events import rabbit


@pytest.fixture(scope="session")
def rabbitmq():
    reason = rabbit.reachable()
    if reason:
        pytest.skip(f"RabbitMQ is not reachable at {rabbit.AMQP_URL}: {reason}")
    return rabbit.AMQP_URL


@pytest.fixture
def event_names(rabbitmq, settings):
    names = rabbit.unique_names()
    events = dict(
        settings.DHANMAN_EVENTS,
        AMQP_URL=rabbitmq,
        **names,
        HEARTBEAT_INTERVAL=0.2,
        RECONNECT_MAX_DELAY=1.0,
        CONNECT_TIMEOUT=2.0,
        RELAY_POLL_INTERVAL=0.05,
    )
    with override_settings(DHANMAN_EVENTS=events):
        yield names
    rabbit.delete_names(names)


@pytest.fixture
def broker(event_names):
    connection = rabbit.Rabbit(event_names)
    yield connection
    connection.close()
