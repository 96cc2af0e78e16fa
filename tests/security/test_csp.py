"""The Content-Security-Policy (docs/security.md): every page Django renders carries it, and no
page of the console, the admin or the login lockout needs what it forbids.

The policy allows scripts and styles only from our own origin (and the per-response nonce):
an inline `<script>` (other than JSON data blocks, which are never run), an `on*=` handler, a
`style=` attribute or a `javascript:` URL would be blocked in the browser, so none may be in
the HTML. The console's pages come from its URLconf (tests/console/pages.py), so a page added
later is checked too; the admin's are the change list and add form of every registered model.
"""

import contextlib
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client, RequestFactory
from django.urls import NoReverseMatch, reverse

from tests.console import factories, pages
from tests.console.conftest import ConsoleClient

pytestmark = pytest.mark.django_db


class InlineCode(HTMLParser):
    """Collects what a strict CSP would block in a page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_inline_script = False
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        named = dict(attrs)
        for attribute, value in attrs:
            if attribute.startswith("on"):
                self.found.append(f"<{tag} {attribute}=…> (inline event handler)")
            if attribute == "style":
                self.found.append(f"<{tag} style={value!r}> (inline style)")
            if attribute in ("href", "src", "action", "formaction") and (
                value or ""
            ).strip().lower().startswith("javascript:"):
                self.found.append(f"<{tag} {attribute}={value!r}> (javascript: URL)")
        if tag == "script":
            self.scripts += 1
            data_block = (named.get("type") or "").lower() == "application/json"
            self._in_inline_script = "src" not in named and not data_block
        if tag == "style":
            self.found.append("<style> block (inline style)")

    def handle_data(self, data):
        if self._in_inline_script and data.strip():
            self.found.append(f"inline <script>: {data.strip()[:80]!r}")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_inline_script = False


def blocked_by_the_policy(html: str) -> list[str]:
    parser = InlineCode()
    parser.feed(html)
    return parser.found


def assert_the_policy_is_sent(response):
    policy = response["Content-Security-Policy"]
    directives = {part.split()[0]: part.split()[1:] for part in policy.split("; ")}
    assert directives["default-src"] == ["'self'"]
    assert (
        "'unsafe-inline'" not in directives["script-src"] and "'unsafe-eval'" not in directives["script-src"]
    )
    assert "'unsafe-inline'" not in directives["style-src"]
    assert directives["object-src"] == ["'none'"]
    return directives


def test_the_parser_finds_what_the_policy_blocks():
    """The check itself can fail: each kind of inline code is found, data blocks are not."""
    found = blocked_by_the_policy(
        '<script>alert(1)</script><button onclick="go()">x</button><p style="color:red">'
        '<a href="javascript:go()">x</a><style>p{}</style>'
        '<script src="/static/x.js"></script><script type="application/json" id="d">{"a": 1}</script>'
    )
    assert len(found) == 5, found
    assert blocked_by_the_policy('<script src="/static/jobs/console.js" nonce="abc"></script>') == []


def test_every_console_page_is_served_with_the_policy_and_has_no_inline_code():
    cache.clear()  # the console's cached counters (tests/console/conftest.py says why)
    client = ConsoleClient(factories.make_user("superuser"))
    checked = []
    for page in pages.console_pages():
        response = client.get(page.url) if page.data is None else client.post_with_csrf(page.url, page.data)
        assert response.status_code == 200, (page.label, response.status_code)
        directives = assert_the_policy_is_sent(response)
        if not pages.is_html(response["Content-Type"]):
            continue
        html = response.content.decode()
        assert blocked_by_the_policy(html) == [], page.label
        # The console's own scripts carry this response's nonce (which the header names).
        nonces = [value for value in directives["script-src"] if value.startswith("'nonce-")]
        assert len(nonces) == 1, page.label
        assert f'nonce="{nonces[0][7:-1]}"' in html, page.label
        checked.append(page.label)
    # Every page kind: the lists, details, confirmations, and every job state.
    assert {"dashboard", "job_detail processing", "job_delete (confirmation)", "audit", "events"} <= set(
        checked
    )
    assert len(checked) >= 30, checked


def test_every_console_url_is_in_the_page_list():
    from jobs.console import urls as console_urls

    assert pages.covered_url_names() == {pattern.name for pattern in console_urls.urlpatterns}


def admin_pages(user) -> list[str]:
    """The admin's index, and the change list and add form of every registered model (the add
    form where the model's admin allows adding)."""
    request = RequestFactory().get("/admin/")
    request.user = user
    urls = [reverse("admin:index"), reverse("admin:password_change")]
    for model, model_admin in admin.site._registry.items():
        info = (model._meta.app_label, model._meta.model_name)
        views = ["changelist"] + (["add"] if model_admin.has_add_permission(request) else [])
        for view in views:
            with contextlib.suppress(NoReverseMatch):
                urls.append(reverse("admin:{}_{}_{}".format(*info, view)))
    return urls


def test_the_admins_own_pages_work_under_the_policy():
    superuser = User.objects.create_superuser("csp-admin", "csp@example.com", password=None)
    client = ConsoleClient(superuser)
    urls = admin_pages(superuser) + [reverse("admin:auth_user_change", args=[superuser.pk])]
    shown = 0
    for url in urls:
        response = client.get(url)
        assert response.status_code in (200, 302), (url, response.status_code)
        if response.status_code == 302:
            continue  # the engine's model admins are doors into the console
        assert_the_policy_is_sent(response)
        assert blocked_by_the_policy(response.content.decode()) == [], url
        shown += 1
    assert shown >= 10


def test_the_login_and_lockout_pages_have_no_inline_code(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.AXES_FAILURE_LIMIT = 1
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)
    User.objects.create_user("locked", password="right-password", is_staff=True)
    client = Client()
    login = client.get(reverse("admin:login"))
    assert_the_policy_is_sent(login)
    assert blocked_by_the_policy(login.content.decode()) == []
    lockout = client.post(reverse("admin:login"), {"username": "locked", "password": "wrong"})
    assert lockout.status_code == 429
    assert_the_policy_is_sent(lockout)
    assert blocked_by_the_policy(lockout.content.decode()) == []
