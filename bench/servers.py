"""Starting and stopping real job servers of both systems, and finding their worker processes.

Ours is `manage.py qcluster` with the project settings, exactly as the Procfile runs it. The
stock django-q2 cluster is `python -m bench.stock_cluster` with bench.settings (django-q2's own
`qcluster` command is shadowed by ours, see that module). Each server runs in its own session so
that a hung one can be killed as a whole; a normal stop is SIGTERM to the main process only.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
LOG_DIR = ROOT / "var" / "bench-logs"


class ServerFailed(RuntimeError):
    pass


class Server:
    def __init__(
        self,
        system: str,
        workers: int,
        command: list[str],
        env: dict[str, str],
        cwd=None,
        single_process: bool = False,
    ):
        self.system = system
        self.workers = workers
        # procrastinate: one process runs every task (its `--concurrency` is threads/coroutines).
        self.single_process = single_process
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path = LOG_DIR / f"{system}-{workers}w-{time.strftime('%H%M%S')}-{os.getpid()}.log"
        log = open(self.log_path, "wb")  # noqa: SIM115 (handed to the child)
        self.process = subprocess.Popen(
            command, cwd=cwd or ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise ServerFailed(
                f"{self.system} server exited with {self.process.returncode}:\n{self.log_tail()}"
            )

    def worker_processes(self) -> list[psutil.Process]:
        """The worker processes: django-q2 titles them 'qcluster <name> idle|processing …'."""
        if self.single_process:
            with contextlib.suppress(psutil.Error):
                return [psutil.Process(self.pid)]
            return []
        try:
            tree = psutil.Process(self.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        workers = []
        for proc in tree:
            with contextlib.suppress(psutil.Error):
                # setproctitle pads the old argv area: the title may end in NULs or spaces.
                title = " ".join(proc.cmdline()).replace("\x00", " ").strip()
                if title.startswith("qcluster ") and (title.endswith(" idle") or " processing " in title):
                    workers.append(proc)
        return workers

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until every worker process is up (the pusher starts with them)."""
        deadline = time.monotonic() + timeout
        while len(self.worker_processes()) < (1 if self.single_process else self.workers):
            self.check_alive()
            if time.monotonic() > deadline:
                raise ServerFailed(
                    f"{self.system} server: workers not up after {timeout:.0f} s:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def stop(self, timeout: float = 60.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def rss_of(processes: list[psutil.Process]) -> dict[int, int]:
    """Resident set size in bytes, by pid."""
    sizes = {}
    for proc in processes:
        with contextlib.suppress(psutil.Error):
            sizes[proc.pid] = proc.memory_info().rss
    return sizes


def python() -> str:
    return sys.executable
