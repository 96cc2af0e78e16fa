"""The page a locked-out login gets (django-axes' AXES_LOCKOUT_CALLABLE).

Axes' own template response has no admin context, so it would be titled "Django
administration"; this one is the admin's login page chrome (branded Dhanman) and says what
happened, for how long, and that other accounts are not affected.
"""

import math

from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

# 429 Too Many Requests, axes' default: a client (or a script) can tell it from a wrong password.
LOCKOUT_STATUS = 429


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict | None = None
) -> HttpResponse:
    cool_off = get_cool_off(request)
    minutes = math.ceil(cool_off.total_seconds() / 60) if cool_off else None
    context = {
        **admin.site.each_context(request),
        "title": "Too many failed logins",
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "cool_off_minutes": minutes,
    }
    response = TemplateResponse(request, "dhanman/lockout.html", context, status=LOCKOUT_STATUS)
    return response.render()
