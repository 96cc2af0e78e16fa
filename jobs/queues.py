"""Pausing and resuming queues, and what the console shows of each queue.

A pause is a QueuePause row; every claim (jobs/sql.py) leaves out the queues that have a
pause in force, so a paused queue is claimed by no server from the next claim on (well within a
second), running jobs finish, and the pause outlives restarts. A pause with `until` stops being
in force at that time by itself: the claim compares it with the clock, and the row is tidied
away the next time someone looks at the queues.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Count, Min, Q
from django.utils import timezone

from jobs.conf import jobs_settings
from jobs.models import Job, QueuePause, State


class UnknownQueue(ValueError):
    pass


def _check_queue(name) -> str:
    if name not in jobs_settings.QUEUES:
        raise UnknownQueue(
            f"Unknown queue {name!r}: the queues are {', '.join(jobs_settings.QUEUES)} (JOBS_QUEUES)."
        )
    return name


def _who(by) -> tuple:
    """(user or None, name) for the record."""
    if by is None:
        return None, ""
    if hasattr(by, "get_username"):
        return (by if getattr(by, "pk", None) is not None else None), by.get_username()
    return None, str(by)[:150]


def in_force(now=None) -> Q:
    """The pauses that hold now."""
    now = now or timezone.now()
    return Q(until__isnull=True) | Q(until__gt=now)


def pause_queue(name: str, *, by=None, reason: str, until: datetime | None = None) -> QueuePause:
    """Pause a queue: no server claims its jobs until resume_queue or `until`.

    `reason` is required (it is shown wherever the queue is); pausing a paused queue updates
    its record. Nothing is written when an argument is wrong.
    """
    _check_queue(name)
    reason = (reason or "").strip() if isinstance(reason, str) else reason
    if not isinstance(reason, str) or not reason:
        raise ValueError("A pause needs a reason (it is shown to everyone who looks at the queue).")
    now = timezone.now()
    if until is not None:
        if not isinstance(until, datetime):
            raise TypeError(f"until must be a datetime, not {type(until).__name__}.")
        if timezone.is_naive(until):
            raise ValueError("until must be an aware datetime (it is naive): use django.utils.timezone.")
        if until <= now:
            raise ValueError(f"until must be in the future ({until.isoformat()} has passed).")
    user, name_by = _who(by)
    pause, _ = QueuePause.objects.update_or_create(
        queue=name,
        defaults={
            "paused_by": user,
            "paused_by_name": name_by,
            "reason": reason[:500],
            "paused_at": now,
            "until": until,
        },
    )
    return pause


def resume_queue(name: str, *, by=None) -> bool:
    """Resume a queue; True if it was paused. Idle servers are woken to claim its backlog."""
    from jobs.creation import notify_servers

    _check_queue(name)
    with transaction.atomic():
        deleted, _ = QueuePause.objects.filter(queue=name).delete()
        notify_servers({name})
    return bool(deleted)


def paused_queues(now=None) -> dict[str, QueuePause]:
    """The pauses in force, by queue name."""
    return {pause.queue: pause for pause in QueuePause.objects.filter(in_force(now))}


@dataclass(frozen=True)
class QueueInfo:
    name: str
    paused: QueuePause | None
    enqueued: int
    processing: int
    # Since when the oldest Enqueued job waits (None when none waits).
    oldest_enqueued_at: datetime | None

    @property
    def oldest_wait(self):
        return timezone.now() - self.oldest_enqueued_at if self.oldest_enqueued_at else None


def queues(now=None) -> list[QueueInfo]:
    """Every queue in priority order: its pause (by, reason, since, until), its backlog and
    running jobs, and the wait of its oldest Enqueued job."""
    now = now or timezone.now()
    # Pauses whose `until` passed resumed by themselves: drop their rows.
    QueuePause.objects.filter(until__lte=now).delete()
    pauses = paused_queues(now)
    counts: dict[str, Any] = {
        row["queue"]: row
        for row in Job.objects.filter(state__in=(State.ENQUEUED, State.PROCESSING))
        .values("queue")
        .annotate(
            enqueued=Count("id", filter=Q(state=State.ENQUEUED)),
            processing=Count("id", filter=Q(state=State.PROCESSING)),
            oldest=Min("enqueued_at", filter=Q(state=State.ENQUEUED)),
        )
    }
    return [
        QueueInfo(
            name=name,
            paused=pauses.get(name),
            enqueued=counts.get(name, {}).get("enqueued", 0),
            processing=counts.get(name, {}).get("processing", 0),
            oldest_enqueued_at=counts.get(name, {}).get("oldest"),
        )
        for name in jobs_settings.QUEUES
    ]
