"""The console on the embedded SQLite default (`make run`): every page renders, actions work."""

import re

import pytest
from django.urls import reverse

from jobs.models import Job, State
from tests.console import factories
from tests.testapp import tasks

pytestmark = [pytest.mark.sqlite, pytest.mark.django_db]


def test_every_page_renders_and_an_action_works_on_sqlite(client_for):
    failed = factories.failed()
    batch = factories.batch()
    row = factories.recurring()
    factories.server()
    client = client_for("operator")
    for url in (
        reverse("jobs_console:dashboard"),
        reverse("jobs_console:stats"),
        reverse("jobs_console:job_list", args=["failed"]) + "?q=fail_once",
        reverse("jobs_console:job_detail", args=[failed.pk]),
        reverse("jobs_console:job_graph", args=[failed.pk]),
        reverse("jobs_console:retries"),
        reverse("jobs_console:recurring_list"),
        reverse("jobs_console:recurring_detail", args=[row.pk]),
        reverse("jobs_console:servers"),
        reverse("jobs_console:batch_list"),
        reverse("jobs_console:batch_detail", args=[batch.pk]),
        reverse("jobs_console:batch_graph", args=[batch.pk]),
        reverse("jobs_console:performance") + "?window=7d&sort=-p95",
        reverse("jobs_console:failure_groups"),
    ):
        assert client.get(url).status_code == 200, url
    # The short id of the lists, the due-time order and the task's short name work on SQLite too.
    factories.scheduled()
    for url in (
        reverse("jobs_console:retries") + f"?q={str(failed.pk)[:8]}",
        reverse("jobs_console:job_list", args=["scheduled"]) + "?task=add",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert 'id="list-count">1 matching job' in response.content.decode(), url
    response = client.post_with_csrf(reverse("jobs_console:job_requeue", args=[failed.pk]))
    assert response.status_code == 302
    assert Job.objects.get(pk=failed.pk).state == State.ENQUEUED
    delete = reverse("jobs_console:job_delete", args=[failed.pk])
    assert client.post_with_csrf(delete).status_code == 200  # the confirmation page
    assert client.post_with_csrf(delete, {"confirm": "yes"}).status_code == 302
    assert Job.objects.get(pk=failed.pk).state == State.DELETED


def test_the_performance_figures_and_failure_groups_on_sqlite():
    from datetime import timedelta

    from django.utils import timezone

    from jobs import failure_groups, performance

    for n in (1, 2):
        factories.failed(message=f"Invoice {n} not found")
    factories.succeeded()
    live = {row.task_path: (row.runs, row.failed) for row in performance.task_performance("1h")[1]}
    assert performance.roll_up(timezone.now() + timedelta(minutes=30)) == 2
    stored = {row.task_path: (row.runs, row.failed) for row in performance.task_performance("1h")[1]}
    assert live == stored == {"tests.testapp.tasks.fail_once": (2, 2), "tests.testapp.tasks.add": (1, 0)}
    (group,) = failure_groups.groups()
    assert group.count == 2 and group.fingerprint == "Invoice <n> not found"


def test_argument_and_tag_search_on_sqlite(client_for):
    """No GIN index here: the same terms are matched in the JSON text (listing.with_terms)."""
    forty_two = factories.enqueued(tasks.bill_society, 12, 42)
    factories.enqueued(tasks.bill_society, 12, 420)
    factories.enqueued(tasks.bill_society, 13, 4)
    client = client_for("viewer")
    url = reverse("jobs_console:job_list", args=["enqueued"])

    def found(params):
        response = client.get(url, params)
        assert response.status_code == 200, params
        return re.findall(r'<tr data-job-id="([0-9a-f-]+)"', response.content.decode())

    assert found({"args": "42"}) == [str(forty_two.pk)]
    assert found({"args": "invoice_id=42", "tag": "society:12"}) == [str(forty_two.pk)]
    assert len(found({"tag": "SOCIETY:12"})) == 2
    assert found({"q": "invoice_id=42"}) == [str(forty_two.pk)]
    assert found({"q": "invoice_id=42", "args": "society_id=12", "tag": "billing"}) == [str(forty_two.pk)]
    assert found({"args": "4"}) != [] and len(found({"args": "4"})) == 1  # "v:4" is not "v:42"
