"""Every console URL and action × every role: the status code and whether anything changed.

The matrix is checked against jobs.console.urls itself: a URL added without a row here fails
`test_every_console_url_is_in_the_matrix`, and a row whose level differs from the level the
view declares fails too. POSTs are made with CSRF enforced, with a token (a browser) and
without one (a forged post).
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.test import Client
from django.urls import URLPattern, reverse

from jobs.console import urls as console_urls
from jobs.console.access import ADMINISTER, OPERATE, VIEW
from jobs.models import Batch, BatchState, Job, RecurringJob, State
from tests.console import factories
from tests.console.factories import ROLES

pytestmark = pytest.mark.django_db

ALLOWED = {
    VIEW: {"viewer", "operator", "admin", "superuser"},
    OPERATE: {"operator", "admin", "superuser"},
    ADMINISTER: {"admin", "superuser"},
}


@dataclass
class Case:
    level: str
    method: str = "GET"
    # Makes what the request needs; returns the URL kwargs, and for POSTs the form data and a
    # check that says whether the action took effect.
    setup: Callable[[], dict] = lambda: {}
    # URL kwargs naming something that does not exist (None: the URL has no object).
    unknown: dict | None = None
    extra: dict = field(default_factory=dict)


def _job_in(state_factory):
    def setup():
        target = state_factory()
        return {"kwargs": {"job_id": target.pk}}

    return setup


# What a destructive action's confirmation page posts back (without it, the page is shown).
CONFIRMED = {"confirm": "yes"}


def _job_action(state_factory, expect, data=None):
    def setup():
        target = state_factory()
        return {"kwargs": {"job_id": target.pk}, "data": data,
                "effect": lambda: expect(Job.objects.get(pk=target.pk))}

    return setup


def _bulk():
    first, second = factories.failed(), factories.failed()
    return {
        "kwargs": {},
        "data": {"action": "requeue", "job": [str(first.pk), str(second.pk)]},
        "effect": lambda: set(Job.objects.filter(pk__in=[first.pk, second.pk]).values_list("state", flat=True))
        == {State.ENQUEUED},
    }


def _recurring(enabled=True):
    def setup():
        row = factories.recurring(enabled=enabled)
        return {"kwargs": {"recurring_id": row.pk}, "row": row}

    return setup


def _recurring_action(enabled, effect, data=None):
    def setup():
        row = factories.recurring(enabled=enabled)
        return {"kwargs": {"recurring_id": row.pk}, "data": data, "effect": lambda: effect(row)}

    return setup


def _batch():
    return {"kwargs": {"batch_id": factories.batch().pk}}


def _batch_cancel():
    target = factories.batch()
    return {
        "kwargs": {"batch_id": target.pk},
        "data": CONFIRMED,
        "effect": lambda: Batch.objects.get(pk=target.pk).state == BatchState.CANCELLED,
    }


def _dead_letter():
    """A dead letter in this session's dead-letter queue (tests/conftest.py names it)."""
    from tests.events.rabbit import dead_letter, queued_replay_of

    letter_id = dead_letter()
    return {"kwargs": {"dead_letter_id": letter_id}, "effect": lambda: queued_replay_of(letter_id)}


def _alert_action(expect):
    def setup():
        from jobs.models import Alert

        alert = factories.alert()
        return {
            "kwargs": {"alert_id": alert.pk},
            "data": {"reason": "Looking into it"},
            "effect": lambda: expect(Alert.objects.get(pk=alert.pk)),
        }

    return setup


UNKNOWN_JOB = {"job_id": uuid.UUID(int=1)}
UNKNOWN_BATCH = {"batch_id": uuid.UUID(int=2)}
UNKNOWN_RECURRING = {"recurring_id": "no-such-recurring-job"}

MATRIX = {
    "dashboard": Case(VIEW),
    "stats": Case(VIEW),
    "job_list": Case(VIEW, setup=lambda: {"kwargs": {"state": "failed"}}, unknown={"state": "exploded"}),
    "job_bulk": Case(OPERATE, "POST", setup=_bulk),
    "job_detail": Case(VIEW, setup=_job_in(factories.failed), unknown=UNKNOWN_JOB),
    "job_graph": Case(VIEW, setup=_job_in(factories.failed), unknown=UNKNOWN_JOB),
    "job_requeue": Case(
        OPERATE, "POST", setup=_job_action(factories.failed, lambda j: j.state == State.ENQUEUED), unknown=UNKNOWN_JOB
    ),
    "job_delete": Case(
        OPERATE, "POST", setup=_job_action(factories.enqueued, lambda j: j.state == State.DELETED, CONFIRMED),
        unknown=UNKNOWN_JOB
    ),
    "job_cancel": Case(
        OPERATE, "POST", setup=_job_action(factories.processing, lambda j: j.cancel_requested), unknown=UNKNOWN_JOB
    ),
    "retries": Case(VIEW),
    "recurring_list": Case(VIEW, setup=lambda: {"kwargs": {}, "row": factories.recurring()}),
    "recurring_detail": Case(VIEW, setup=_recurring(), unknown=UNKNOWN_RECURRING),
    "recurring_trigger": Case(
        OPERATE, "POST", unknown=UNKNOWN_RECURRING,
        setup=_recurring_action(True, lambda row: Job.objects.filter(recurring_job=row).exists()),
    ),
    "recurring_enable": Case(
        OPERATE, "POST", unknown=UNKNOWN_RECURRING,
        setup=_recurring_action(False, lambda row: RecurringJob.objects.get(pk=row.pk).enabled),
    ),
    "recurring_disable": Case(
        OPERATE, "POST", unknown=UNKNOWN_RECURRING,
        setup=_recurring_action(True, lambda row: not RecurringJob.objects.get(pk=row.pk).enabled),
    ),
    "recurring_remove": Case(
        ADMINISTER, "POST", unknown=UNKNOWN_RECURRING,
        setup=_recurring_action(True, lambda row: not RecurringJob.objects.filter(pk=row.pk).exists(), CONFIRMED),
    ),
    "servers": Case(VIEW, setup=lambda: {"kwargs": {}, "server": factories.server()}),
    "batch_list": Case(VIEW, setup=lambda: {"kwargs": {}, "batch": factories.batch()}),
    "batch_detail": Case(VIEW, setup=_batch, unknown=UNKNOWN_BATCH),
    "batch_graph": Case(VIEW, setup=_batch, unknown=UNKNOWN_BATCH),
    "batch_cancel": Case(OPERATE, "POST", setup=_batch_cancel, unknown=UNKNOWN_BATCH),
    "events": Case(VIEW),
    "event_replay": Case(OPERATE, "POST", setup=_dead_letter, unknown={"dead_letter_id": "no-such-dead-letter"}),
    "alert_list": Case(VIEW, setup=lambda: {"kwargs": {}, "alert": factories.alert()}),
    "alert_acknowledge": Case(
        OPERATE, "POST", setup=_alert_action(lambda a: a.acknowledged_at is not None), unknown={"alert_id": 999999}
    ),
    "alert_resolve": Case(
        OPERATE, "POST", setup=_alert_action(lambda a: a.resolved_at is not None), unknown={"alert_id": 999999}
    ),
}
POSTS = sorted(name for name, case in MATRIX.items() if case.method == "POST")
WITH_UNKNOWN = sorted(name for name, case in MATRIX.items() if case.unknown is not None)


def console_patterns() -> dict[str, URLPattern]:
    return {pattern.name: pattern for pattern in console_urls.urlpatterns}


def prepare(name):
    case = MATRIX[name]
    context = case.setup() or {}
    url = reverse(f"jobs_console:{name}", kwargs=context.get("kwargs") or {})
    return case, context, url


def request(client, case, context, url):
    if case.method == "GET":
        return client.get(url)
    return client.post_with_csrf(url, context.get("data") or {})


def took_effect(context) -> bool:
    return bool(context["effect"]())


def test_every_console_url_is_in_the_matrix():
    patterns = console_patterns()
    assert set(patterns) == set(MATRIX), (
        f"URLs without a matrix row: {sorted(set(patterns) - set(MATRIX))}; "
        f"rows without a URL: {sorted(set(MATRIX) - set(patterns))}"
    )
    for name, pattern in patterns.items():
        declared = getattr(pattern.callback, "console_level", None)
        assert declared == MATRIX[name].level, f"{name}: the view declares {declared!r}, the matrix {MATRIX[name].level!r}"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", sorted(MATRIX))
def test_access(client_for, name, role):
    case, context, url = prepare(name)
    response = request(client_for(role), case, context, url)
    if role == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login") + "?next=")
    elif role not in ALLOWED[case.level]:
        assert response.status_code == 403
    elif case.method == "GET":
        assert response.status_code == 200
    else:
        assert response.status_code == 302, response.content[:500]
    if case.method == "POST":
        assert took_effect(context) == (role in ALLOWED[case.level])


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", POSTS)
def test_forged_post_without_csrf_token_is_refused(client_for, name, role):
    case, context, url = prepare(name)
    forger = Client(enforce_csrf_checks=True)
    user = client_for(role).user
    if user is not None:
        forger.force_login(user)
    response = forger.post(url, context.get("data") or {})
    assert response.status_code == 403
    assert not took_effect(context)


@pytest.mark.parametrize("name", POSTS)
def test_get_on_an_action_is_405_and_changes_nothing(client_for, name):
    case, context, url = prepare(name)
    response = client_for("admin").get(url)
    assert response.status_code == 405
    assert not took_effect(context)


@pytest.mark.parametrize("name", WITH_UNKNOWN)
def test_unknown_objects_are_404(client_for, name):
    case = MATRIX[name]
    url = reverse(f"jobs_console:{name}", kwargs=case.unknown)
    response = request(client_for("superuser"), case, {}, url)
    assert response.status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/admin/jobs/job/not-a-uuid/",
        "/admin/jobs/job/1234/graph/",
        "/admin/jobs/job/../../etc/passwd/",
        "/admin/jobs/batch/zzz/",
        "/admin/jobs/recurring/bad%20id/",
    ],
)
def test_malformed_ids_are_404(client_for, path):
    assert client_for("superuser").get(path).status_code == 404


@pytest.mark.parametrize("path", ["/admin/jobs/job/not-a-uuid/requeue/", "/admin/jobs/batch/1/cancel/"])
def test_malformed_ids_in_actions_are_404(client_for, path):
    assert client_for("superuser").post_with_csrf(path).status_code == 404


@pytest.mark.parametrize(
    "data",
    [
        {"action": "requeue", "job": ["not-a-uuid"]},
        {"action": "drop-table", "job": ["{job}"]},
        {"action": "requeue"},
        {"action": "requeue", "job": [str(uuid.uuid4()) for _ in range(501)]},
    ],
    ids=["bad-id", "bad-action", "no-jobs", "too-many"],
)
def test_malformed_bulk_posts_are_400_and_change_nothing(client_for, data):
    target = factories.failed()
    data = {key: [v.format(job=target.pk) for v in value] if isinstance(value, list) else value
            for key, value in data.items()}
    response = client_for("operator").post_with_csrf(reverse("jobs_console:job_bulk"), data)
    assert response.status_code == 400
    assert Job.objects.get(pk=target.pk).state == State.FAILED


def test_next_cannot_send_people_off_site(client_for):
    target = factories.failed()
    response = client_for("operator").post_with_csrf(
        reverse("jobs_console:job_requeue", args=[target.pk]), {"next": "https://evil.example/"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("jobs_console:job_detail", args=[target.pk])


ADMIN_DOORS = {
    "jobs/job/": ("jobs_console:job_list", ["enqueued"]),
    "jobs/batch/": ("jobs_console:batch_list", []),
    "jobs/recurringjob/": ("jobs_console:recurring_list", []),
    "jobs/server/": ("jobs_console:servers", []),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("path", sorted(ADMIN_DOORS))
def test_admin_model_pages_lead_into_the_console(client_for, path, role):
    response = client_for(role).get(f"/admin/{path}")
    if role == "anonymous":
        assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
    elif role == "no_role":
        assert response.status_code == 403
    else:
        name, args = ADMIN_DOORS[path]
        assert response.status_code == 302 and response["Location"] == reverse(name, args=args)


def test_admin_object_page_leads_to_the_console_detail(client_for):
    target = factories.failed()
    response = client_for("viewer").get(f"/admin/jobs/job/{target.pk}/change/")
    assert response.status_code == 302
    assert response["Location"] == reverse("jobs_console:job_detail", args=[target.pk])


@pytest.mark.parametrize("object_id", ["not-a-uuid", str(uuid.UUID(int=3))])
def test_admin_object_page_of_an_unknown_job_is_404(client_for, object_id):
    assert client_for("viewer").get(f"/admin/jobs/job/{object_id}/change/").status_code == 404


def test_admin_index_links_to_the_console_for_roles_only(client_for):
    console = reverse("jobs_console:dashboard")
    assert console in client_for("viewer").get(reverse("admin:index")).content.decode()
    page = client_for("no_role").get(reverse("admin:index"))
    assert page.status_code == 200 and 'id="jobs-console-link"' not in page.content.decode()
