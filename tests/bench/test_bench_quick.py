"""`python -m bench --quick` runs end to end and reports every figure for the three systems.

The benchmark is a program, not a library: it is run the way `make bench` runs it, as a
subprocess, against a database of its own (never the test database), with real servers of both
systems. This keeps it from rotting: a scenario that breaks, or a row that loses one side's
figure without saying why, fails here.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Every row of the table, by key: (ours must have a figure, stock must have a figure or a reason).
EXPECTED_ROWS = [
    "enqueue_single",
    "enqueue_bulk",
    "drain_2",
    "drain_4",
    "drain_2_pgbouncer",
    "latency_p50",
    "latency_p95",
    "latency_max",
    "delayed_p50",
    "delayed_p95",
    "rss_before",
    "rss_after",
    "rss_growth",
    "cpu_server",
    "cpu_database",
    "servers_1",
    "servers_2",
    "servers_scaling",
    "servers_1_claim",
    "servers_2_claim",
    "priority_p50",
    "priority_p95",
    "priority_max",
    "console_dashboard",
    "console_failed",
    "console_succeeded_deep",
    "console_job_detail",
    "console_recurring",
    "console_performance",
    "console_failure_groups",
    "console_search_args",
    "console_search_tag",
    "console_queues",
    "console_processing_live",
    "console_metrics_scrape",
    "predictions_mdape_25",
    "predictions_mdape_50",
    "predictions_mdape_75",
    "output_drain_quiet",
    "output_drain_printing",
    "output_cost",
    "flow_unused_drain",
    "flow_keyed_drain",
    "expiry_claim_p50",
    "expiry_claim_p95",
]
CONSOLE_ROWS = {key for key in EXPECTED_ROWS if key.startswith("console_")}
# Rows of ours only (the peers' columns say why): the console, ours through PgBouncer, many servers,
# priority under load, duration predictions, job output.
OURS_ONLY = (
    CONSOLE_ROWS
    | {"drain_2_pgbouncer"}
    | {key for key in EXPECTED_ROWS if key.startswith(("servers_", "priority_", "predictions_", "output_"))}
    # Claim latency during expiry: django-q2 has no retention of its own jobs to expire (it prunes
    # Success rows by count as it saves them), and procrastinate's cleanup is a manual command.
    | {"expiry_claim_p50", "expiry_claim_p95"}
)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        pytest.skip("the bench runs on PostgreSQL (load var/test.env)")
    out = tmp_path_factory.mktemp("bench")
    env = os.environ.copy()
    # A database of this run's own: other test runs on this machine may run the bench meanwhile.
    env["BENCH_DB_NAME"] = f"dhanman_bench_test_{os.getpid()}"
    env.pop("BENCH_MARKS_DIR", None)
    started = time.monotonic()
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--output",
            str(out / "quick.md"),
            "--json",
            str(out / "quick.json"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    elapsed = time.monotonic() - started
    assert completed.returncode == 0, (
        f"bench --quick failed:\n{completed.stdout[-3000:]}\n{completed.stderr[-6000:]}"
    )
    return {
        "stdout": completed.stdout,
        "report": (out / "quick.md").read_text(),
        "data": json.loads((out / "quick.json").read_text()),
        "elapsed": elapsed,
    }


def test_every_row_has_both_systems(quick_run):
    rows = {row["key"]: row for row in quick_run["data"]["rows"]}
    assert list(rows) == EXPECTED_ROWS
    for key, row in rows.items():
        assert row["ours"], f"{key}: no figure for our engine ({row['ours_note']})"
        assert all(value >= 0 for value in row["ours"]), f"{key}: {row['ours']}"
        if key in OURS_ONLY:
            assert row["stock_note"], f"{key}: stock column must say why it has no figure"
        elif key.startswith(("delayed_", "flow_")):
            # flow_: the stock column is our own server without the flow clauses (not in --quick),
            # or django-q2, which has no concurrency limits.
            assert row["stock"] or row["stock_note"], f"{key}: stock has neither a figure nor a reason"
        else:
            assert row["stock"], f"{key}: no figure for django-q2 ({row['stock_note']})"
        if key in OURS_ONLY or key.startswith(("rss_", "cpu_", "flow_")):
            assert row["procrastinate_note"], f"{key}: procrastinate column must say why it has no figure"
        else:
            assert row["procrastinate"], f"{key}: no figure for procrastinate ({row['procrastinate_note']})"
    # Rates and times are real measurements, not placeholders.
    assert (
        rows["drain_2"]["ours"][0] > 1
        and rows["drain_2"]["stock"][0] > 1
        and rows["drain_2"]["procrastinate"][0] > 1
    )
    assert 0 < rows["latency_p50"]["ours"][0] <= rows["latency_max"]["ours"][0]


def test_the_printed_table_and_the_report_show_every_row(quick_run):
    labels = [row["label"] for row in quick_run["data"]["rows"]]
    for label in labels:
        assert label in quick_run["stdout"], f"{label!r} missing from the printed table"
        assert label in quick_run["report"], f"{label!r} missing from the markdown report"
    assert "| Figure | Unit | Dhanman Jobs | django-q2 ORM (tuned) | procrastinate |" in quick_run["report"]
    assert "Versions: Python" in quick_run["report"]


def test_the_quick_run_stays_quick(quick_run):
    # The bench's own budget is 3 minutes with its three systems; the margin is for a machine busy
    # with other work (a load of 10 on 2 cores doubles it).
    assert quick_run["elapsed"] < 480, f"bench --quick took {quick_run['elapsed']:.0f} s"
