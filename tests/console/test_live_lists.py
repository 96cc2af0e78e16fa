"""Live lists: the Enqueued, Scheduled and Processing lists' live.json (the rows live_list.js
puts in place), who may read it, what it refuses, and the Processing list's own columns."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from jobs.console.listing import keyset_page
from jobs.console.views.jobs import STATE_ORDER
from jobs.models import DurationEstimate, Job, State
from tests.console import factories
from tests.testapp import tasks

pytestmark = pytest.mark.django_db


def live(client, state, query=""):
    return client.get(reverse("jobs_console:job_list_live", args=[state]) + (f"?{query}" if query else ""))


def test_the_live_rows_are_the_first_pages_rows_and_follow_the_jobs(client_for):
    viewer = client_for("viewer")
    first = factories.enqueued()
    data = live(viewer, "enqueued").json()
    assert data["ids"] == [str(first.pk)]
    assert f'data-job-id="{first.pk}"' in data["rows"] and "<tr" in data["rows"]
    second = factories.enqueued()
    assert live(viewer, "enqueued").json()["ids"] == [str(second.pk), str(first.pk)]  # newest first
    Job.objects.filter(pk=first.pk).update(state=State.SUCCEEDED)  # it left the list
    assert live(viewer, "enqueued").json()["ids"] == [str(second.pk)]


def test_the_live_rows_keep_the_pages_filters(client_for):
    viewer = client_for("viewer")
    default = factories.enqueued()
    critical = tasks.add.using(queue_name="critical").enqueue(1, 1)
    assert live(viewer, "enqueued", "queue=critical").json()["ids"] == [str(critical.id)]
    assert live(viewer, "enqueued", "queue=default").json()["ids"] == [str(default.pk)]
    assert live(viewer, "enqueued", "queue=no-such").status_code == 400


def test_only_live_states_and_only_the_first_page_update_live(client_for):
    viewer = client_for("viewer")
    assert live(viewer, "failed").status_code == 404
    assert live(viewer, "exploded").status_code == 404
    response = live(viewer, "enqueued", "older=abc")
    assert response.status_code == 400 and "first page" in response.json()["error"]


def test_the_page_of_a_live_list_carries_its_live_url_and_toggle_and_others_do_not(client_for):
    viewer = client_for("viewer")
    factories.enqueued()
    page = viewer.get(
        reverse("jobs_console:job_list", args=["enqueued"]), {"queue": "default"}
    ).content.decode()
    live_url = reverse("jobs_console:job_list_live", args=["enqueued"]) + "?queue=default"
    assert f'data-live-url="{live_url}"' in page
    assert "data-live-toggle" in page and 'aria-live="polite"' in page and "live_list.js" in page
    assert "data-live-rows" in page
    failed = viewer.get(reverse("jobs_console:job_list", args=["failed"])).content.decode()
    assert "data-live-url" not in failed and "live_list.js" not in failed
    # A later page does not update itself: its rows would shift under the reader.
    factories.enqueued()
    cursor = keyset_page(
        Job.objects.filter(state=State.ENQUEUED), time_field="state_changed_at", size=1
    ).older
    later = viewer.get(reverse("jobs_console:job_list", args=["enqueued"]), {"older": cursor})
    assert later.status_code == 200 and "data-live-url" not in later.content.decode()


def test_the_live_rows_need_view_jobs(client_with, client_for):
    factories.processing()
    url = reverse("jobs_console:job_list_live", args=["processing"])
    assert client_with("retry_jobs").get(url).status_code == 403
    assert client_with("view_jobs").get(url).status_code == 200
    anonymous = client_for("anonymous").get(url)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("admin:login"))


def test_checkboxes_in_the_live_rows_only_for_those_with_a_bulk_action(client_with):
    factories.enqueued()
    assert 'name="job"' not in live(client_with("view_jobs"), "enqueued").json()["rows"]
    assert 'name="job"' in live(client_with("view_jobs", "delete_jobs"), "enqueued").json()["rows"]


def _running_for_a_minute(progress=None, message=""):
    job = factories.processing()
    Job.objects.filter(pk=job.pk).update(
        started_at=timezone.now() - timedelta(seconds=60), progress=progress, progress_message=message
    )
    return job


def test_the_processing_list_shows_running_for_progress_predicted_finish_and_cancel(client_with):
    job = _running_for_a_minute(progress=40, message="Generated 40 of 100 invoices")
    DurationEstimate.objects.create(
        kind=DurationEstimate.Kind.TASK,
        key=job.task_path,
        p50=100.0,
        p90=150.0,
        p95=200.0,
        mean=110.0,
        runs=20,
        recent=[100.0] * 20,
        updated_at=timezone.now(),
    )
    operator = client_with("view_jobs", "cancel_jobs")
    page = operator.get(reverse("jobs_console:job_list", args=["processing"])).content.decode()
    row = re.search(rf'<tr data-job-id="{job.pk}".*?</tr>', page, re.S).group(0)
    assert re.search(r'data-column="running-for">\s*(1 min|60 s|59 s|1 min 0 s)', row), row
    assert 'aria-label="40 percent"' in row and "Generated 40 of 100 invoices" in row
    assert "Likely done in ~40 s" in row and "<time" in row.split('data-column="prediction"')[1]
    assert reverse("jobs_console:job_cancel", args=[job.pk]) in row and "data-confirm=" in row
    # The live rows are the same.
    rows = live(operator, "processing", "queue=default").json()["rows"]
    assert (
        "Generated 40 of 100 invoices" in rows and reverse("jobs_console:job_cancel", args=[job.pk]) in rows
    )
    # Cancel from the live rows comes back to the list (with its filters), not to the JSON.
    back = reverse("jobs_console:job_list", args=["processing"]) + "?queue=default"
    assert f'name="next" value="{back}"' in rows
    # Without cancel_jobs there is no Cancel.
    viewer_page = client_with("view_jobs").get(reverse("jobs_console:job_list", args=["processing"]))
    assert reverse("jobs_console:job_cancel", args=[job.pk]) not in viewer_page.content.decode()


def test_cancel_from_the_processing_list_asks_the_job_to_stop_and_comes_back(client_with):
    job = _running_for_a_minute()
    operator = client_with("view_jobs", "cancel_jobs")
    back = reverse("jobs_console:job_list", args=["processing"])
    response = operator.post_with_csrf(reverse("jobs_console:job_cancel", args=[job.pk]), {"next": back})
    assert response.status_code == 302 and response["Location"] == back
    assert Job.objects.get(pk=job.pk).cancel_requested
    page = operator.get(back).content.decode()
    row = re.search(rf'<tr data-job-id="{job.pk}".*?</tr>', page, re.S).group(0)
    assert "stopping" in row and reverse("jobs_console:job_cancel", args=[job.pk]) not in row


def test_a_processing_job_without_an_estimate_says_so(client_for):
    _running_for_a_minute()
    page = client_for("viewer").get(reverse("jobs_console:job_list", args=["processing"])).content.decode()
    assert "no estimate yet" in page


def test_a_redacted_progress_message_stays_redacted_in_the_list(client_for):
    job = _running_for_a_minute(progress=10, message="card 4111111111111111")
    job.kwargs = {"card_number": "4111111111111111"}
    job.save(update_fields=["kwargs"])
    page = client_for("viewer").get(reverse("jobs_console:job_list", args=["processing"])).content.decode()
    assert "4111111111111111" not in page


def test_the_live_json_carries_the_lists_count_line(client_for):
    from django.core.cache import cache

    viewer = client_for("viewer")
    factories.enqueued()
    factories.enqueued()
    cache.clear()  # the counters' snapshot (a few seconds old at most)
    assert live(viewer, "enqueued").json()["count"] == "2 enqueued jobs, newest first."
    tasks.add.using(queue_name="critical").enqueue(1, 1)
    assert live(viewer, "enqueued", "queue=critical").json()["count"] == "1 matching job, newest first."
    assert live(viewer, "scheduled").json()["count"] == "0 scheduled jobs, soonest due first."


def test_the_live_json_carries_every_state_tabs_count_as_the_page_shows_it(client_for):
    from django.core.cache import cache

    viewer = client_for("viewer")
    factories.succeeded()  # first: it claims the next job, which must be its own
    first = factories.enqueued()
    factories.enqueued()
    cache.clear()  # the counters' snapshot (a few seconds old at most)
    page = viewer.get(reverse("jobs_console:job_list", args=["processing"])).content.decode()
    tabs = dict(re.findall(r'<span class="count" data-state-count="(\w+)">([^<]*)</span>', page))
    states = live(viewer, "processing").json()["states"]
    assert states == tabs  # the same text, for the same tabs
    assert states["enqueued"] == "2" and states["succeeded"] == "1" and states["processing"] == "0"
    assert set(states) == {key for key, _ in STATE_ORDER}
    # They move with the jobs, like the rows.
    Job.objects.filter(pk=first.pk).update(state=State.PROCESSING)
    cache.clear()
    moved = live(viewer, "processing").json()["states"]
    assert moved["processing"] == "1" and moved["enqueued"] == "1"


def test_a_tab_count_above_the_exact_cap_says_it_is_an_estimate(client_for, monkeypatch):
    from django.core.cache import cache

    from jobs.console import stats

    def estimated():
        return {"enqueued": 123_456}, ["enqueued"]

    monkeypatch.setattr(stats, "count_by_state", estimated)
    cache.clear()
    assert live(client_for("viewer"), "enqueued").json()["states"]["enqueued"] == "≈ 123,456"
