"""Inventory jobs: thin wrappers over inventory.services, safe to run twice."""

from django.core.exceptions import ValidationError
from django.tasks import task

from inventory import services
from jobs.retry import Retry

RETRY = Retry(never_on=(ValidationError,))


@task(retry=RETRY)
def raise_low_stock_alert(item_id: int) -> dict:
    alert = services.low_stock_alert_raise(item_id=item_id)
    return {"item": item_id, "alert": alert.pk if alert else None}


@task(retry=RETRY)
def check_low_stock_alerts() -> dict:
    return services.low_stock_alerts_check()


@task(retry=RETRY)
def generate_stock_report() -> dict:
    return services.stock_report_generate()


@task(retry=RETRY)
def expire_items_check() -> dict:
    return services.stock_lots_expire()
