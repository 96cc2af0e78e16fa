"""Read-only queries other parts use (the daily report, the console's figures)."""

from datetime import date

from django.db.models import Count, Sum

from dhanman.money import ZERO
from sales.models import Invoice, Payment, Society


def collections_on(*, society: Society, day: date) -> dict:
    """Payments processed for the society's invoices that were received on `day`."""
    totals = Payment.objects.filter(
        invoice__society=society, status=Payment.Status.PROCESSED, received_at__date=day
    ).aggregate(count=Count("pk"), amount=Sum("amount"))
    return {"count": totals["count"], "amount": totals["amount"] or ZERO}


def invoices_issued_on(*, society: Society, day: date) -> dict:
    totals = (
        Invoice.objects.filter(society=society, issued_at__date=day)
        .exclude(status=Invoice.Status.CANCELLED)
        .aggregate(count=Count("pk"), amount=Sum("amount"))
    )
    return {"count": totals["count"], "amount": totals["amount"] or ZERO}


def overdue_invoices(*, society: Society) -> dict:
    totals = Invoice.objects.filter(society=society, status=Invoice.Status.OVERDUE).aggregate(
        count=Count("pk"), amount=Sum("amount")
    )
    return {"count": totals["count"], "amount": totals["amount"] or ZERO}


def society_get(society_id) -> Society:
    """The society with this id, or a ValidationError naming `society_id` (every context's
    services take a society id from callers and jobs)."""
    from dhanman.validation import existing

    return existing(Society.objects.all(), society_id, field="society_id", label="society")
