"""Search and filters of the job lists: short task names, short ids, error text, counts; the
Scheduled list by due time with "Enqueue now"."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse

from jobs.console import listing
from jobs.models import Job, State
from tests.console import factories
from tests.testapp import tasks

pytestmark = pytest.mark.django_db


def html_of(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def rows(html: str) -> list[str]:
    return re.findall(r'<tr data-job-id="([0-9a-f-]+)"', html)


def list_url(state: str) -> str:
    return reverse("jobs_console:job_list", args=[state])


def test_the_task_filter_takes_a_short_name(client_for):
    adds = [factories.enqueued(tasks.add, i, i) for i in range(2)]
    factories.enqueued(tasks.noop)
    html = html_of(client_for("viewer").get(list_url("enqueued"), {"task": "add"}))
    assert sorted(rows(html)) == sorted(str(job.pk) for job in adds)
    # The full dotted path still works, and names no other task.
    html = html_of(client_for("viewer").get(list_url("enqueued"), {"task": "tests.testapp.tasks.add"}))
    assert sorted(rows(html)) == sorted(str(job.pk) for job in adds)
    assert rows(html_of(client_for("viewer").get(list_url("enqueued"), {"task": "dd"}))) == []


def test_a_short_name_not_cached_yet_is_matched_by_suffix():
    factories.enqueued(tasks.add, 1, 1)
    query = Job.objects.filter(listing.task_filter("add", known_paths=[]))
    assert list(query.values_list("task_path", flat=True)) == ["tests.testapp.tasks.add"]


def test_the_short_id_shown_in_lists_is_searchable(client_for):
    target, other = factories.failed(), factories.failed()
    short = str(target.pk)[:8]
    assert short in html_of(client_for("viewer").get(list_url("failed")))
    # In a list: the rows whose id starts with it.
    html = html_of(client_for("viewer").get(reverse("jobs_console:retries"), {"q": short}))
    assert rows(html) == [str(target.pk)]
    assert str(other.pk) not in rows(html)
    # In the state lists, one job with that id opens, whatever its state.
    response = client_for("viewer").get(list_url("enqueued"), {"q": short.upper()})
    assert response.status_code == 302
    assert response["Location"] == reverse("jobs_console:job_detail", args=[target.pk])


def test_id_prefix_ranges():
    low, high = listing.id_prefix_range("63058f2b")
    assert str(low) == "63058f2b-0000-0000-0000-000000000000"
    assert str(high) == "63058f2b-ffff-ffff-ffff-ffffffffffff"
    assert listing.id_prefix_range("63058f2b-8987") == (
        listing.uuid.UUID("63058f2b-8987-0000-0000-000000000000"),
        listing.uuid.UUID("63058f2b-8987-ffff-ffff-ffffffffffff"),
    )
    for text in ("6305", "ledger!!", "zzzzzzzz", ""):
        assert listing.id_prefix_range(text) is None, text


def test_error_text_is_searchable_and_the_filtered_list_says_how_many(client_for):
    locked = [factories.failed(message="ledger is locked by another run") for _ in range(2)]
    factories.failed(message="mail server down")
    html = html_of(client_for("viewer").get(list_url("failed"), {"q": "LEDGER IS LOCKED"}))
    assert sorted(rows(html)) == sorted(str(job.pk) for job in locked)
    assert re.search(r'id="list-count">2 matching jobs, newest first\.', html)
    html = html_of(
        client_for("viewer").get(reverse("jobs_console:retries"), {"q": "RuntimeError", "show": "failed"})
    )
    assert len(rows(html)) == 3
    assert re.search(r'id="list-count">3 matching jobs\.', html)
    html = html_of(client_for("viewer").get(list_url("failed"), {"q": "mail server"}))
    assert re.search(r'id="list-count">1 matching job, newest first\.', html)


def test_a_count_is_capped(client_for, monkeypatch):
    monkeypatch.setattr(listing, "MAX_COUNT", 2)
    for i in range(3):
        factories.enqueued(tasks.add, i, i)
    html = html_of(client_for("viewer").get(list_url("enqueued"), {"task": "add"}))
    assert "2+ matching jobs" in html


def test_the_scheduled_list_sorts_by_due_time_with_enqueue_now(client_for):
    later = factories.scheduled(delay=timedelta(hours=3))
    soon = factories.scheduled(delay=timedelta(minutes=5))
    middle = factories.scheduled(delay=timedelta(hours=1))
    client = client_for("operator")
    html = html_of(client.get(list_url("scheduled")))
    assert rows(html) == [str(soon.pk), str(middle.pk), str(later.pk)]
    assert "soonest due first" in html
    assert '<th scope="col">Due</th>' in html
    assert re.findall(r'name="action" value="(\w+)"[^>]*>([^<]+)<', html) == [
        ("requeue", "Enqueue now"),
        ("delete", "Delete"),
    ]
    detail = html_of(client.get(reverse("jobs_console:job_detail", args=[middle.pk])))
    assert ">Enqueue now</button>" in detail and ">Requeue</button>" not in detail
    response = client.post_with_csrf(
        reverse("jobs_console:job_bulk"), {"action": "requeue", "job": [str(middle.pk)]}
    )
    assert response.status_code == 302
    assert Job.objects.get(pk=middle.pk).state == State.ENQUEUED


def test_the_scheduled_list_pages_forward_in_due_order(client_for, monkeypatch):
    monkeypatch.setattr(listing, "PAGE_SIZE", 2)
    made = [factories.scheduled(delay=timedelta(minutes=10 * (5 - i))) for i in range(5)]
    expected = [str(job.pk) for job in sorted(made, key=lambda job: job.run_at)]
    client = client_for("viewer")
    seen, older, html = [], None, ""
    while True:
        html = html_of(client.get(list_url("scheduled"), {"older": older} if older else {}))
        seen += rows(html)
        match = re.search(r'older=([0-9a-f.]+)" rel="next">Later ›', html)
        if not match:
            break
        older = match.group(1)
    assert seen == expected
    newer = re.search(r'newer=([0-9a-f.]+)" rel="prev">‹ Sooner', html).group(1)
    assert rows(html_of(client.get(list_url("scheduled"), {"newer": newer}))) == expected[2:4]
