import pytest
from django.test.utils import override_settings

from tests.support import make_run
from tests.support.cluster import start_cluster


@pytest.fixture(scope="session")
def make_run_install(tmp_path_factory):
    """`make run`'s setup on a fresh SQLite file, once per session (tests/support/make_run.py)."""
    return make_run.install(tmp_path_factory.mktemp("make-run"))


@pytest.fixture(scope="session", autouse=True)
def unhashed_static_files(tmp_path_factory):
    """Pages rendered in the test process use plain static URLs. Production's manifest storage
    needs `collectstatic` first (tests run with DEBUG off, where it insists on its manifest);
    the tests that start `make run`'s processes run collectstatic and check the real thing."""
    with override_settings(
        STORAGES={
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        },
        STATIC_ROOT=tmp_path_factory.mktemp("static"),
    ):
        yield


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
