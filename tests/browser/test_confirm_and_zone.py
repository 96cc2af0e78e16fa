"""In Chromium: destructive actions ask on a page of their own, and the dashboard's times are
the server's zone whatever the browser's is."""

import re

import pytest
from django.utils import dateformat, timezone
from playwright.sync_api import expect

from jobs.models import Job, State
from tests.browser.conftest import PASSWORD
from tests.console import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_deleting_a_job_asks_first_and_no_takes_you_back(page, login, console_url):
    job = factories.failed(message="ledger is locked")
    login("operator")
    # A destructive action no longer depends on a browser pop-up: any dialog is refused and noted.
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(console_url("job_detail", job.pk))
    page.locator("#job-actions").get_by_role("button", name="Delete").click()
    expect(page.locator("#confirm h2")).to_have_text("Delete this job?")
    expect(page.locator("#confirm-count")).to_have_text("It touches 1 job.")
    page.get_by_role("link", name="No, take me back").click()
    expect(page).to_have_url(console_url("job_detail", job.pk))
    assert Job.objects.get(pk=job.pk).state == State.FAILED

    page.locator("#job-actions").get_by_role("button", name="Delete").click()
    page.get_by_role("button", name="Yes, delete").click()
    expect(page.locator(".messagelist")).to_contain_text("1 job deleted.")
    expect(page.locator("#job .state").first).to_have_text("deleted")
    assert Job.objects.get(pk=job.pk).state == State.DELETED
    assert dialogs == []


def test_bulk_delete_says_how_many_jobs_then_deletes_them(page, login, console_url):
    chosen = [factories.failed() for _ in range(2)]
    kept = factories.failed()
    login("operator")
    page.goto(console_url("job_list", "failed"))
    for job in chosen:
        page.locator(f'tr[data-job-id="{job.pk}"] input[name="job"]').check()
    page.locator("#bulk-form").get_by_role("button", name="Delete").click()
    expect(page.locator("#confirm h2")).to_have_text("Delete 2 jobs?")
    expect(page.locator("#confirm-count")).to_have_text("It touches 2 jobs.")
    expect(page.locator("#confirm-items li")).to_have_count(2)
    page.get_by_role("button", name="Yes, delete").click()
    expect(page.locator(".messagelist")).to_contain_text("2 jobs deleted.")
    expect(page).to_have_url(re.compile(r"/jobs/failed/"))
    assert {Job.objects.get(pk=job.pk).state for job in chosen} == {State.DELETED}
    assert Job.objects.get(pk=kept.pk).state == State.FAILED


def test_cancelling_a_batch_asks_first(page, login, console_url):
    batch = factories.batch(size=3)
    login("operator")
    page.goto(console_url("batch_detail", batch.pk))
    page.get_by_role("button", name="Cancel batch").click()
    expect(page.locator("#confirm-count")).to_have_text("It touches 3 jobs.")
    page.get_by_role("button", name="Yes, cancel the batch").click()
    expect(page.locator(".messagelist")).to_contain_text("1 batch cancelled.")
    expect(page.locator("#batch")).to_have_attribute("data-state", "cancelled")


def far_zone() -> str:
    """A browser zone whose date differs from the server zone's (Asia/Kolkata) right now."""
    local = timezone.localtime()
    # Pago Pago is 16.5 h behind Kolkata, Kiritimati 8.5 h ahead.
    return "Pacific/Pago_Pago" if (local.hour, local.minute) < (16, 30) else "Pacific/Kiritimati"


def test_the_dashboard_charts_use_the_server_zone_not_the_browsers(browser, live_server, console_url):
    user = factories.make_user("viewer", password=PASSWORD)
    factories.succeeded()
    zone = far_zone()
    context = browser.new_context(timezone_id=zone)
    try:
        tab = context.new_page()
        tab.set_default_timeout(15_000)
        assert tab.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone") == zone
        tab.goto(live_server.url + "/admin/login/")
        tab.fill("#id_username", user.username)
        tab.fill("#id_password", PASSWORD)
        tab.click("input[type=submit]")
        tab.wait_for_url(re.compile(r"/admin/$"))
        tab.goto(console_url("dashboard"))
        before = timezone.localtime()
        expect(tab.locator("#poll-status")).to_contain_text("Live · updated")
        after = timezone.localtime()

        # Today (the last day bar) is the server zone's today, not the browser's.
        days = tab.locator("#history-days rect title")
        expect(days).to_have_count(14)  # 7 days × succeeded/failed
        today = {dateformat.format(moment, "D j M") for moment in (before, after)}
        last_day = days.last.text_content().split(":")[0]
        assert last_day in today, (last_day, today, zone)
        browser_today = tab.evaluate(
            "new Date().toLocaleDateString('en-GB', {weekday: 'short', day: 'numeric', month: 'short'})"
        )
        assert browser_today.replace(",", "") not in today  # the zones really disagree on the date

        hours = tab.locator("#history-hours rect title")
        expect(hours).to_have_count(48)
        assert hours.last.text_content().split(": ")[0] in {f"{moment:%H}:00" for moment in (before, after)}
        # The live clock too: "updated 04:17:09 IST".
        status = tab.locator("#poll-status").text_content()
        match = re.search(r"updated (\d\d):\d\d:\d\d IST", status)
        assert match and int(match.group(1)) in {before.hour, after.hour}, status
        expect(tab.locator("#dashboard h2 .zone-label").first).to_have_text("IST")
    finally:
        context.close()
