"""Who may see and do what in the console, checked by every page and action itself.

Three levels, each a permission that `jobs.roles` grants to a group: reading the console
(Jobs viewer), acting on jobs (Jobs operator) and administering the job system (Admin). A
higher level includes the lower ones, and a superuser holds them all. Only active staff get
that far: like the admin, anyone else is sent to the admin's login page. Staff without a
role get 403, so a console URL never reveals more than its existence.
"""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_POST

VIEW = "view"
OPERATE = "operate"
ADMINISTER = "administer"

PERMISSIONS = {
    VIEW: "jobs.view_console",
    OPERATE: "jobs.operate_jobs",
    ADMINISTER: "jobs.administer_jobs",
}
# Each level, and the levels that include it.
_INCLUDED_IN = {
    VIEW: (VIEW, OPERATE, ADMINISTER),
    OPERATE: (OPERATE, ADMINISTER),
    ADMINISTER: (ADMINISTER,),
}


def is_console_user(user) -> bool:
    """Active staff: the people the admin lets in at all."""
    return bool(user.is_authenticated and user.is_active and user.is_staff)


def has_level(user, level: str) -> bool:
    if not is_console_user(user):
        return False
    return any(user.has_perm(PERMISSIONS[granted]) for granted in _INCLUDED_IN[level])


def can_view(user) -> bool:
    return has_level(user, VIEW)


def can_operate(user) -> bool:
    return has_level(user, OPERATE)


def can_administer(user) -> bool:
    return has_level(user, ADMINISTER)


def _guard(level: str, view):
    @wraps(view)
    def guarded(request, *args, **kwargs):
        if not is_console_user(request.user):
            return redirect_to_login(request.get_full_path(), reverse("admin:login"))
        if not has_level(request.user, level):
            raise PermissionDenied(f"The job console needs the {PERMISSIONS[level]} permission.")
        response = view(request, *args, **kwargs)
        add_never_cache_headers(response)
        return response

    # Read by the access-matrix test, so a view without a declared level cannot slip in.
    guarded.console_level = level  # type: ignore[attr-defined]  # a marker on the wrapper
    return guarded


def console_page(level: str = VIEW):
    """A page (GET) readable at `level`."""

    def decorator(view):
        return _guard(level, view)

    return decorator


def console_action(level: str = OPERATE):
    """A change: POST only, CSRF-checked even if the middleware were removed, at `level`."""

    def decorator(view):
        return require_POST(csrf_protect(_guard(level, view)))

    return decorator
