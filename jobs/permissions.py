"""The console's permissions, one per action, and the three roles preset with them.

Each page and action of the console names the one permission it needs (jobs.console.access).
The roles of the first console (Jobs viewer, Jobs operator, Admin) stay as groups holding a
preset of these, so people keep what they could do; an admin can make any other group in the
Django admin ("may retry, may not delete"). The permissions live on the Job model's content
type (Job.Meta.permissions), as `jobs.<codename>`.
"""

VIEW_JOBS = "view_jobs"
RETRY_JOBS = "retry_jobs"
DELETE_JOBS = "delete_jobs"
CANCEL_JOBS = "cancel_jobs"
TRIGGER_RECURRING = "trigger_recurring"
TOGGLE_RECURRING = "toggle_recurring"
REMOVE_RECURRING = "remove_recurring"
PAUSE_QUEUES = "pause_queues"
CANCEL_BATCHES = "cancel_batches"
VIEW_ARGUMENTS = "view_arguments"
MANAGE_ALERTS = "manage_alerts"

# (codename, name) in the order the admin lists them; Job.Meta.permissions is this list.
DECLARED = [
    (VIEW_JOBS, "Can view the job console"),
    (RETRY_JOBS, "Can requeue and retry jobs"),
    (DELETE_JOBS, "Can delete jobs"),
    (CANCEL_JOBS, "Can cancel running jobs"),
    (TRIGGER_RECURRING, "Can trigger recurring jobs now"),
    (TOGGLE_RECURRING, "Can enable and disable recurring jobs"),
    (REMOVE_RECURRING, "Can remove recurring jobs"),
    (PAUSE_QUEUES, "Can pause and resume queues"),
    (CANCEL_BATCHES, "Can cancel batches"),
    (VIEW_ARGUMENTS, "Can reveal redacted job arguments"),
    (MANAGE_ALERTS, "Can acknowledge and resolve alerts"),
]
CODENAMES = [codename for codename, _ in DECLARED]

# What each role could do with the fixed role checks, now spelled out. Operators acted on jobs,
# recurring jobs, batches, queues and alerts; removing a schedule and revealing redacted
# arguments stay with Admin.
OPERATOR = [
    VIEW_JOBS,
    RETRY_JOBS,
    DELETE_JOBS,
    CANCEL_JOBS,
    TRIGGER_RECURRING,
    TOGGLE_RECURRING,
    CANCEL_BATCHES,
    PAUSE_QUEUES,
    MANAGE_ALERTS,
]
ROLES = {
    "Jobs viewer": [VIEW_JOBS],
    "Jobs operator": OPERATOR,
    "Admin": list(CODENAMES),
}


def qualified(codename: str) -> str:
    """'retry_jobs' -> 'jobs.retry_jobs', the form user.has_perm takes."""
    return f"jobs.{codename}"
