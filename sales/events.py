"""What sales does when other Dhanman services publish events (jobs.events; docs/events.md)."""

from datetime import datetime, timedelta

from jobs.events import handles
from sales import tasks


@handles("sales.invoice_created", data={"invoice_id": int, "due_at": datetime})
def schedule_invoice_jobs(event):
    """The seed's InvoiceCreatedEventHandler: the reminder one day before the invoice falls due
    (the reminder itself skips a paid invoice), and the creation notification now."""
    invoice_id = event.data["invoice_id"]
    tasks.send_invoice_reminder.using(run_after=event.data["due_at"] - timedelta(days=1)).enqueue(invoice_id)
    tasks.send_invoice_notification.enqueue(invoice_id)


@handles("sales.payment_received", data={"payment_id": int})
def process_received_payment(event):
    """A payment recorded by another service (a gateway, the office): processed on `critical`,
    as a payment recorded here is."""
    tasks.process_payment.enqueue(event.data["payment_id"])
