"""The console's roles, as groups created idempotently after every migrate.

Jobs viewer sees everything and changes nothing; Jobs operator may also act on jobs (requeue,
retry, delete, cancel, trigger, enable/disable); Admin (the role of the old Hangfire dashboard's
authorization filter) may do everything. Pages and actions check the permissions themselves.
"""

from django.apps import apps as global_apps
from django.db.models.signals import post_migrate
from django.dispatch import receiver

ROLES = {
    "Jobs viewer": ["view_console"],
    "Jobs operator": ["view_console", "operate_jobs"],
    "Admin": ["view_console", "operate_jobs", "administer_jobs"],
}


def ensure_roles(using="default", apps=global_apps):
    """Create the groups and their permissions. `apps`: the migration state's models when
    called from post_migrate (`migrate jobs` alone may leave contenttypes half migrated, where
    today's ContentType model does not fit the table yet), the live registry otherwise."""
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
    declared = dict(global_apps.get_model("jobs", "Job")._meta.permissions)
    for name, codenames in ROLES.items():
        group, _ = Group.objects.using(using).get_or_create(name=name)
        permissions = []
        for codename in codenames:
            permission, _ = Permission.objects.using(using).get_or_create(
                content_type=content_type,
                codename=codename,
                defaults={"name": declared.get(codename, codename.replace("_", " ").capitalize())},
            )
            permissions.append(permission)
        group.permissions.add(*permissions)


@receiver(post_migrate)
def create_roles(sender, app_config=None, using="default", apps=global_apps, **kwargs):
    if app_config is not None and app_config.label == "jobs":
        ensure_roles(using, apps)
