"""Flow control (issue 15): what it costs when unused, and a drain held by concurrency keys.

- flow_unused_drain: plain no-op jobs, 4 workers, drained by our server as it is ("ours") and
  by the same server with the claim's flow clauses stripped (bench/flow_free_cluster.py; shown
  in the stock column), alternating, in the same run. The ratio should stay near 1.
- flow_keyed_drain: the same number of jobs spread over 20 concurrency keys with a limit of 2
  each (bench.tasks.keyed_noop), 4 workers. django-q2 has no such limits.
"""

from bench.report import HIGHER, Row
from bench.scenarios.drain import drain_once
from bench.servers import Server, python
from bench.systems import Ours, server_env

WORKERS = 4
KEYS = 20


class WithoutFlow(Ours):
    """Our engine with the claim as it was before flow control."""

    def start(self, workers: int, **env) -> Server:
        env = server_env(DJANGO_SETTINGS_MODULE="dhanman.settings", JOBS_WORKER_COUNT=workers, **env)
        return Server(self.key, workers, [python(), "-m", "bench.flow_free_cluster"], env, cwd=self.root)


class Keyed(Ours):
    """Our engine draining jobs of KEYS concurrency keys (limit 2 each)."""

    def enqueue_bulk(self, label: str, seqs) -> None:
        from bench.tasks import keyed_noop
        from jobs.api import enqueue_many

        enqueue_many(keyed_noop, [((label, seq, seq % KEYS), {}) for seq in seqs])


def run(bench, systems) -> list[Row]:
    unused = Row(
        key="flow_unused_drain",
        label=f"Drain, {WORKERS} workers, flow control unused (stock column: without it)",
        unit="jobs/s",
        better=HIGHER,
        target=0.95,
        target_on_ratio=True,
        target_text="≥ 0.95× without",
        procrastinate_note="the cost of our own flow clauses: compared with our server without them",
    )
    keyed = Row(
        key="flow_keyed_drain",
        label=f"Drain over {KEYS} concurrency keys, limit 2, {WORKERS} workers",
        unit="jobs/s",
        better=HIGHER,
        stock_note="django-q2 has no concurrency limits",
        procrastinate_note="procrastinate's `lock` allows one job per key, not a limit of 2",
    )
    with_flow, without_flow, keyed_rates = [], [], []
    pairs = [(Ours(), with_flow, "with"), (WithoutFlow(), without_flow, "without")]
    if bench.quick:
        # --quick checks that the rows work, within the suite's time budget: one server start less.
        pairs = pairs[:1]
        unused.stock_note = "not measured with --quick"
    for rep in range(bench.sizes.repetitions):
        for system, values, name in pairs:
            rate = drain_once(bench, system, WORKERS)
            bench.log(f"flow: plain drain {name} the flow clauses, rep {rep + 1}: {rate:,.0f} jobs/s")
            values.append(rate)
        rate = drain_once(bench, Keyed(), WORKERS)
        bench.log(f"flow: drain over {KEYS} keys (limit 2), rep {rep + 1}: {rate:,.0f} jobs/s")
        keyed_rates.append(rate)
    unused.ours, unused.stock = with_flow, without_flow or None
    keyed.ours = keyed_rates
    return [unused, keyed]
