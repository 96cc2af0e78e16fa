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


# --- Search by arguments and tags (jobs/search.py), filters that combine in the URL -------------


def test_a_value_finds_the_jobs_whose_arguments_hold_it_and_name_value_the_keyword(client_for):
    positional = factories.enqueued(tasks.bill_society, 1, 42)
    keyword = factories.job(tasks.bill_society.enqueue(society_id=2, invoice_id=42).id)
    as_text = factories.job(tasks.bill_society.enqueue(3, "42").id)
    other = factories.enqueued(tasks.bill_society, 42, 7)  # 42 as the society, not the invoice
    factories.enqueued(tasks.bill_society, 4, 420)  # not 42
    client = client_for("viewer")
    html = html_of(client.get(list_url("enqueued"), {"args": "42"}))
    assert sorted(rows(html)) == sorted(str(j.pk) for j in (positional, keyword, as_text, other))
    html = html_of(client.get(list_url("enqueued"), {"args": "invoice_id=42"}))
    assert sorted(rows(html)) == sorted(str(j.pk) for j in (positional, keyword, as_text))
    # Two terms: both must hold.
    html = html_of(client.get(list_url("enqueued"), {"args": "invoice_id=42 society_id=2"}))
    assert rows(html) == [str(keyword.pk)]
    # The general search box finds argument values too.
    html = html_of(client.get(list_url("enqueued"), {"q": "invoice_id=42"}))
    assert sorted(rows(html)) == sorted(str(j.pk) for j in (positional, keyword, as_text))


def test_an_argument_search_with_nothing_to_search_for_is_a_clear_error(client_for):
    response = client_for("viewer").get(list_url("enqueued"), {"args": "x" * 150})
    assert response.status_code == 400
    assert "has nothing to search for" in response.content.decode()


def test_redacted_values_cannot_be_found_by_anyone(client_for):
    factories.enqueued(tasks.charge_card, "4111111111111111", 250)
    for client in (client_for("viewer"), client_for("admin")):
        for params in (
            {"args": "4111111111111111"},
            {"q": "4111111111111111"},
            {"args": "card_number=4111111111111111"},
        ):
            assert rows(html_of(client.get(list_url("enqueued"), params))) == [], params
    assert len(rows(html_of(client_for("viewer").get(list_url("enqueued"), {"args": "amount=250"})))) == 1


def test_tags_show_as_chips_that_link_to_the_filtered_list(client_for):
    twelve = [factories.enqueued(tasks.bill_society, 12, i) for i in range(2)]
    factories.enqueued(tasks.bill_society, 13, 1)
    client = client_for("viewer")
    html = html_of(client.get(list_url("enqueued")))
    chip = reverse("jobs_console:job_list", args=["enqueued"]) + "?tag=society%3A12"
    assert f'<a class="tag-chip" href="{chip}"' in html
    assert rows(html_of(client.get(chip))) == [str(j.pk) for j in reversed(twelve)]
    assert len(rows(html_of(client.get(list_url("enqueued"), {"tag": "billing"})))) == 3
    detail = html_of(client.get(reverse("jobs_console:job_detail", args=[twelve[0].pk])))
    assert re.search(r'id="job-tags">.*society:12', detail)


def test_filters_combine_and_survive_in_the_state_tabs(client_for):
    billed = factories.failed()  # fail_once: message "boom"
    locked = factories.failed(message="ledger locked")
    client = client_for("viewer")
    params = {"task": "tests.testapp.tasks.fail_once", "error": "boom", "queue": "default"}
    html = html_of(client.get(list_url("failed"), params))
    assert rows(html) == [str(billed.pk)]
    # The state tabs keep the filters: a filtered list is one link, whatever the state.
    assert "task=tests.testapp.tasks.fail_once&amp;error=boom&amp;queue=default" in html
    # The task filter is a drop-down of the declared tasks (declared in an app's tasks module).
    assert '<option value="sales.tasks.create_invoice">' in html
    assert rows(html_of(client.get(list_url("failed"), {**params, "error": "locked"}))) == [str(locked.pk)]
    assert rows(html_of(client.get(list_url("failed"), {**params, "queue": "critical"}))) == []


def test_the_date_range_and_the_server_filter(client_for):
    from django.utils import timezone

    job = factories.failed()
    client = client_for("viewer")
    changed = job.state_changed_at.astimezone(timezone.get_current_timezone()).replace(tzinfo=None)
    window = {
        "since": (changed - timedelta(minutes=1)).isoformat(timespec="seconds"),
        "until": (changed + timedelta(minutes=1)).isoformat(timespec="seconds"),
    }
    assert rows(html_of(client.get(list_url("failed"), window))) == [str(job.pk)]
    later = {"since": (changed + timedelta(minutes=1)).isoformat(timespec="seconds")}
    assert rows(html_of(client.get(list_url("failed"), later))) == []
    backwards = {"since": window["until"], "until": window["since"]}
    response = client.get(list_url("failed"), backwards)
    assert response.status_code == 400 and "To is before From" in response.content.decode()
    from jobs.server.broker import claim_jobs
    from tests.jobs.helpers import QUEUES

    factories.server("search-server")
    running = factories.enqueued()
    assert claim_jobs("search-server", QUEUES, 1)[0][0] == running.pk
    assert rows(html_of(client.get(list_url("processing"), {"server": "search-server"}))) == [str(running.pk)]
    assert rows(html_of(client.get(list_url("processing"), {"server": "no-such-server"}))) == []


def test_counts_are_exact_up_to_ten_thousand_and_shown_with_a_plus_above():
    assert listing.MAX_COUNT == 10_000
    from django.template.loader import render_to_string

    page = listing.Page([], extra={"matches": 10_000, "more": True})
    assert render_to_string("jobs/console/_match_count.html", {"page": page}) == "10,000+ matching jobs"
    page = listing.Page([], extra={"matches": 9_999, "more": False})
    assert render_to_string("jobs/console/_match_count.html", {"page": page}) == "9,999 matching jobs"


def test_on_postgresql_the_argument_and_tag_search_can_use_the_gin_index():
    """The filter is the containment job_search_idx answers (migration 0019), for the finished
    states it holds; Enqueued and Processing jobs are not in it (no GIN write on the hot path)."""
    from django.db import connection, transaction

    from jobs.console.forms import JobFilterForm

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    for _ in range(3):
        factories.failed()
    form = JobFilterForm({"args": "invoice_id=42", "tag": "billing"})
    assert form.is_valid()
    with transaction.atomic(), connection.cursor() as cursor:
        # A table of three rows is read whole by choice, or through the state's index or the
        # Failed jobs' own (job_failure_group_idx): forbid the one and hide the others (DDL is
        # transactional: rolled back below).
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("DROP INDEX job_state_list_idx")
        cursor.execute("DROP INDEX job_failure_group_idx")
        plan = form.apply(Job.objects.filter(state=State.FAILED)).explain()
        transaction.set_rollback(True)
    assert "job_search_idx" in plan, plan
    assert '@> \'["k:invoice_id=42", "t:billing"]\'' in plan, plan
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_indexdef('job_search_idx'::regclass)")
        definition = cursor.fetchone()[0]
    assert "gin (search_terms jsonb_path_ops)" in definition
    assert "enqueued" in definition and "processing" in definition
