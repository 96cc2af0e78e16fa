"""What every console page shares: the admin's context, the console's navigation, messages."""

from django.contrib import admin, messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from jobs.conf import jobs_settings
from jobs.console import access
from jobs.queues import paused_queues

NAVIGATION = (
    ("dashboard", "Dashboard", "jobs_console:dashboard", ()),
    ("jobs", "Jobs", "jobs_console:job_list", ("enqueued",)),
    ("retries", "Retries", "jobs_console:retries", ()),
    ("performance", "Performance", "jobs_console:performance", ()),
    ("queues", "Queues", "jobs_console:queue_list", ()),
    ("recurring", "Recurring jobs", "jobs_console:recurring_list", ()),
    ("servers", "Servers", "jobs_console:servers", ()),
    ("batches", "Batches", "jobs_console:batch_list", ()),
    ("events", "Events", "jobs_console:events", ()),
    ("alerts", "Alerts", "jobs_console:alert_list", ()),
    ("audit", "Audit", "jobs_console:audit", ()),
)


def console_title() -> str:
    return jobs_settings.DASHBOARD_TITLE


def render_page(request, template: str, *, title: str, section: str, context=None, status: int = 200):
    page = admin.site.each_context(request)
    page.update(
        title=title,
        console_title=console_title(),
        section=section,
        navigation=[
            {"key": key, "label": label, "url": reverse(name, args=args), "active": key == section}
            for key, label, name, args in NAVIGATION
        ],
        # {% if may.retry_jobs %}: the buttons a person sees are the ones they may press.
        may=access.Permissions(request.user),
        polling_interval_ms=jobs_settings.STATS_POLLING_INTERVAL_MS,
        **alert_banner(),
        # Shown at the top of every page: a paused queue must not go unnoticed.
        paused_queues=sorted(
            paused_queues().values(),
            key=lambda pause: (
                jobs_settings.QUEUES.index(pause.queue)
                if pause.queue in jobs_settings.QUEUES
                else len(jobs_settings.QUEUES)
            ),
        ),
    )
    # The list filters without the page cursor, for the pager's links.
    query = request.GET.copy()
    for cursor in ("older", "newer"):
        query.pop(cursor, None)
    page["query"] = query.urlencode()
    page.update(context or {})
    return render(request, template, page, status=status)


def alert_banner() -> dict:
    """The open SLA alerts every console page shows until they resolve (jobs.sla)."""
    from jobs import sla

    alerts, count = sla.open_alerts()
    return {
        "open_alert_count": count,
        "open_alert_rows": [{"alert": a, "text": sla.describe(a)} for a in alerts],
    }


def bad_request(request, message: str, *, section: str = "dashboard"):
    """A clear 400 page: the request did not come from one of our forms as sent."""
    return render_page(
        request,
        "jobs/console/error.html",
        title="Bad request",
        section=section,
        context={"message": message},
        status=400,
    )


def safe_next(request, fallback: str) -> str:
    """Where to go after an action: the `next` field when it is a console URL on this site."""
    target = request.POST.get("next") or ""
    console_root = reverse("jobs_console:dashboard")
    if target.startswith(console_root) and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


MAX_REASON = 500


def action_reason(request) -> str:
    """The optional reason a person typed for an action (kept in the audit trail)."""
    return (request.POST.get("reason") or "").strip()[:MAX_REASON]


def report(request, outcome_messages) -> None:
    for level, text in outcome_messages:
        getattr(messages, level)(request, text)


def redirect_after_action(request, fallback: str):
    return redirect(safe_next(request, fallback))


def confirmed(request) -> bool:
    """A destructive POST runs only when it comes from its confirmation page."""
    return request.POST.get("confirm") == "yes"


def confirm_page(request, preview, *, section: str, fields=(), fallback: str):
    """The confirmation page of a destructive action (like Django's delete confirmation): what
    will happen and how many jobs it touches, and a form that POSTs the same fields again with
    confirm=yes. 'No' leads back where the person came from."""
    back = safe_next(request, fallback)
    return render_page(
        request,
        "jobs/console/confirm.html",
        title=preview.heading,
        section=section,
        context={
            "preview": preview,
            "action_url": request.path,
            # The reason typed next to the button goes on to the audit trail.
            "fields": [
                *fields,
                ("next", back),
                *((("reason", action_reason(request)),) if action_reason(request) else ()),
            ],
            "back_url": back,
        },
    )
