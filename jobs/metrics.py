"""/metrics: the whole job system in the Prometheus text format, for any web instance to serve.

Every value is computed at scrape time from the database (a custom prometheus-client Collector,
so there is no per-process state to merge): the finished-job counters and histograms from the
servers' roll-ups plus the last minute or two counted live (jobs.tallies), the queue depths,
servers, workers and recurring jobs from a few indexed queries. Labels stay bounded: task path,
queue, state, recurring id, rule — never a job id or an argument.

Protected by a bearer token, JOBS_METRICS_TOKEN: without one configured the endpoint does not
exist (404); a missing or wrong token gets 401.
"""

import hmac
import threading
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Min, Q
from django.http import Http404, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from jobs import queues, tallies
from jobs.conf import jobs_settings
from jobs.models import Job, RecurringJob, Server, State

PREFIX = "dhanman_jobs"
# The states a job waits or runs in, as dhanman_jobs_queued reports them.
QUEUED_STATES = (State.SCHEDULED, State.ENQUEUED, State.AWAITING, State.PROCESSING)
SERVER_STATUSES = ("running", "stopping", "stopped", "dead")
ALIVE = ("running", "stopping")


class Monotonic:
    """Never lets a counter or histogram series go down in this process.

    A job counted live (finished after the roll-up mark) that a person requeues leaves the live
    count until it finishes again; the value served keeps the highest seen instead of telling
    Prometheus the counter was reset.
    """

    def __init__(self):
        self._seen: dict = {}
        self._lock = threading.Lock()

    def value(self, key, value: float) -> float:
        with self._lock:
            kept = max(self._seen.get(key, value), value)
            self._seen[key] = kept
            return kept

    def buckets(self, key, values: list) -> list:
        # Element-wise maxima of non-decreasing lists stay non-decreasing: still a histogram.
        with self._lock:
            seen = self._seen.get(key)
            kept = list(values) if seen is None else [max(a, b) for a, b in zip(seen, values, strict=True)]
            self._seen[key] = kept
            return kept


_monotonic = Monotonic()


def _histogram_buckets(bounds, cumulative: list, count: int) -> list:
    return [(_bound(b), float(n)) for b, n in zip(bounds, cumulative, strict=True)] + [("+Inf", float(count))]


def _bound(value) -> str:
    return repr(float(value))


class JobsCollector:
    """Yields every dhanman_jobs_* family; prometheus-client calls collect() once per scrape."""

    def __init__(self, monotonic: Monotonic = _monotonic):
        self.monotonic = monotonic

    def collect(self):
        now = timezone.now()
        tallies.roll_up_if_stale(now)
        # Every series from one snapshot, in one transaction: consistent with each other, and a
        # scrape's round trips (the cost that grows on a busy database server) kept few. The
        # families are built inside it and formatted by prometheus-client after it commits.
        # Inside a caller's transaction (a test) the snapshot is the caller's to choose.
        outermost = not connection.in_atomic_block
        with transaction.atomic():
            if outermost and connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(SNAPSHOT_SQL)
            totals = tallies.read(now, fresh=True)
            families = [
                *self._finished(totals),
                *self._queues(now),
                *self._servers(now),
                *self._recurring(totals.last_success),
            ]
        yield from families

    def _finished(self, totals: tallies.Totals):
        keep = self.monotonic
        finished = CounterMetricFamily(
            f"{PREFIX}_finished", "Jobs that reached a final state.", labels=["task", "queue", "state"]
        )
        duration = HistogramMetricFamily(
            f"{PREFIX}_duration_seconds", "Run time of Succeeded and Failed jobs.", labels=["task", "queue"]
        )
        wait = HistogramMetricFamily(
            f"{PREFIX}_wait_seconds", "Time from enqueue (or due time) to start.", labels=["queue"]
        )
        runs: dict = {}
        waits: dict = {}
        for (task, queue, state), tally in sorted(totals.tallies.items()):
            finished.add_metric(
                [task, queue, state], keep.value(("finished", task, queue, state), tally.count)
            )
            if state in tallies.RUN_STATES:
                runs.setdefault((task, queue), tallies.Tally()).add(_runs_only(tally))
                waits.setdefault(queue, tallies.Tally()).add(_runs_only(tally))
        for (task, queue), tally in sorted(runs.items()):
            key = ("duration", task, queue)
            cumulative = keep.buckets(key, [*tally.duration_buckets, tally.duration_count])
            duration.add_metric(
                [task, queue],
                _histogram_buckets(tallies.DURATION_BOUNDS, cumulative[:-1], cumulative[-1]),
                keep.value((*key, "sum"), tally.duration_sum),
            )
        for queue, tally in sorted(waits.items()):
            key = ("wait", queue, "")
            cumulative = keep.buckets(key, [*tally.wait_buckets, tally.wait_count])
            wait.add_metric(
                [queue],
                _histogram_buckets(tallies.WAIT_BOUNDS, cumulative[:-1], cumulative[-1]),
                keep.value((*key, "sum"), tally.wait_sum),
            )
        yield finished
        yield duration
        yield wait

    def _queues(self, now):
        queued = GaugeMetricFamily(
            f"{PREFIX}_queued", "Jobs waiting or running, per queue and state.", labels=["queue", "state"]
        )
        oldest = GaugeMetricFamily(
            f"{PREFIX}_oldest_wait_seconds",
            "How long the oldest Enqueued job of the queue has waited.",
            labels=["queue"],
        )
        paused = GaugeMetricFamily(
            f"{PREFIX}_queue_paused",
            "1 while the queue is paused (no server claims its jobs), else 0.",
            labels=["queue"],
        )
        counts, oldest_at = queue_depths()
        names = list(settings.JOB_QUEUES)
        names += sorted({queue for queue, _ in counts} - set(names))
        # The pauses in force (jobs/queues.py): a handful of rows, read by their primary key.
        pauses = set(queues.paused_queues(now))
        for queue in names:
            for state in QUEUED_STATES:
                queued.add_metric([queue, state.value], counts.get((queue, state.value), 0))
            at = oldest_at.get(queue)
            oldest.add_metric([queue], max(0.0, (now - at).total_seconds()) if at else 0.0)
            paused.add_metric([queue], 1 if queue in pauses else 0)
        yield queued
        yield oldest
        yield paused

    def _servers(self, now):
        servers = GaugeMetricFamily(f"{PREFIX}_servers", "Job servers by status.", labels=["status"])
        workers = GaugeMetricFamily(
            f"{PREFIX}_workers", "Workers of live servers, busy or idle.", labels=["state"]
        )
        by_status, worker_total, busy = server_counts(now)
        for status in SERVER_STATUSES:
            servers.add_metric([status], by_status.get(status, 0))
        workers.add_metric(["busy"], busy)
        workers.add_metric(["idle"], max(worker_total - busy, 0))
        yield servers
        yield workers

    def _recurring(self, successes: dict):
        next_run = GaugeMetricFamily(
            f"{PREFIX}_recurring_next_run_timestamp_seconds",
            "When an enabled recurring job runs next.",
            labels=["recurring"],
        )
        last_success = GaugeMetricFamily(
            f"{PREFIX}_recurring_last_success_timestamp_seconds",
            "When a recurring job last succeeded.",
            labels=["recurring"],
        )
        enabled = GaugeMetricFamily(
            f"{PREFIX}_recurring_enabled", "1 if the recurring job is enabled.", labels=["recurring"]
        )
        for recurring_id, is_enabled, next_run_at in RecurringJob.objects.order_by("id").values_list(
            "id", "enabled", "next_run_at"
        ):
            enabled.add_metric([recurring_id], 1 if is_enabled else 0)
            if is_enabled and next_run_at is not None:
                next_run.add_metric([recurring_id], next_run_at.timestamp())
            if recurring_id in successes:
                last_success.add_metric([recurring_id], successes[recurring_id].timestamp())
        yield next_run
        yield last_success
        yield enabled


def _runs_only(tally: tallies.Tally) -> tallies.Tally:
    """The histogram half of a tally (its count is of finished jobs, not of runs)."""
    return tallies.Tally(
        duration_count=tally.duration_count,
        duration_sum=tally.duration_sum,
        duration_buckets=list(tally.duration_buckets),
        wait_count=tally.wait_count,
        wait_sum=tally.wait_sum,
        wait_buckets=list(tally.wait_buckets),
    )


# On PostgreSQL, each state from an index that holds the queue, index-only where it can be:
# Scheduled and Awaiting from job_waiting_queue_idx, Enqueued (with its oldest) from the claim
# index, Processing (at most as many as there are workers) from job_server_idx.
QUEUE_DEPTHS_SQL = f"""
SELECT queue, state, count(*), NULL::timestamptz FROM {Job._meta.db_table}
WHERE state IN ('scheduled', 'awaiting') GROUP BY state, queue
UNION ALL
SELECT queue, 'enqueued', count(*), min(enqueued_at) FROM {Job._meta.db_table}
WHERE state = 'enqueued' GROUP BY queue
UNION ALL
SELECT queue, 'processing', count(*), NULL FROM {Job._meta.db_table}
WHERE state = 'processing' GROUP BY queue
"""


# A scrape's transaction: one snapshot for every series, and serial plans. Its scans cover live
# jobs only (tens of thousands of index entries at 1,000,000 jobs stored): launching parallel
# workers for them cost more than they save (queue depths 15 ms against 8 ms at 1M,
# bench/findings.md), and more on a busy machine. Two statements in one round trip (no
# parameters: psycopg sends them as one simple query).
SNAPSHOT_SQL = (
    "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; SET LOCAL max_parallel_workers_per_gather = 0"
)


def queue_depths() -> tuple[dict, dict]:
    """({(queue, state): n} for the waiting and running states, {queue: oldest enqueued_at})."""
    if connection.vendor == "postgresql":
        # Serial plans when the scrape's transaction asked for them (SNAPSHOT_SQL).
        with connection.cursor() as cursor:
            cursor.execute(QUEUE_DEPTHS_SQL)
            rows = cursor.fetchall()
    else:
        rows = (
            Job.objects.filter(state__in=QUEUED_STATES)
            .order_by()
            .values_list("queue", "state")
            .annotate(n=Count("pk"), oldest=Min("enqueued_at", filter=Q(state=State.ENQUEUED)))
        )
    counts, oldest = {}, {}
    for queue, state, n, at in rows:
        counts[(queue, state)] = n
        if at is not None:
            oldest[queue] = at
    return counts, oldest


def server_counts(now) -> tuple[dict, int, int]:
    """({status: n}, workers of live servers, busy workers).

    A server marked running whose heartbeat is older than SERVER_TIMEOUT counts as dead already:
    the reaper will say so at its next pass.
    """
    timeout = now - timedelta(seconds=jobs_settings.SERVER_TIMEOUT)
    by_status: dict = {}
    worker_total = 0
    alive_ids = []
    for server_id, status, heartbeat_at, worker_count in Server.objects.values_list(
        "id", "status", "heartbeat_at", "worker_count"
    ):
        if status in ALIVE and heartbeat_at < timeout:
            status = "dead"
        by_status[status] = by_status.get(status, 0) + 1
        if status in ALIVE:
            worker_total += worker_count
            alive_ids.append(server_id)
    busy = Job.objects.filter(state=State.PROCESSING, server_id__in=alive_ids).count() if alive_ids else 0
    return by_status, worker_total, busy


def registry() -> CollectorRegistry:
    """A registry of our collectors only: a web process's own Python metrics would say nothing
    about the job system, and differ from instance to instance."""
    from jobs import sla

    reg = CollectorRegistry(auto_describe=False)
    reg.register(JobsCollector())
    reg.register(sla.SlaCollector())
    return reg


_registry = None


def _authorized(request, token: str) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@never_cache
@require_GET
def metrics_view(request):
    global _registry
    token = jobs_settings.METRICS_TOKEN or ""
    if not token:
        raise Http404("Metrics are not enabled (JOBS_METRICS_TOKEN is not set).")
    if not _authorized(request, token):
        response = HttpResponse("A valid bearer token is required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if _registry is None:
        _registry = registry()
    return HttpResponse(generate_latest(_registry), content_type=CONTENT_TYPE_LATEST)


def scrape_text() -> str:
    """The exposition as a scrape would receive it (bench, tests, the shell)."""
    return generate_latest(registry()).decode()
