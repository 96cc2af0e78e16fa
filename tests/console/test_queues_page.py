"""The queues page: each queue's counts, oldest wait, the servers serving it and its pause, and
the backlog chart's data from the QueueDepth samples the servers' roll-up writes."""

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from jobs import backlog
from jobs.maintenance import Housekeeping
from jobs.models import QueueDepth, QueuePause, State
from tests.console import factories
from tests.testapp import tasks

pytestmark = pytest.mark.django_db
URL = "jobs_console:queue_list"


def html_of(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def row_of(page: str, queue: str) -> str:
    found = re.search(rf'<tr data-queue="{queue}".*?</tr>', page, re.S)
    assert found, f"no row for {queue}"
    return found.group(0)


def cell(row: str, column: str) -> str:
    found = re.search(rf'data-column="{column}">(.*?)</td>', row, re.S)
    assert found, column
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def test_each_queue_shows_its_enqueued_scheduled_processing_counts_and_oldest_wait(client_for):
    factories.processing(tasks.add, 5, 6)  # claimed first: the only job so far
    factories.enqueued()
    factories.enqueued()
    factories.scheduled()
    tasks.add.using(queue_name="critical").enqueue(1, 1)
    page = html_of(client_for("viewer").get(reverse(URL)))
    default = row_of(page, "default")
    assert (cell(default, "enqueued"), cell(default, "scheduled"), cell(default, "processing")) == (
        "2",
        "1",
        "1",
    )
    assert cell(default, "oldest") not in ("", "—")
    assert cell(row_of(page, "critical"), "enqueued") == "1"
    low = row_of(page, "low-priority")
    assert (cell(low, "enqueued"), cell(low, "oldest")) == ("0", "—")
    # Each count links to its list, filtered by the queue.
    assert reverse("jobs_console:job_list", args=["scheduled"]) + "?queue=default" in default


def test_the_servers_serving_a_queue_are_listed_and_a_queue_nobody_serves_says_so(client_for):
    factories.server("srv-all")  # serves tests.jobs.helpers.QUEUES
    only_critical = factories.server("srv-critical")
    only_critical.queues = ["critical"]
    only_critical.worker_count = 3
    only_critical.save()
    factories.server("srv-dead", heartbeat_age=3600)
    with_settings_queues = html_of(client_for("viewer").get(reverse(URL)))
    critical = row_of(with_settings_queues, "critical")
    assert "srv-all" in critical and "srv-critical" in critical and "srv-dead" not in critical
    assert "5 workers" in cell(critical, "servers")
    default = row_of(with_settings_queues, "default")
    assert "srv-critical" not in default and "2 workers" in cell(default, "servers")


def test_no_live_server_is_shown_as_such(client_for):
    page = html_of(client_for("viewer").get(reverse(URL)))
    assert "No live server" in cell(row_of(page, "default"), "servers")


def test_pause_controls_need_pause_queues_and_come_back_to_the_queues_page(client_for, client_with):
    viewer_page = html_of(client_for("viewer").get(reverse(URL)))
    assert reverse("jobs_console:queue_pause", args=["default"]) not in viewer_page
    pauser = client_with("view_jobs", "pause_queues")
    page = html_of(pauser.get(reverse(URL)))
    assert reverse("jobs_console:queue_pause", args=["default"]) in page
    response = pauser.post_with_csrf(
        reverse("jobs_console:queue_pause", args=["default"]),
        {"reason": "ledger migration", "next": reverse(URL)},
    )
    assert response.status_code == 302 and response["Location"] == reverse(URL)
    assert QueuePause.objects.filter(queue="default").exists()
    paused = row_of(html_of(pauser.get(reverse(URL))), "default")
    assert "Paused" in paused and "ledger migration" in paused
    assert reverse("jobs_console:queue_resume", args=["default"]) in paused


def test_the_queues_page_is_in_the_navigation(client_for):
    page = html_of(client_for("viewer").get(reverse("jobs_console:dashboard")))
    assert f'href="{reverse(URL)}"' in page


def test_the_page_has_no_inline_script_and_carries_the_chart_data(client_for):
    page = html_of(client_for("viewer").get(reverse(URL)))
    inline = [tag for tag in re.findall(r"<script\b[^>]*>", page) if "src=" not in tag and "json" not in tag]
    assert not inline, inline
    assert not re.search(r"\son[a-z]+=", page)
    data = json.loads(
        re.search(r'<script id="backlog-data" type="application/json">(.*?)</script>', page, re.S)[1]
    )
    assert len(data["labels"]) == len(data["starts"]) == 24 * 12
    assert [q["queue"] for q in data["queues"]][:3] == ["critical", "default", "low-priority"]


# --- The samples (jobs/backlog.py) ---------------------------------------------------------------


def test_a_sample_stores_one_row_per_queue_zeros_included_once_per_interval():
    factories.enqueued()
    factories.scheduled()
    now = datetime(2026, 12, 2, 10, 7, 30, tzinfo=UTC)
    assert backlog.sample(now) is True
    rows = {row.queue: row for row in QueueDepth.objects.all()}
    assert set(rows) >= {"critical", "default", "low-priority"}
    assert rows["default"].sampled_at == datetime(2026, 12, 2, 10, 5, tzinfo=UTC)
    assert (rows["default"].enqueued, rows["default"].scheduled, rows["default"].processing) == (1, 1, 0)
    assert (rows["critical"].enqueued, rows["critical"].scheduled) == (0, 0)
    # The same interval again (another server, or the next minute's roll-up): nothing new.
    factories.enqueued()
    assert backlog.sample(now + timedelta(minutes=2)) is False
    assert QueueDepth.objects.get(queue="default").enqueued == 1
    # The next interval gets its own rows.
    assert backlog.sample(now + timedelta(minutes=5)) is True
    assert QueueDepth.objects.filter(queue="default").count() == 2


def test_samples_older_than_keep_are_forgotten_by_the_next_sample():
    now = timezone.now()
    old = backlog.interval_start(now - backlog.KEEP - timedelta(hours=1))
    QueueDepth.objects.create(sampled_at=old, queue="default", enqueued=9, scheduled=0, processing=0)
    backlog.sample(now)
    assert not QueueDepth.objects.filter(sampled_at=old).exists()
    assert QueueDepth.objects.filter(sampled_at=backlog.interval_start(now)).exists()


def test_the_housekeeping_roll_up_writes_the_sample():
    Housekeeping().run("console-server")
    assert QueueDepth.objects.filter(sampled_at=backlog.interval_start(timezone.now())).exists()


def test_history_places_samples_at_their_interval_leaves_gaps_and_ends_with_now():
    now = timezone.now()
    two_hours_ago = backlog.interval_start(now - timedelta(hours=2))
    QueueDepth.objects.create(
        sampled_at=two_hours_ago, queue="default", enqueued=7, scheduled=3, processing=1
    )
    factories.enqueued()
    data = backlog.history(now)
    default = next(q for q in data["queues"] if q["queue"] == "default")
    index = data["starts"].index(two_hours_ago.isoformat())
    assert (default[State.ENQUEUED][index], default[State.SCHEDULED][index]) == (7, 3)
    assert default[State.ENQUEUED][index - 1] is None  # no server sampled then: a gap
    assert default[State.ENQUEUED][-1] == 1  # the last point is the count now
    assert data["starts"][-1] == backlog.interval_start(now).isoformat()


def test_drains_in_is_the_backlog_times_the_queues_mean_over_its_workers(client_for):
    from jobs.models import DurationEstimate

    factories.enqueued()
    factories.enqueued()
    factories.server()  # two workers on every queue
    DurationEstimate.objects.create(
        kind=DurationEstimate.Kind.QUEUE,
        key="default",
        p50=10.0,
        p90=10.0,
        p95=10.0,
        mean=10.0,
        runs=10,
        recent=[10.0] * 10,
        updated_at=timezone.now(),
    )
    page = html_of(client_for("viewer").get(reverse(URL)))
    assert cell(row_of(page, "default"), "drain") == "~10 s"  # 2 jobs × 10 s ÷ 2 workers
    assert cell(row_of(page, "critical"), "drain") == "—"  # nothing waits there
    assert cell(row_of(page, "low-priority"), "drain") == "—"
