"""CPU time a server spends, in its own processes and in its PostgreSQL backends.

On a machine shared with other work, jobs/s moves with the neighbours' load; CPU seconds per job
barely does, so it is the steadier way to compare what each system costs. Backends are the bench
database's client connections other than the bench process's own; a backend that disconnects
mid-run takes its CPU time with it, so the database figure is a lower bound.
"""

import contextlib

import psutil


def _seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


def server_seconds(server) -> float:
    total = 0.0
    try:
        tree = [psutil.Process(server.pid)] + psutil.Process(server.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return 0.0
    for proc in tree:
        with contextlib.suppress(psutil.Error):
            total += _seconds(proc)
    return total


def backend_seconds(conn, own_pids: set[int]) -> float:
    """CPU seconds of the bench database's client backends, except the bench's own."""
    pids = [
        row[0]
        for row in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'"
        ).fetchall()
        if row[0] not in own_pids
    ]
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            total += _seconds(psutil.Process(pid))
    return total


def own_backend_pids(conn) -> set[int]:
    """The backends serving the bench process itself (its raw connection and Django's)."""
    from django.db import connection

    pids = {conn.execute("SELECT pg_backend_pid()").fetchone()[0]}
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pids.add(cursor.fetchone()[0])
    return pids


class CpuMeter:
    """CPU seconds of a server and its backends between `start()` and `stop()`."""

    def __init__(self, conn, server):
        self.conn, self.server = conn, server

    def _read(self) -> tuple[float, float]:
        return server_seconds(self.server), backend_seconds(self.conn, own_backend_pids(self.conn))

    def start(self) -> None:
        self.before = self._read()

    def stop(self) -> tuple[float, float]:
        after = self._read()
        return after[0] - self.before[0], after[1] - self.before[1]
