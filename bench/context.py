"""What every scenario gets: the sizes of this run, the bench database, the start marks."""

import sys
import time
from dataclasses import dataclass

from bench import database
from bench.marks import MarkReader


@dataclass(frozen=True)
class Sizes:
    repetitions: int
    drain_jobs: int
    drain_workers: tuple[int, ...]
    enqueue_calls: int
    bulk_jobs: int
    latency_samples: int
    delayed_jobs: int
    delayed_spread: float  # run_after of our delayed jobs spreads over this many seconds
    stock_delayed_jobs: int  # 0: not measured in this mode (its scheduler ticks every 30 s)
    console_jobs: int
    console_renders: int
    memory_jobs: int
    memory_warmup: int  # jobs run before the "before" measurement (imports, connections, caches)
    memory_workers: int
    latency_workers: int = 2
    servers_counts: tuple[int, ...] = (1, 2, 4, 8)  # many-servers scenario: servers of 2 workers each
    servers_backlog: int = 20_000
    servers_repetitions: int = 1
    priority_backlog: int = 20_000  # priority-under-load scenario: low-priority jobs draining on 2 servers
    priority_samples: int = 40  # critical jobs enqueued one by one meanwhile (per repetition)
    expiry_jobs: int = 1_000_000  # expiry scenario: expired jobs deleted while claims are timed


# Sized to finish in under 15 minutes on this 2-core machine: ~10 minutes when it is quiet
# (RESULTS.md gives each run's duration and load average). Drains of 2,000 jobs, so that a
# run lasts seconds rather than the server's start-up; the memory run at the 50,000 jobs.
FULL = Sizes(
    repetitions=3,
    drain_jobs=2_000,
    drain_workers=(2, 4),
    enqueue_calls=500,
    bulk_jobs=10_000,
    latency_samples=30,
    delayed_jobs=10,
    delayed_spread=3.0,
    stock_delayed_jobs=20,
    console_jobs=1_000_000,
    console_renders=5,
    memory_jobs=50_000,
    memory_warmup=300,
    memory_workers=2,
)
# Toy sizes: every scenario and every row, in under two minutes on a busy 2-core machine.
QUICK = Sizes(
    repetitions=1,
    drain_jobs=100,
    drain_workers=(2, 4),
    enqueue_calls=100,
    bulk_jobs=2_000,
    latency_samples=10,
    delayed_jobs=4,
    delayed_spread=0.5,
    stock_delayed_jobs=0,
    console_jobs=10_000,
    console_renders=2,
    memory_jobs=200,
    memory_warmup=50,
    memory_workers=2,
    servers_counts=(1, 2),
    servers_backlog=200,
    priority_backlog=1_500,
    expiry_jobs=20_000,
    priority_samples=10,
)


class Bench:
    def __init__(self, sizes: Sizes, url: str, quick: bool):
        self.sizes = sizes
        self.url = url
        self.quick = quick
        self.conn = database.connect(url)
        self.marks = MarkReader()
        self.rows = []
        self.notes: list[str] = []
        self._labels = 0
        self.started = time.monotonic()

    def label(self, scenario: str, system_key: str) -> str:
        """A label no other run of this process uses (marks are told apart by it)."""
        self._labels += 1
        return f"{scenario}-{system_key}-{self._labels}"

    def reset(self) -> None:
        from django.db import connection

        connection.close()
        database.reset(self.conn)

    def start_warm_server(self, system, workers: int, **env):
        """A running server that has already run a few jobs (imports done, connections open)."""
        server = system.start(workers, **env)
        try:
            server.wait_ready()
            label = self.label("warmup", system.key)
            for seq in range(workers * 3):
                system.enqueue(label, seq)
            self.marks.wait_for(label, workers * 3, timeout=60)
            while system.pending():
                time.sleep(0.01)
        except BaseException:
            server.stop()
            raise
        return server

    def log(self, message: str) -> None:
        elapsed = time.monotonic() - self.started
        print(f"[{elapsed:6.1f}s] {message}", file=sys.stderr, flush=True)
