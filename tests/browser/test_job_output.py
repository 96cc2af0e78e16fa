"""A running job's output and progress on its console page, updated in place by console.js."""

import pytest
from playwright.sync_api import expect

from jobs.models import Job, State
from tests.support.cluster import run_cluster, wait_for
from tests.testapp import tasks

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_running_jobs_output_and_progress_appear_without_a_reload(page, login, console_url, settings):
    settings.DHANMAN_JOBS = {**settings.DHANMAN_JOBS, "STATS_POLLING_INTERVAL_MS": 500}
    login("viewer")
    with run_cluster(workers=1) as cluster:
        job_id = tasks.chatty.enqueue(lines=6, pause=1.2).id
        cluster.wait_for(
            lambda: Job.objects.get(pk=job_id).state == State.PROCESSING, message="the job to start"
        )
        page.goto(console_url("job_detail", job_id))
        page.evaluate("window.__sameDocument = true")
        output = page.locator('#job-output [data-output-attempt="1"] pre.output')
        expect(output).to_contain_text("line 3 of 6", timeout=15_000)
        expect(page.locator("#job-progress [data-progress-message]")).not_to_have_text("")
        wait_for(lambda: Job.objects.get(pk=job_id).state == State.SUCCEEDED, 20)
        expect(output).to_contain_text("record 6 of 6", timeout=10_000)
        expect(page.locator("#job-progress [data-progress-percent]")).to_have_text("100%")
        expect(page.locator("#job")).to_have_attribute("data-live-done", "true")
    assert page.evaluate("window.__sameDocument") is True  # the same page, updated in place
