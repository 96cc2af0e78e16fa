import contextlib
import signal
import subprocess

import pytest

from tests.support.cluster import start_cluster


@pytest.fixture
def cluster_factory():
    """tests/conftest.py's factory, but the servers still running at teardown are stopped
    together (SIGTERM to each main process, then one wait) rather than one after the other:
    a drill starts three or four of them."""
    started = []

    def start(workers=2, env=None, wait=True):
        handle = start_cluster(workers, env, wait)
        started.append(handle)
        return handle

    yield start
    for handle in started:
        if handle.process.poll() is None:
            handle.process.send_signal(signal.SIGTERM)
    for handle in started:
        with contextlib.suppress(subprocess.TimeoutExpired):
            handle.process.wait(40)
        handle.stop()  # kills what did not exit, and reaps the process group
