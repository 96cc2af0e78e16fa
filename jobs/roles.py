"""The console's roles, as groups created after every migrate when they are missing.

Jobs viewer sees everything and changes nothing; Jobs operator may also act on jobs, recurring
jobs, batches, queues and alerts; Admin may do everything. The presets are in
jobs.permissions.ROLES. A group that exists already is left as an admin made it: taking a
permission away from "Jobs operator" sticks across deploys. Pages and actions check the
permissions themselves, never the group.
"""

from django.apps import apps as global_apps
from django.db.models.signals import post_migrate
from django.dispatch import receiver

from jobs.permissions import DECLARED, ROLES


def ensure_roles(using="default", apps=global_apps):
    """Create the permissions, and the groups that do not exist yet with their presets. `apps`:
    the migration state's models when called from post_migrate (`migrate jobs` alone may leave
    contenttypes half migrated, where today's ContentType model does not fit the table yet), the
    live registry otherwise."""
    try:
        ContentType = apps.get_model("contenttypes", "ContentType")
        Group = apps.get_model("auth", "Group")
        Permission = apps.get_model("auth", "Permission")
    except LookupError:
        return
    # get_or_create, not get_for_model: its cache may name a content type that a flush just
    # removed (TransactionTestCase).
    content_type, _ = ContentType.objects.using(using).get_or_create(app_label="jobs", model="job")
    # The names declared on Job.Meta, so whichever post_migrate handler runs first (ours or
    # auth's create_permissions) writes the same permission.
    permissions = {}
    for codename, name in DECLARED:
        permissions[codename], _ = Permission.objects.using(using).get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )
    for group_name, codenames in ROLES.items():
        group, created = Group.objects.using(using).get_or_create(name=group_name)
        if created:
            group.permissions.add(*(permissions[codename] for codename in codenames))


@receiver(post_migrate)
def create_roles(sender, app_config=None, using="default", apps=global_apps, **kwargs):
    if app_config is not None and app_config.label == "jobs":
        ensure_roles(using, apps)
