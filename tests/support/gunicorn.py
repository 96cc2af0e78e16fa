"""gunicorn, as production runs it (DEBUG off, collected static files served by WhiteNoise), on a
free port, against the test database: the browser tests that must see exactly the headers and
pages a deployment serves (the CSP, the static files under it) use this rather than Django's
live test server.

    with gunicorn_on_test_database(tmp_path) as url:
        page.goto(url + "/admin/")

Rows the test commits (django_db(transaction=True)) are what the server shows.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from django.db import connection

from tests.support.make_run import free_port, get

ROOT = Path(__file__).resolve().parents[2]


def test_database_url() -> str:
    """The URL of the database this test process uses (pytest-django's test database)."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@contextlib.contextmanager
def gunicorn_on_test_database(directory: Path, extra: dict | None = None) -> Iterator[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DEBUG")}
    env.update(
        DATABASE_URL=test_database_url(),
        DEBUG="False",
        SECRET_KEY="browser-tests-only-" + "k" * 40,
        # Plain http on 127.0.0.1: cookies marked Secure would not come back.
        SESSION_COOKIE_SECURE="False",
        CSRF_COOKIE_SECURE="False",
        # No connection left open between requests: the test's flush must not wait on one.
        CONN_MAX_AGE="0",
        STATIC_ROOT=str(directory / "static"),
        DHANMAN_TEST_APPS="1",
        WEB_CONCURRENCY="2",
        GUNICORN_THREADS="2",
        PYTHONUNBUFFERED="1",
        **{k: str(v) for k, v in (extra or {}).items()},
    )
    collected = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert collected.returncode == 0, collected.stderr[-2000:]
    port = free_port()
    log_path = directory / "gunicorn.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "dhanman/gunicorn.conf.py",
                "--bind",
                f"127.0.0.1:{port}",
                "dhanman.wsgi",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise AssertionError(
                    f"gunicorn exited with {process.returncode}:\n{log_path.read_text()[-4000:]}"
                )
            with contextlib.suppress(OSError):
                if get(url + "/healthz", timeout=2)[0] == 200:
                    break
            if time.monotonic() > deadline:
                raise AssertionError(f"gunicorn did not answer within 60 s:\n{log_path.read_text()[-4000:]}")
            time.sleep(0.3)
        yield url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
