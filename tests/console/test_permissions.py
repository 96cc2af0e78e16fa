"""Per-action permissions: the data migration keeps everyone's access, custom groups work,
and the presets of an existing role group survive the next migrate."""

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from jobs import permissions, roles
from jobs.models import Job, State
from tests.console import factories

BEFORE = [("jobs", "0012_server_status_cancel_reason_choices")]
AFTER = [("jobs", "0013_per_action_permissions")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def _codenames(queryset) -> set:
    return set(queryset.filter(content_type__app_label="jobs").values_list("codename", flat=True))


@pytest.fixture
def back_to_latest_afterwards():
    """The tests after this one need every migration applied again (0014's audit tables too)."""
    yield
    executor = MigrationExecutor(connection)
    _migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_migration_gives_holders_of_the_old_permissions_the_new_ones(back_to_latest_afterwards):
    _migrate(BEFORE)
    # Only jobs goes back: auth's and contenttypes' tables are today's, so their models are too.
    from django.contrib.contenttypes.models import ContentType

    content_type, _ = ContentType.objects.get_or_create(app_label="jobs", model="job")
    old = {
        codename: Permission.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": codename}
        )[0]
        for codename in ("view_console", "operate_jobs", "administer_jobs")
    }
    Group.objects.filter(name__in=permissions.ROLES).delete()
    support = Group.objects.create(name="Support desk")
    support.permissions.add(old["operate_jobs"])
    direct = User.objects.create(username="direct-viewer", is_staff=True)
    direct.user_permissions.add(old["view_console"])

    _migrate(AFTER)

    assert _codenames(Group.objects.get(name="Support desk").permissions) == set(
        permissions.ROLES["Jobs operator"]
    )
    assert _codenames(User.objects.get(username="direct-viewer").user_permissions) == {permissions.VIEW_JOBS}
    for name, preset in permissions.ROLES.items():
        assert _codenames(Group.objects.get(name=name).permissions) == set(preset)
    assert not Permission.objects.filter(codename__in=list(old)).exists()


@pytest.mark.django_db
def test_a_custom_group_may_retry_and_may_not_delete(client_with):
    client = client_with(permissions.VIEW_JOBS, permissions.RETRY_JOBS)
    target = factories.failed()
    page = client.get(reverse("jobs_console:job_detail", args=[target.pk])).content.decode()
    assert 'value="requeue"' in page and 'value="delete"' not in page
    listing = client.get(reverse("jobs_console:job_list", args=["failed"])).content.decode()
    assert 'name="action" value="requeue"' in listing and 'name="action" value="delete"' not in listing

    delete = client.post_with_csrf(reverse("jobs_console:job_delete", args=[target.pk]))
    assert delete.status_code == 403 and Job.objects.get(pk=target.pk).state == State.FAILED
    bulk_delete = client.post_with_csrf(
        reverse("jobs_console:job_bulk"), {"action": "delete", "job": [str(target.pk)]}
    )
    assert bulk_delete.status_code == 403 and Job.objects.get(pk=target.pk).state == State.FAILED
    requeue = client.post_with_csrf(reverse("jobs_console:job_requeue", args=[target.pk]))
    assert requeue.status_code == 302 and Job.objects.get(pk=target.pk).state == State.ENQUEUED


@pytest.mark.django_db
def test_a_role_group_an_admin_changed_stays_changed():
    roles.ensure_roles()
    operator = Group.objects.get(name="Jobs operator")
    operator.permissions.remove(
        Permission.objects.get(content_type__app_label="jobs", codename="delete_jobs")
    )
    roles.ensure_roles()
    assert "delete_jobs" not in _codenames(operator.permissions)


@pytest.mark.django_db
def test_recurring_buttons_follow_their_own_permissions(client_with):
    row = factories.recurring()
    page = (
        client_with(permissions.VIEW_JOBS, permissions.TOGGLE_RECURRING)
        .get(reverse("jobs_console:recurring_detail", args=[row.pk]))
        .content.decode()
    )
    assert 'value="disable"' in page
    assert 'value="trigger"' not in page and 'value="remove"' not in page
