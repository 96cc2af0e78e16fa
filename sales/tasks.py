"""Sales jobs: thin wrappers that take ids (money never travels here) and call a service.

Every one is safe to run twice — jobs retry — because the services check what is done already
(statuses under row locks) and the tables forbid doing it twice (unique keys).
"""

from django.core.exceptions import ValidationError
from django.tasks import task

from jobs.retry import Retry
from sales import services

# A job whose input is gone or invalid (an unknown invoice) fails at once instead of retrying
# ten times; any other error gets the engine's default retries.
RETRY = Retry(never_on=(ValidationError,))
# The old setup's AutomaticRetry: three retries after 1, 5 and 15 minutes, then delete.
PAYMENT_RETRY = Retry(attempts=3, delays=(60, 300, 900), on_exhausted="delete")
# Tags (jobs/search.py): the console's chips and filters. "Everything of invoice 42" is an
# argument search (invoice_id=42); tags group what an operator acts on together.
INVOICE_TAGS = ("billing", "invoice:{invoice_id}")


@task(retry=RETRY)
def send_welcome_email(resident_id: int) -> dict:
    return services.resident_welcome(resident_id=resident_id)


# --- The invoice workflow: create → update ledger → notify -------------------------------------


@task(retry=RETRY, tags=INVOICE_TAGS)
def create_invoice(invoice_id: int) -> dict:
    invoice = services.invoice_issue(invoice_id=invoice_id)
    return {"invoice": invoice.pk, "number": invoice.number, "status": invoice.status}


@task(retry=RETRY, tags=INVOICE_TAGS)
def update_ledger(invoice_id: int) -> dict:
    entry = services.invoice_post_to_ledger(invoice_id=invoice_id)
    return {"invoice": invoice_id, "ledger_entry": entry.pk if entry else None}


@task(retry=RETRY, tags=INVOICE_TAGS)
def send_invoice_notification(invoice_id: int) -> dict:
    return services.invoice_notify(invoice_id=invoice_id)


@task(retry=RETRY, tags=INVOICE_TAGS)
def send_invoice_reminder(invoice_id: int) -> dict:
    return services.invoice_send_due_reminder(invoice_id=invoice_id)


@task(retry=RETRY, tags=INVOICE_TAGS)
def update_invoice_related_records(invoice_id: int) -> dict:
    return services.invoice_update_related_records(invoice_id=invoice_id)


@task(queue_name="critical", retry=PAYMENT_RETRY, tags=("payments",))
def process_payment(payment_id: int) -> dict:
    return services.payment_process(payment_id=payment_id)


@task(queue_name="low-priority", retry=RETRY, tags=("analytics", "society:{society_id}"))
def refresh_sales_analytics(society_id: int) -> dict:
    snapshot = services.sales_snapshot_refresh(society_id=society_id)
    return {
        "society": society_id,
        "date": snapshot.date.isoformat(),
        "outstanding": str(snapshot.outstanding_amount),
    }


# --- Monthly invoices: a batch per society and its summary -------------------------------------


@task(retry=RETRY)
def generate_monthly_invoices() -> dict:
    return services.monthly_invoices_generate()


@task(retry=RETRY, tags=("billing", "period:{period}"))
def generate_invoice_for_resident(resident_id: int, period: str) -> dict:
    invoice = services.invoice_generate_for_resident(resident_id=resident_id, period=period)
    return {"resident": resident_id, "invoice": invoice.pk if invoice else None}


@task(retry=RETRY, tags=("billing", "society:{society_id}", "period:{period}"))
def send_bulk_generation_summary(society_id: int, period: str) -> dict:
    run = services.monthly_invoices_summarize(society_id=society_id, period=period)
    return {
        "society": society_id,
        "period": period,
        "invoices": run.invoice_count,
        "missing": run.missing_residents,
    }


# --- Recurring ------------------------------------------------------------------------------


@task(retry=RETRY)
def send_payment_reminders() -> dict:
    return services.payment_reminders_send()


@task(retry=RETRY)
def check_overdue_invoices() -> dict:
    return {"marked_overdue": services.invoices_mark_overdue()}


@task(retry=RETRY)
def calculate_late_fees() -> dict:
    return services.late_fees_apply()
