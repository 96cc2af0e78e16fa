import pytest

from tests.support.cluster import start_cluster


@pytest.fixture
def cluster_factory():
    """Start real job servers; every one still running is stopped at teardown."""
    started = []

    def start(workers=2, env=None, wait=True, args=()):
        handle = start_cluster(workers, env, wait, args)
        started.append(handle)
        return handle

    yield start
    for handle in started:
        handle.stop()


@pytest.fixture(scope="session", autouse=True)
def _private_event_names():
    """No test touches the real `dhanman.events` exchange or `dhanman-jobs.events` queue of the
    RabbitMQ it shares with others: this session's names are its own (tests/events makes its
    own per test), deleted at the end."""
    from django.conf import settings
    from django.test import override_settings

    from tests.events import rabbit

    names = rabbit.unique_names()
    override = override_settings(DHANMAN_EVENTS=dict(settings.DHANMAN_EVENTS, **names))
    override.enable()
    yield names
    override.disable()
    rabbit.delete_names(names)
