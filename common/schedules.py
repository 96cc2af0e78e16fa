"""The common service's recurring jobs (the old Common Service table and the seed's example
configuration), read by `manage.py seed_recurring_jobs`.

The ids are the ones the jobs app declared before the move, so seeding updates the existing
rows instead of creating new ones; common/migrations/0002 rewrote their stored task paths.
"""

from common import tasks
from jobs.recurring import Cron, Recurring

RECURRING = [
    Recurring("sync-auth0-users", tasks.sync_auth0_users, Cron.every_hours(6)),
    Recurring("cleanup-expired-tokens", tasks.cleanup_expired_tokens, Cron.daily(hour=3)),
    Recurring("generate-system-health-report", tasks.generate_system_health_report, Cron.daily(hour=8)),
    Recurring("generate-daily-reports", tasks.generate_daily_reports, Cron.daily(hour=2)),
    Recurring("cleanup-old-logs", tasks.cleanup_old_logs, Cron.weekly("sunday", hour=0)),
    Recurring("database-backup", tasks.database_backup, "0 */6 * * *"),
]
