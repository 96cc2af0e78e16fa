"""Run jobs in the test process, through the same claim and perform a worker uses."""

from jobs.models import Job
from jobs.server.broker import claim_jobs
from jobs.server.runner import perform

QUEUES = ["critical", "default", "low-priority"]


def run_next(server_id=None) -> Job | None:
    """Claim the next job like a server would and perform it here. None when nothing is due."""
    rows = claim_jobs(server_id, QUEUES, 1)
    if not rows:
        return None
    job_id, token, _timeout, _path = rows[0]
    perform(str(job_id), str(token))
    return Job.objects.get(pk=job_id)


def run_all(limit=1000) -> list[Job]:
    done = []
    while len(done) < limit:
        job = run_next()
        if job is None:
            return done
        done.append(job)
    return done
