"""In Chromium: a tag chip opens the list filtered by that tag (a link to share), and "select all
N matching" acts on every job of it after a confirmation page."""

import re

import pytest
from playwright.sync_api import expect

from jobs.models import Job, State
from tests.console import factories
from tests.testapp import tasks

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_tag_chip_filters_the_list_and_select_all_deletes_every_match(page, login, console_url):
    twelve = [factories.enqueued(tasks.bill_society, 12, invoice) for invoice in range(3)]
    other = factories.enqueued(tasks.bill_society, 13, 99)
    login("operator")
    page.goto(console_url("job_list", "enqueued"))
    expect(page.locator("#job-table tbody tr")).to_have_count(4)
    page.locator(f'tr[data-job-id="{twelve[0].pk}"] a.tag-chip', has_text="society:12").click()
    expect(page).to_have_url(re.compile(r"/jobs/enqueued/\?tag=society%3A12$"))
    expect(page.locator("#id_tag")).to_have_value("society:12")
    expect(page.locator("#job-table tbody tr")).to_have_count(3)
    expect(page.locator("#list-count")).to_contain_text("3 matching jobs")

    # Narrow it by argument too: the filters combine, in the URL.
    page.fill("#id_args", "invoice_id=1")
    page.locator("#list-filters").get_by_role("button", name="Filter").click()
    expect(page).to_have_url(
        re.compile(r"args=invoice_id%3D1.*tag=society%3A12|tag=society%3A12.*args=invoice_id%3D1")
    )
    expect(page.locator("#job-table tbody tr")).to_have_count(1)
    page.go_back()
    expect(page.locator("#job-table tbody tr")).to_have_count(3)

    page.locator("#select-matching").get_by_role("button", name="Delete all 3").click()
    expect(page.locator("#confirm h2")).to_have_text("Delete 3 matching jobs?")
    expect(page.locator("#confirm")).to_contain_text("In these states: 3 enqueued.")
    assert {Job.objects.get(pk=job.pk).state for job in twelve} == {State.ENQUEUED}
    page.get_by_role("button", name="Yes, delete 3").click()
    expect(page.locator(".messagelist")).to_contain_text("3 jobs deleted.")
    expect(page).to_have_url(re.compile(r"/jobs/enqueued/\?tag=society%3A12$"))
    assert {Job.objects.get(pk=job.pk).state for job in twelve} == {State.DELETED}
    assert Job.objects.get(pk=other.pk).state == State.ENQUEUED
