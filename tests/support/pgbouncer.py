"""A real PgBouncer of the test's own, in front of the test's PostgreSQL, on a free port.

Debian's /usr/sbin/pgbouncer (scripts/test-services installs it when missing). Every database
name is forwarded to the upstream server (`* = host=… port=…`), so the test database reached
through it is the same one the test process uses directly. PgBouncer refuses to run as root:
as root it runs as `postgres`, like tests/reliability/private_postgres.py does for PostgreSQL.

    with PgBouncer("127.0.0.1", 5432, pool_size=4) as bouncer:
        bouncer.url("test_dhanman")   # postgres://postgres@127.0.0.1:<port>/test_dhanman
"""

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

BINARY = Path("/usr/sbin/pgbouncer")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PgBouncer:
    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        pool_mode: str = "transaction",
        pool_size: int = 10,
        user: str = "postgres",
    ):
        if not BINARY.exists():
            raise RuntimeError(
                f"{BINARY} is missing: install Debian's pgbouncer package (scripts/test-services does)."
            )
        self.upstream = (upstream_host or "127.0.0.1", int(upstream_port or 5432))
        self.pool_mode = pool_mode
        self.pool_size = pool_size
        self.user = user
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="dhanman-pgbouncer-"))
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.process: subprocess.Popen | None = None

    def _write_config(self) -> Path:
        host, port = self.upstream
        (self.dir / "users.txt").write_text(f'"{self.user}" ""\n')
        config = self.dir / "pgbouncer.ini"
        config.write_text(
            "[databases]\n"
            f"* = host={host} port={port}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            f"unix_socket_dir = {self.dir}\n"
            "auth_type = trust\n"
            f"auth_file = {self.dir / 'users.txt'}\n"
            f"admin_users = {self.user}\n"
            f"pool_mode = {self.pool_mode}\n"
            f"default_pool_size = {self.pool_size}\n"
            "max_client_conn = 1000\n"
            # psycopg and Django send nothing else at startup; these are what libpq tools add.
            "ignore_startup_parameters = extra_float_digits,options\n"
            f"logfile = {self.dir / 'pgbouncer.log'}\n"
            f"pidfile = {self.dir / 'pgbouncer.pid'}\n"
        )
        return config

    def start(self) -> "PgBouncer":
        config = self._write_config()
        if self.as_postgres:
            shutil.chown(self.dir, "postgres")
            for path in self.dir.iterdir():
                shutil.chown(path, "postgres")
        self.process = subprocess.Popen(
            [*self.as_postgres, str(BINARY), "-q", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + 15
        while True:
            try:
                with psycopg.connect(self.url("postgres"), autocommit=True, connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return self
            except psycopg.OperationalError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    err = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                    self.stop()
                    raise RuntimeError(
                        f"PgBouncer did not start on port {self.port}: {err}\n{self.log()}"
                    ) from None
                time.sleep(0.1)

    @staticmethod
    def version() -> str:
        done = subprocess.run([str(BINARY), "--version"], capture_output=True, text=True)
        return (done.stdout.split("\n")[0].split() or ["", "?"])[-1]

    def url(self, dbname: str) -> str:
        return f"postgres://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return (self.dir / "pgbouncer.log").read_text(errors="replace")[-3000:]
        return ""

    def admin(self, command: str) -> list[tuple]:
        """A command of PgBouncer's admin console (SHOW POOLS, SHOW SERVERS …)."""
        # The admin console speaks the simple query protocol only: a client-side-binding cursor.
        with psycopg.connect(
            self.url("pgbouncer"), autocommit=True, cursor_factory=psycopg.ClientCursor
        ) as conn:
            return conn.execute(command).fetchall()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, 9)
                self.process.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
