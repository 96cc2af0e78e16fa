"""Events: the consumers and their heartbeats, what they consumed, failed and dead-lettered,
the outbox backlog, and the dead-letter queue with a replay action (docs/events.md)."""

import logging

from django.http import Http404
from django.urls import reverse

from jobs import audit
from jobs.console.access import console_action, console_page
from jobs.console.views.base import action_reason, redirect_after_action, render_page, report
from jobs.events import deadletters, status
from jobs.events.config import config
from jobs.events.topology import CONNECTION_ERRORS
from jobs.permissions import RETRY_JOBS

logger = logging.getLogger("jobs.console")


@console_page()
def events(request):
    cfg = config()
    overview = status.overview()
    depth: int | None = None
    letters: list[deadletters.DeadLetter] = []
    unreachable = ""
    try:
        depth, letters = deadletters.peek(cfg)
    except CONNECTION_ERRORS as exc:
        unreachable = f"RabbitMQ is not reachable at {cfg.amqp_url.rsplit('@', 1)[-1]}: {exc}"
    return render_page(
        request,
        "jobs/console/events.html",
        title="Events",
        section="events",
        context={**overview, "cfg": cfg, "dead_depth": depth, "letters": letters, "unreachable": unreachable},
    )


# Replaying a dead letter is a retry, of a message instead of a job.
@console_action(RETRY_JOBS)
def event_replay(request, dead_letter_id):
    try:
        letter = deadletters.replay(dead_letter_id)
    except deadletters.DeadLetterNotFound as exc:
        raise Http404(str(exc)) from None
    except CONNECTION_ERRORS as exc:
        report(request, [("error", f"RabbitMQ is not reachable: {exc}. Nothing was replayed.")])
    else:
        logger.info(
            "%s replayed dead letter %s (message %s)", request.user, dead_letter_id, letter.message_id
        )
        audit.record(
            request.user,
            "event_replay",
            [(audit.DEAD_LETTER, dead_letter_id)],
            reason=action_reason(request),
            summary=f"Replayed message {letter.message_id or dead_letter_id}",
        )
        report(
            request,
            [("success", f"Message {letter.message_id or dead_letter_id} is back on {config().queue}.")],
        )
    return redirect_after_action(request, reverse("jobs_console:events"))
