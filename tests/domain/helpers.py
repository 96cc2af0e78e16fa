"""Small helpers for the domain tests."""

from jobs.models import Job, OutboxMessage


def jobs_of(task):
    """The Job rows of one task, oldest first."""
    return Job.objects.filter(task_path=task.module_path).order_by("created_at")


def sent_to(recipient):
    return OutboxMessage.objects.filter(recipient=recipient, status=OutboxMessage.Status.SENT)
