"""`make run`'s steps on a fresh SQLite file: migrate, admin user, seed, gunicorn + qcluster."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_the_app_and_a_worker_start_on_a_fresh_sqlite_file(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DHANMAN_TEST_APPS")}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'fresh.db'}",
        DHANMAN_ADMIN_PASSWORD="smoke-test-password",
        PORT=str(port),
        JOBS_HEARTBEAT_INTERVAL="0.5",
        CACHE_URL="locmemcache://",
        # Procfile.dev's events: process runs too, on names of its own on the shared RabbitMQ.
        EVENTS_EXCHANGE=f"test.smoke.{port}.events",
        EVENTS_QUEUE=f"test.smoke.{port}.jobs",
    )

    def manage(*args):
        out = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stdout

    manage("migrate", "--noinput")
    manage("ensure_admin")
    assert "exists" in manage("ensure_admin").lower()  # a second run creates nobody
    manage("seed_recurring_jobs")
    # The Procfile.dev that `make run` starts with honcho: gunicorn and one qcluster together.
    env["DHANMAN_PORT"] = str(port)
    log = open(tmp_path / "run.log", "wb")  # noqa: SIM115
    honcho = subprocess.Popen(
        [str(BIN / "honcho"), "-f", "Procfile.dev", "start"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if get(f"{base}/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        status, body = get(f"{base}/admin/login/")
        assert status == 200 and "Username" in body
        deadline = time.monotonic() + 30
        while get(f"{base}/readyz")[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.3)
        assert get(f"{base}/readyz")[0] == 200, (tmp_path / "run.log").read_text()[-3000:]
    finally:
        honcho.send_signal(signal.SIGINT)  # Ctrl-C: honcho stops both processes
        try:
            honcho.wait(40)
        except subprocess.TimeoutExpired:
            os.killpg(honcho.pid, signal.SIGKILL)
            raise
    output = (tmp_path / "run.log").read_text()
    assert "worker.1 stopped" in output or "worker.1 exited" in output, output[-2000:]
    from tests.events import rabbit

    rabbit.delete_names({"EXCHANGE": env["EVENTS_EXCHANGE"], "QUEUE": env["EVENTS_QUEUE"]})
