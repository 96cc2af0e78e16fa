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
def _shared_pgbouncer_stopped_before_the_test_database_goes(request):
    """DHANMAN_TEST_PGBOUNCER=1: the PgBouncer every server went through keeps server sessions on
    the test database; it must stop before pytest-django drops that database."""
    import os

    if os.environ.get("DHANMAN_TEST_PGBOUNCER", "").lower() not in ("1", "true", "yes"):
        yield
        return
    request.getfixturevalue("django_db_setup")  # set up first, so torn down after this
    yield
    from tests.support import cluster

    if cluster._bouncer is not None:
        cluster._bouncer.stop()
        cluster._bouncer = None
