"""dhanman_jobs_queue_paused{queue}: 1 while a pause is in force (jobs/queues.py), 0 otherwise,
for every queue, through a real /metrics scrape with its token."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from jobs import queues
from jobs.models import QueuePause
from tests.observability.metrics_helpers import samples, value

pytestmark = pytest.mark.django_db
TOKEN = "paused-series-token"
QUEUES = ("critical", "default", "low-priority")


def paused_series(client) -> dict:
    from django.conf import settings

    with override_settings(DHANMAN_JOBS={**settings.DHANMAN_JOBS, "METRICS_TOKEN": TOKEN}):
        response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    found = samples(response.content.decode())
    return {queue: value(found, "dhanman_jobs_queue_paused", queue=queue) for queue in QUEUES}


def test_every_queue_reports_whether_it_is_paused(client):
    assert paused_series(client) == {"critical": 0, "default": 0, "low-priority": 0}
    queues.pause_queue("low-priority", by="ops", reason="month-end reports wait")
    assert paused_series(client) == {"critical": 0, "default": 0, "low-priority": 1}
    queues.resume_queue("low-priority", by="ops")
    assert paused_series(client) == {"critical": 0, "default": 0, "low-priority": 0}


def test_a_pause_whose_time_ran_out_reports_zero(client):
    queues.pause_queue(
        "default", by="ops", reason="for a minute", until=timezone.now() + timedelta(minutes=1)
    )
    assert paused_series(client)["default"] == 1
    QueuePause.objects.filter(queue="default").update(until=timezone.now() - timedelta(seconds=1))
    assert paused_series(client)["default"] == 0
