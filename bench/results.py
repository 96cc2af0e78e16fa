"""RESULTS.md: when and where the run happened, with which versions, the table, and the method.

The analysis (what was profiled, what was changed, what is proposed) is prose kept in
bench/findings.md and appended as it is, so that a new run refreshes the numbers without losing it.
"""

import os
import platform
import sys
import time
from importlib.metadata import version
from pathlib import Path

from bench.report import markdown_table

FINDINGS = Path(__file__).resolve().parent / "findings.md"
# Where the generated part of a report ends and bench/findings.md begins.
FINDINGS_MARKER = (
    "<!-- The analysis below is bench/findings.md; `python -m bench --refresh-findings` re-copies it. -->"
)

METHOD = """\
## Method

- **Same run, same database server.** Every figure of both systems comes from this one run,
  against one PostgreSQL database of the bench's own (`dhanman_bench`, created, migrated, emptied
  with TRUNCATE between runs, dropped at the end), never the test database.
- **Real servers.** Ours: `manage.py qcluster` (our broker and runner, full state history: every
  job ends with 3 history rows). Stock: django-q2's own cluster and ORM broker (`python -m
  bench.stock_cluster`, settings in `bench/settings.py`): `bulk` 10, `save_limit` -1, persistent
  connections (the project's `CONN_MAX_AGE` 60 with health checks, as ours), `poll` 0.2 s (its
  default), recycle 5000 as ours. Both with DEBUG off and logging at WARNING.
- **Same no-op body.** Each job appends "label seq time" to its worker's own file
  (`bench/marks.py`): the start times are measured the same way for both, without a database write.
- **Drain** = N / (last finish − first start); first start from the marks, last finish when the
  system's table says nothing is left (polled every 10 ms). **Latency** = start mark − the moment
  the enqueue call returned (the job is committed), on an idle warm server, samples 50–150 ms
  apart. **Delayed** = start mark − requested time (stock: a `Schedule` of type ONCE, the only
  way django-q2 runs a task later; its scheduler runs every 30 s). **Console** = cold render
  (cache cleared) through django.test.Client, logged in as a superuser. **Memory** = RSS of the
  same worker processes before and after (recycling disabled for both); the same run gives
  **CPU per job** of the server's processes and of their PostgreSQL backends.
- Figures are medians of the repetitions, with min–max in brackets; the ratio is "times better
  for ours" (ours/stock for rates, stock/ours for times and sizes).
- **Noise.** The machine has 2 cores and other agents run test suites on it at the same time
  (see the load averages above); PostgreSQL runs on the same cores with fsync on. Repetitions
  alternate between the systems so that a noisy minute hurts both alike; still, single figures
  swing by 2× or more between runs (see the min–max ranges). The ratio within one run and the
  CPU per job are the steadier figures.
"""


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _memory() -> str:
    try:
        with open("/proc/meminfo") as handle:
            kib = int(handle.readline().split()[1])
        return f"{kib / 2**20:.1f} GiB"
    except (OSError, ValueError, IndexError):
        return "unknown"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_facts(conn) -> dict:
    from bench.database import server_version

    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "cpus": os.cpu_count(),
        "cpu": _cpu_model(),
        "memory": _memory(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "django": version("Django"),
        "django_q2": version("django-q2"),
        "procrastinate": version("procrastinate"),
        "psycopg": version("psycopg"),
        "postgresql": server_version(conn),
        "load_before": load_average(),
    }


def markdown(bench, machine: dict, duration: float, args) -> str:
    sizes = bench.sizes
    mode = "`python -m bench --quick`" if bench.quick else "`make bench` (`python -m bench`)"
    lines = [
        "# Benchmarks: Dhanman Jobs vs django-q2's stock ORM broker and procrastinate",
        "",
        f"Run {machine['date']} with {mode}, {duration:.0f} s; scenarios: {', '.join(args.scenarios)}.",
        "",
        f"- Machine: {machine['cpus']} CPUs ({machine['cpu']}), {machine['memory']} RAM, {machine['os']}",
        f"- Load average (1/5/15 min) before: {machine['load_before']}, after: {machine['load_after']}",
        f"- Versions: Python {machine['python']}, Django {machine['django']}, django-q2 {machine['django_q2']}, "
        f"procrastinate {machine.get('procrastinate', 'n/a')}, psycopg {machine['psycopg']}, PostgreSQL {machine['postgresql']}",
        f"- Sizes: {sizes.repetitions} repetition(s); drain {sizes.drain_jobs:,} jobs; "
        f"{sizes.enqueue_calls:,} single enqueues; bulk {sizes.bulk_jobs:,}; "
        f"{sizes.latency_samples} latency samples per repetition; {sizes.delayed_jobs} delayed jobs per repetition "
        f"(stock: {sizes.stock_delayed_jobs or 'not measured'}); console {sizes.console_jobs:,} jobs, "
        f"{sizes.console_renders} renders per page; memory {sizes.memory_jobs:,} jobs on {sizes.memory_workers} workers.",
        "",
        "## Results",
        "",
        markdown_table(bench.rows),
        "",
    ]
    if bench.notes:
        lines += [f"- {note}" for note in bench.notes] + [""]
    lines.append(METHOD)
    if FINDINGS.exists():
        lines += ["", FINDINGS_MARKER, "", FINDINGS.read_text().rstrip(), ""]
    return "\n".join(lines)


def refresh_findings(report: Path) -> None:
    """Replace the analysis part of an existing report with the current bench/findings.md."""
    text = report.read_text()
    head = text.split(FINDINGS_MARKER, 1)[0].rstrip()
    report.write_text(f"{head}\n\n{FINDINGS_MARKER}\n\n{FINDINGS.read_text().rstrip()}\n")


def as_json(bench, machine: dict, duration: float) -> dict:
    return {
        "machine": machine,
        "duration": duration,
        "quick": bench.quick,
        "rows": [
            {
                "key": row.key,
                "label": row.label,
                "unit": row.unit,
                "better": row.better,
                "ours": row.ours,
                "stock": row.stock,
                "ours_note": row.ours_note,
                "stock_note": row.stock_note,
                "procrastinate": row.procrastinate,
                "procrastinate_note": row.procrastinate_note,
                "ratio": row.ratio,
                "ratio_procrastinate": row.ratio_procrastinate,
                "met": row.met(),
            }
            for row in bench.rows
        ],
    }
