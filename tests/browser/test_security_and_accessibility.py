"""Every console page in Chromium, served by gunicorn as in production: no Content-Security-Policy
violation, and no serious or critical axe-core violation.

The pages come from the console's URLconf (tests/console/pages.py: a page added later is
covered). Confirmation pages are opened with the POST that shows them. axe-core is the pinned
copy that scripts/fetch-axe-core puts in tests/browser/vendor/ (`make test` runs it); it is
evaluated through the DevTools protocol, which the page's CSP does not govern, so injecting it
is not itself a violation.
"""

import json
import re
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.conf import global_settings
from django.contrib.auth.models import User

from tests.console import pages
from tests.support.gunicorn import gunicorn_on_test_database

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VENDOR = Path(__file__).resolve().parent / "vendor"
AXE = VENDOR / "axe.min.js"
PASSWORD = "axe-and-csp-password"
REPORT = Path(__file__).resolve().parents[2] / "test-artifacts" / "security-and-accessibility.json"
# Every CSP violation the page reports, collected from before its first script runs.
CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(event.violatedDirective + " blocked " + (event.blockedURI || "inline") +
    " at " + event.sourceFile + ":" + event.lineNumber);
});
"""
RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => ({id: v.id, impact: v.impact, help: v.help,
                  nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ") + " :: " + n.failureSummary)}));
}"""


@pytest.fixture(scope="module")
def server(django_db_setup, tmp_path_factory):
    with gunicorn_on_test_database(tmp_path_factory.mktemp("gunicorn-security")) as url:
        yield url


@pytest.fixture(scope="module")
def axe_source() -> str:
    assert AXE.exists(), f"{AXE} is missing: run scripts/fetch-axe-core (make test does)"
    return AXE.read_text()


def log_in(page, server, settings):
    # gunicorn checks the password with the production hashers, not the tests' fast one.
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    User.objects.create_superuser("axe-admin", "axe@example.com", PASSWORD)
    page.goto(server + "/admin/login/")
    page.fill("#id_username", "axe-admin")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r"/admin/$"))


def open_page(page, server, target: pages.Page):
    url = server + target.url
    if target.data is None:
        return page.goto(url)
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    body = urlencode({**target.data, "csrfmiddlewaretoken": token}, doseq=True)

    def as_post(route):
        headers = {**route.request.headers, "content-type": "application/x-www-form-urlencoded"}
        route.continue_(method="POST", post_data=body, headers=headers)

    page.route(url, as_post)
    try:
        return page.goto(url)
    finally:
        page.unroute(url)


# Some forty pages, each loaded, drawn and audited: minutes on a loaded machine.
@pytest.mark.timeout(900)
def test_every_console_page_has_no_csp_violation_and_no_serious_axe_violation(
    page, server, settings, axe_source
):
    REPORT.unlink(missing_ok=True)
    console_errors = []
    page.on(
        "console",
        lambda message: "Content Security Policy" in message.text and console_errors.append(message.text),
    )
    page.add_init_script(CSP_LISTENER)
    log_in(page, server, settings)
    problems = {}
    checked = []
    for target in pages.console_pages():
        console_errors.clear()
        response = open_page(page, server, target)
        assert response is not None and response.status == 200, (target.label, response and response.status)
        if not pages.is_html(response.headers.get("content-type", "")):
            continue
        assert "default-src 'self'" in response.headers["content-security-policy"], target.label
        page.wait_for_load_state("load")
        page.wait_for_timeout(300)  # the console's scripts draw charts and start polling
        found = [f"CSP: {v}" for v in page.evaluate("window.__cspViolations")]
        found += [f"console: {text}" for text in console_errors]
        page.evaluate(axe_source)
        found += [f"axe {v['impact']} {v['id']}: {v['help']} {v['nodes']}" for v in page.evaluate(RUN_AXE)]
        if found:
            problems[target.label] = found
        checked.append(target.label)
    if problems:
        # The whole report, for fixing: the assertion message below is cut short by pytest.
        REPORT.parent.mkdir(exist_ok=True)
        REPORT.write_text(json.dumps(problems, indent=2))
    assert not problems, f"{len(problems)} pages with problems (all in {REPORT}): " + json.dumps(
        problems, indent=2
    )
    assert len(checked) >= 30, checked


def test_the_csp_listener_sees_a_violation(page, server, settings):
    """The check above can fail: an inline script added to a console page is blocked and seen."""
    page.add_init_script(CSP_LISTENER)
    log_in(page, server, settings)
    page.goto(server + "/admin/jobs/")
    page.evaluate(
        """() => { const s = document.createElement("script"); s.textContent = "window.ran = 1";
                   document.body.appendChild(s); }"""
    )
    page.wait_for_function("window.__cspViolations.length > 0")
    assert page.evaluate("window.ran") is None
    assert "script-src" in page.evaluate("window.__cspViolations")[0]


def test_axe_finds_a_serious_violation_when_there_is_one(page, server, settings, axe_source):
    """And axe can fail it: an image without alternative text is a critical violation."""
    log_in(page, server, settings)
    page.goto(server + "/admin/jobs/")
    page.evaluate(
        """() => { const i = document.createElement("img"); i.src = "/static/admin/img/icon-yes.svg";
                   document.querySelector("#console-content").appendChild(i); }"""
    )
    page.evaluate(axe_source)
    assert "image-alt" in [v["id"] for v in page.evaluate(RUN_AXE)]


def audit(page, axe_source) -> list[str]:
    """The CSP violations and the serious/critical axe findings of the loaded page."""
    found = [f"CSP: {v}" for v in page.evaluate("window.__cspViolations")]
    page.evaluate(axe_source)
    return found + [f"axe {v['impact']} {v['id']}: {v['help']} {v['nodes']}" for v in page.evaluate(RUN_AXE)]


def test_the_login_the_lockout_and_the_admin_index_pass_too(page, server, settings, axe_source):
    """The doors to the console: the admin's login form, the lockout page it turns into after
    too many failures (dhanman/lockout.py), and the admin index with the console's link."""
    page.add_init_script(CSP_LISTENER)
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    User.objects.create_user("locked-out", password="the-right-one", is_staff=True)
    page.goto(server + "/admin/login/")
    assert audit(page, axe_source) == []
    for _ in range(5):  # LOGIN_FAILURE_LIMIT's default
        page.fill("#id_username", "locked-out")
        page.fill("#id_password", "wrong")
        with page.expect_navigation() as navigation:
            page.click("input[type=submit]")
        if navigation.value.status == 429:
            break
    assert navigation.value.status == 429
    assert page.locator("h1").inner_text() == "Too many failed logins"
    assert audit(page, axe_source) == []
    log_in(page, server, settings)
    assert audit(page, axe_source) == []
