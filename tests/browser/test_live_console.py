"""The queues page's chart and a live Processing list in Chromium, against gunicorn and a real
`qcluster` (Procfile.dev's web and worker, as `make run` starts them: tests/support/make_run.py)
on the test database, so the jobs enqueued here are run by that server while the page is open."""

import re
import subprocess
import sys

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from jobs import backlog
from jobs.models import Job, QueueDepth, State
from tests.support import make_run
from tests.support.cluster import database_url, wait_for
from tests.testapp import tasks

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def app(tmp_path):
    """gunicorn + qcluster on this test's database: its static files collected, its admin made."""
    env = make_run.base_env(tmp_path, database_url())
    for step in (("collectstatic", "--noinput", "--verbosity", "0"), ("ensure_admin",)):
        done = subprocess.run(
            [sys.executable, "manage.py", *step], cwd=make_run.ROOT, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    extra = {
        "DHANMAN_TEST_APPS": "1",  # tests.testapp's tasks, which the jobs below run
        "JOBS_STATS_POLLING_INTERVAL_MS": "1000",
        "JOBS_WORKER_COUNT": "1",
    }
    with make_run.make_run(env, tmp_path / "run.log", extra) as running:
        yield running


def log_in(app, page):
    page.goto(app.url("/admin/login/"))
    page.fill("#id_username", "admin")
    page.fill("#id_password", make_run.ADMIN_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r"/admin/$"))


def watch_errors(page) -> list:
    errors: list = []
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    return errors


def test_the_queues_page_draws_its_backlog_chart(app, page):
    # The previous interval's sample, as a server wrote it then: with the current count the
    # default queue has a line, not a lone point.
    earlier = backlog.interval_start(timezone.now()) - backlog.INTERVAL
    QueueDepth.objects.create(sampled_at=earlier, queue="default", enqueued=4, scheduled=0, processing=0)
    errors = watch_errors(page)
    log_in(app, page)
    page.goto(app.url("/admin/jobs/queues/"))
    # The server serving every queue is listed beside each.
    expect(page.locator('#queue-table tr[data-queue="default"] [data-column="servers"]')).to_contain_text(
        "worker"
    )
    chart = page.locator("#backlog-chart")
    expect(chart.locator("line.axis")).to_have_count(1)
    expect(chart.locator("polyline.series-q1")).to_have_count(1)  # default: the second queue
    points = chart.locator("polyline.series-q1").get_attribute("points")
    assert len(points.split()) >= 2
    # Another state is drawn on demand.
    page.click('[data-backlog-state="scheduled"]')
    expect(chart).to_have_attribute("data-state", "scheduled")
    expect(page.locator('[data-backlog-state="scheduled"]')).to_have_attribute("aria-pressed", "true")
    assert not errors, errors


def test_a_processing_list_shows_a_job_while_it_runs_and_drops_it_without_a_reload(app, page):
    errors = watch_errors(page)
    log_in(app, page)
    page.goto(app.url("/admin/jobs/jobs/processing/"))
    bar = page.locator("#live-bar")
    expect(page.locator("[data-live-toggle]")).to_be_visible()
    expect(bar).to_have_attribute("data-updates", re.compile(r"^[1-9]"), timeout=20_000)
    page.evaluate("window.__sameDocument = true")
    # The state tabs' counts follow the jobs too, not only the list's own count line.
    processing_tab = page.locator('.sub-nav [data-state-count="processing"]')
    succeeded_tab = page.locator('.sub-nav [data-state-count="succeeded"]')
    expect(processing_tab).to_have_text("0")
    succeeded_before = succeeded_tab.inner_text()

    job_id = str(tasks.chatty.enqueue(lines=8, pause=1.0).id)
    row = page.locator(f'tbody[data-live-rows] tr[data-job-id="{job_id}"]')
    expect(row).to_be_visible(timeout=30_000)
    expect(row.locator('[data-column="running-for"]')).not_to_have_text("")
    expect(page.locator("#live-status")).to_contain_text("1 job came", timeout=10_000)
    expect(page.locator("#list-count")).to_have_text("1 processing job, newest first.", timeout=10_000)
    expect(processing_tab).to_have_text("1", timeout=10_000)
    # Its progress moves while it runs, in the same row.
    expect(row.locator("[data-progress-percent]")).to_have_text(re.compile(r"^[1-9]\d*%$"), timeout=20_000)
    # Focus inside the table holds the updates back: the focused Cancel button is not replaced.
    row.get_by_role("button", name=re.compile("^Cancel job")).focus()
    held = bar.get_attribute("data-updates")
    page.wait_for_timeout(2500)  # more than two polling intervals
    assert bar.get_attribute("data-updates") == held
    assert page.evaluate("document.activeElement.closest('tr').dataset.jobId") == job_id
    page.evaluate("document.activeElement.blur()")

    wait_for(lambda: Job.objects.get(pk=job_id).state == State.SUCCEEDED, 40)
    expect(row).to_have_count(0, timeout=15_000)
    expect(page.locator("#live-status")).to_contain_text("1 job left")
    expect(page.locator("#list-count")).to_have_text("0 processing jobs, newest first.", timeout=10_000)
    expect(processing_tab).to_have_text("0", timeout=10_000)
    # Another state's tab too: the job that left this list is counted where it went.
    expect(succeeded_tab).not_to_have_text(succeeded_before, timeout=10_000)
    assert page.evaluate("window.__sameDocument") is True  # updated in place, never reloaded
    assert not errors, errors


def test_pausing_updates_stops_the_list_from_changing(app, page):
    log_in(app, page)
    page.goto(app.url("/admin/jobs/jobs/processing/"))
    bar = page.locator("#live-bar")
    expect(bar).to_have_attribute("data-updates", re.compile(r"^[1-9]"), timeout=20_000)
    toggle = page.locator("[data-live-toggle]")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#live-status")).to_have_text("Updates paused.")
    job_id = str(tasks.chatty.enqueue(lines=12, pause=1.0).id)
    wait_for(lambda: Job.objects.get(pk=job_id).state == State.PROCESSING, 30)
    page.wait_for_timeout(3000)  # three polling intervals: a live list would have shown it
    expect(page.locator(f'tr[data-job-id="{job_id}"]')).to_have_count(0)
    toggle.click()
    expect(page.locator(f'tr[data-job-id="{job_id}"]')).to_have_count(1, timeout=15_000)
