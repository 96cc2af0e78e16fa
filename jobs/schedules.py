"""The jobs app's own recurring jobs, read by `manage.py seed_recurring_jobs`.

The engine's housekeeping comes first; the common service's jobs (issue 6) are appended below it.
"""

from jobs.maintenance import expire_jobs
from jobs.recurring import Cron, Recurring

RECURRING = [
    # Hangfire's JobExpirationCheckInterval: Succeeded and Deleted jobs past their expiry go.
    Recurring("expire-finished-jobs", expire_jobs, Cron.every_minutes(30), queue="low-priority"),
]
