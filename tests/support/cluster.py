"""Real `manage.py qcluster` servers for the tests, against the test database.

    with run_cluster(workers=2) as server:
        some_task.enqueue(...)
        server.wait_for(lambda: Execution.objects.count() == 1)

Each server runs in its own session (process group), so `kill()` can take the whole tree down
with SIGKILL like a lost machine, while `stop()` sends SIGTERM to the main process only.
Timings are shortened (lease, heartbeat, reaper) so recovery shows within seconds.
"""

import contextlib
import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
_counter = itertools.count(1)

FAST = {
    "JOBS_LEASE_SECONDS": "3",
    "JOBS_HEARTBEAT_INTERVAL": "0.5",
    "JOBS_SERVER_CHECK_INTERVAL": "0.5",
    "JOBS_SERVER_TIMEOUT": "3",
    "JOBS_SCHEDULE_POLLING_INTERVAL": "0.2",
    "JOBS_POLL_INTERVAL": "0.5",
    "JOBS_SHUTDOWN_GRACE_SECONDS": "5",
    # As in production: DEBUG on would keep every query of a worker's connection in memory.
    "DEBUG": "False",
    "SECRET_KEY": "test-servers-only-" + "x" * 40,
}


def database_url() -> str:
    """The URL of the database this test process uses (the test database)."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    return _postgres_url(s["HOST"] or "127.0.0.1", s["PORT"] or 5432)


def _postgres_url(host, port) -> str:
    s = connection.settings_dict
    auth = s["USER"] or "postgres"
    if s.get("PASSWORD"):
        auth += f":{s['PASSWORD']}"
    return f"postgres://{auth}@{host}:{port}/{s['NAME']}"


# DHANMAN_TEST_PGBOUNCER=1: every server the tests start reaches the test database through one
# PgBouncer in transaction pooling (started on first use, stopped when the test process exits),
# listening on a direct connection, as production behind a pooler is configured.
_bouncer = None


def through_pgbouncer() -> bool:
    return (
        os.environ.get("DHANMAN_TEST_PGBOUNCER", "").lower() in ("1", "true", "yes")
        and connection.vendor == "postgresql"
    )


def pooled_env(bouncer=None) -> dict[str, str]:
    """The environment of a server behind `bouncer` (default: the session's shared one)."""
    global _bouncer
    if bouncer is None:
        if _bouncer is None:
            import atexit

            from tests.support.pgbouncer import PgBouncer

            s = connection.settings_dict
            _bouncer = PgBouncer(s["HOST"] or "127.0.0.1", s["PORT"] or 5432, pool_size=20).start()
            atexit.register(_bouncer.stop)
        bouncer = _bouncer
    return {
        "DATABASE_URL": _postgres_url("127.0.0.1", bouncer.port),
        "DATABASE_POOLER": "transaction",
        "JOBS_LISTEN_DATABASE_URL": database_url(),
    }


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.05, message: str = ""):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout} s waiting for {message or predicate}")
        time.sleep(interval)


class ClusterProcess:
    def __init__(self, process: subprocess.Popen, log_path: Path):
        self.process = process
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def server(self):
        from jobs.models import Server

        return Server.objects.filter(pid=self.pid).order_by("-started_at").first()

    def wait_until_ready(self, timeout: float = 30.0):
        def ready():
            if self.process.poll() is not None:
                raise AssertionError(f"qcluster exited with {self.process.returncode}:\n{self.log()[-3000:]}")
            server = self.server()
            return server is not None and server.status == "running"

        wait_for(ready, timeout, 0.1, "the job server's first heartbeat")
        return self

    def wait_for(self, predicate, timeout: float = 30.0, message: str = ""):
        try:
            return wait_for(predicate, timeout, message=message)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- qcluster log ---\n{self.log()[-4000:]}") from None

    def stop(self, timeout: float = 40.0) -> int:
        """SIGTERM to the main process only, as an operator should; wait for the exit."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._reap_group()
        return self.process.returncode

    def kill(self):
        """SIGKILL the whole process tree at once: a machine that vanished."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)

    def _reap_group(self):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)


def start_cluster(workers: int = 2, env: dict | None = None, wait: bool = True, args=()) -> ClusterProcess:
    """Start `manage.py qcluster` (with extra command-line `args`) against the test database."""
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / f"qcluster-{os.getpid()}-{next(_counter)}.log"
    full_env = os.environ.copy()
    full_env.update(FAST)
    full_env.update(
        {
            "DATABASE_URL": database_url(),
            "DHANMAN_TEST_APPS": "1",
            "JOBS_WORKER_COUNT": str(workers),
            "CONN_MAX_AGE": "0",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if through_pgbouncer():
        full_env.update(pooled_env())
    full_env.update({k: str(v) for k, v in (env or {}).items()})
    log = open(log_path, "wb")  # noqa: SIM115 (closed with the process)
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "qcluster", *args],
        cwd=ROOT,
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    handle = ClusterProcess(process, log_path)
    if wait:
        handle.wait_until_ready()
    return handle


@contextlib.contextmanager
def run_cluster(workers: int = 2, env: dict | None = None):
    handle = start_cluster(workers, env)
    try:
        yield handle
    finally:
        handle.stop()
