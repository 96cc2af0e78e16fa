"""The queues page (each queue's backlog, its history, the servers serving it, its pause) and
pausing and resuming a queue from it or from the dashboard's queues table (jobs.api.pause_queue)."""

from datetime import datetime

from django.db import transaction
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from jobs import audit, backlog, predictions
from jobs.conf import jobs_settings
from jobs.console import stats
from jobs.console.access import console_action, console_page
from jobs.console.views.base import redirect_after_action, render_page, report
from jobs.models import State
from jobs.permissions import PAUSE_QUEUES
from jobs.queues import pause_queue, paused_queues, resume_queue


def queue_rows(now, depths: dict, oldest: dict) -> list[dict]:
    """Every queue in priority order: its counts and oldest wait (backlog.live_depths), drain
    estimate, pause, and the live servers that claim from it (a server registers its queues)."""
    pauses = paused_queues(now)
    servers = list(stats.alive_servers(now).order_by("id"))
    names = list(jobs_settings.QUEUES)
    serving = {name: [server for server in servers if name in (server.queues or ())] for name in names}
    workers = {name: sum(server.worker_count for server in serving[name]) for name in names}
    drains = predictions.queue_drains({name: depths[name][State.ENQUEUED] for name in names}, workers)
    rows = []
    for name in names:
        counts = depths[name]
        rows.append(
            {
                "queue": name,
                "enqueued": counts[State.ENQUEUED],
                "scheduled": counts[State.SCHEDULED],
                "processing": counts[State.PROCESSING],
                "oldest_wait_seconds": (
                    max(0.0, (now - oldest[name]).total_seconds()) if name in oldest else None
                ),
                "drain_seconds": drains[name],
                "pause": pauses.get(name),
                "servers": serving[name],
                "workers": workers[name],
            }
        )
    return rows


@console_page()
def queue_list(request):
    now = timezone.now()
    depths, oldest = backlog.live_depths()  # read once for the table and the chart's last point
    return render_page(
        request,
        "jobs/console/queues.html",
        title="Queues",
        section="queues",
        context={
            "rows": queue_rows(now, depths, oldest),
            "history": backlog.history(now, current=depths),
            "interval_minutes": int(backlog.INTERVAL.total_seconds() // 60),
            "time_zone": timezone.get_current_timezone_name(),
        },
    )


def _known(queue: str) -> str:
    if queue not in jobs_settings.QUEUES:
        raise Http404(f"There is no queue {queue!r}.")
    return queue


def _resume_at(raw: str):
    """The optional "resume at" field: a local date and time (the console's time zone)."""
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"Resume at {raw!r} is not a date and time (YYYY-MM-DD HH:MM).") from None
    return timezone.make_aware(value) if timezone.is_naive(value) else value


@console_action(PAUSE_QUEUES)
def queue_pause(request, queue):
    """Pause a queue: a reason is required, "resume at" is optional."""
    _known(queue)
    try:
        until = _resume_at(request.POST.get("resume_at", ""))
        reason = request.POST.get("reason", "")
        with transaction.atomic():
            pause_queue(queue, by=request.user, reason=reason, until=until)
            text = f"Queue {queue} paused: no server claims its jobs"
            text += (
                f" until {timezone.localtime(until):%Y-%m-%d %H:%M}." if until else " until it is resumed."
            )
            audit.record(request.user, "queue_pause", [("queue", queue)], summary=text, reason=reason)
    except (TypeError, ValueError) as exc:
        report(request, [("error", f"Queue {queue} was not paused: {exc}")])
    else:
        report(request, [("success", text)])
    return redirect_after_action(request, reverse("jobs_console:dashboard"))


@console_action(PAUSE_QUEUES)
def queue_resume(request, queue):
    _known(queue)
    with transaction.atomic():
        resumed = resume_queue(queue, by=request.user)
        if resumed:
            audit.record(
                request.user,
                "queue_resume",
                [("queue", queue)],
                summary=f"Queue {queue} resumed.",
                reason=request.POST.get("reason", ""),
            )
    if resumed:
        report(request, [("success", f"Queue {queue} resumed.")])
    else:
        report(request, [("info", f"Queue {queue} was not paused.")])
    return redirect_after_action(request, reverse("jobs_console:dashboard"))
