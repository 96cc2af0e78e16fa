"""CPU time a server spends, in its own processes and in its PostgreSQL backends.

On a machine shared with other work, jobs/s moves with the neighbours' load; CPU seconds per job
barely does, so it is the steadier way to compare what each system costs. Backends are the bench
database's client connections other than the bench's own. Connections come and go (both systems
close a connection older than CONN_MAX_AGE and open a new one), so the meter samples every
process a few times a second and counts, for each, its CPU time from when it was first seen
(or from the start) to when it was last seen: a process that ends loses at most its last
sample interval.
"""

import contextlib
import threading

import psutil

from bench import database

INTERVAL = 0.25


def _seconds(pid: int) -> float | None:
    with contextlib.suppress(psutil.Error):
        times = psutil.Process(pid).cpu_times()
        return times.user + times.system
    return None


class CpuMeter:
    """CPU seconds of a server's processes and of its database backends, from start() to stop()."""

    def __init__(self, url: str, server, exclude_backends: set[int]):
        self.server = server
        self.conn = database.connect(url)
        self.exclude = set(exclude_backends) | {self.conn.execute("SELECT pg_backend_pid()").fetchone()[0]}
        self.first: dict[tuple[str, int], float] = {}
        self.last: dict[tuple[str, int], float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _pids(self) -> list[tuple[str, int]]:
        pids = []
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(self.server.pid)
            pids += [("server", p.pid) for p in [root, *root.children(recursive=True)]]
        rows = self.conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'"
        ).fetchall()
        pids += [("database", pid) for (pid,) in rows if pid not in self.exclude]
        return pids

    def sample(self, starting: bool = False) -> None:
        for key in self._pids():
            seconds = _seconds(key[1])
            if seconds is None:
                continue
            # A process first seen after the start did all its work inside the measured span.
            self.first.setdefault(key, seconds if starting else 0.0)
            self.last[key] = seconds

    def _run(self) -> None:
        while not self._stop.wait(INTERVAL):
            self.sample()

    def start(self) -> None:
        self.sample(starting=True)
        self._thread.start()

    def stop(self) -> tuple[float, float]:
        """(server seconds, database seconds) spent since start()."""
        self._stop.set()
        self._thread.join()
        self.sample()
        self.conn.close()
        totals = {"server": 0.0, "database": 0.0}
        for key, last in self.last.items():
            totals[key[0]] += last - self.first[key]
        return totals["server"], totals["database"]


def own_backend_pids(conn) -> set[int]:
    """The backends serving the bench process itself (its raw connection and Django's)."""
    from django.db import connection

    pids = {conn.execute("SELECT pg_backend_pid()").fetchone()[0]}
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pids.add(cursor.fetchone()[0])
    return pids
