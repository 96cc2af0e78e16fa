"""Failure groups (jobs/fingerprints.py, jobs/failure_groups.py) on jobs failed by the engine:
the masking, the fingerprint stored when a job fails, the grouped page, and retrying or deleting
a whole group with its confirmation, its cap, its chunks through jobs.api, and its audit entry."""

import pytest
from django.test import Client
from django.urls import reverse

from jobs import api, failure_groups, fingerprints
from jobs.models import AuditEntry, Job, State
from tests.console import factories
from tests.console.test_confirmations import hidden_fields, post_back

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Invoice 4711 not found", "Invoice <n> not found"),
        ("Took 12.5 s, limit 10", "Took <n> s, limit <n>"),
        ("Resident 'Asha K' has no flat", "Resident '…' has no flat"),
        ('Key "flat-12" missing', 'Key "…" missing'),
        ("Job 3f2a9c1e-1b2c-4d5e-8f90-1234567890ab is gone", "Job <uuid> is gone"),
        ("Object at 0x7f3a2b9c", "Object at <hex>"),
        ("Commit deadbeef12 not found", "Commit <hex> not found"),
        ("SMTP server   did not\nanswer", "SMTP server did not answer"),
    ],
)
def test_the_varying_parts_of_a_message_are_masked(message, expected):
    assert fingerprints.masked(message) == expected


def test_the_group_is_class_and_masked_message():
    same = fingerprints.group_key("builtins.KeyError", "Invoice 1 not found")
    assert same == fingerprints.group_key("builtins.KeyError", "Invoice 22 not found")
    assert same != fingerprints.group_key("builtins.ValueError", "Invoice 1 not found")
    assert same != fingerprints.group_key("builtins.KeyError", "Resident 1 not found")
    assert fingerprints.is_group_key(same) and not fingerprints.is_group_key("../etc")


def fail(*messages):
    return [factories.failed(message=m) for m in messages]


def test_a_job_gets_its_group_when_it_fails_and_the_page_groups_them(client_for):
    invoices = fail("Invoice 101 not found", "Invoice 202 not found", "Invoice 303 not found")
    (resident,) = fail("Resident 'B-12' missing")
    assert len({j.failure_group for j in invoices}) == 1
    assert invoices[0].failure_group == fingerprints.group_key("builtins.RuntimeError", "Invoice 9 not found")
    assert resident.failure_group != invoices[0].failure_group
    factories.succeeded()  # not failed: no group

    groups = failure_groups.groups()
    assert [(g.count, g.fingerprint) for g in groups] == [
        (3, "Invoice <n> not found"),
        (1, "Resident '…' missing"),
    ]
    first = groups[0]
    assert first.first_seen == min(j.state_changed_at for j in invoices)
    assert first.last_seen == max(j.state_changed_at for j in invoices)
    assert first.example.pk == max(invoices, key=lambda j: j.state_changed_at).pk

    html = client_for("viewer").get(reverse("jobs_console:failure_groups")).content.decode()
    assert f'data-group="{first.key}"' in html and "Invoice &lt;n&gt; not found" in html
    assert reverse("jobs_console:job_detail", args=[first.example.pk]) in html
    assert "failure_group_retry" not in html and "/retry/" not in html  # a viewer gets no buttons
    failed_list = client_for("viewer").get(reverse("jobs_console:job_list", args=["failed"])).content.decode()
    assert reverse("jobs_console:failure_groups") in failed_list
    performance = client_for("viewer").get(reverse("jobs_console:performance")).content.decode()
    assert f'data-group="{first.key}"' in performance


def test_a_job_that_leaves_failed_leaves_its_group():
    (job, other) = fail("Invoice 1 not found", "Invoice 2 not found")
    api.requeue(job.pk)
    assert failure_groups.group(other.failure_group).count == 1


def test_retrying_a_group_asks_first_with_the_exact_count_then_requeues_and_audits(client_for):
    jobs = fail("Invoice 1 not found", "Invoice 2 not found")
    (other,) = fail("Something else")
    key = jobs[0].failure_group
    client = client_for("operator")
    url = reverse("jobs_console:failure_group_retry", args=[key])
    page = client.post_with_csrf(url, {"reason": "mail server back"})
    html = page.content.decode()
    assert page.status_code == 200 and "It touches <strong>2 jobs</strong>" in html
    assert ("confirm", "yes") in hidden_fields(html)
    assert set(Job.objects.filter(pk__in=[j.pk for j in jobs]).values_list("state", flat=True)) == {
        State.FAILED
    }

    done = post_back(client, url, html)
    assert done.status_code == 302 and done["Location"] == reverse("jobs_console:failure_groups")
    assert set(Job.objects.filter(pk__in=[j.pk for j in jobs]).values_list("state", flat=True)) == {
        State.ENQUEUED
    }
    assert Job.objects.get(pk=other.pk).state == State.FAILED
    entry = AuditEntry.objects.get(action="failure_group_retry")
    assert entry.reason == "mail server back"
    assert {(t.kind, t.object_id) for t in entry.targets.all()} == {("failure_group", key)} | {
        ("job", str(j.pk)) for j in jobs
    }
    assert entry.details["group"] == key and entry.details["skipped"] == []
    assert "2 requeued, 0 skipped" in entry.summary
    history = Job.objects.get(pk=jobs[0].pk).history.last()
    assert f"Retry of failure group {key} by " in history.reason


def test_a_group_action_is_capped_and_says_first_n_of_m(client_for, monkeypatch):
    monkeypatch.setattr(failure_groups, "ACTION_CAP", 3)
    jobs = fail(*(f"Invoice {n} not found" for n in range(5)))
    key = jobs[0].failure_group
    client = client_for("operator")
    url = reverse("jobs_console:failure_group_delete", args=[key])
    html = client.post_with_csrf(url).content.decode()
    assert "It touches <strong>3 jobs</strong>" in html and "First 3 of 5" in html
    post_back(client, url, html)
    newest = sorted(jobs, key=lambda j: j.state_changed_at)[2:]
    states = dict(Job.objects.filter(pk__in=[j.pk for j in jobs]).values_list("pk", "state"))
    assert {pk for pk, s in states.items() if s == State.DELETED} == {j.pk for j in newest}
    assert failure_groups.group(key).count == 2
    entry = AuditEntry.objects.get(action="failure_group_delete")
    assert entry.details["group_size"] == 5 and entry.details["cap"] == 3
    assert entry.targets.filter(kind="job").count() == 3


def test_jobs_that_left_the_group_after_the_confirmation_are_skipped_and_reported(client_for):
    jobs = fail("Invoice 1 not found", "Invoice 2 not found", "Invoice 3 not found")
    key = jobs[0].failure_group
    client = client_for("operator")
    url = reverse("jobs_console:failure_group_retry", args=[key])
    html = client.post_with_csrf(url).content.decode()
    api.delete(jobs[0].pk)  # someone else acted meanwhile
    done = post_back(client, url, html)
    messages = [str(m) for m in done.wsgi_request._messages]
    assert "2 jobs requeued." in messages
    assert Job.objects.get(pk=jobs[0].pk).state == State.DELETED
    entry = AuditEntry.objects.get(action="failure_group_retry")
    assert (
        entry.targets.filter(kind="job").count() == 2 and entry.details["skipped"] == []
    )  # no longer in the group at all


def test_forged_and_unknown_group_posts_are_refused(client_for):
    jobs = fail("Invoice 1 not found")
    key = jobs[0].failure_group
    retry = reverse("jobs_console:failure_group_retry", args=[key])
    # No permission: a viewer, and a deleter on retry.
    assert client_for("viewer").post_with_csrf(retry, {"confirm": "yes"}).status_code == 403
    # No CSRF token.
    forger = Client(enforce_csrf_checks=True)
    forger.force_login(client_for("operator").user)
    assert forger.post(retry, {"confirm": "yes"}).status_code == 403
    # Unknown or malformed group.
    operator = client_for("operator")
    for bad in ("0" * 24, "not-a-group-key"):
        url = reverse("jobs_console:failure_group_retry", args=[bad])
        assert operator.post_with_csrf(url, {"confirm": "yes"}).status_code == 404
    assert Job.objects.get(pk=jobs[0].pk).state == State.FAILED
    assert not AuditEntry.objects.filter(action__startswith="failure_group").exists()


def test_migration_0017_gives_jobs_already_failed_their_group():
    import importlib

    from django.apps import apps

    migration = importlib.import_module("jobs.migrations.0017_performance_and_failure_groups")
    jobs = fail("Invoice 1 not found", "Resident 'X' missing")
    Job.objects.filter(pk__in=[j.pk for j in jobs]).update(failure_group="")  # as before 0017
    migration.group_failed_jobs(apps, None)
    assert [Job.objects.get(pk=j.pk).failure_group for j in jobs] == [j.failure_group for j in jobs]
