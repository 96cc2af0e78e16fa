"""A `<script>` in a job's arguments, its state reasons or its exception is shown as text."""

import pytest
from django.urls import reverse

import jobs.api
from jobs.models import Job
from tests.console import factories
from tests.testapp import tasks

pytestmark = pytest.mark.django_db

PAYLOAD = "<script>window.__pwned = 1</script>"
ESCAPED = "&lt;script&gt;window.__pwned = 1&lt;/script&gt;"


def assert_escaped(html: str):
    assert PAYLOAD not in html
    assert ESCAPED in html


@pytest.fixture
def hostile_failed_job():
    """Failed with the payload in its arguments, its exception message and a state reason."""
    job = factories.failed(key=PAYLOAD, message=PAYLOAD)
    jobs.api.requeue(job.pk, reason=f"requeued because {PAYLOAD}")
    factories.run(Job.objects.get(pk=job.pk))
    return Job.objects.get(pk=job.pk)


@pytest.mark.parametrize(
    "page",
    ["job_detail", "job_list", "retries", "job_graph"],
)
def test_pages_show_the_payload_as_text(client_for, hostile_failed_job, page):
    url = {
        "job_detail": reverse("jobs_console:job_detail", args=[hostile_failed_job.pk]),
        "job_graph": reverse("jobs_console:job_graph", args=[hostile_failed_job.pk]),
        "job_list": reverse("jobs_console:job_list", args=["failed"]),
        "retries": reverse("jobs_console:retries"),
    }[page]
    response = client_for("viewer").get(url)
    assert response.status_code == 200
    html = response.content.decode()
    if page == "job_graph":
        # The graph shows task names only; still, nothing from the job may come out raw.
        assert "<script>window" not in html
    else:
        assert_escaped(html)


def test_timeline_reason_and_traceback_are_escaped(client_for, hostile_failed_job):
    html = (
        client_for("viewer")
        .get(reverse("jobs_console:job_detail", args=[hostile_failed_job.pk]))
        .content.decode()
    )
    assert f"requeued because {ESCAPED}" in html
    assert f"RuntimeError: {ESCAPED}" in html  # the traceback's last line
    assert "<script>window" not in html


def test_search_text_is_escaped_when_echoed(client_for):
    factories.failed()
    html = (
        client_for("viewer")
        .get(reverse("jobs_console:job_list", args=["failed"]), {"q": PAYLOAD})
        .content.decode()
    )
    assert PAYLOAD not in html


def test_recurring_and_batch_descriptions_are_escaped(client_for):
    from jobs.recurring import add_or_update

    add_or_update("hostile", tasks.record, "0 6 * * *", args=[PAYLOAD])
    with jobs.api.batch(PAYLOAD) as builder:
        builder.enqueue(tasks.add, 1, 1)
    client = client_for("viewer")
    for url in (
        reverse("jobs_console:recurring_list"),
        reverse("jobs_console:recurring_detail", args=["hostile"]),
        reverse("jobs_console:batch_list"),
        reverse("jobs_console:batch_detail", args=[builder.id]),
        reverse("jobs_console:batch_graph", args=[builder.id]),
    ):
        html = client.get(url).content.decode()
        assert "<script>window" not in html, url


def test_stats_json_is_json_not_html(client_for):
    factories.failed(key=PAYLOAD, message=PAYLOAD)
    response = client_for("viewer").get(reverse("jobs_console:stats"))
    assert response["Content-Type"] == "application/json"
    assert "<script>" not in response.content.decode()
