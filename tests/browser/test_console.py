"""The job console in Chromium: roles, live counters, timelines, and actions on real workers."""

import re
import uuid

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from jobs.models import Job, State
from tests.console import factories
from tests.support.cluster import run_cluster, wait_for
from tests.testapp import tasks
from tests.testapp.models import Execution

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def state_badge(page):
    return page.locator("#job .state").first


def test_each_role_sees_what_it_may_see_and_gets_the_buttons_it_may_use(
    page, login, console_url, live_server
):
    failed = factories.failed(message="mail server down")
    row = factories.recurring("console-roles")

    login("no_role")
    response = page.goto(console_url("dashboard"))
    assert response.status == 403
    page.context.clear_cookies()

    login("viewer")
    page.goto(live_server.url + reverse("admin:index"))
    page.click("#jobs-console-link >> text=Open the job console")
    expect(page.locator("h1")).to_have_text("Dhanman Jobs Dashboard")
    expect(page.locator('[data-counter="failed"]')).to_have_text("1")
    page.goto(console_url("job_detail", failed.pk))
    expect(page.locator("#job-error")).to_contain_text("mail server down")
    expect(page.locator("#job-actions")).to_have_count(0)
    page.goto(console_url("recurring_list"))
    expect(page.locator(f'tr[data-recurring="{row.pk}"]')).to_be_visible()
    expect(page.get_by_role("button", name="Trigger now")).to_have_count(0)
    page.context.clear_cookies()

    login("operator")
    page.goto(console_url("job_detail", failed.pk))
    expect(page.locator("#job-actions button")).to_have_text(["Requeue", "Delete"])
    page.goto(console_url("recurring_list"))
    expect(page.get_by_role("button", name="Trigger now")).to_be_visible()
    expect(page.get_by_role("button", name="Remove")).to_have_count(0)
    page.context.clear_cookies()

    login("admin")
    page.goto(console_url("recurring_list"))
    expect(page.get_by_role("button", name=re.compile("Remove"))).to_have_count(0)  # not beside Disable
    page.goto(console_url("recurring_detail", row.pk))
    page.get_by_role("button", name="Remove this recurring job…").click()
    expect(page.locator("#confirm h2")).to_have_text(f"Remove the recurring job {row.pk}?")
    page.get_by_role("button", name="Yes, remove").click()
    expect(page.locator(".messagelist")).to_contain_text("console-roles removed")
    expect(page.locator(f'tr[data-recurring="{row.pk}"]')).to_have_count(0)


def test_dashboard_counters_change_without_a_reload(page, login, console_url, settings):
    settings.DHANMAN_JOBS = {**settings.DHANMAN_JOBS, "STATS_POLLING_INTERVAL_MS": 500}
    login("viewer")
    page.goto(console_url("dashboard"))
    enqueued = page.locator('[data-counter="enqueued"]')
    expect(enqueued).to_have_text("0")
    page.evaluate("window.__sameDocument = true")
    for index in range(3):
        tasks.add.enqueue(index, index)
    expect(enqueued).to_have_text("3", timeout=10_000)
    expect(page.locator('#queues-table tr[data-queue="default"] [data-column="enqueued"]')).to_have_text("3")
    assert page.evaluate("window.__sameDocument") is True  # the same page, updated in place
    assert int(page.locator("#dashboard").get_attribute("data-polls")) >= 1
    expect(page.locator("#realtime-chart polyline.series-succeeded")).to_have_count(1)
    expect(page.locator("#poll-status")).to_contain_text("Live")


def test_open_a_jobs_timeline_from_the_failed_list(page, login, console_url):
    job = factories.failed(message="ledger is locked")
    login("viewer")
    page.goto(console_url("job_list", "failed"))
    page.click(f'tr[data-job-id="{job.pk}"] a')
    expect(page).to_have_url(re.compile(str(job.pk)))
    items = page.locator("#timeline .timeline > li")
    expect(items).to_have_count(3)
    expect(items.locator(".state")).to_have_text(["enqueued", "processing", "failed"])
    expect(items.nth(2)).to_contain_text("RuntimeError: ledger is locked")
    expect(items.nth(2).locator("pre.traceback")).to_contain_text("Traceback (most recent call last)")


def test_trigger_a_recurring_job_and_watch_its_job_succeed(page, login, console_url):
    key = f"recurring-{uuid.uuid4().hex[:8]}"
    from jobs.recurring import add_or_update

    add_or_update("console-trigger", tasks.record, "0 6 1 * *", args=[key])
    login("operator")
    with run_cluster(workers=1) as cluster:
        page.goto(console_url("recurring_detail", "console-trigger"))
        expect(page.locator("#recurring-history tbody tr")).to_have_text(["No job yet."])
        page.get_by_role("button", name="Trigger now").click()
        expect(page.locator(".messagelist")).to_contain_text("Recurring job console-trigger triggered")
        rows = page.locator("#recurring-history tbody tr[data-job-id]")
        expect(rows).to_have_count(1)
        job_id = rows.first.get_attribute("data-job-id")
        cluster.wait_for(
            lambda: Execution.objects.filter(key=key).exists(), message="the triggered job to run"
        )
        wait_for(lambda: Job.objects.get(pk=job_id).state == State.SUCCEEDED, 10)
        page.reload()
        expect(rows.first.locator(".state")).to_have_text("succeeded")
        rows.first.locator("a").click()
        expect(state_badge(page)).to_have_text("succeeded")


def test_retry_a_failed_job_from_the_retries_page_and_watch_it_succeed(page, login, console_url):
    key = f"retry-{uuid.uuid4().hex[:8]}"
    login("operator")
    with run_cluster(workers=1) as cluster:
        job_id = tasks.fail_first_run.enqueue(key).id
        cluster.wait_for(
            lambda: Job.objects.get(pk=job_id).state == State.FAILED, message="the first run to fail"
        )
        page.goto(console_url("retries"))
        row = page.locator(f'tr[data-job-id="{job_id}"]')
        expect(row).to_contain_text(f"first run of {key} fails")
        row.locator('input[name="job"]').check()
        expect(page.locator("[data-selected-count]")).to_have_text("1 selected")
        page.get_by_role("button", name="Retry now").click()
        expect(page.locator(".messagelist")).to_contain_text("1 job requeued.")
        cluster.wait_for(lambda: Execution.objects.filter(key=key).exists(), message="the retried job to run")
        wait_for(lambda: Job.objects.get(pk=job_id).state == State.SUCCEEDED, 10)
        page.goto(console_url("job_detail", job_id))
        expect(state_badge(page)).to_have_text("succeeded")
        expect(page.locator("#timeline .timeline > li .state")).to_have_text(
            ["enqueued", "processing", "failed", "enqueued", "processing", "succeeded"]
        )
        expect(page.locator("#timeline")).to_contain_text("Requeued by operator-")
