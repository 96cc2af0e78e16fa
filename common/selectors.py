"""Read-only views of the job system for the common service's reports (the system health
report). The console has its own queries; these are the few the reports need, in JSON-ready form.
They read the engine's tables through its models, as any context may; the engine never calls them."""

from datetime import datetime

from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Max

from jobs.models import Job, JobState, RecurringJob, Server, State

_DURATION = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())


def jobs_by_state() -> dict[str, int]:
    counts = dict(Job.objects.values("state").annotate(n=Count("pk")).values_list("state", "n"))
    return {state: counts.get(state, 0) for state in State.values}


def waiting_by_queue() -> dict[str, int]:
    """Jobs enqueued and not yet claimed, per queue: the backlog."""
    return dict(
        Job.objects.filter(state=State.ENQUEUED)
        .values("queue")
        .annotate(n=Count("pk"))
        .values_list("queue", "n")
    )


def failures_since(since: datetime, limit: int = 10) -> dict:
    """How many runs failed since `since` (retried ones included), and the tasks now Failed."""
    attempts_failed = JobState.objects.filter(
        created_at__gte=since,
        name__in=[State.SCHEDULED, State.FAILED, State.DELETED],
        data__has_key="exception",
    ).count()
    by_task = (
        Job.objects.filter(state=State.FAILED)
        .values("task_path")
        .annotate(n=Count("pk"), last=Max("state_changed_at"))
        .order_by("-n", "task_path")[:limit]
    )
    return {
        "failed_attempts": attempts_failed,
        "failed_now": Job.objects.filter(state=State.FAILED).count(),
        "by_task": [
            {"task": row["task_path"], "failed": row["n"], "last": row["last"].isoformat()} for row in by_task
        ],
    }


def servers(now: datetime) -> list[dict]:
    return [
        {
            "id": server.id,
            "status": server.status,
            "queues": server.queues,
            "workers": server.worker_count,
            "heartbeat_seconds_ago": round((now - server.heartbeat_at).total_seconds(), 1),
        }
        for server in Server.objects.order_by("-heartbeat_at")[:50]
    ]


def slowest_tasks(since: datetime, limit: int = 5) -> list[dict]:
    rows = (
        Job.objects.filter(finished_at__gte=since, started_at__isnull=False, state=State.SUCCEEDED)
        .values("task_path")
        .annotate(runs=Count("pk"), average=Avg(_DURATION), longest=Max(_DURATION))
        .order_by("-longest")[:limit]
    )
    return [
        {
            "task": row["task_path"],
            "runs": row["runs"],
            "average_seconds": round(row["average"].total_seconds(), 3),
            "longest_seconds": round(row["longest"].total_seconds(), 3),
        }
        for row in rows
    ]


def recurring_errors() -> list[dict]:
    return [
        {"id": job.id, "error": job.last_error[:300]}
        for job in RecurringJob.objects.exclude(last_error="").order_by("id")
    ]
