"""The console's side of flow control: pause and resume from the dashboard's queues table, the
banner a paused queue puts on every page, and a job's keys and limit wait on its page."""

import pytest
from django.urls import reverse

from jobs.models import QueuePause
from jobs.server.broker import claim_jobs
from tests.jobs.helpers import QUEUES
from tests.testapp import tasks

pytestmark = pytest.mark.django_db


def html_of(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def test_an_operator_pauses_a_queue_with_a_reason_and_every_page_shows_it(client_for):
    operator = client_for("operator")
    dashboard = html_of(operator.get(reverse("jobs_console:dashboard")))
    assert reverse("jobs_console:queue_pause", args=["low-priority"]) in dashboard
    assert 'name="reason" required' in dashboard and 'name="resume_at"' in dashboard
    response = operator.post_with_csrf(
        reverse("jobs_console:queue_pause", args=["low-priority"]),
        {"reason": "month-end run", "resume_at": "2099-01-31T06:00"},
    )
    assert response.status_code == 302
    pause = QueuePause.objects.get(queue="low-priority")
    assert (
        pause.reason == "month-end run"
        and pause.paused_by_name.startswith("operator")
        and pause.until.year == 2099
    )
    for name in ("dashboard", "servers", "retries"):
        page = html_of(client_for("viewer").get(reverse(f"jobs_console:{name}")))
        assert (
            'id="paused-queues"' in page
            and "Queue low-priority is paused" in page
            and "month-end run" in page
        )
    dashboard = html_of(operator.get(reverse("jobs_console:dashboard")))
    assert '<tr data-queue="low-priority" class="paused">' in dashboard
    assert reverse("jobs_console:queue_resume", args=["low-priority"]) in dashboard
    operator.post_with_csrf(reverse("jobs_console:queue_resume", args=["low-priority"]))
    assert not QueuePause.objects.exists()
    assert 'id="paused-queues"' not in html_of(operator.get(reverse("jobs_console:dashboard")))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"reason": "  "}, "needs a reason"),
        ({"reason": "x", "resume_at": "soon"}, "is not a date and time"),
        ({"reason": "x", "resume_at": "2001-01-01T00:00"}, "must be in the future"),
    ],
)
def test_a_pause_without_a_reason_or_with_a_bad_resume_time_is_refused(client_for, data, message):
    operator = client_for("operator")
    response = operator.post_with_csrf(
        reverse("jobs_console:queue_pause", args=["default"]), data, follow=True
    )
    assert message in response.content.decode()
    assert not QueuePause.objects.exists()


def test_a_viewer_sees_no_pause_buttons(client_for):
    page = html_of(client_for("viewer").get(reverse("jobs_console:dashboard")))
    assert reverse("jobs_console:queue_pause", args=["default"]) not in page


def test_the_job_page_shows_its_keys_and_that_it_waits_on_a_limit(client_for):
    tasks.mutex_run.enqueue("12", 0)
    waiting = tasks.mutex_run.enqueue("12", 0)
    claim_jobs(None, QUEUES, 4)
    page = html_of(client_for("viewer").get(reverse("jobs_console:job_detail", args=[waiting.id])))
    assert "<code>group:12</code>" in page and "at most 1 running at once" in page
    assert '<dd id="job-limit-waiting">waiting: group:12 is at its limit of 1</dd>' in page
    unique = tasks.unique_noop.enqueue("inv-7")
    page = html_of(client_for("viewer").get(reverse("jobs_console:job_detail", args=[unique.id])))
    assert "Unique key" in page and "unique_noop:{&quot;key&quot;:&quot;inv-7&quot;}" in page
