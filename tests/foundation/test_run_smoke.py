"""`make run` on a fresh SQLite file: its setup steps, then gunicorn + qcluster under honcho
(tests/support/make_run.py) — the app answers, its pages come with their CSS and JavaScript, and
its logs keep one clock."""

import gzip
import http.cookiejar
import re
import urllib.parse
import urllib.request
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests.support.make_run import ADMIN_PASSWORD, make_run

CONTENT_TYPES = {".css": "text/css", ".js": "text/javascript"}
ASSET = re.compile(r'<(?:link rel="stylesheet"[^>]*href|script[^>]*src)="([^"]+)"')


class Browser:
    """urllib with a cookie jar: logs in through the admin's form like a person does."""

    def __init__(self, app):
        self.app = app
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, path, headers=None):
        request = urllib.request.Request(self.app.url(path), headers=headers or {})
        with self.opener.open(request, timeout=10) as response:
            return response.status, response.headers, response.read()

    def log_in(self):
        body = self.get("/admin/login/")[2].decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1)
        form = urllib.parse.urlencode(
            {"username": "admin", "password": ADMIN_PASSWORD, "csrfmiddlewaretoken": token, "next": "/admin/"}
        ).encode()
        request = urllib.request.Request(
            self.app.url("/admin/login/"), data=form, headers={"Referer": self.app.url("/admin/login/")}
        )
        with self.opener.open(request, timeout=10) as response:
            assert response.url.endswith("/admin/"), "the login did not go through"


def assets_of(page_html: str) -> list[str]:
    return ASSET.findall(page_html)


def check_assets(browser, page: str, headers=None) -> dict:
    """Every stylesheet and script `page` links to answers 200 with its Content-Type."""
    status, _, body = browser.get(page)
    assert status == 200
    found = {}
    for url in assets_of(body.decode()):
        path = urllib.parse.urlsplit(url).path
        status, response_headers, content = browser.get(path, headers)
        suffix = re.search(r"\.(css|js)$", path)
        assert status == 200, (path, status)
        assert suffix, path
        assert response_headers["Content-Type"].startswith(CONTENT_TYPES["." + suffix.group(1)]), (
            path,
            response_headers["Content-Type"],
        )
        found[path] = (response_headers, content)
    return found


@pytest.fixture(scope="module")
def app(make_run_install, tmp_path_factory):
    log = tmp_path_factory.mktemp("make-run-log") / "run.log"
    with make_run(make_run_install, log, {"TIME_ZONE": "Asia/Kolkata"}) as running:
        yield running


def test_the_app_and_a_worker_start_on_a_fresh_sqlite_file(app, make_run_install):
    status, _, body = Browser(app).get("/admin/login/")
    assert status == 200 and b"Username" in body
    assert "Password: " + ADMIN_PASSWORD not in make_run_install["SETUP_OUTPUT"]
    assert "Password: from DHANMAN_ADMIN_PASSWORD" in make_run_install["SETUP_OUTPUT"].splitlines()[-4]


def test_the_admin_and_the_console_come_with_their_css_and_javascript(app):
    browser = Browser(app)
    browser.log_in()
    login_assets = check_assets(browser, "/admin/")
    console_assets = check_assets(browser, "/admin/jobs/")
    paths = {*login_assets, *console_assets}
    for expected in (
        "admin/css/base.css",
        "jobs/console.css",
        "jobs/console.js",
        "jobs/dashboard.js",
        "jobs/chart.js",
    ):
        assert any(expected.rsplit(".", 1)[0] in path for path in paths), (expected, sorted(paths))


def test_the_logs_keep_one_clock_the_time_zone_of_the_settings(app):
    log = app.log()
    now = datetime.now(ZoneInfo("Asia/Kolkata"))
    # gunicorn's own lines (the master's too) and Django's carry the zone of TIME_ZONE.
    gunicorn_stamps = re.findall(r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ([+-]\d{4})\]", log)
    assert gunicorn_stamps and set(gunicorn_stamps) == {"+0530"}, log[-3000:]
    django_stamps = re.findall(
        r"\| (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\.\d{3} (\w+) (?:INFO|WARNING|ERROR|DEBUG) ", log
    )
    assert django_stamps and {zone for _, zone in django_stamps} == {"IST"}, log[-3000:]
    # honcho's prefixes too: its first line is stamped within minutes of now, in that zone.
    hours, minutes, seconds = map(int, re.match(r"(\d\d):(\d\d):(\d\d) system", log).groups())
    apart = abs(hours * 3600 + minutes * 60 + seconds - (now.hour * 3600 + now.minute * 60 + now.second))
    assert min(apart, 86400 - apart) < 300, (now, log[:300])


def test_in_production_static_files_are_hashed_compressed_and_cached_for_long(make_run_install, tmp_path):
    production = {
        "DEBUG": "False",
        "SECRET_KEY": "make-run-production-test-" + "x" * 30,
        "SESSION_COOKIE_SECURE": "False",
        "CSRF_COOKIE_SECURE": "False",
    }  # plain http here
    with make_run(make_run_install, tmp_path / "run.log", production) as app:
        browser = Browser(app)
        browser.log_in()
        assets = check_assets(browser, "/admin/jobs/", {"Accept-Encoding": "gzip"})
    console_css = [path for path in assets if re.search(r"/jobs/console\.[0-9a-f]{12}\.css$", path)]
    assert console_css, sorted(assets)
    headers, content = assets[console_css[0]]
    assert headers["Content-Encoding"] == "gzip"
    assert b".counter" in gzip.decompress(content)
    assert "max-age=315360000" in headers["Cache-Control"]
