"""Community jobs: thin wrappers over community.services, safe to run twice."""

from django.core.exceptions import ValidationError
from django.tasks import task

from community import services
from jobs.retry import Retry

RETRY = Retry(never_on=(ValidationError,))


@task(retry=RETRY)
def send_event_reminders() -> dict:
    return services.event_reminders_send()


@task(retry=RETRY)
def expire_visitor_passes() -> dict:
    return {"expired": services.visitor_passes_expire()}


@task(retry=RETRY)
def maintenance_request_escalation() -> dict:
    return services.maintenance_requests_escalate()


@task(retry=RETRY)
def expire_visitor_pass(visitor_pass_id: int) -> dict:
    return {
        "visitor_pass": visitor_pass_id,
        "expired": services.visitor_pass_expire(visitor_pass_id=visitor_pass_id),
    }
