"""The console on the embedded SQLite default (`make run`): every page renders, actions work."""

import pytest
from django.urls import reverse

from jobs.models import Job, State
from tests.console import factories

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
