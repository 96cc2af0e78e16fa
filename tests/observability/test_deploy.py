"""deploy/: the Grafana dashboard and the Prometheus alert rules match what /metrics exports.

Every query names only series a real scrape contains (with data for every family), parses as
PromQL (promtool checks each dashboard query as a recording rule), and the alert rules pass
`promtool check rules` and their unit tests (`promtool test rules`).
"""

import json
import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from django.utils import timezone

from jobs import metrics
from jobs.models import Job, RecurringJob, Server, State
from tests.observability.metrics_helpers import names
from tests.observability.test_metrics import ran

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "dhanman-jobs.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool (Debian's prometheus) missing"
)

FUNCTIONS_AND_KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "inf",
    "nan",
}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: identifiers that are not functions (followed
    by a parenthesis), keywords, label names (inside braces or by/without lists) or durations."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    found = set()
    for match in re.finditer(r"(?<![\w.])([A-Za-z_:][\w:]*)\s*(\()?", expr):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in FUNCTIONS_AND_KEYWORDS:
            continue
        found.add(name)
    return found


def dashboard_queries() -> list[tuple[str, str]]:
    board = json.loads(DASHBOARD.read_text())
    queries = []
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            queries.append((panel["title"], target["expr"]))
    return queries


def alert_queries() -> list[tuple[str, str]]:
    rules = yaml.safe_load(ALERTS.read_text())
    return [(rule["alert"], rule["expr"]) for group in rules["groups"] for rule in group["rules"]]


@pytest.fixture
def exported(db):
    """Every sample name of a scrape in which every family has at least one series."""
    now = timezone.now()
    ran(State.SUCCEEDED)
    tasks_module = __import__("tests.testapp.tasks", fromlist=["add"])
    tasks_module.add.enqueue(1, 2)
    Server.objects.create(
        id="s", host="s", pid=1, worker_count=2, status="running", started_at=now, heartbeat_at=now
    )
    recurring = RecurringJob.objects.create(
        id="nightly",
        task_path="tests.testapp.tasks.add",
        cron="0 2 * * *",
        next_run_at=now + timedelta(hours=1),
    )
    ran(State.SUCCEEDED, finished_ago=timedelta(minutes=1))
    Job.objects.filter(state=State.SUCCEEDED).update(recurring_job=recurring)
    return names(metrics.scrape_text())


def test_the_name_extraction_finds_metrics_and_only_metrics():
    expr = 'histogram_quantile(0.9, sum by (task, le) (rate(a_bucket{x="y(z)"}[5m]))) / on (task) b_total > bool 1'
    assert metric_names(expr) == {"a_bucket", "b_total"}
    assert metric_names("time() - max without (instance) (c_seconds) > 60") == {"c_seconds"}


def test_the_dashboard_has_the_panels_the_operations_team_asked_for():
    titles = " / ".join(title for title, _ in dashboard_queries()).lower()
    for wanted in (
        "throughput",
        "failure rate",
        "p50",
        "p95",
        "queue depth",
        "oldest wait",
        "servers",
        "workers",
        "recurring",
        "late",
    ):
        assert wanted in titles, wanted


def test_every_dashboard_panel_reads_only_exported_metrics(exported):
    queries = dashboard_queries()
    assert queries
    for title, expr in queries:
        used = metric_names(expr)
        assert used, f"{title}: reads no metric"
        assert used <= exported, f"{title}: {sorted(used - exported)} not exported by /metrics"


def test_every_alert_rule_reads_only_exported_metrics(exported):
    for alert, expr in alert_queries():
        used = metric_names(expr)
        assert used and used <= exported, f"{alert}: {sorted(used - exported)} not exported by /metrics"


@needs_promtool
def test_promtool_checks_the_alert_rules_and_their_unit_tests():
    check = subprocess.run(
        ["promtool", "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr
    unit = subprocess.run(
        ["promtool", "test", "rules", "alerts_test.yml"],
        cwd=ALERTS.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert unit.returncode == 0, unit.stdout + unit.stderr


@needs_promtool
def test_every_dashboard_query_is_valid_promql(tmp_path):
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{i}", "expr": expr}
                    for i, (_, expr) in enumerate(dashboard_queries())
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump(rules))
    check = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr
