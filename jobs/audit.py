"""Recording the console's actions (jobs.models.audit): one entry per action a person takes,
written in the same transaction as the action's own change where there is one."""

from jobs.models.audit import AuditEntry, AuditTarget

JOB, BATCH, RECURRING, QUEUE, DEAD_LETTER, ALERT, FAILURE_GROUP = (
    "job",
    "batch",
    "recurring",
    "queue",
    "dead_letter",
    "alert",
    "failure_group",
)


def record(user, action: str, targets=(), *, summary: str = "", reason: str = "", details=None) -> AuditEntry:
    """targets: (kind, id) pairs, e.g. [("job", job.pk)]."""
    entry = AuditEntry.objects.create(
        user=user if getattr(user, "pk", None) else None,
        username=getattr(user, "get_username", lambda: "")() or "(unknown)",
        action=action,
        summary=summary,
        reason=reason or "",
        details=details or {},
    )
    AuditTarget.objects.bulk_create(
        [AuditTarget(entry=entry, kind=kind, object_id=str(object_id)) for kind, object_id in targets]
    )
    return entry


def for_object(kind: str, object_id, limit: int = 100):
    """The latest entries that acted on one object, newest first."""
    return list(
        AuditEntry.objects.filter(targets__kind=kind, targets__object_id=str(object_id)).order_by(
            "-at", "-id"
        )[:limit]
    )
