"""The console in a real browser: Debian's Chromium driven by pytest-playwright, against
pytest-django's live server (and, where jobs must run, a real `qcluster`).

Never `playwright install`: the browser is /usr/bin/chromium. A failing test leaves a
full-page screenshot in test-artifacts/.
"""

import os
import re
from pathlib import Path

import pytest
from django.urls import reverse

from jobs.console import stats
from tests.console import factories

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "console-browser-pass"

# Playwright's sync API marks an asyncio loop as running in the main thread from its first use
# until the end of the session (its `playwright` fixture is session-scoped), and Django refuses
# ORM calls from a thread with a running loop. The calls made here are plain synchronous ones,
# and so are those of every test collected after these in the same run: allow them.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS, "headless": True}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"console_report_{report.when}", report)


@pytest.fixture(autouse=True)
def browser_test_environment(request, page, settings):
    """Per browser test: a fast password hasher, fresh counters, and a screenshot if the test
    fails (taken before the page closes)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    page.set_default_timeout(15_000)
    stats.forget_cached()
    yield
    report = getattr(request.node, "console_report_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.nodeid)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture
def login(live_server, page):
    """login("operator") -> the user, with the page logged in through the admin's login form."""

    def log_in(role):
        user = factories.make_user(role, password=PASSWORD)
        page.goto(live_server.url + reverse("admin:login"))
        page.fill("#id_username", user.username)
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_url(re.compile(r"/admin/$"))
        return user

    return log_in


@pytest.fixture
def console_url(live_server):
    def url(name, *args, query=""):
        return live_server.url + reverse(f"jobs_console:{name}", args=args) + (f"?{query}" if query else "")

    return url
