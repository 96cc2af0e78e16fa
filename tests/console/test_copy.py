"""The console's words: no doubled words or missing spaces, a retry policy only where it
matters, and an Awaiting job that cannot move says why."""

import re

import pytest
from django.urls import reverse

import jobs.api
from jobs.models import Job
from tests.console import factories
from tests.testapp import tasks

pytestmark = pytest.mark.django_db


def html_of(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def job_page(client, job) -> str:
    return html_of(client.get(reverse("jobs_console:job_detail", args=[job.pk])))


def test_visitor_passes_are_spelled_right_in_the_admin(client_for):
    html = html_of(client_for("superuser").get(reverse("admin:index")))
    assert "Visitor passes" in html and "passs" not in html


def test_a_continuation_says_its_condition_once(client_for):
    parent = factories.enqueued()
    child = factories.awaiting(parent)
    anyhow = jobs.api.continue_with(parent.pk, tasks.noop, on="any finished")
    client = client_for("viewer")
    html = job_page(client, child)
    assert "runs when the parent succeeds" in html
    assert "parent parent" not in html.lower()
    assert "runs when the parent succeeds or is deleted" in job_page(client, factories.job(anyhow.id))


def test_a_batch_continuation_says_its_condition(client_for):
    waiting = Job.objects.get(awaiting_batch=factories.batch())
    assert "runs when every job of the batch succeeds" in job_page(client_for("viewer"), waiting)


@pytest.mark.parametrize(
    ("status", "age", "expected"),
    [
        ("dead", 600, '<span class="state state-dead">dead</span></td>'),
        ("running", 600, '<span class="state state-dead">dead</span> <span class="quiet">no heartbeat'),
        ("stopped", 600, '<span class="state state-stopped">stopped</span></td>'),
        ("running", 0, '<span class="state state-alive">alive</span></td>'),
    ],
)
def test_a_server_status_is_said_once(client_for, status, age, expected):
    factories.server(f"copy-{status}-{age}", heartbeat_age=age, status=status)
    html = html_of(client_for("viewer").get(reverse("jobs_console:servers")))
    row = re.search(r'<tr data-server="copy-[^"]+".*?</tr>', html, re.S).group(0)
    assert expected in row
    assert not re.search(r"\b(dead|alive|stopped)\b\W+\1\b", re.sub(r"<[^>]+>", " ", row))


def test_breadcrumbs_have_a_space_between_items(client_for):
    job, batch, row = factories.failed(), factories.batch(), factories.recurring("copy-crumbs")
    client = client_for("viewer")
    pages = [
        reverse("jobs_console:job_detail", args=[job.pk]),
        reverse("jobs_console:job_graph", args=[job.pk]),
        reverse("jobs_console:batch_detail", args=[batch.pk]),
        reverse("jobs_console:batch_graph", args=[batch.pk]),
        reverse("jobs_console:recurring_detail", args=[row.pk]),
        reverse("jobs_console:job_list", args=["failed"]),
    ]
    for url in pages:
        crumbs = re.search(r'<ol class="breadcrumbs">(.*?)</ol>', html_of(client.get(url)), re.S).group(1)
        # The admin's " › " separator is drawn after each item; items with no white space
        # between them run into it ("Failed jobs ›a3f…").
        assert crumbs.count("<li") >= 3, url
        assert not re.search(r"</li><li", crumbs), url


def test_the_retry_policy_shows_only_once_the_job_has_failed(client_for):
    client = client_for("viewer")
    fine = factories.succeeded()
    html = job_page(client, fine)
    assert "retries allowed" not in html and 'id="retry-note"' not in html
    retrying = factories.awaiting_retry()
    assert re.search(r'id="retry-note">\(0 of \d+ retries used\)', job_page(client, retrying))
    jobs.api.requeue(retrying.pk)  # its retry, now: the second run fails too
    factories.run(factories.job(retrying.pk))
    assert re.search(
        r'id="retry-note">\(1 of \d+ retries used\)', job_page(client, factories.job(retrying.pk))
    )


def test_a_continuation_of_a_failed_parent_says_what_to_do(client_for):
    parent = factories.failed()
    stuck = factories.awaiting(parent)
    html = job_page(client_for("viewer"), stuck)
    assert re.search(
        r'<p class="errornote" id="job-waiting">Waits for its parent, which failed: retry or delete the parent\.</p>',
        html,
    )
    moving = factories.awaiting(factories.enqueued())
    html = job_page(client_for("viewer"), moving)
    assert '<p class="quiet" id="job-waiting">Waits for its parent, which is enqueued.</p>' in html
    assert "which failed" not in html
