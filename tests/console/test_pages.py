"""What each console page shows, and what each role can do from it."""

import re
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

import jobs.api
from jobs.console import listing, stats
from jobs.models import Job, JobState, RecurringJob, State
from tests.console import factories
from tests.jobs.helpers import run_next
from tests.testapp import tasks

pytestmark = pytest.mark.django_db


def html_of(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


# --- Title, polling interval, navigation ---------------------------------------------------------


def test_dashboard_title_and_polling_interval_come_from_settings(client_for, settings):
    settings.DHANMAN_JOBS = {
        **settings.DHANMAN_JOBS,
        "DASHBOARD_TITLE": "Society Jobs",
        "STATS_POLLING_INTERVAL_MS": 1500,
    }
    html = html_of(client_for("viewer").get(reverse("jobs_console:dashboard")))
    assert "<title>Society Jobs</title>" in html
    assert "<h1>Society Jobs</h1>" in html
    assert 'data-interval="1500"' in html
    other = html_of(client_for("viewer").get(reverse("jobs_console:servers")))
    assert "<title>Servers | Society Jobs</title>" in other


def test_dashboard_counts_jobs_by_state_and_lists_queues(client_for):
    factories.failed()
    factories.succeeded()
    factories.awaiting_retry()
    factories.enqueued(tasks.record_critical, "c")
    factories.server("alive-1")
    factories.server("dead-1", heartbeat_age=3600)
    html = html_of(client_for("viewer").get(reverse("jobs_console:dashboard")))
    counter = lambda key: re.search(rf'data-counter="{key}">([^<]*)<', html).group(1)  # noqa: E731
    assert counter("failed") == "1"
    assert counter("succeeded") == "1"
    assert counter("scheduled") == "1"
    assert counter("retries") == "1"
    assert counter("enqueued") == "1"
    assert counter("servers") == "1"
    assert re.search(r'<tr data-queue="critical"><td>critical</td><td data-column="enqueued">1</td>', html)
    assert 'id="history-data"' in html


def test_stats_json_reports_counters_queues_and_what_finished_since(client_for):
    client = client_for("viewer")
    first = client.get(reverse("jobs_console:stats")).json()
    assert set(first["counters"]) == {
        "enqueued",
        "scheduled",
        "processing",
        "succeeded",
        "failed",
        "deleted",
        "awaiting",
        "retries",
        "recurring",
        "servers",
    }
    assert [q["queue"] for q in first["queues"]] == ["critical", "default", "low-priority"]
    factories.succeeded()
    factories.failed()
    stats.forget_cached()  # the counters are cached for 2 s (console actions clear them too)
    second = client.get(reverse("jobs_console:stats"), {"since": first["now"]}).json()
    assert second["finished"] == {"succeeded": 1, "failed": 1}
    assert second["counters"]["succeeded"] == 1 and second["counters"]["failed"] == 1
    third = client.get(reverse("jobs_console:stats"), {"since": second["now"]}).json()
    assert third["finished"] == {"succeeded": 0, "failed": 0}


@pytest.mark.parametrize("since", ["yesterday", "2026-01-01T00:00:00"])
def test_stats_json_refuses_a_bad_since(client_for, since):
    response = client_for("viewer").get(reverse("jobs_console:stats"), {"since": since})
    assert response.status_code == 400 and "error" in response.json()


# --- Jobs by state --------------------------------------------------------------------------------


def test_job_list_shows_one_state_and_bulk_controls_for_operators_only(client_for):
    failed = factories.failed()
    factories.succeeded()
    viewer = html_of(client_for("viewer").get(reverse("jobs_console:job_list", args=["failed"])))
    assert str(failed.pk)[:8] in viewer
    assert 'name="job"' not in viewer and "bulk-form" not in viewer
    operator = html_of(client_for("operator").get(reverse("jobs_console:job_list", args=["failed"])))
    assert f'name="job" value="{failed.pk}"' in operator
    assert 'value="requeue"' in operator and 'value="delete"' in operator
    assert operator.count("<tr data-job-id=") == 1


def test_job_list_pages_with_keyset_cursors(client_for, monkeypatch):
    monkeypatch.setattr(listing, "PAGE_SIZE", 3)
    made = [factories.enqueued(tasks.add, i, i) for i in range(7)]
    client = client_for("viewer")
    url = reverse("jobs_console:job_list", args=["enqueued"])
    seen, older, pages = [], None, 0
    while True:
        html = html_of(client.get(url, {"older": older} if older else {}))
        seen += re.findall(r'<tr data-job-id="([0-9a-f-]+)"', html)
        pages += 1
        match = re.search(r'older=([0-9a-f.]+)" rel="next"', html)
        if not match:
            break
        older = match.group(1)
    assert pages == 3
    assert seen == [
        str(job.pk) for job in sorted(made, key=lambda j: (j.state_changed_at, j.pk), reverse=True)
    ]
    # And back: the page before the last one.
    newer = re.search(r'newer=([0-9a-f.]+)" rel="prev"', html).group(1)
    back = re.findall(r'<tr data-job-id="([0-9a-f-]+)"', html_of(client.get(url, {"newer": newer})))
    assert back == seen[3:6]


def test_job_list_never_counts_the_whole_table(client_for):
    factories.failed()
    with CaptureQueriesContext(connection) as queries:
        html_of(client_for("viewer").get(reverse("jobs_console:job_list", args=["failed"])))
    for query in queries.captured_queries:
        sql = query["sql"].upper()
        if "COUNT(" in sql and "JOBS_JOB" in sql:
            # Counters are capped per state (LIMIT) or bounded by a partial index's WHERE.
            assert "LIMIT" in sql or "WHERE" in sql, query["sql"]


def test_search_by_id_opens_the_job_whatever_its_state(client_for):
    target = factories.succeeded()
    response = client_for("viewer").get(
        reverse("jobs_console:job_list", args=["failed"]), {"q": str(target.pk)}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("jobs_console:job_detail", args=[target.pk])


def test_search_by_task_name_and_argument_value_and_filters(client_for):
    by_arg = factories.enqueued(tasks.record, "invoice-20931")
    by_task = factories.enqueued(tasks.add, 5, 6)
    critical = factories.enqueued(tasks.record_critical, "x")
    client = client_for("viewer")
    url = reverse("jobs_console:job_list", args=["enqueued"])

    def ids(**params):
        return set(re.findall(r'<tr data-job-id="([0-9a-f-]+)"', html_of(client.get(url, params))))

    # An argument is found by its whole value (an index lookup: jobs/search.py), any case.
    assert ids(q="INVOICE-20931") == {str(by_arg.pk)}
    assert ids(q="key=invoice-20931") == {str(by_arg.pk)}
    assert ids(q="invoice-209") == set()
    assert ids(q="tasks.add") == {str(by_task.pk)}
    assert ids(queue="critical") == {str(critical.pk)}
    assert ids(task="tests.testapp.tasks.record") == {str(by_arg.pk)}
    assert ids(q="no such thing anywhere") == set()


@pytest.mark.parametrize("params", [{"queue": "nope"}, {"older": "garbage"}, {"newer": "1.zz"}])
def test_bad_list_parameters_are_400(client_for, params):
    response = client_for("viewer").get(reverse("jobs_console:job_list", args=["enqueued"]), params)
    assert response.status_code == 400


def test_bulk_delete_reports_what_was_done_and_refused(client_for):
    first, second = factories.failed(), factories.failed()
    ghost = uuid.uuid4()
    response = client_for("operator").post_with_csrf(
        reverse("jobs_console:job_bulk"),
        {
            "action": "delete",
            "job": [str(first.pk), str(second.pk), str(ghost)],
            "next": reverse("jobs_console:job_list", args=["failed"]),
            "confirm": "yes",
        },
        follow=True,
    )
    html = html_of(response)
    assert "2 jobs deleted." in html and f"Job {ghost}: it no longer exists." in html
    assert set(Job.objects.filter(pk__in=[first.pk, second.pk]).values_list("state", flat=True)) == {
        State.DELETED
    }
    by = JobState.objects.filter(job=first, name=State.DELETED).get()
    assert by.data["by"].startswith("operator-")


def test_a_refused_action_says_why_and_changes_nothing(client_for):
    running = factories.processing()
    response = client_for("operator").post_with_csrf(
        reverse("jobs_console:job_requeue", args=[running.pk]), follow=True
    )
    assert "already queued or running" in html_of(response)
    assert Job.objects.get(pk=running.pk).state == State.PROCESSING


# --- Job detail -------------------------------------------------------------------------------------


def test_job_detail_shows_everything_and_the_timeline(client_for):
    job = factories.failed(message="ledger locked")
    html = html_of(client_for("viewer").get(reverse("jobs_console:job_detail", args=[job.pk])))
    assert "tests.testapp.tasks.fail_once" in html
    assert re.findall(r'<li class="tl-(\w+)"', html) == ["enqueued", "processing", "failed"]
    assert "Traceback (most recent call last)" in html and "RuntimeError: ledger locked" in html
    assert 'id="job-actions"' not in html  # a viewer gets no buttons


def test_job_detail_buttons_follow_the_state_for_operators(client_for):
    client = client_for("operator")

    def buttons(job):
        return re.findall(
            r'name="do" value="(\w+)"', html_of(client.get(reverse("jobs_console:job_detail", args=[job.pk])))
        )

    assert buttons(factories.failed()) == ["requeue", "delete"]
    assert buttons(factories.processing()) == ["cancel"]
    assert buttons(factories.enqueued()) == ["delete"]


def test_job_detail_links_parent_continuations_batch_and_recurring(client_for):
    parent = factories.enqueued()
    child = factories.awaiting(parent)
    batch = factories.batch()
    member = Job.objects.filter(batch=batch).first()
    row = factories.recurring()
    fired = jobs.api.trigger(row.pk)
    client = client_for("viewer")
    parent_html = html_of(client.get(reverse("jobs_console:job_detail", args=[parent.pk])))
    assert reverse("jobs_console:job_detail", args=[child.pk]) in parent_html
    child_html = html_of(client.get(reverse("jobs_console:job_detail", args=[child.pk])))
    assert reverse("jobs_console:job_detail", args=[parent.pk]) in child_html
    member_html = html_of(client.get(reverse("jobs_console:job_detail", args=[member.pk])))
    assert reverse("jobs_console:batch_detail", args=[batch.pk]) in member_html
    fired_html = html_of(client.get(reverse("jobs_console:job_detail", args=[fired.pk])))
    assert reverse("jobs_console:recurring_detail", args=[row.pk]) in fired_html


def test_cancel_asks_a_running_job_to_stop(client_for):
    running = factories.processing()
    client_for("operator").post_with_csrf(reverse("jobs_console:job_cancel", args=[running.pk]))
    assert Job.objects.get(pk=running.pk).cancel_requested


# --- Retries ---------------------------------------------------------------------------------------


def test_retries_lists_failed_and_waiting_jobs_with_their_errors(client_for):
    failed = factories.failed(message="smtp down")
    waiting = factories.awaiting_retry()
    factories.scheduled()  # a delayed job, not a retry
    client = client_for("viewer")
    failed_html = html_of(client.get(reverse("jobs_console:retries")))
    assert re.findall(r'<tr data-job-id="([0-9a-f-]+)"', failed_html) == [str(failed.pk)]
    assert "smtp down" in failed_html
    waiting_html = html_of(client.get(reverse("jobs_console:retries"), {"show": "scheduled"}))
    assert re.findall(r'<tr data-job-id="([0-9a-f-]+)"', waiting_html) == [str(waiting.pk)]
    assert "planned failure 1" in waiting_html
    assert client.get(reverse("jobs_console:retries"), {"show": "all"}).status_code == 400


def test_retry_now_from_the_retries_page_requeues(client_for):
    failed, waiting = factories.failed(), factories.awaiting_retry()
    client_for("operator").post_with_csrf(
        reverse("jobs_console:job_bulk"), {"action": "requeue", "job": [str(failed.pk), str(waiting.pk)]}
    )
    assert set(Job.objects.filter(pk__in=[failed.pk, waiting.pk]).values_list("state", flat=True)) == {
        State.ENQUEUED
    }


# --- Recurring jobs ------------------------------------------------------------------------------


def test_recurring_list_shows_schedule_description_zone_and_runs(client_for):
    row = factories.recurring("monthly-invoices", cron="0 6 1 * *")
    jobs.api.trigger(row.pk)
    html = html_of(client_for("viewer").get(reverse("jobs_console:recurring_list")))
    assert "monthly-invoices" in html and "0 6 1 * *" in html
    assert "At 06:00, on day 1 of the month" in html
    assert "Asia/Kolkata" in html
    assert re.search(r"in \d+ (d|h|min)", html)  # next run, relative
    assert 'class="state state-enqueued"' in html  # the last job's state
    assert "Trigger now" not in html  # viewer


def test_recurring_buttons_by_role(client_for):
    factories.recurring()
    operator = html_of(client_for("operator").get(reverse("jobs_console:recurring_list")))
    assert re.findall(r'name="do" value="(\w+)"', operator) == ["trigger", "disable"]
    admin = html_of(client_for("admin").get(reverse("jobs_console:recurring_list")))
    # Remove is the Admin's, and sits apart, at the foot of the recurring job's own page.
    assert re.findall(r'name="do" value="(\w+)"', admin) == ["trigger", "disable"]
    row = RecurringJob.objects.get()
    detail = html_of(client_for("admin").get(reverse("jobs_console:recurring_detail", args=[row.pk])))
    assert re.findall(r'name="do" value="(\w+)"', detail) == ["trigger", "disable", "remove"]
    operator_detail = html_of(
        client_for("operator").get(reverse("jobs_console:recurring_detail", args=[row.pk]))
    )
    assert re.findall(r'name="do" value="(\w+)"', operator_detail) == ["trigger", "disable"]


def test_recurring_detail_lists_the_jobs_it_created(client_for):
    row = factories.recurring()
    made = [jobs.api.trigger(row.pk) for _ in range(2)]
    html = html_of(client_for("viewer").get(reverse("jobs_console:recurring_detail", args=[row.pk])))
    assert set(re.findall(r'<tr data-job-id="([0-9a-f-]+)"', html)) == {str(job.pk) for job in made}


def test_enable_and_disable_round_trip(client_for):
    row = factories.recurring()
    client = client_for("operator")
    client.post_with_csrf(reverse("jobs_console:recurring_disable", args=[row.pk]))
    assert (
        not RecurringJob.objects.get(pk=row.pk).enabled
        and RecurringJob.objects.get(pk=row.pk).next_run_at is None
    )
    client.post_with_csrf(reverse("jobs_console:recurring_enable", args=[row.pk]))
    assert RecurringJob.objects.get(pk=row.pk).next_run_at is not None


# --- Servers and batches ----------------------------------------------------------------------------


def test_servers_are_alive_or_dead_by_heartbeat_age(client_for, settings):
    settings.DHANMAN_JOBS = {**settings.DHANMAN_JOBS, "SERVER_TIMEOUT": 30}
    factories.server("fresh", heartbeat_age=5)
    factories.server("silent", heartbeat_age=31)
    factories.server("stopped", status="stopped")
    html = html_of(client_for("viewer").get(reverse("jobs_console:servers")))
    alive = dict(re.findall(r'data-server="([\w-]+)" data-alive="(\w+)"', html))
    assert alive == {"fresh": "true", "silent": "false", "stopped": "false"}
    assert "console-host" in html and "4242" in html and "critical, default, low-priority" in html


def test_batches_show_progress_and_cancel(client_for):
    batch = factories.batch(size=4)
    assert run_next().batch_id == batch.pk  # one of its four jobs, whichever the claim picks
    client = client_for("operator")
    listing_html = html_of(client.get(reverse("jobs_console:batch_list")))
    assert "1/4 (25.0%)" in listing_html
    detail = html_of(client.get(reverse("jobs_console:batch_detail", args=[batch.pk])))
    assert detail.count("<tr data-job-id=") == 5  # four members and the continuation
    assert 'value="cancel"' in detail
    client.post_with_csrf(reverse("jobs_console:batch_cancel", args=[batch.pk]), {"confirm": "yes"})
    batch.refresh_from_db()
    assert batch.state == "cancelled"
    assert 'value="cancel"' not in html_of(client.get(reverse("jobs_console:batch_detail", args=[batch.pk])))


# --- Dependency graphs ------------------------------------------------------------------------------


def test_job_graph_draws_the_chain_coloured_and_linked(client_for):
    root = factories.succeeded()
    middle = factories.awaiting(factories.enqueued())
    child = Job.objects.get(pk=jobs.api.continue_with(root.pk, tasks.noop).id)
    grandchild = Job.objects.get(pk=jobs.api.continue_with(child.pk, tasks.noop).id)
    html = html_of(client_for("viewer").get(reverse("jobs_console:job_graph", args=[grandchild.pk])))
    nodes = dict(re.findall(r'data-node="job:([0-9a-f-]+)" data-state="(\w+)"', html))
    assert nodes == {str(root.pk): "succeeded", str(child.pk): "enqueued", str(grandchild.pk): "awaiting"}
    assert str(middle.pk) not in html
    assert f'href="{reverse("jobs_console:job_detail", args=[root.pk])}"' in html
    assert html.count('class="edge"') == 2
    assert re.search(rf'class="node node-awaiting current" data-node="job:{grandchild.pk}"', html)


def test_batch_graph_joins_members_into_the_continuation(client_for):
    batch = factories.batch(size=3)
    html = html_of(client_for("viewer").get(reverse("jobs_console:batch_graph", args=[batch.pk])))
    assert len(re.findall(r'data-node="job:', html)) == 4
    assert f'data-node="batch:{batch.pk}"' in html
    assert html.count('class="edge"') == 3 + 3  # batch -> members, members -> continuation


def test_graph_is_bounded(client_for, monkeypatch):
    from jobs.console import graph

    monkeypatch.setattr(graph, "MAX_BATCH_MEMBERS", 2)
    batch = factories.batch(size=5)
    html = html_of(client_for("viewer").get(reverse("jobs_console:batch_graph", args=[batch.pk])))
    assert "+3 more" in html


def test_scheduled_jobs_show_when_they_run(client_for):
    job = factories.scheduled(delay=timedelta(hours=2))
    html = html_of(client_for("viewer").get(reverse("jobs_console:job_list", args=["scheduled"])))
    assert str(job.pk)[:8] in html
    assert re.search(r"IST</time> <span class=\"quiet relative\">\(in (1 h 59 min|2 h)\)", html)
