"""The common service's jobs (the old Common Service table plus the seed's example recurring
jobs). Thin: each calls common.services and returns what it did, which the console shows."""

from django.tasks import task

from common import services
from jobs.retry import Retry

# The Management API rate-limits; give it the seed's spaced retries rather than ten quick ones.
SYNC_RETRY = Retry(attempts=3, delays=(60, 300, 900))
# A failed backup is retried a few times, then stays Failed for someone to look at.
BACKUP_RETRY = Retry(attempts=2, delays=(300, 900))


@task(retry=SYNC_RETRY, timeout=600)
def sync_auth0_users() -> dict:
    return services.auth0_users_sync()


@task
def cleanup_expired_tokens() -> dict:
    return services.refresh_tokens_cleanup()


@task
def generate_system_health_report() -> dict:
    return services.system_health_report()


@task
def generate_daily_reports() -> dict:
    return services.daily_reports_generate()


@task(queue_name="low-priority")
def cleanup_old_logs() -> dict:
    return services.old_logs_cleanup()


@task(retry=BACKUP_RETRY, timeout=3600)
def database_backup() -> dict:
    return services.database_backup()
