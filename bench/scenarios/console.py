"""Console at scale: render time of the console's pages with N jobs stored (bench.dataset).

Rendered in-process with django.test.Client, logged in as a superuser: the full Django stack
(middleware, view, queries, templates), no network. The console caches its counters for a few
seconds; the bench clears that cache before every render, so each figure is a cold render, the
worst a person sees. One untimed render first (template compilation), then the timed ones.
Pages are found by the console's URL names when it is run; a page that does not exist yet is
reported as n/a. django-q2 has no counterpart to these pages (with save_limit -1 it stores no
job history at all), so its column is n/a.
"""

import time

from bench import dataset
from bench.report import LOWER, Row

STOCK_NOTE = "no such page"


def _url(name: str, *args, query: str = "") -> str | None:
    from django.urls import NoReverseMatch, reverse

    try:
        return reverse(f"jobs_console:{name}", args=args) + query
    except NoReverseMatch:
        return None


def deep_cursor(conn, state: str, fraction: float) -> str:
    """The keyset cursor of the row `fraction` of the way down the state's list (untimed)."""
    count = conn.execute("SELECT count(*) FROM jobs_job WHERE state = %s", [state]).fetchone()[0]
    at, pk = conn.execute(
        "SELECT state_changed_at, id FROM jobs_job WHERE state = %s ORDER BY state_changed_at DESC, id DESC"
        " OFFSET %s LIMIT 1",
        [state, int(count * fraction)],
    ).fetchone()
    from jobs.console.listing import Cursor

    return Cursor(at, pk).encode()


def pages(conn) -> list[tuple[str, str, str | None]]:
    failed_job = conn.execute(
        "SELECT id FROM jobs_job WHERE state = 'failed' ORDER BY state_changed_at DESC LIMIT 1 OFFSET 100"
    ).fetchone()[0]
    try:
        deep = f"?older={deep_cursor(conn, 'succeeded', 0.6)}"
    except ImportError:  # a console without keyset pages: ask for a far page number instead
        deep = "?page=10000"
    return [
        ("console_dashboard", "Console: dashboard", _url("dashboard")),
        ("console_failed", "Console: Failed list", _url("job_list", "failed")),
        (
            "console_succeeded_deep",
            "Console: Succeeded list, 60 % deep",
            _url("job_list", "succeeded", query=deep),
        ),
        ("console_job_detail", "Console: job detail (failed job)", _url("job_detail", failed_job)),
        ("console_recurring", "Console: recurring jobs", _url("recurring_list")),
        ("console_performance", "Console: Performance page, 7 days", _url("performance", query="?window=7d")),
        ("console_failure_groups", "Console: failure groups", _url("failure_groups")),
        # Search (jobs/search.py): the GIN-indexed terms, on the biggest list. invoice_id=42
        # matches 20 jobs of a million, all succeeded; society:12 5,000 succeeded ones, so the
        # page counts them exactly (under the 10,000 cap).
        (
            "console_search_args",
            "Console: Succeeded list, search invoice_id=42",
            _url("job_list", "succeeded", query="?args=invoice_id%3D42"),
        ),
        (
            "console_search_tag",
            "Console: Succeeded list, tag society:12",
            _url("job_list", "succeeded", query="?tag=society%3A12"),
        ),
        # Issue 17: the queues page (live counts of every queue, 24 h of backlog samples) and
        # what a live Processing list fetches every few seconds while open.
        ("console_queues", "Console: queues page", _url("queue_list")),
        (
            "console_processing_live",
            "Console: Processing list's live rows",
            _url("job_list_live", "processing"),
        ),
    ]


def queue_depth_samples() -> float:
    """Time one sample of every queue's depth (what one server does once per interval), then fill
    the rest of the day with copies of it (untimed): the queues page reads 24 hours of them."""
    from jobs import backlog
    from jobs.models import QueueDepth

    started = time.perf_counter()
    backlog.sample()
    elapsed = (time.perf_counter() - started) * 1000
    now_rows = list(QueueDepth.objects.all())
    QueueDepth.objects.bulk_create(
        [
            QueueDepth(
                sampled_at=row.sampled_at - backlog.INTERVAL * i,
                queue=row.queue,
                enqueued=row.enqueued,
                scheduled=row.scheduled,
                processing=row.processing,
            )
            for i in range(1, int(24 * 3600 / backlog.INTERVAL.total_seconds()))
            for row in now_rows
        ],
        ignore_conflicts=True,
    )
    return elapsed


def render_times(client, url: str, renders: int) -> tuple[list[float], str]:
    from django.core.cache import cache

    response = client.get(url)
    if response.status_code != 200:
        return [], f"HTTP {response.status_code}"
    times = []
    for _ in range(renders):
        cache.clear()
        started = time.perf_counter()
        response = client.get(url)
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            return [], f"HTTP {response.status_code}"
        times.append(elapsed * 1000)
    return times, ""


def run(bench, systems) -> list[Row]:
    from django.contrib.auth import get_user_model
    from django.test import Client

    n = bench.sizes.console_jobs
    bench.reset()
    started = time.monotonic()
    counts = dataset.create(bench.conn, n)
    loaded = time.monotonic() - started
    # Untimed: on a live system the servers' housekeeping rolls finished jobs up into the 15-minute
    # counters as they finish (jobs.statistics, every STATS_ROLLUP_INTERVAL); the dataset is made in
    # one bulk load, so the bench does once what the servers would have done over the week.
    from jobs import performance
    from jobs.statistics import roll_up_finished_counts

    started = time.monotonic()
    intervals = roll_up_finished_counts()
    rolled_up = time.monotonic() - started
    # The same for the Performance page's per-task intervals (jobs.performance).
    started = time.monotonic()
    task_intervals = performance.roll_up()
    performance_rolled_up = time.monotonic() - started
    bench.log(
        f"console dataset: {counts['jobs']:,} jobs, {counts['history']:,} history rows in {loaded:.0f} s; "
        f"{intervals} finished-job intervals rolled up in {rolled_up:.1f} s; "
        f"{task_intervals} per-task performance intervals in {performance_rolled_up:.1f} s"
    )
    bench.notes.append(
        f"Console dataset: {counts['jobs']:,} jobs and {counts['history']:,} history rows, "
        f"made with INSERT … SELECT generate_series in {loaded:.0f} s; then the finished-job counters "
        f"of its {intervals} 15-minute intervals rolled up once, untimed, in {rolled_up:.1f} s, and its "
        f"{task_intervals} per-task performance intervals in {performance_rolled_up:.1f} s (servers do "
        "this every minute as jobs finish)."
    )
    sampled_ms = queue_depth_samples()
    bench.log(
        f"one queue-depth sample (jobs.backlog.sample) over {counts['jobs']:,} jobs: {sampled_ms:.0f} ms"
    )
    bench.notes.append(
        f"Queue-depth sample (the servers' roll-up, once per 5-minute interval; jobs/backlog.py) over "
        f"{counts['jobs']:,} jobs: {sampled_ms:.0f} ms, timed once; then 24 hours of samples stored, "
        "untimed, as the servers would have over the day, for the queues page's chart."
    )
    user = get_user_model().objects.create_superuser("bench-admin", "bench@example.com", "bench-password-1")
    client = Client()
    client.force_login(user)
    rows = []
    # The pages are rendered in-process, where nothing ran collectstatic: plain static storage
    # (gunicorn's hashed manifest lookup is a dict read, not what this figure measures).
    from django.conf import settings
    from django.test import override_settings

    plain_static = override_settings(
        STORAGES={
            **settings.STORAGES,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
    )
    plain_static.enable()
    try:
        rows = _render_pages(bench, client, n)
    finally:
        plain_static.disable()
    rows.append(metrics_scrape(bench, n))
    return rows


def _render_pages(bench, client, n: int) -> list[Row]:
    rows = []
    for key, label, url in pages(bench.conn):
        row = Row(
            key=key,
            label=f"{label} ({n:,} jobs)",
            unit="ms",
            better=LOWER,
            target=300.0,
            target_text="≤ 300 ms",
            stock_note=STOCK_NOTE,
            procrastinate_note="no console timed (its Django admin shows jobs; not compared)",
        )
        if url is None:
            row.ours_note = "page not built yet"
        else:
            row.ours, row.ours_note = render_times(client, url, bench.sizes.console_renders)
            if row.ours:
                bench.log(f"{key}: median {sorted(row.ours)[len(row.ours) // 2]:.0f} ms ({url[:80]})")
        rows.append(row)
    return rows


def metrics_scrape(bench, n: int) -> Row:
    """A Prometheus scrape of /metrics (through the full stack, with its bearer token), after the
    servers' roll-up of finished jobs (jobs.tallies) has run once, untimed, as it does every minute
    on a live system."""
    from django.conf import settings
    from django.test import Client

    from jobs import tallies

    row = Row(
        key="console_metrics_scrape",
        label=f"/metrics scrape ({n:,} jobs)",
        unit="ms",
        better=LOWER,
        target=50.0,
        target_text="≤ 50 ms",
        stock_note="no metrics endpoint",
    )
    started = time.monotonic()
    tallies.roll_up()
    bench.log(f"metrics tallies rolled up in {time.monotonic() - started:.1f} s")
    token = "bench-metrics-token"
    settings.DHANMAN_JOBS["METRICS_TOKEN"] = token
    client = Client(headers={"Authorization": f"Bearer {token}"})
    client.get("/metrics")
    times = []
    for _ in range(max(bench.sizes.console_renders, 5)):
        started = time.perf_counter()
        response = client.get("/metrics")
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            row.ours_note = f"HTTP {response.status_code}"
            return row
    row.ours = times
    bench.log(f"metrics scrape: median {sorted(times)[len(times) // 2]:.0f} ms")
    return row
