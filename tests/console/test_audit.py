"""The audit trail: every console action leaves one entry (who, what, on which objects, when,
why), shown on the Audit page and on each job's timeline."""

import pytest
from django.urls import reverse

from jobs.models import AuditEntry
from tests.console import factories
from tests.console.test_access_matrix import POSTS, prepare, took_effect

pytestmark = pytest.mark.django_db

# The audit action each matrix row records, and the kind of object it names.
EXPECTED = {
    "job_bulk": ("requeue", "job"),
    "job_bulk:delete": ("delete", "job"),
    "job_matching": ("requeue_matching", "job"),
    "job_matching:delete": ("delete_matching", "job"),
    "job_matching:cancel": ("cancel_matching", "job"),
    "job_requeue": ("requeue", "job"),
    "job_delete": ("delete", "job"),
    "job_cancel": ("cancel", "job"),
    "recurring_trigger": ("recurring_trigger", "recurring"),
    "recurring_enable": ("recurring_enable", "recurring"),
    "recurring_disable": ("recurring_disable", "recurring"),
    "recurring_remove": ("recurring_remove", "recurring"),
    "batch_cancel": ("batch_cancel", "batch"),
    "event_replay": ("event_replay", "dead_letter"),
    "alert_acknowledge": ("alert_acknowledge", "alert"),
    "alert_resolve": ("alert_resolve", "alert"),
    "queue_pause": ("queue_pause", "queue"),
    "queue_resume": ("queue_resume", "queue"),
    "failure_group_retry": ("failure_group_retry", "failure_group"),
    "failure_group_delete": ("failure_group_delete", "failure_group"),
}


def test_every_action_has_an_expected_audit_row():
    assert set(EXPECTED) == set(POSTS)


@pytest.mark.parametrize("name", POSTS)
def test_every_action_is_audited(client_for, name):
    case, context, url = prepare(name)
    client = client_for("superuser")
    data = dict(context.get("data") or {}, reason=f"ticket OPS-{name}")  # alerts: replaces their own reason
    response = client.post_with_csrf(url, data)
    assert response.status_code == 302 and took_effect(context)
    entry = AuditEntry.objects.get()
    action, kind = EXPECTED[name]
    assert (entry.action, entry.username, entry.user, entry.reason) == (
        action,
        client.user.username,
        client.user,
        f"ticket OPS-{name}",
    )
    kinds = {target.kind for target in entry.targets.all()}
    assert kind in kinds
    expected_ids = {str(value) for value in context["kwargs"].values()} | set(
        (context.get("data") or {}).get("job", [])
    )
    assert expected_ids <= {target.object_id for target in entry.targets.all()}
    assert entry.summary


def test_refused_jobs_are_in_the_entry(client_for):
    running = factories.processing()
    failed = factories.failed()
    client_for("superuser").post_with_csrf(
        reverse("jobs_console:job_bulk"), {"action": "requeue", "job": [str(running.pk), str(failed.pk)]}
    )
    entry = AuditEntry.objects.get()
    assert [t.object_id for t in entry.targets.all()] == [str(failed.pk)]
    assert [r["job"] for r in entry.details["refused"]] == [str(running.pk)]
    assert "1 refused" in entry.summary


def test_audit_page_lists_and_filters_and_the_job_timeline_shows_it(client_for):
    first, second = factories.failed(), factories.failed()
    operator = client_for("operator")
    operator.post_with_csrf(
        reverse("jobs_console:job_requeue", args=[first.pk]), {"reason": "customer asked"}
    )
    operator.post_with_csrf(reverse("jobs_console:job_delete", args=[second.pk]), {"confirm": "yes"})
    viewer = client_for("viewer")
    page = viewer.get(reverse("jobs_console:audit")).content.decode()
    assert page.count('data-action="requeue"') == 1 and page.count('data-action="delete"') == 1
    assert "customer asked" in page and operator.user.username in page
    filtered = viewer.get(
        reverse("jobs_console:audit"), {"kind": "job", "object": str(second.pk)}
    ).content.decode()
    assert 'data-action="delete"' in filtered and 'data-action="requeue"' not in filtered
    by_action = viewer.get(reverse("jobs_console:audit"), {"action": "requeue"}).content.decode()
    assert 'data-action="requeue"' in by_action and 'data-action="delete"' not in by_action
    assert viewer.get(reverse("jobs_console:audit"), {"object": "x"}).status_code == 400

    timeline = viewer.get(reverse("jobs_console:job_detail", args=[first.pk])).content.decode()
    assert 'data-audit="requeue"' in timeline and "customer asked" in timeline
    # The job's own history says who did it and why.
    assert f"Requeued by {operator.user.username}: customer asked" in timeline


def test_audit_entries_cannot_be_edited_from_the_admin(client_for):
    assert client_for("superuser").get("/admin/jobs/auditentry/").status_code == 404
