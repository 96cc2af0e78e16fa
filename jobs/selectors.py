"""Read-only views of the job system for the common service's reports (the system health
report), and the explanations the console shows beside a job. The console has its own queries;
these are the few the reports need, in JSON-ready form."""

from datetime import datetime

from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Max

from jobs.models import Batch, BatchState, ContinuationOn, Job, JobState, RecurringJob, Server, State

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


PARENT_FAILED = "Waits for its parent, which failed: retry or delete the parent"
GONE = "Waits for a parent that no longer exists: requeue it to run it now, or delete it"


def job_waiting_reason(job: Job) -> str | None:
    """Why an Awaiting job has not run, in words a person can act on; None for any other job.

    A continuation of a failed job (or of a batch with failed jobs) is neither released nor
    deleted: the failure may still be retried (continuations.decide). Without a word it looks stuck.
    """
    if job.state != State.AWAITING:
        return None
    if job.parent_id is not None:
        parent_state = Job.objects.filter(pk=job.parent_id).values_list("state", flat=True).first()
        if parent_state is None:
            return GONE
        if parent_state == State.FAILED:
            return PARENT_FAILED
        return f"Waits for its parent, which is {State(parent_state).label.lower()}"
    if job.awaiting_batch_id is not None:
        batch = Batch.objects.filter(pk=job.awaiting_batch_id).only("state", "total", "succeeded", "failed", "deleted").first()
        if batch is None:
            return GONE
        if batch.state == BatchState.COMPLETED and batch.failed and job.continuation_on != ContinuationOn.COMPLETED:
            jobs = "job" if batch.failed == 1 else "jobs"
            return f"Waits for its batch, in which {batch.failed} {jobs} failed: retry or delete the failed {jobs}"
        done = batch.succeeded + batch.failed + batch.deleted
        return f"Waits for its batch to finish ({done} of {batch.total} done)"
    # Its parent or batch row was removed (the links are SET NULL): nothing will release it.
    return GONE
