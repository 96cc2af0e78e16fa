"""The dashboard page and the JSON it polls (every STATS_POLLING_INTERVAL_MS)."""

from datetime import datetime, timedelta

from django.http import JsonResponse
from django.urls import reverse
from django.utils import timezone

from jobs.console import stats
from jobs.console.access import console_page
from jobs.console.views.base import console_title, render_page
from jobs.models import State
from jobs.queues import paused_queues

# Counters in Hangfire's order, each linked to the page that lists them.
COUNTERS = (
    (State.ENQUEUED, "Enqueued"),
    (State.SCHEDULED, "Scheduled"),
    (State.PROCESSING, "Processing"),
    (State.SUCCEEDED, "Succeeded"),
    (State.FAILED, "Failed"),
    (State.DELETED, "Deleted"),
    (State.AWAITING, "Awaiting"),
)


def stats_payload(snapshot: dict, finished: dict, now, since) -> dict:
    """The JSON the dashboard polls; the page's first render uses the same shape."""
    return {
        "now": now.isoformat(),
        "since": since.isoformat(),
        "computed_at": snapshot["computed_at"].isoformat(),
        "counters": {
            **{state: snapshot["states"].get(state, 0) for state, _ in COUNTERS},
            "retries": snapshot["retries"],
            "recurring": snapshot["recurring"],
            "servers": snapshot["servers_alive"],
        },
        # Counters shown as estimates (a state with more than stats.COUNT_CAP jobs).
        "approximate": list(snapshot.get("approximate", [])),
        "finished": finished,
        "queues": [
            {
                "queue": row["queue"],
                "enqueued": row["enqueued"],
                "processing": row["processing"],
                "oldest_wait_seconds": row["oldest_wait_seconds"],
            }
            for row in snapshot["queues"]
        ],
    }


@console_page()
def dashboard(request):
    snapshot = stats.snapshot()
    now = timezone.now()
    pauses = paused_queues(now)
    counters = [
        {
            "key": state,
            "label": label,
            "value": snapshot["states"].get(state, 0),
            "approximate": state in snapshot.get("approximate", []),
            "url": reverse("jobs_console:job_list", args=[state]),
        }
        for state, label in COUNTERS
    ]
    counters += [
        {
            "key": "retries",
            "label": "Retries",
            "value": snapshot["retries"],
            "url": reverse("jobs_console:retries") + "?show=scheduled",
        },
        {
            "key": "recurring",
            "label": "Recurring jobs",
            "value": snapshot["recurring"],
            "url": reverse("jobs_console:recurring_list"),
        },
        {
            "key": "servers",
            "label": "Live servers",
            "value": snapshot["servers_alive"],
            "url": reverse("jobs_console:servers"),
        },
    ]
    return render_page(
        request,
        "jobs/console/dashboard.html",
        title=console_title(),
        section="dashboard",
        context={
            "counters": counters,
            # The counts may be a few seconds old (the snapshot's cache); the pauses are read now.
            "queues": [{**row, "pause": pauses.get(row["queue"])} for row in snapshot["queues"]],
            "history": stats.history(),
            "stats_url": reverse("jobs_console:stats"),
            "now": now,
            "time_zone": timezone.get_current_timezone_name(),
        },
    )


@console_page()
def stats_json(request):
    """Counters, queues, and how many jobs succeeded/failed since the previous poll."""
    now = timezone.now()
    since = now - timedelta(seconds=2)
    raw = request.GET.get("since")
    if raw:
        try:
            since = datetime.fromisoformat(raw)
        except ValueError:
            return JsonResponse({"error": f"since={raw!r} is not an ISO 8601 time."}, status=400)
        if timezone.is_naive(since):
            return JsonResponse({"error": "since must carry its UTC offset."}, status=400)
        since = min(since, now)
    since = max(since, now - stats.RECENT_MAX_WINDOW)
    payload = stats_payload(stats.snapshot(), stats.finished_between(since, now), now, since)
    return JsonResponse(payload)
