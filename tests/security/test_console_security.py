"""The console against hostile text and forged requests.

- Text that jobs carry (arguments, exception messages, state reasons, batch descriptions,
  recurring arguments, user names, search terms) is shown escaped on every page.
- Every action refuses a POST without a valid CSRF token — even with the CSRF middleware removed
  (the views protect themselves) — and changes nothing; with the token it works (so the check is
  not vacuous). The set of actions is read from the URL conf: an action added later is covered.
(tests/console/test_access_matrix.py checks every URL against every role.)
"""

import uuid
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse
from django.urls.converters import IntConverter, SlugConverter, StringConverter, UUIDConverter

from jobs import api
from jobs.console import urls as console_urls
from jobs.models import Batch, Job, RecurringJob, State
from jobs.recurring import Cron
from jobs.server.broker import claim_jobs
from jobs.server.runner import perform
from tests.security.conftest import CSRF_SECRET, BrowserClient
from tests.security.snapshot import database_snapshot
from tests.testapp.tasks import add, fail_once, record

pytestmark = pytest.mark.django_db

HOSTILE = '<script>alert("xss")</script><img src=x onerror=alert(1)>'
RAW_MARKERS = ("<script>alert(", "<img src=x onerror")
ESCAPED_MARKERS = ("&lt;script&gt;alert(", "\\u003Cscript\\u003Ealert(")


def run_all():
    while rows := claim_jobs(None, list(settings.JOB_QUEUES), 20):
        for job_id, token, *_ in rows:
            perform(str(job_id), str(token))


@pytest.fixture
def hostile(superuser_client):
    """Jobs, a batch and a recurring job whose every free-text field is a script."""
    failed = fail_once.enqueue(HOSTILE, message=HOSTILE).id
    succeeded = record.enqueue(HOSTILE).id  # its result is the key too
    with api.batch(HOSTILE) as b:
        b.enqueue(add, 1, 2)
        b.then(record, HOSTILE + "-then")
    run_all()
    operator = User.objects.create_user(username=HOSTILE[:150], is_staff=True)
    requeued = record.enqueue("requeue-me").id
    run_all()
    api.requeue(requeued, by=operator)
    deleted = api.delete(add.enqueue(3, 4).id, reason=HOSTILE).pk
    scheduled = api.enqueue_in(add, 3600, a=HOSTILE, b=HOSTILE).id
    api.add_or_update("hostile-args", record, Cron.daily(hour=3), args=[HOSTILE])
    assert Job.objects.get(pk=failed).state == State.FAILED
    from tests.console.factories import alert

    alert(subject=HOSTILE[:200])  # shown in every page's banner
    return {
        "jobs": [failed, succeeded, requeued, deleted, scheduled],
        "batch": b.id,
        "recurring": "hostile-args",
    }


def pages(hostile) -> list[str]:
    urls = [
        reverse("jobs_console:dashboard"),
        reverse("jobs_console:retries"),
        reverse("jobs_console:servers"),
        reverse("jobs_console:batch_list"),
        reverse("jobs_console:recurring_list"),
        reverse("jobs_console:alert_list"),
        reverse("jobs_console:performance"),
        reverse("jobs_console:failure_groups"),  # shows failures' masked messages
        reverse("jobs_console:queue_list"),
    ]
    urls += [reverse("jobs_console:job_list", args=[state]) for state in State.values]
    # A search echoes its term back into the page.
    urls += [
        reverse("jobs_console:job_list", args=[state]) + "?" + urlencode({"q": HOSTILE[:150]})
        for state in (State.FAILED, State.SUCCEEDED)
    ]
    urls += [reverse("jobs_console:job_detail", args=[job_id]) for job_id in hostile["jobs"]]
    urls += [reverse("jobs_console:job_graph", args=[hostile["jobs"][0]])]
    urls += [
        reverse("jobs_console:batch_detail", args=[hostile["batch"]]),
        reverse("jobs_console:batch_graph", args=[hostile["batch"]]),
        reverse("jobs_console:recurring_detail", args=[hostile["recurring"]]),
    ]
    return urls


def test_hostile_text_is_escaped_on_every_page(superuser_client, hostile):
    shown_escaped = 0
    for url in pages(hostile):
        response = superuser_client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        html = response.content.decode()
        for marker in RAW_MARKERS:
            assert marker not in html, f"{url} renders hostile text unescaped"
        shown_escaped += any(marker in html for marker in ESCAPED_MARKERS)
    # The text was shown (escaped), not silently dropped: at least on each detail page.
    assert shown_escaped >= len(hostile["jobs"]) + 2


def test_stats_json_is_served_as_json(superuser_client, hostile):
    response = superuser_client.get(reverse("jobs_console:stats"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")


# --- CSRF on every action ---------------------------------------------------------------------


ACTION_NAMES = (
    "job_requeue",
    "job_delete",
    "job_cancel",
    "job_bulk",
    "recurring_trigger",
    "recurring_enable",
    "recurring_disable",
    "recurring_remove",
    "batch_cancel",
    "event_replay",
    "alert_acknowledge",
    "alert_resolve",
    "queue_pause",
    "queue_resume",
    "failure_group_retry",
    "failure_group_delete",
    "job_matching",
)


def action_targets() -> dict:
    """For each console action: its URL and form data, on objects it can act on."""
    failed = fail_once.enqueue("csrf").id
    run_all()
    processing = record.enqueue("csrf-running").id
    claim_jobs(None, list(settings.JOB_QUEUES), 1)
    with api.batch("csrf") as b:
        b.enqueue(add, 1, 2)
    api.add_or_update("csrf-recurring", record, Cron.daily(hour=4), args=["csrf"])
    recurring = ("csrf-recurring",)
    from tests.console.factories import alert as open_alert

    alert = open_alert(subject=HOSTILE[:200])
    group = Job.objects.get(pk=failed).failure_group
    targets = {
        "job_requeue": (reverse("jobs_console:job_requeue", args=[failed]), {}),
        # Destructive actions as their confirmation page posts them (without confirm they only ask).
        "job_delete": (reverse("jobs_console:job_delete", args=[failed]), {"confirm": "yes"}),
        "job_cancel": (reverse("jobs_console:job_cancel", args=[processing]), {}),
        "job_bulk": (
            reverse("jobs_console:job_bulk"),
            {"action": "delete", "job": [str(failed)], "confirm": "yes"},
        ),
        "recurring_trigger": (reverse("jobs_console:recurring_trigger", args=recurring), {}),
        "recurring_enable": (reverse("jobs_console:recurring_enable", args=recurring), {}),
        "recurring_disable": (reverse("jobs_console:recurring_disable", args=recurring), {}),
        "recurring_remove": (reverse("jobs_console:recurring_remove", args=recurring), {"confirm": "yes"}),
        "batch_cancel": (reverse("jobs_console:batch_cancel", args=[b.id]), {"confirm": "yes"}),
        # Its effect is on RabbitMQ; refused before the view runs, it reaches nothing there either.
        "event_replay": (reverse("jobs_console:event_replay", args=["csrf-dead-letter"]), {}),
        "alert_acknowledge": (
            reverse("jobs_console:alert_acknowledge", args=[alert.pk]),
            {"reason": "forged"},
        ),
        "alert_resolve": (reverse("jobs_console:alert_resolve", args=[alert.pk]), {"reason": "forged"}),
        "queue_pause": (reverse("jobs_console:queue_pause", args=["low-priority"]), {"reason": "csrf"}),
        "queue_resume": (reverse("jobs_console:queue_resume", args=["low-priority"]), {}),
        "failure_group_retry": (
            reverse("jobs_console:failure_group_retry", args=[group]),
            {"confirm": "yes"},
        ),
        "failure_group_delete": (
            reverse("jobs_console:failure_group_delete", args=[group]),
            {"confirm": "yes"},
        ),
        # Select all matching, as the list's "select all" asks it (the confirmation's own post is
        # signed on top of this: tests/console/test_select_all.py).
        "job_matching": (
            reverse("jobs_console:job_matching"),
            {"action": "requeue", "scope": "state:failed", "error": "csrf"},
        ),
    }
    assert set(targets) == set(ACTION_NAMES)
    return targets


def test_every_action_is_in_this_table():
    """Each console view answers an anonymous GET: actions with 405 (require_POST comes first),
    pages with a redirect to the login. The 405 ones must all be in action_targets()."""
    dummy = {UUIDConverter: uuid.uuid4(), SlugConverter: "x", StringConverter: "x", IntConverter: 1}
    posts_only = set()
    for pattern in console_urls.urlpatterns:
        request = RequestFactory().get("/")
        request.user = AnonymousUser()
        kwargs = {name: dummy[type(conv)] for name, conv in pattern.pattern.converters.items()}
        if pattern.callback(request, **kwargs).status_code == 405:
            posts_only.add(pattern.name)
    assert posts_only == set(ACTION_NAMES), (
        f"actions not covered here: {sorted(posts_only - set(ACTION_NAMES))}"
    )


FORGERIES = {
    "no token": lambda client, url, data: client.post(url, data),
    "token of another session": lambda client, url, data: client.post(
        url, {**data, "csrfmiddlewaretoken": "x" * 32}
    ),
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_forged_posts_are_refused_and_change_nothing(superuser_client, forgery):
    targets = action_targets()
    for name, (url, data) in targets.items():
        before = database_snapshot()
        response = FORGERIES[forgery](superuser_client, url, data)
        assert response.status_code == 403, (name, response.status_code)
        assert database_snapshot() == before, f"{name} changed the database on a forged post"


def test_actions_protect_themselves_without_the_csrf_middleware(superuser_client):
    middleware = [m for m in settings.MIDDLEWARE if m != "django.middleware.csrf.CsrfViewMiddleware"]
    targets = action_targets()
    with override_settings(MIDDLEWARE=middleware):
        client = Client(enforce_csrf_checks=True)
        client.force_login(User.objects.get(username="security-admin"))
        for name, (url, data) in targets.items():
            before = database_snapshot()
            assert client.post(url, data).status_code == 403, name
            assert database_snapshot() == before, name


def test_with_the_token_the_actions_work(superuser_client):
    """The control: the same posts with the page's token go through (so the 403s mean CSRF)."""
    targets = action_targets()
    assert isinstance(superuser_client, BrowserClient) and CSRF_SECRET
    for name in ("job_requeue", "recurring_disable", "batch_cancel"):
        url, data = targets[name]
        before = database_snapshot()
        response = superuser_client.post_with_csrf(url, data)
        assert response.status_code == 302, (name, response.content[:300])
        assert database_snapshot() != before, name
    assert Batch.objects.filter(state="cancelled").count() == 1
    assert RecurringJob.objects.get(pk="csrf-recurring").enabled is False
