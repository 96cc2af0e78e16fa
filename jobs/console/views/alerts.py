"""SLA alerts: the open ones and the recent resolved ones; acknowledge or resolve (operators),
with who, when and why recorded (jobs.sla)."""

from django.contrib import messages
from django.shortcuts import get_object_or_404
from django.urls import reverse

from jobs import audit, sla
from jobs.console.access import console_action, console_page
from jobs.console.views.base import redirect_after_action, render_page
from jobs.models import Alert
from jobs.permissions import MANAGE_ALERTS

RECENT_RESOLVED = 50


@console_page()
def alert_list(request):
    open_alerts = list(Alert.objects.filter(resolved_at__isnull=True).select_related("acknowledged_by"))
    resolved = list(
        Alert.objects.filter(resolved_at__isnull=False)
        .select_related("acknowledged_by", "resolved_by")
        .order_by("-resolved_at")[:RECENT_RESOLVED]
    )
    return render_page(
        request,
        "jobs/console/alerts.html",
        title="Alerts",
        section="alerts",
        context={
            "open_rows": [{"alert": a, "text": sla.describe(a)} for a in open_alerts],
            "resolved_rows": [{"alert": a, "text": sla.describe(a)} for a in resolved],
        },
    )


def _act(request, alert_id, service, done: str, action: str):
    get_object_or_404(Alert, pk=alert_id)
    reason = request.POST.get("reason", "")
    try:
        service(alert_id=alert_id, user=request.user, reason=reason)
    except ValueError as exc:
        messages.error(request, str(exc))
        audit.record(
            request.user, action, [(audit.ALERT, alert_id)], reason=reason, summary=f"Refused: {exc}"
        )
    else:
        messages.success(request, done)
        audit.record(request.user, action, [(audit.ALERT, alert_id)], reason=reason, summary=done)
    return redirect_after_action(request, reverse("jobs_console:alert_list"))


@console_action(MANAGE_ALERTS)
def alert_acknowledge(request, alert_id):
    return _act(request, alert_id, sla.alert_acknowledge, "Alert acknowledged.", "alert_acknowledge")


@console_action(MANAGE_ALERTS)
def alert_resolve(request, alert_id):
    return _act(request, alert_id, sla.alert_resolve, "Alert resolved.", "alert_resolve")
