"""Pausing and resuming a queue from the dashboard's queues table (jobs.api.pause_queue)."""

from datetime import datetime

from django.db import transaction
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from jobs import audit
from jobs.conf import jobs_settings
from jobs.console.access import console_action
from jobs.console.views.base import redirect_after_action, report
from jobs.permissions import PAUSE_QUEUES
from jobs.queues import pause_queue, resume_queue


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
