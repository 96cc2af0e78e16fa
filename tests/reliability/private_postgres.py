"""A PostgreSQL cluster of the drill's own, so that it can be restarted under running servers
without disturbing anyone else's database.

initdb into a temporary directory with the server binaries found on this machine, run as the
`postgres` user when the tests run as root (PostgreSQL refuses to run as root), on a free port.
"""

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]


def server_binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    return Path(found[-1]) if found else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivatePostgres:
    def __init__(self):
        self.bin = server_binaries()
        if self.bin is None:
            raise RuntimeError("No PostgreSQL server binaries under /usr/lib/postgresql/*/bin.")
        self.dir = Path(tempfile.mkdtemp(prefix="dhanman-pg-"))
        self.data = self.dir / "data"
        self.logfile = self.dir / "postgres.log"
        self.port = free_port()
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_postgres:
            shutil.chown(self.dir, "postgres")

    def _run(self, *args, timeout: float = 60):
        done = subprocess.run(
            [*self.as_postgres, *map(str, args)], capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{args[0]} failed ({done.returncode}): {done.stderr or done.stdout}\n{self.log()}"
            )
        return done

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return self.logfile.read_text(errors="replace")[-3000:]
        return ""

    def start(self) -> "PrivatePostgres":
        # -N: no fsync at initdb, fsync=off at run time: a throwaway cluster needs no durability
        # against power loss, only against the restarts the drill performs (which flush).
        self._run(self.bin / "initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-N")
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(self.bin / "pg_ctl", "-D", self.data, "-l", self.logfile, "-o", options, "-w", "start")
        return self

    def restart(self):
        """Stop (disconnecting every client, as a failover or an upgrade does) and start again."""
        self._run(self.bin / "pg_ctl", "-D", self.data, "-l", self.logfile, "-m", "fast", "-w", "restart")

    def stop(self):
        with contextlib.suppress(Exception):
            self._run(self.bin / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop", timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, dbname: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{dbname}"

    def connect(self, dbname: str = "postgres", retry_for: float = 15.0) -> psycopg.Connection:
        deadline = time.monotonic() + retry_for
        while True:
            try:
                return psycopg.connect(
                    host="127.0.0.1",
                    port=self.port,
                    user="postgres",
                    dbname=dbname,
                    autocommit=True,
                    connect_timeout=3,
                )
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def query(self, sql: str, params=(), dbname: str = "dhanman") -> list[tuple]:
        with self.connect(dbname) as conn:
            return conn.execute(sql, params).fetchall()

    def create_database(self, name: str):
        with self.connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

    def manage(self, *args, dbname: str = "dhanman", code: str | None = None, timeout: float = 300):
        """Run `manage.py <args>` against a database of this cluster (with the test apps)."""
        env = {**os.environ, "DATABASE_URL": self.url(dbname), "DHANMAN_TEST_APPS": "1", "CONN_MAX_AGE": "0"}
        command = [sys.executable, str(ROOT / "manage.py"), *args]
        if code is not None:
            command += ["-c", code]
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout
