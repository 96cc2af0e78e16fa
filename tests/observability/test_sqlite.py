"""Observability on the embedded SQLite default (`make run`): the ORM paths of the tallies,
queue depths and predictions, the SLA check and the Alerts page."""

from datetime import timedelta

import pytest
from django.urls import reverse

from jobs import metrics, predictions, sla, tallies
from jobs.models import DurationEstimate, JobTally, State
from tests.observability.metrics_helpers import value
from tests.observability.test_metrics import fresh_scrape, jobs_settings, ran
from tests.testapp import tasks

pytestmark = [pytest.mark.sqlite, pytest.mark.django_db]
ADD = "tests.testapp.tasks.add"
SLOW = "tests.testapp.tasks.slow_for_sla"


def test_metrics_predictions_and_alerts_on_sqlite(client_for):
    ran(State.SUCCEEDED, duration=0.3, wait=2.0, n=3, finished_ago=timedelta(minutes=30))
    ran(State.SUCCEEDED, duration=0.3, wait=2.0, n=1, finished_ago=timedelta(seconds=5))
    slow_end = ran(State.SUCCEEDED, task=SLOW, duration=2.5, finished_ago=timedelta(seconds=2))
    tasks.add.enqueue(1, 2)
    before = fresh_scrape()
    assert value(before, "dhanman_jobs_finished_total", task=ADD, queue="default", state="succeeded") == 4
    assert value(before, "dhanman_jobs_duration_seconds_bucket", task=ADD, queue="default", le="0.5") == 4
    assert value(before, "dhanman_jobs_wait_seconds_bucket", queue="default", le="1.0") == 0
    assert value(before, "dhanman_jobs_queued", queue="default", state="enqueued") == 1
    assert tallies.roll_up()
    assert JobTally.objects.get(task_path=ADD, state="succeeded").count == 3
    after = fresh_scrape()
    for name, labels in (
        ("dhanman_jobs_finished_total", {"task": ADD, "queue": "default", "state": "succeeded"}),
        ("dhanman_jobs_duration_seconds_sum", {"task": ADD, "queue": "default"}),
        ("dhanman_jobs_wait_seconds_count", {"queue": "default"}),
    ):
        assert value(after, name, **labels) == pytest.approx(value(before, name, **labels)), name
    assert predictions.estimate(DurationEstimate.Kind.TASK, ADD).p50 == pytest.approx(0.3)
    with jobs_settings(ALERT_EMAILS=[], SLA_RECURRING_LATE_FACTOR=0.0):
        sla.check(slow_end + timedelta(seconds=1), force=True)
    text = metrics.scrape_text()
    assert value(text, "dhanman_jobs_sla_breached", rule=f"max_duration:{SLOW}") == 1
    page = client_for("operator").get(reverse("jobs_console:alert_list")).content.decode()
    assert 'id="alert-banner"' in page and SLOW in page
