"""Select all N matching (jobs/console/matching.py): the form on a filtered list, the confirmation
page (how many, which states), the cap, chunks through jobs.api, skipped jobs, the audit entry,
and posts that did not come from the confirmation page."""

import html as html_lib
import re

import pytest
from django.urls import reverse

import jobs.api
from jobs.console import matching
from jobs.models import AuditEntry, Job, State
from tests.console import factories
from tests.testapp import tasks

pytestmark = pytest.mark.django_db

MATCHING_URL = "jobs_console:job_matching"


def failed_with(message: str, count: int) -> list[Job]:
    return [factories.failed(message=message) for _ in range(count)]


def page(client, params, state="failed") -> str:
    response = client.get(reverse("jobs_console:job_list", args=[state]), params)
    assert response.status_code == 200
    return response.content.decode()


def ask(client, action, filters, scope="state:failed", **extra):
    """The first post, as the list's select-all form sends it: the confirmation page."""
    return client.post_with_csrf(
        reverse(MATCHING_URL), {"action": action, "scope": scope, **filters, **extra}
    )


def confirmation_fields(response) -> dict:
    """The hidden fields of the confirmation page's form: what its Yes button posts."""
    assert response.status_code == 200, response.status_code
    form = re.search(
        r'<form method="post" action="[^"]*" id="confirm-form">(.*?)</form>', response.content.decode(), re.S
    )
    assert form, "no confirmation form"
    return {
        name: html_lib.unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', form.group(1))
        if name != "csrfmiddlewaretoken"
    }


def selection_of(response) -> str:
    return confirmation_fields(response)["selection"]


def confirm(client, action, selection, **extra):
    return client.post_with_csrf(
        reverse(MATCHING_URL), {"action": action, "selection": selection, "confirm": "yes", **extra}
    )


def states(jobs_list) -> list[str]:
    return [Job.objects.get(pk=job.pk).state for job in jobs_list]


def test_a_filtered_list_offers_select_all_with_the_actions_the_person_may_take(client_for, client_with):
    failed_with("mail server down", 3)
    operator = client_for("operator")
    html = page(operator, {"error": "mail server"})
    form = re.search(r'<form[^>]*id="select-matching".*?</form>', html, re.S).group(0)
    assert "Select all 3 matching" in form
    assert re.findall(r'name="action" value="(\w+)"', form) == ["requeue", "delete"]
    assert 'name="error" value="mail server"' in form and 'name="scope" value="state:failed"' in form
    # Unfiltered: no select-all (it acts on what a filter matches); a viewer: none either.
    assert 'id="select-matching"' not in page(operator, {})
    assert 'id="select-matching"' not in page(client_for("viewer"), {"error": "mail server"})
    # A custom group that may retry but not delete sees only requeue.
    form = re.search(
        r'<form[^>]*id="select-matching".*?</form>',
        page(client_with("view_jobs", "retry_jobs"), {"error": "mail"}),
        re.S,
    ).group(0)
    assert re.findall(r'name="action" value="(\w+)"', form) == ["requeue"]


def test_requeue_all_matching_after_a_confirmation_that_says_how_many_and_which_states(client_for):
    down = failed_with("mail server down", 3)
    other = failed_with("ledger locked", 1)
    client = client_for("operator")
    response = ask(
        client, "requeue", {"error": "mail server"}, next="/admin/jobs/jobs/failed/?error=mail+server"
    )
    text = response.content.decode()
    assert "Requeue 3 matching jobs?" in text
    assert "In these states: 3 failed." in text
    assert states(down) == [State.FAILED] * 3  # nothing done before the confirmation
    fields = confirmation_fields(response)
    assert (fields["action"], fields["confirm"]) == ("requeue", "yes")
    done = client.post_with_csrf(reverse(MATCHING_URL), {**fields, "reason": "mail is back"})
    assert done.status_code == 302 and done["Location"] == "/admin/jobs/jobs/failed/?error=mail+server"
    assert states(down) == [State.ENQUEUED] * 3
    assert states(other) == [State.FAILED]
    entry = AuditEntry.objects.get(action="requeue_matching")
    assert entry.reason == "mail is back"
    assert entry.details["filters"] == {"error": "mail server"}
    assert sorted(t.object_id for t in entry.targets.all()) == sorted(str(job.pk) for job in down)
    assert "3 requeued" in entry.summary


def test_the_action_is_capped_and_runs_in_chunks(client_for, monkeypatch):
    monkeypatch.setattr(matching, "MAX_MATCHING", 3)
    monkeypatch.setattr(matching, "CHUNK", 2)
    made = failed_with("quota exceeded", 5)
    client = client_for("operator")
    response = ask(client, "delete", {"error": "quota"})
    text = response.content.decode()
    assert "Delete 3 matching jobs?" in text
    assert "The filter matches 5 jobs: this acts on the first 3" in text
    confirm(client, "delete", selection_of(response))
    # The list's order: newest first, so the three newest go.
    assert states(made) == [State.FAILED, State.FAILED, State.DELETED, State.DELETED, State.DELETED]


def test_a_job_that_changed_state_meanwhile_is_skipped_and_reported(client_for):
    made = failed_with("disk full", 3)
    client = client_for("operator")
    selection = selection_of(ask(client, "requeue", {"error": "disk full"}))
    jobs.api.requeue(made[0].pk)  # someone else was quicker
    jobs.api.delete(made[0].pk)
    response = confirm(client, "requeue", selection, next="/admin/jobs/jobs/failed/")
    messages = [str(m) for m in response.wsgi_request._messages]
    assert "2 jobs requeued." in messages
    assert "1 skipped: their state changed since the confirmation page." in messages
    assert Job.objects.get(pk=made[0].pk).state == State.DELETED  # not requeued behind their back
    entry = AuditEntry.objects.get(action="requeue_matching")
    assert entry.details["skipped"][0]["job"] == str(made[0].pk)
    assert "is deleted now (was failed)" in entry.details["skipped"][0]["reason"]


def test_cancel_all_matching_processing_jobs(client_for):
    running = factories.processing(tasks.bill_society, 5, 1)
    factories.processing(tasks.add)
    client = client_for("operator")
    response = ask(client, "cancel", {"tag": "billing"}, scope="state:processing")
    assert "Cancel 1 matching job?" in response.content.decode()
    confirm(client, "cancel", selection_of(response))
    assert Job.objects.get(pk=running.pk).cancel_requested


def test_posts_that_did_not_come_from_the_confirmation_page_are_refused(client_for, client_with):
    made = failed_with("smtp timeout", 2)
    operator = client_for("operator")
    selection = selection_of(ask(operator, "requeue", {"error": "smtp"}))
    forged = selection[:-4] + ("AAAA" if not selection.endswith("AAAA") else "BBBB")
    for data, why in (
        ({"action": "requeue", "selection": forged, "confirm": "yes"}, "not made by this console"),
        ({"action": "delete", "selection": selection, "confirm": "yes"}, "confirmed for 'requeue'"),
        ({"action": "requeue", "confirm": "yes"}, "not made by this console"),
        ({"action": "explode", "scope": "state:failed", "error": "smtp"}, "Unknown action"),
        ({"action": "requeue", "scope": "state:failed"}, "needs a filter"),
        ({"action": "requeue", "scope": "state:exploded", "error": "smtp"}, "Unknown list"),
        ({"action": "cancel", "scope": "state:failed", "error": "smtp"}, "does not apply to failed"),
        ({"action": "requeue", "scope": "state:failed", "since": "yesterday"}, "Invalid filter"),
    ):
        response = operator.post_with_csrf(reverse(MATCHING_URL), data)
        assert response.status_code == 400, data
        assert why in html_lib.unescape(response.content.decode()), why
    assert states(made) == [State.FAILED, State.FAILED]
    # Each action checks its own permission: one who may retry may not delete, even with a token.
    retry_only = client_with("view_jobs", "retry_jobs")
    delete_selection = selection_of(ask(operator, "delete", {"error": "smtp"}))
    assert confirm(retry_only, "delete", delete_selection).status_code == 403
    assert ask(client_for("viewer"), "requeue", {"error": "smtp"}).status_code == 403
    # Without the CSRF token (a forged cross-site post): refused.
    response = operator.post(
        reverse(MATCHING_URL), {"action": "requeue", "selection": selection, "confirm": "yes"}
    )
    assert response.status_code == 403
    assert states(made) == [State.FAILED, State.FAILED]
    assert not AuditEntry.objects.filter(action__endswith="_matching").exists()


def test_an_old_confirmation_page_is_refused(client_for, monkeypatch):
    failed_with("stale", 1)
    client = client_for("operator")
    selection = selection_of(ask(client, "requeue", {"error": "stale"}))
    monkeypatch.setattr(matching, "TOKEN_MAX_AGE", -1)
    response = confirm(client, "requeue", selection)
    assert response.status_code == 400 and "too old" in response.content.decode()


def test_select_all_on_the_retries_page(client_for):
    made = failed_with("printer on fire", 2)
    client = client_for("operator")
    html = client.get(
        reverse("jobs_console:retries"), {"show": "failed", "error": "printer"}
    ).content.decode()
    assert 'name="scope" value="retries:failed"' in html
    response = ask(client, "requeue", {"error": "printer"}, scope="retries:failed")
    confirm(client, "requeue", selection_of(response))
    assert states(made) == [State.ENQUEUED, State.ENQUEUED]


def test_the_access_matrix_rows_show_their_confirmation_page_without_confirm(client_for):
    """What tests/console/pages.py relies on: a confirmed row's data without confirm=yes is
    the confirmation page (the first step), for each of the three actions."""
    from tests.console.test_access_matrix import MATRIX

    for name in ("job_matching", "job_matching:delete", "job_matching:cancel"):
        data = dict(MATRIX[name].setup()["data"])
        del data["confirm"]
        response = client_for("superuser").post_with_csrf(reverse(MATCHING_URL), data)
        assert response.status_code == 200, name
        assert 'id="confirm-form"' in response.content.decode(), name
