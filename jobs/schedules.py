"""The jobs app's own recurring jobs, read by `manage.py seed_recurring_jobs`.

The engine's housekeeping comes first; the common service's jobs (issue 6) are appended below it.
"""

from jobs import tasks
from jobs.maintenance import expire_jobs
from jobs.recurring import Cron, Recurring

RECURRING = [
    # Hangfire's JobExpirationCheckInterval: Succeeded and Deleted jobs past their expiry go.
    Recurring("expire-finished-jobs", expire_jobs, Cron.every_minutes(30), queue="low-priority"),
    # The common service (the old Common Service table and the seed's example configuration).
    Recurring("sync-auth0-users", tasks.sync_auth0_users, Cron.every_hours(6)),
    Recurring("cleanup-expired-tokens", tasks.cleanup_expired_tokens, Cron.daily(hour=3)),
    Recurring("generate-system-health-report", tasks.generate_system_health_report, Cron.daily(hour=8)),
    Recurring("generate-daily-reports", tasks.generate_daily_reports, Cron.daily(hour=2)),
    Recurring("cleanup-old-logs", tasks.cleanup_old_logs, Cron.weekly("sunday", hour=0)),
    Recurring("database-backup", tasks.database_backup, "0 */6 * * *"),
]
