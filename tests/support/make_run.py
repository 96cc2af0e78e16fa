"""`make run`'s process set for the tests: its setup steps, then Procfile.dev through
dhanman/procfile.py (honcho), exactly as the Makefile starts them, on a free port.

    env = install(tmp_path)                   # a fresh SQLite file, as on a new clone
    with make_run(env, tmp_path / "run.log") as app:
        urllib.request.urlopen(app.url("/admin/login/"))

`make run` itself is not called: it would (re)build .venv first. The steps below are its recipe;
keep the two in step.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
ADMIN_PASSWORD = "make-run-test-password"
# `make run`'s recipe up to honcho (the Makefile's `run` target).
SETUP_STEPS = (
    ("migrate", "--noinput"),
    ("collectstatic", "--noinput", "--verbosity", "0"),
    ("seed_recurring_jobs",),
    ("ensure_admin",),
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, timeout: float = 5.0):
    """(status, headers, body bytes) of a GET; HTTP errors are answers too."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


class RunningApp:
    def __init__(self, process: subprocess.Popen, port: int, log_path: Path, env: dict):
        self.process = process
        self.port = port
        self.log_path = log_path
        self.env = env

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def processes(self) -> list[psutil.Process]:
        """honcho and everything under it (gunicorn's and qcluster's processes)."""
        root = psutil.Process(self.process.pid)
        return [root, *root.children(recursive=True)]

    def wait_until_ready(self, timeout: float = 60.0) -> None:
        """Both halves up: gunicorn answers and a job server has a heartbeat (/readyz)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"honcho exited with {self.process.returncode}:\n{self.log()[-4000:]}")
            with contextlib.suppress(OSError):
                if get(self.url("/readyz"), timeout=2)[0] == 200:
                    return
            time.sleep(0.3)
        raise AssertionError(f"make run's processes were not ready after {timeout} s:\n{self.log()[-4000:]}")

    def stop(self, timeout: float = 60.0) -> int:
        """Ctrl-C; SIGKILL for whatever is left if that does not end it."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout)
        self.kill()
        return self.process.returncode

    def kill(self) -> None:
        with contextlib.suppress(psutil.Error):
            for process in self.processes():
                with contextlib.suppress(psutil.Error):
                    process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)


def base_env(directory: Path, database_url: str | None = None) -> dict:
    """The environment of a `make run` in `directory` (its SQLite file and static files)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DHANMAN_TEST_APPS")}
    env.update(
        DATABASE_URL=database_url or f"sqlite:///{directory / 'fresh.db'}",
        STATIC_ROOT=str(directory / "static"),
        DHANMAN_ADMIN_PASSWORD=ADMIN_PASSWORD,
        JOBS_HEARTBEAT_INTERVAL="0.5",
        WEB_CONCURRENCY="1",
        PYTHONUNBUFFERED="1",
    )
    return env


def run_setup(env: dict) -> str:
    """`make run`'s setup steps; their output."""
    output = []
    for step in SETUP_STEPS:
        done = subprocess.run(
            [sys.executable, "manage.py", *step], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, (
            f"manage.py {' '.join(step)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
        output.append(done.stdout)
    return "".join(output)


def install(directory: Path) -> dict:
    """A fresh clone's first `make run` up to honcho, in `directory`; its environment. Slow (the
    migrations, collectstatic, a password hash): the tests share one install per session."""
    env = base_env(directory)
    env["SETUP_OUTPUT"] = run_setup(env)
    return env


def start(env: dict, log_path: Path) -> RunningApp:
    log = open(log_path, "wb")  # noqa: SIM115 (the process writes to it until it ends)
    process = subprocess.Popen(
        # web and worker: make run's "Events OFF" branch. The events consumer (its own tests,
        # tests/events) would need RabbitMQ names of its own per run.
        [sys.executable, "-m", "dhanman.procfile", "Procfile.dev", "web", "worker"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return RunningApp(process, int(env["DHANMAN_PORT"]), log_path, env)


@contextlib.contextmanager
def make_run(env: dict, log_path: Path, extra: dict | None = None):
    """honcho with Procfile.dev (what `make run` ends with) on a free port, in the environment
    `env` (of `install`, or of a database that is ready) plus `extra`, until both processes are
    ready. Stopped with Ctrl-C at the end."""
    full_env = {k: v for k, v in env.items() if k != "SETUP_OUTPUT"}
    full_env.update({k: str(v) for k, v in (extra or {}).items()}, DHANMAN_PORT=str(free_port()))
    app = start(full_env, log_path)
    try:
        app.wait_until_ready()
        yield app
    finally:
        app.stop()
