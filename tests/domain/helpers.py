"""Small helpers for the domain tests."""

from jobs.models import Job


def jobs_of(task):
    """The Job rows of one task, oldest first."""
    return Job.objects.filter(task_path=task.module_path).order_by("created_at")
