"""Servers: every `qcluster` that has registered, with its heartbeat and whether it is alive."""

from django.utils import timezone

from jobs.conf import jobs_settings
from jobs.console import stats
from jobs.console.access import console_page
from jobs.console.views.base import render_page
from jobs.models import Server

MAX_SERVERS = 200


def status_of(server: Server, alive: bool) -> dict:
    """The badge: a server that stopped cleanly is "stopped", not dead; a dead one says it once
    (the reaper's "dead" and a missed heartbeat are the same news)."""
    if alive:
        note = "" if server.status == "running" else server.status  # e.g. stopping, within its grace
        return {"key": "alive", "label": "alive", "note": note}
    if server.status == "stopped":
        return {"key": "stopped", "label": "stopped", "note": ""}
    note = (
        "" if server.status == "dead" else "no heartbeat: its jobs are taken back when their lease runs out"
    )
    return {"key": "dead", "label": "dead", "note": note}


@console_page()
def servers(request):
    now = timezone.now()
    rows = [
        {
            "server": server,
            "alive": stats.server_is_alive(server, now),
            "status": status_of(server, stats.server_is_alive(server, now)),
            "heartbeat_age": (now - server.heartbeat_at).total_seconds(),
        }
        for server in Server.objects.order_by("-heartbeat_at")[:MAX_SERVERS]
    ]
    return render_page(
        request,
        "jobs/console/servers.html",
        title="Servers",
        section="servers",
        context={
            "rows": rows,
            "server_timeout": jobs_settings.SERVER_TIMEOUT,
            "now": now,
        },
    )
