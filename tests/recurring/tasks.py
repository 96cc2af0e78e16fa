"""Tasks for the recurring-job tests (importable by the `qcluster` servers the tests start)."""

from django.tasks import task

from tests.testapp.models import Attempt


@task(takes_context=True)
def tick(context, key):
    """Leave one Attempt row per run, so a job that runs twice shows."""
    Attempt.objects.create(key=key, job_id=context.job_id, attempt=context.attempt)


@task(queue_name="critical")
def urgent(note=""):
    return note


def not_a_task():
    """A plain function: declaring it as a recurring job must be refused."""
