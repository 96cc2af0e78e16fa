"""SLA alerts: the open ones and the recent resolved ones; acknowledge or resolve (operators),
with who, when and why recorded (jobs.sla)."""

from django.contrib import messages
from django.shortcuts import get_object_or_404
from django.urls import reverse

from jobs import sla
from jobs.console.access import console_action, console_page
from jobs.console.views.base import redirect_after_action, render_page
from jobs.models import Alert

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


def _act(request, alert_id, service, done: str):
    get_object_or_404(Alert, pk=alert_id)
    try:
        service(alert_id=alert_id, user=request.user, reason=request.POST.get("reason", ""))
    except ValueError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done)
    return redirect_after_action(request, reverse("jobs_console:alert_list"))


@console_action()
def alert_acknowledge(request, alert_id):
    return _act(request, alert_id, sla.alert_acknowledge, "Alert acknowledged.")


@console_action()
def alert_resolve(request, alert_id):
    return _act(request, alert_id, sla.alert_resolve, "Alert resolved.")
