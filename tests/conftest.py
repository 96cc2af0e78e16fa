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
