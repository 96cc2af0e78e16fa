"""The engine's own recurring job, read by `manage.py seed_recurring_jobs`.

Only housekeeping lives here; the common service's recurring jobs are in common/schedules.py.
"""

from jobs.maintenance import expire_jobs
from jobs.recurring import Cron, Recurring

RECURRING = [
    # Hangfire's JobExpirationCheckInterval: Succeeded and Deleted jobs past their expiry go.
    Recurring("expire-finished-jobs", expire_jobs, Cron.every_minutes(30), queue="low-priority"),
]
