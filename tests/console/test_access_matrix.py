"""Every console URL and action × every permission alone, and × every role: the status code
and whether anything changed.

The matrix is checked against jobs.console.urls itself: a URL added without a row here fails
`test_every_console_url_is_in_the_matrix`, and a row whose permission differs from the one the
view declares fails too. Each of the console's permissions is tried alone (staff in a custom
group holding only it): it opens exactly the rows that name it. The three roles are groups
preset with permissions (jobs.permissions.ROLES): they open the rows their preset names. POSTs
are made with CSRF enforced, with a token (a browser) and without one (a forged post).
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.test import Client
from django.urls import URLPattern, reverse
from django.utils import timezone

from jobs import permissions as p
from jobs.console import urls as console_urls
from jobs.models import Batch, BatchState, Job, QueuePause, RecurringJob, State
from tests.console import factories
from tests.console.factories import ROLES

pytestmark = pytest.mark.django_db

# What each role's group holds; the superuser holds everything.
ROLE_PERMISSIONS = {
    "anonymous": set(),
    "no_role": set(),
    "viewer": set(p.ROLES["Jobs viewer"]),
    "operator": set(p.ROLES["Jobs operator"]),
    "admin": set(p.ROLES["Admin"]),
    "superuser": set(p.CODENAMES),
}


@dataclass
class Case:
    permission: str
    method: str = "GET"
    # Makes what the request needs; returns the URL kwargs, and for POSTs the form data and a
    # check that says whether the action took effect.
    setup: Callable[[], dict] = lambda: {}
    # URL kwargs naming something that does not exist (None: the URL has no object).
    unknown: dict | None = None
    # The URL name, when it differs from the row's (one URL, two rows: the bulk form's actions).
    url_name: str = ""
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
        return {
            "kwargs": {"job_id": target.pk},
            "data": data,
            "effect": lambda: expect(Job.objects.get(pk=target.pk)),
        }

    return setup


def _bulk(action, expected_state, data=None):
    def setup():
        first, second = factories.failed(), factories.failed()
        return {
            "kwargs": {},
            "data": {"action": action, "job": [str(first.pk), str(second.pk)], **(data or {})},
            "effect": lambda: (
                set(Job.objects.filter(pk__in=[first.pk, second.pk]).values_list("state", flat=True))
                == {expected_state}
            ),
        }

    return setup


def _matching(action, state_factory, expect):
    """Select all matching, confirmed: the selection token as the confirmation page carries it,
    and the list it came from (without confirm=yes the same post shows the confirmation page)."""

    def setup():
        from jobs.console import matching

        first, second = state_factory(), state_factory()
        rows = [(job.pk, job.state) for job in (first, second)]
        the_list = {"scope": f"state:{first.state}", "task": first.task_path}
        return {
            "kwargs": {},
            "data": {
                "action": action,
                **the_list,
                "selection": matching.Selection(action, rows).encode(),
                **CONFIRMED,
            },
            "effect": lambda: all(expect(Job.objects.get(pk=job.pk)) for job in (first, second)),
        }

    return setup


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


def _queue_pause():
    return {
        "kwargs": {"queue": "low-priority"},
        "data": {"reason": "month-end run"},
        "effect": lambda: QueuePause.objects.filter(queue="low-priority").exists(),
    }


def _queue_resume():
    QueuePause.objects.create(queue="low-priority", reason="month-end run", paused_at=timezone.now())
    return {
        "kwargs": {"queue": "low-priority"},
        "effect": lambda: not QueuePause.objects.filter(queue="low-priority").exists(),
    }


UNKNOWN_QUEUE = {"queue": "no-such-queue"}


def _failure_group(expected_state):
    """A failure group of two failed jobs; the action (confirmed) moves both to `expected_state`."""

    def setup():
        jobs = [factories.failed(message=f"Invoice {n} not found") for n in (1, 2)]
        ids = [j.pk for j in jobs]
        return {
            "kwargs": {"group": jobs[0].failure_group},
            "data": CONFIRMED,
            "effect": lambda: (
                set(Job.objects.filter(pk__in=ids).values_list("state", flat=True)) == {expected_state}
            ),
        }

    return setup


UNKNOWN_GROUP = {"group": "0" * 24}

MATRIX = {
    "dashboard": Case(p.VIEW_JOBS),
    "stats": Case(p.VIEW_JOBS),
    "queue_list": Case(p.VIEW_JOBS),
    "queue_pause": Case(p.PAUSE_QUEUES, "POST", setup=_queue_pause, unknown=UNKNOWN_QUEUE),
    "queue_resume": Case(p.PAUSE_QUEUES, "POST", setup=_queue_resume, unknown=UNKNOWN_QUEUE),
    "job_list": Case(
        p.VIEW_JOBS, setup=lambda: {"kwargs": {"state": "failed"}}, unknown={"state": "exploded"}
    ),
    "job_list_live": Case(
        p.VIEW_JOBS,
        setup=lambda: {"kwargs": {"state": "processing"}, "job": factories.processing()},
        unknown={"state": "exploded"},
    ),
    "job_bulk": Case(p.RETRY_JOBS, "POST", setup=_bulk("requeue", State.ENQUEUED)),
    "job_bulk:delete": Case(
        p.DELETE_JOBS, "POST", setup=_bulk("delete", State.DELETED, CONFIRMED), url_name="job_bulk"
    ),
    "job_matching": Case(
        p.RETRY_JOBS,
        "POST",
        setup=_matching("requeue", factories.failed, lambda j: j.state == State.ENQUEUED),
    ),
    "job_matching:delete": Case(
        p.DELETE_JOBS,
        "POST",
        setup=_matching("delete", factories.failed, lambda j: j.state == State.DELETED),
        url_name="job_matching",
    ),
    "job_matching:cancel": Case(
        p.CANCEL_JOBS,
        "POST",
        setup=_matching("cancel", factories.processing, lambda j: j.cancel_requested),
        url_name="job_matching",
    ),
    "job_detail": Case(p.VIEW_JOBS, setup=_job_in(factories.failed), unknown=UNKNOWN_JOB),
    "job_graph": Case(p.VIEW_JOBS, setup=_job_in(factories.failed), unknown=UNKNOWN_JOB),
    "job_live": Case(p.VIEW_JOBS, setup=_job_in(factories.processing), unknown=UNKNOWN_JOB),
    "job_arguments": Case(p.VIEW_ARGUMENTS, setup=_job_in(factories.failed), unknown=UNKNOWN_JOB),
    "job_requeue": Case(
        p.RETRY_JOBS,
        "POST",
        setup=_job_action(factories.failed, lambda j: j.state == State.ENQUEUED),
        unknown=UNKNOWN_JOB,
    ),
    "job_delete": Case(
        p.DELETE_JOBS,
        "POST",
        setup=_job_action(factories.enqueued, lambda j: j.state == State.DELETED, CONFIRMED),
        unknown=UNKNOWN_JOB,
    ),
    "job_cancel": Case(
        p.CANCEL_JOBS,
        "POST",
        setup=_job_action(factories.processing, lambda j: j.cancel_requested),
        unknown=UNKNOWN_JOB,
    ),
    "retries": Case(p.VIEW_JOBS),
    "performance": Case(p.VIEW_JOBS),
    "failure_groups": Case(p.VIEW_JOBS),
    "failure_group_retry": Case(
        p.RETRY_JOBS, "POST", setup=_failure_group(State.ENQUEUED), unknown=UNKNOWN_GROUP
    ),
    "failure_group_delete": Case(
        p.DELETE_JOBS, "POST", setup=_failure_group(State.DELETED), unknown=UNKNOWN_GROUP
    ),
    "recurring_list": Case(p.VIEW_JOBS, setup=lambda: {"kwargs": {}, "row": factories.recurring()}),
    "recurring_detail": Case(p.VIEW_JOBS, setup=_recurring(), unknown=UNKNOWN_RECURRING),
    "recurring_trigger": Case(
        p.TRIGGER_RECURRING,
        "POST",
        unknown=UNKNOWN_RECURRING,
        setup=_recurring_action(True, lambda row: Job.objects.filter(recurring_job=row).exists()),
    ),
    "recurring_enable": Case(
        p.TOGGLE_RECURRING,
        "POST",
        unknown=UNKNOWN_RECURRING,
        setup=_recurring_action(False, lambda row: RecurringJob.objects.get(pk=row.pk).enabled),
    ),
    "recurring_disable": Case(
        p.TOGGLE_RECURRING,
        "POST",
        unknown=UNKNOWN_RECURRING,
        setup=_recurring_action(True, lambda row: not RecurringJob.objects.get(pk=row.pk).enabled),
    ),
    "recurring_remove": Case(
        p.REMOVE_RECURRING,
        "POST",
        unknown=UNKNOWN_RECURRING,
        setup=_recurring_action(
            True, lambda row: not RecurringJob.objects.filter(pk=row.pk).exists(), CONFIRMED
        ),
    ),
    "servers": Case(p.VIEW_JOBS, setup=lambda: {"kwargs": {}, "server": factories.server()}),
    "batch_list": Case(p.VIEW_JOBS, setup=lambda: {"kwargs": {}, "batch": factories.batch()}),
    "batch_detail": Case(p.VIEW_JOBS, setup=_batch, unknown=UNKNOWN_BATCH),
    "batch_graph": Case(p.VIEW_JOBS, setup=_batch, unknown=UNKNOWN_BATCH),
    "batch_cancel": Case(p.CANCEL_BATCHES, "POST", setup=_batch_cancel, unknown=UNKNOWN_BATCH),
    "audit": Case(p.VIEW_JOBS),
    "events": Case(p.VIEW_JOBS),
    "event_replay": Case(
        p.RETRY_JOBS, "POST", setup=_dead_letter, unknown={"dead_letter_id": "no-such-dead-letter"}
    ),
    "alert_list": Case(p.VIEW_JOBS, setup=lambda: {"kwargs": {}, "alert": factories.alert()}),
    "alert_acknowledge": Case(
        p.MANAGE_ALERTS,
        "POST",
        setup=_alert_action(lambda a: a.acknowledged_at is not None),
        unknown={"alert_id": 999999},
    ),
    "alert_resolve": Case(
        p.MANAGE_ALERTS,
        "POST",
        setup=_alert_action(lambda a: a.resolved_at is not None),
        unknown={"alert_id": 999999},
    ),
}
POSTS = sorted(name for name, case in MATRIX.items() if case.method == "POST")
WITH_UNKNOWN = sorted(name for name, case in MATRIX.items() if case.unknown is not None)


def url_name(name: str) -> str:
    return MATRIX[name].url_name or name


def console_patterns() -> dict[str, URLPattern]:
    return {pattern.name: pattern for pattern in console_urls.urlpatterns}


def prepare(name):
    case = MATRIX[name]
    context = case.setup() or {}
    url = reverse(f"jobs_console:{url_name(name)}", kwargs=context.get("kwargs") or {})
    return case, context, url


def request(client, case, context, url):
    if case.method == "GET":
        return client.get(url)
    return client.post_with_csrf(url, context.get("data") or {})


def took_effect(context) -> bool:
    return bool(context["effect"]())


def declared_permission(name: str) -> str:
    """What the view behind row `name` says it needs: one permission, or one per bulk action."""
    declared = getattr(console_patterns()[url_name(name)].callback, "console_permission", None)
    if isinstance(declared, dict):
        # "job_bulk" posts action=requeue, "job_bulk:delete" action=delete.
        action = name.partition(":")[2] or "requeue"
        return declared.get(action, f"<no permission for action={action!r}>")
    return declared


def test_every_console_url_is_in_the_matrix():
    patterns = console_patterns()
    rows = {url_name(name) for name in MATRIX}
    assert set(patterns) == rows, (
        f"URLs without a matrix row: {sorted(set(patterns) - rows)}; rows without a URL: {sorted(rows - set(patterns))}"
    )
    for name, case in MATRIX.items():
        assert declared_permission(name) == case.permission, (
            f"{name}: the view declares {declared_permission(name)!r}, the matrix {case.permission!r}"
        )


def test_every_permission_is_a_declared_django_permission():
    from django.contrib.auth.models import Permission

    from jobs import roles

    roles.ensure_roles()
    stored = set(
        Permission.objects.filter(content_type__app_label="jobs", content_type__model="job").values_list(
            "codename", flat=True
        )
    )
    assert set(p.CODENAMES) <= stored
    assert {"view_console", "operate_jobs", "administer_jobs"}.isdisjoint(stored)


def check(response, case, context, allowed: bool, *, anonymous=False):
    if anonymous:
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login") + "?next=")
    elif not allowed:
        assert response.status_code == 403
    elif case.method == "GET":
        assert response.status_code == 200
    else:
        assert response.status_code == 302, response.content[:500]
    if case.method == "POST":
        assert took_effect(context) == allowed


def refused_then_allowed(principals, allowed: set) -> list:
    """The refused first, then the allowed: a POST row's one setup shows no effect until an
    allowed principal posts (each allowed one after the first needs a fresh setup)."""
    return [x for x in principals if x not in allowed] + [x for x in principals if x in allowed]


# One setup per row serves every refused principal (the guard answers before the object is
# read, and nothing may change), so the matrix stays fast while covering every cell.
@pytest.mark.parametrize("name", sorted(MATRIX))
def test_each_permission_alone(client_with, name):
    case, context, url = prepare(name)
    for permission in refused_then_allowed(p.CODENAMES, {case.permission}):
        response = request(client_with(permission), case, context, url)
        check(response, case, context, allowed=permission == case.permission)


def allowed_roles(name) -> list:
    return [role for role in ROLES if MATRIX[name].permission in ROLE_PERMISSIONS[role]]


# A page: every role on one setup. An action: every refused role, then one allowed role (its
# effect shows once), so each allowed role has its own case.
ROLE_CASES = [(name, None) for name in sorted(MATRIX) if MATRIX[name].method == "GET"] + [
    (name, role) for name in POSTS for role in allowed_roles(name)
]


@pytest.mark.parametrize(("name", "allowed_role"), ROLE_CASES)
def test_access_by_role(client_for, name, allowed_role):
    case, context, url = prepare(name)
    allowed = set(allowed_roles(name))
    if allowed_role is None:
        tried = refused_then_allowed(ROLES, allowed)
    else:
        tried = [role for role in ROLES if role not in allowed] + [allowed_role]
    for role in tried:
        response = request(client_for(role), case, context, url)
        check(response, case, context, allowed=role in allowed, anonymous=role == "anonymous")


@pytest.mark.parametrize("name", POSTS)
def test_forged_post_without_csrf_token_is_refused(client_for, name):
    case, context, url = prepare(name)
    for role in ROLES:
        forger = Client(enforce_csrf_checks=True)
        user = client_for(role).user
        if user is not None:
            forger.force_login(user)
        response = forger.post(url, context.get("data") or {})
        assert response.status_code == 403, role
        assert not took_effect(context), role


@pytest.mark.parametrize("name", POSTS)
def test_get_on_an_action_is_405_and_changes_nothing(client_for, name):
    case, context, url = prepare(name)
    response = client_for("admin").get(url)
    assert response.status_code == 405
    assert not took_effect(context)


@pytest.mark.parametrize("name", WITH_UNKNOWN)
def test_unknown_objects_are_404(client_for, name):
    case = MATRIX[name]
    url = reverse(f"jobs_console:{url_name(name)}", kwargs=case.unknown)
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
    data = {
        key: [v.format(job=target.pk) for v in value] if isinstance(value, list) else value
        for key, value in data.items()
    }
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
