"""The console in Chromium against `make run`'s own gunicorn (tests/support/make_run.py), not
Django's live test server: that one serves static files by itself, so it could not see a
gunicorn that served none."""

import re

import pytest
from playwright.sync_api import expect

from tests.support.make_run import ADMIN_PASSWORD, make_run

pytestmark = [pytest.mark.browser, pytest.mark.django_db]  # (the browser fixtures clear the cache)


@pytest.fixture(scope="module")
def app(make_run_install, tmp_path_factory):
    with make_run(
        make_run_install,
        tmp_path_factory.mktemp("make-run-browser") / "run.log",
        {"JOBS_STATS_POLLING_INTERVAL_MS": "500"},
    ) as running:
        yield running


def test_the_dashboard_loads_everything_it_asks_for_and_draws_its_counters(app, page):
    failed = []
    page.on("requestfailed", lambda request: failed.append(f"{request.url}: {request.failure}"))
    page.on(
        "response",
        lambda response: response.status >= 400 and failed.append(f"{response.url}: {response.status}"),
    )
    page.on(
        "console",
        lambda message: (
            message.type == "error" and failed.append(f"console: {message.text} {message.location}")
        ),
    )
    page.on("pageerror", lambda error: failed.append(f"page error: {error}"))

    page.goto(app.url("/admin/login/"))
    page.fill("#id_username", "admin")
    page.fill("#id_password", ADMIN_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r"/admin/$"))
    # The admin's stylesheet applied: its header is styled, not plain HTML.
    assert page.eval_on_selector("#header", "el => getComputedStyle(el).display") == "flex"

    page.goto(app.url("/admin/jobs/"))
    dashboard = page.locator("#dashboard")
    expect(dashboard).to_have_attribute("data-polls", re.compile(r"^[1-9]\d*$"), timeout=20_000)
    expect(page.locator("#poll-status")).to_contain_text("Live")
    expect(page.locator('[data-counter="recurring"]')).to_have_text(re.compile(r"^[1-9]\d*$"))
    expect(page.locator("#realtime-chart polyline.series-succeeded")).to_have_count(1)
    expect(page.locator("#history-hours line.axis")).to_have_count(1)  # the bar chart's frame
    # The console's own stylesheet applied: the counters are a grid.
    assert page.eval_on_selector(".counters", "el => getComputedStyle(el).display") == "grid"
    assert not failed, failed
