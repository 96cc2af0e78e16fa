"""Jobs, batches, recurring jobs and users for the console's tests, made through the engine.

Jobs reach their states the way they do in production: enqueued with django.tasks, claimed
with the broker's claim and performed in this process (tests/jobs/helpers.py), or acted on
through jobs.api. Nothing here writes a state with an UPDATE.
"""

import uuid
from datetime import timedelta

from django.contrib.auth.models import Group, User
from django.utils import timezone

import jobs.api
from jobs import roles
from jobs.models import Batch, Job, Server
from jobs.server.broker import claim_jobs
from jobs.server.runner import perform
from tests.jobs.helpers import QUEUES
from tests.testapp import tasks

ROLE_GROUPS = {
    "viewer": "Jobs viewer",
    "operator": "Jobs operator",
    "admin": "Admin",
}
# Who the access matrix checks, weakest first.
ROLES = ("anonymous", "no_role", "viewer", "operator", "admin", "superuser")


def make_user_with(*codenames: str, group_name: str | None = None) -> User:
    """Staff in a custom group holding exactly `codenames` (jobs.permissions), as an admin would make one."""
    from django.contrib.auth.models import Permission

    roles.ensure_roles()
    group = Group.objects.create(name=group_name or f"custom-{uuid.uuid4().hex[:8]}")
    group.permissions.add(*Permission.objects.filter(content_type__app_label="jobs", codename__in=codenames))
    user = User.objects.create_user(username=f"custom-{uuid.uuid4().hex[:6]}", is_staff=True)
    user.groups.add(group)
    return user


def make_user(role: str, password: str | None = None) -> User | None:
    """A user for `role`: None (anonymous), staff without a group, a member of a role's group.

    Without a password the user can only be logged in with force_login (hashing one costs
    most of a second; the access matrix makes hundreds of users).
    """
    if role == "anonymous":
        return None
    roles.ensure_roles()
    user = User.objects.create_user(
        username=f"{role}-{uuid.uuid4().hex[:6]}",
        password=password,
        is_staff=True,
        is_superuser=role == "superuser",
    )
    if role in ROLE_GROUPS:
        user.groups.add(Group.objects.get(name=ROLE_GROUPS[role]))
    return user


def job(pk) -> Job:
    return Job.objects.get(pk=pk)


def _arguments(task, args) -> tuple:
    """The arguments given, else add's (1, 2): other tasks' arguments must fit them."""
    return args or ((1, 2) if task is tasks.add else ())


def enqueued(task=tasks.add, *args) -> Job:
    return job(task.enqueue(*_arguments(task, args)).id)


def scheduled(task=tasks.add, *args, delay=timedelta(hours=1)) -> Job:
    return job(task.using(run_after=timezone.now() + delay).enqueue(*_arguments(task, args)).id)


def _claim_only(target: Job) -> str:
    """Claim until `target` is the one claimed (others go back untouched: they are the only ones)."""
    rows = claim_jobs(None, QUEUES, 1)
    assert rows and rows[0][0] == target.pk, "a test job was claimed out of order"
    return str(rows[0][1])


def run(target: Job) -> Job:
    """Claim and perform `target` here, as a worker would."""
    token = _claim_only(target)
    perform(str(target.pk), token)
    return job(target.pk)


def processing(task=tasks.add, *args) -> Job:
    target = enqueued(task, *args)
    _claim_only(target)
    return job(target.pk)


def succeeded(task=tasks.add, *args) -> Job:
    return run(enqueued(task, *args))


def failed(key=None, message="boom") -> Job:
    """A job that failed with no retries left (state Failed, with its exception)."""
    return run(enqueued(tasks.fail_once, key or uuid.uuid4().hex, message))


def awaiting_retry(key=None) -> Job:
    """A job whose first attempt failed and whose retry is scheduled (Scheduled, attempt 1)."""
    return run(enqueued(tasks.fail_times, key or uuid.uuid4().hex, 5))


def deleted() -> Job:
    target = enqueued()
    jobs.api.delete(target.pk)
    return job(target.pk)


def awaiting(parent: Job | None = None) -> Job:
    parent = parent or enqueued()
    return job(jobs.api.continue_with(parent.pk, tasks.add, 3, 4).id)


def batch(description="Console batch", size=3):
    with jobs.api.batch(description) as builder:
        for index in range(size):
            builder.enqueue(tasks.add, index, index)
        builder.then(tasks.noop)
    return Batch.objects.get(pk=builder.id)


def recurring(id="console-probe", *, enabled=True, cron="0 6 1 * *"):
    from jobs.recurring import add_or_update

    return add_or_update(id, tasks.record, cron, args=[f"recurring-{uuid.uuid4().hex[:8]}"], enabled=enabled)


def server(id="console-server", *, heartbeat_age=0.0, status="running") -> Server:
    now = timezone.now()
    return Server.objects.create(
        id=id,
        host="console-host",
        pid=4242,
        queues=QUEUES,
        worker_count=2,
        worker_pids=[1, 2],
        status=status,
        started_at=now - timedelta(hours=1),
        heartbeat_at=now - timedelta(seconds=heartbeat_age),
    )


def alert(kind="max_duration", subject="tests.testapp.tasks.add", value=12.0, threshold=5.0):
    """An open SLA alert, as a check of jobs.sla opens it."""
    from jobs import sla

    now = timezone.now()
    sla.apply_findings([sla.Finding(kind, subject, value, threshold)], now)
    from jobs.models import Alert

    return Alert.objects.get(kind=kind, subject=subject, resolved_at__isnull=True)
