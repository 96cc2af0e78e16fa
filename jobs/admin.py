"""The admin's entries for the engine's tables point into the job console.

The console *is* the admin of jobs: lists that stay fast with a million rows, actions through
jobs.api, roles. So these ModelAdmins are read-only doors: the admin index shows Jobs, Batches,
Recurring jobs and Servers to people with a console role, and each list or object page
redirects to its console page. Nothing here can add, change or delete a row. On the admin
index the console's own "Background jobs" module (templates/admin/index.html) takes the place
of this app's entry, so the jobs are listed once.

django-q2's own admin models are unregistered: our broker never reads its Schedule, OrmQ,
Success or Failure tables, so a schedule added there would never run.
"""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.urls import path, reverse

from jobs.console import access
from jobs.models import Batch, Job, RecurringJob, Server

# The admin's branding: the product's name, not "Django administration".
admin.site.site_header = "Dhanman"
admin.site.site_title = "Dhanman"
admin.site.index_title = "Administration"


def _unregister_django_q_admin():
    """Import django-q2's admin (it registers its models at import, whatever the app order) and
    take its models out again."""
    import django_q.admin  # noqa: F401
    from django_q.models import Failure, OrmQ, Schedule, Success

    for model in (Schedule, Success, Failure, OrmQ):
        if admin.site.is_registered(model):
            admin.site.unregister(model)


_unregister_django_q_admin()


class ConsoleDoor(admin.ModelAdmin):
    # (URL name, *args) of the console's list, and the URL name of its detail page.
    console_list: tuple = ()
    console_detail = ""

    def has_module_permission(self, request):
        # Listed in the admin's navigation sidebar; the index page lists the console's own module
        # instead of this app (templates/admin/index.html), so the jobs appear there once.
        return access.can_view(request.user)

    def has_view_permission(self, request, obj=None):
        return access.can_view(request.user)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request, action_location=None):
        return {}

    def get_urls(self):
        # Only the list and the object page, both redirects. Without the admin's catch-all
        # "<path:object_id>/" a malformed id under /admin/jobs/job/ is a plain 404, and
        # /admin/jobs/job/<uuid>/ is the console's job page.
        info = self.opts.app_label, self.opts.model_name
        wrap = self.admin_site.admin_view
        return [
            path("", wrap(self.changelist_view), name="{}_{}_changelist".format(*info)),
            path("<path:object_id>/change/", wrap(self.change_view), name="{}_{}_change".format(*info)),
        ]

    def changelist_view(self, request, extra_context=None):
        self._check(request)
        return redirect(reverse(self.console_list[0], args=self.console_list[1:]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        self._check(request)
        if not self.console_detail:
            return redirect(reverse(self.console_list[0], args=self.console_list[1:]))
        obj = self.get_object(request, object_id)
        if obj is None:  # unknown or malformed id: a 404, like the console's own pages
            raise Http404(f"There is no {self.opts.verbose_name} {object_id!r}.")
        return redirect(reverse(self.console_detail, args=[obj.pk]))

    def _check(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied


@admin.register(Job)
class JobAdmin(ConsoleDoor):
    console_list = ("jobs_console:job_list", "enqueued")
    console_detail = "jobs_console:job_detail"


@admin.register(Batch)
class BatchAdmin(ConsoleDoor):
    console_list = ("jobs_console:batch_list",)
    console_detail = "jobs_console:batch_detail"


@admin.register(RecurringJob)
class RecurringJobAdmin(ConsoleDoor):
    console_list = ("jobs_console:recurring_list",)
    console_detail = "jobs_console:recurring_detail"


@admin.register(Server)
class ServerAdmin(ConsoleDoor):
    console_list = ("jobs_console:servers",)
