"""Purchase jobs: thin wrappers over purchase.services, safe to run twice."""

from django.core.exceptions import ValidationError
from django.tasks import task

from jobs.retry import Retry
from purchase import services

RETRY = Retry(never_on=(ValidationError,))


@task(retry=RETRY)
def request_po_approval(order_id: int) -> dict:
    return services.purchase_order_request_approval(order_id=order_id)


@task(retry=RETRY)
def send_po_approvals() -> dict:
    return services.po_approvals_remind()


@task(retry=RETRY)
def check_grn_matching() -> dict:
    return services.grns_match_pending()


@task(retry=RETRY)
def vendor_payment_reminders() -> dict:
    return services.vendor_payment_reminders_send()
