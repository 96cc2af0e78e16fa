"""A recurring job's page: its recent runs' chart data (duration, outcome) and its next runs in
its own zone; a batch's page: its ETA (jobs.api.batch_progress) or why there is none."""

import json
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from jobs import api
from jobs.models import DurationEstimate, Job, Server, State
from jobs.recurring import add_or_update
from tests.console import factories
from tests.testapp import tasks

pytestmark = pytest.mark.django_db


def page_of(client, name, *args) -> str:
    response = client.get(reverse(f"jobs_console:{name}", args=args))
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def runs_data(page: str):
    found = re.search(r'<script id="runs-data" type="application/json">(.*?)</script>', page, re.S)
    return json.loads(found[1]) if found else None


def test_the_recurring_page_charts_its_finished_runs_oldest_first_coloured_by_outcome(client_for):
    row = factories.recurring()
    first = factories.run(factories.job(api.trigger(row.pk).id))
    second = factories.job(api.trigger(row.pk).id)
    now = timezone.now()
    Job.objects.filter(pk=first.pk).update(
        started_at=now - timedelta(minutes=10), finished_at=now - timedelta(minutes=10) + timedelta(seconds=4)
    )
    Job.objects.filter(pk=second.pk).update(
        state=State.FAILED, started_at=now - timedelta(minutes=5), finished_at=now - timedelta(minutes=3)
    )
    api.trigger(row.pk)  # Enqueued: not run yet, not on the chart
    page = page_of(client_for("viewer"), "recurring_detail", row.pk)
    runs = runs_data(page)
    assert [(r["job"], r["outcome"], r["seconds"]) for r in runs] == [
        (str(first.pk), "succeeded", 4.0),
        (str(second.pk), "failed", 120.0),
    ]
    assert 'id="runs-chart"' in page and "jobs/recurring.js" in page and "jobs/chart.js" in page


def test_a_recurring_job_without_runs_says_so_and_loads_no_chart(client_for):
    row = factories.recurring()
    page = page_of(client_for("viewer"), "recurring_detail", row.pk)
    assert runs_data(page) is None and "No finished run yet." in page and "recurring.js" not in page


def test_next_runs_are_listed_in_the_recurring_jobs_own_zone(client_for):
    # The console shows Asia/Kolkata (TIME_ZONE); this one runs at 06:30 in Tokyo.
    row = add_or_update("tokyo-morning", tasks.record, "30 6 * * *", args=["x"], tz="Asia/Tokyo")
    page = page_of(client_for("viewer"), "recurring_detail", row.pk)
    listed = re.findall(r"<li>(.*?)</li>", re.search(r'<ol id="next-runs">(.*?)</ol>', page, re.S)[1])
    assert len(listed) == 5
    assert all(text.endswith("06:30 JST") for text in listed), listed
    disabled = add_or_update("off", tasks.record, "0 6 * * *", args=["y"], enabled=False)
    assert "None: it is disabled." in page_of(client_for("viewer"), "recurring_detail", disabled.pk)


def test_the_batch_page_shows_its_eta_from_the_estimates_and_the_workers(client_for):
    batch = factories.batch(size=3)
    DurationEstimate.objects.create(
        kind=DurationEstimate.Kind.TASK,
        key="tests.testapp.tasks.add",
        p50=60.0,
        p90=60.0,
        p95=60.0,
        mean=60.0,
        runs=10,
        recent=[60.0] * 10,
        updated_at=timezone.now(),
    )
    viewer = client_for("viewer")
    # No server serves its queue yet: no estimate, and the page says why.
    page = page_of(viewer, "batch_detail", batch.pk)
    assert re.search(r'id="batch-eta">.*no estimate yet', page, re.S)
    factories.server()  # two workers on every queue
    eta = api.batch_progress(batch.pk)["eta"]
    assert eta is not None
    page = page_of(viewer, "batch_detail", batch.pk)
    eta_cell = re.search(r'id="batch-eta">(.*?)</dd>', page, re.S)[1]
    assert f'<time datetime="{eta.isoformat()[:16]}' in eta_cell, eta_cell
    assert Server.objects.count() == 1
