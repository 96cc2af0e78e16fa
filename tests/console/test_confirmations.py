"""Destructive actions ask first, on a page of our own (like Django's delete confirmation).

A POST without confirm=yes changes nothing and answers with a page saying what will happen and
how many jobs it touches; that page's form posts the same fields again with confirm=yes. The
role and CSRF checks come before either.
"""

import re

import pytest
from django.test import Client
from django.urls import reverse

from jobs.models import Batch, BatchState, Job, RecurringJob, State
from tests.console import factories

pytestmark = pytest.mark.django_db


def hidden_fields(html: str) -> list[tuple[str, str]]:
    """The (name, value) pairs of the confirmation form, as a browser would post them."""
    form = re.search(r'<form method="post" action="[^"]*" id="confirm-form">(.*?)</form>', html, re.S)
    assert form, "no confirmation form on the page"
    return re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.group(1))


def post_back(client, url, html):
    """Submit the confirmation form: its fields (not the CSRF one, which the client adds)."""
    data = {}
    for name, value in hidden_fields(html):
        if name != "csrfmiddlewaretoken":
            data.setdefault(name, []).append(value)
    return client.post_with_csrf(url, data)


def test_deleting_a_job_shows_a_confirmation_and_changes_nothing_until_confirmed(client_for):
    job = factories.enqueued()
    client = client_for("operator")
    url = reverse("jobs_console:job_delete", args=[job.pk])
    page = client.post_with_csrf(url, {"next": reverse("jobs_console:job_detail", args=[job.pk])})
    assert page.status_code == 200
    html = page.content.decode()
    assert "Delete this job?" in html
    assert "It touches <strong>1 job</strong>" in html
    assert str(job.pk)[:8] in html
    assert Job.objects.get(pk=job.pk).state == State.ENQUEUED
    assert ("confirm", "yes") in hidden_fields(html)
    assert "No, take me back" in html

    done = post_back(client, url, html)
    assert done.status_code == 302
    assert done["Location"] == reverse("jobs_console:job_detail", args=[job.pk])
    assert Job.objects.get(pk=job.pk).state == State.DELETED


def test_bulk_delete_counts_the_jobs_it_touches_and_carries_every_id(client_for):
    targets = [factories.failed() for _ in range(3)]
    gone = factories.deleted()
    client = client_for("operator")
    url = reverse("jobs_console:job_bulk")
    ids = [str(job.pk) for job in [*targets, gone]]
    page = client.post_with_csrf(url, {"action": "delete", "job": ids})
    assert page.status_code == 200
    html = page.content.decode()
    assert "Delete 4 jobs?" in html
    assert "It touches <strong>3 jobs</strong>" in html
    assert "1 already deleted or gone" in html
    assert set(Job.objects.filter(pk__in=ids[:3]).values_list("state", flat=True)) == {State.FAILED}
    assert [value for name, value in hidden_fields(html) if name == "job"] == ids

    assert post_back(client, url, html).status_code == 302
    assert set(Job.objects.filter(pk__in=ids).values_list("state", flat=True)) == {State.DELETED}


def test_bulk_requeue_does_not_ask(client_for):
    target = factories.failed()
    response = client_for("operator").post_with_csrf(
        reverse("jobs_console:job_bulk"), {"action": "requeue", "job": [str(target.pk)]}
    )
    assert response.status_code == 302
    assert Job.objects.get(pk=target.pk).state == State.ENQUEUED


def test_cancelling_a_batch_says_how_many_jobs_are_deleted(client_for):
    batch = factories.batch(size=4)
    client = client_for("operator")
    url = reverse("jobs_console:batch_cancel", args=[batch.pk])
    page = client.post_with_csrf(url)
    html = page.content.decode()
    assert page.status_code == 200
    assert "It touches <strong>4 jobs</strong>" in html
    assert "have not started are deleted" in html
    assert Batch.objects.get(pk=batch.pk).state == BatchState.STARTED

    assert post_back(client, url, html).status_code == 302
    assert Batch.objects.get(pk=batch.pk).state == BatchState.CANCELLED
    assert set(Job.objects.filter(batch=batch).values_list("state", flat=True)) == {State.DELETED}


def test_removing_a_recurring_job_asks_then_returns_to_the_list(client_for):
    row = factories.recurring("confirm-remove")
    client = client_for("admin")
    url = reverse("jobs_console:recurring_remove", args=[row.pk])
    page = client.post_with_csrf(url)
    html = page.content.decode()
    assert page.status_code == 200
    assert "Remove the recurring job confirm-remove?" in html
    assert "It touches <strong>0 jobs</strong>" in html
    assert RecurringJob.objects.filter(pk=row.pk).exists()

    done = post_back(client, url, html)
    assert done.status_code == 302 and done["Location"] == reverse("jobs_console:recurring_list")
    assert not RecurringJob.objects.filter(pk=row.pk).exists()


@pytest.mark.parametrize("role", ["viewer", "no_role"])
def test_the_confirmation_page_needs_the_role_of_the_action(client_for, role):
    row = factories.recurring("confirm-roles")
    job = factories.enqueued()
    client = client_for(role)
    assert client.post_with_csrf(reverse("jobs_console:job_delete", args=[job.pk])).status_code == 403
    assert client.post_with_csrf(reverse("jobs_console:recurring_remove", args=[row.pk])).status_code == 403
    # An operator may delete jobs but not remove recurring ones: no page that pretends otherwise.
    operator = client_for("operator")
    assert operator.post_with_csrf(reverse("jobs_console:recurring_remove", args=[row.pk])).status_code == 403


def test_a_forged_confirmation_is_refused(client_for):
    job = factories.enqueued()
    forger = Client(enforce_csrf_checks=True)
    forger.force_login(client_for("operator").user)
    response = forger.post(reverse("jobs_console:job_delete", args=[job.pk]), {"confirm": "yes"})
    assert response.status_code == 403
    assert Job.objects.get(pk=job.pk).state == State.ENQUEUED


def test_remove_does_not_sit_next_to_disable(client_for):
    row = factories.recurring("confirm-layout")
    client = client_for("admin")
    listing = client.get(reverse("jobs_console:recurring_list")).content.decode()
    assert ">Disable</button>" in listing
    assert reverse("jobs_console:recurring_remove", args=[row.pk]) not in listing
    detail = client.get(reverse("jobs_console:recurring_detail", args=[row.pk])).content.decode()
    bar = re.search(r'<div class="actions-bar">(.*?)</div>', detail, re.S).group(1)
    assert "Disable" in bar and "remove" not in bar.lower()
    zone = re.search(
        r'<div class="module danger-zone" id="recurring-remove">(.*?)</div>', detail, re.S
    ).group(1)
    assert reverse("jobs_console:recurring_remove", args=[row.pk]) in zone
    # The pages no longer rely on a browser pop-up for these.
    assert "data-confirm" not in detail
