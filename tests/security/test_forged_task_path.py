"""A Job row is data, never code: a path planted in the table runs nothing."""

import pytest
from django.conf import settings

from jobs.models import Job, State
from jobs.server.broker import claim_jobs
from jobs.server.runner import perform
from tests.testapp.tasks import record_critical

FORGED_PATHS = [
    "os.system",
    "subprocess.getoutput",
    "builtins.exec",
    "jobs.server.runner._perform",  # private: never a task
    "tests.testapp.models.Execution",  # callable, but not a task
    "tests.testapp.tasks",  # a module
    "",
]


@pytest.mark.django_db
def test_a_forged_task_path_in_a_job_row_never_runs(tmp_path):
    """Someone with write access to the table plants a job naming `os.system`: the runner resolves
    only registered tasks, so the job fails without running anything, and is not retried."""
    marker = tmp_path / "pwned"
    ids = []
    for path in FORGED_PATHS:
        job_id = record_critical.enqueue("placeholder").id
        # The tampering itself: an UPDATE, as someone with write access to the table would do.
        Job.objects.filter(pk=job_id).update(task_path=path, args=[f"touch {marker}"])
        ids.append(job_id)
    while rows := claim_jobs(None, list(settings.JOB_QUEUES), 10):
        for job_id, token, *_ in rows:
            perform(str(job_id), str(token))
    for job in Job.objects.filter(pk__in=ids):
        assert job.state == State.FAILED, (job.task_path, job.state)
        assert job.attempt == 1  # not retried
        assert job.exception_class == "jobs.registry.UnknownTask"
        assert job.task_path in job.exception_message
    assert not marker.exists()
