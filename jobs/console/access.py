"""Who may see and do what in the console, checked by every page and action itself.

Each page and action names the one permission it needs (jobs.permissions): `view_jobs` for the
pages, `retry_jobs` for requeue, `delete_jobs` for delete, and so on. Nothing includes anything
else: a group with `retry_jobs` alone may requeue but not see a page, so a useful custom group
holds `view_jobs` too. A superuser holds them all. Only active staff get that far: like the
admin, anyone else is sent to the admin's login page. Staff without the permission get 403, so
a console URL never reveals more than its existence.
"""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_POST

from jobs.permissions import CODENAMES, VIEW_JOBS, qualified


def is_console_user(user) -> bool:
    """Active staff: the people the admin lets in at all."""
    return bool(user.is_authenticated and user.is_active and user.is_staff)


def may(user, codename: str) -> bool:
    """Whether `user` holds the console permission `codename` (and may use the console at all)."""
    return is_console_user(user) and user.has_perm(qualified(codename))


def can_view(user) -> bool:
    return may(user, VIEW_JOBS)


class Permissions:
    """`perms.retry_jobs` in templates: the console's own check, staff included, one lookup each."""

    def __init__(self, user):
        self._user = user

    def __getattr__(self, codename):
        if codename not in CODENAMES:
            raise AttributeError(codename)
        return may(self._user, codename)


def _check(codename: str) -> str:
    if codename not in CODENAMES:
        raise ImproperlyConfigured(
            f"{codename!r} is not a console permission; name one of jobs.permissions.CODENAMES."
        )
    return codename


def _guard(view, needed):
    """`needed(request)` -> the permission this request needs (an action may depend on the form)."""

    @wraps(view)
    def guarded(request, *args, **kwargs):
        if not is_console_user(request.user):
            return redirect_to_login(request.get_full_path(), reverse("admin:login"))
        codename = needed(request)
        if not may(request.user, codename):
            raise PermissionDenied(f"This needs the {qualified(codename)} permission.")
        response = view(request, *args, **kwargs)
        add_never_cache_headers(response)
        return response

    return guarded


def console_page(permission: str = VIEW_JOBS):
    """A page (GET) readable with `permission`."""
    _check(permission)

    def decorator(view):
        guarded = _guard(view, lambda request: permission)
        # Read by the access-matrix test, so a view without a declared permission cannot slip in.
        guarded.console_permission = permission
        return guarded

    return decorator


def console_action(permission: str):
    """A change: POST only, CSRF-checked even if the middleware were removed, with `permission`."""
    _check(permission)

    def decorator(view):
        guarded = require_POST(csrf_protect(_guard(view, lambda request: permission)))
        guarded.console_permission = permission
        return guarded

    return decorator


def console_action_by_field(field: str, permissions: dict[str, str]):
    """A change whose permission depends on a form field (the bulk form's `action`): the value
    names the permission; a value outside `permissions` needs the first of them, and the view
    then refuses it as a bad request."""
    for codename in permissions.values():
        _check(codename)
    fallback = next(iter(permissions.values()))

    def decorator(view):
        guarded = require_POST(
            csrf_protect(_guard(view, lambda request: permissions.get(request.POST.get(field, ""), fallback)))
        )
        guarded.console_permission = dict(permissions)
        return guarded

    return decorator
