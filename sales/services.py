"""Sales operations. Each one validates its input before writing anything, writes in one
transaction, and enqueues its jobs in that same transaction: if the write rolls back, so do
the jobs.

The job flows of the old Hangfire setup, in Django's terms:
- resident registration → welcome mail, fire-and-forget (`resident_register`);
- invoice creation → the workflow chain issue → post to ledger → notify, plus a reminder
  scheduled 24 h before the due time and skipped if the invoice is paid by then (`invoice_create`);
- invoice approval → update of the related records (`invoice_approve`);
- payment recording → processing on the `critical` queue (`payment_record`);
- analytics refresh on `low-priority` (`sales_analytics_request`);
- monthly invoices: one batch per society, one job per resident, a summary continuation
  (`monthly_invoices_generate`).
"""

import logging
from datetime import date, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import DecimalField, ExpressionWrapper, F, Max, Sum
from django.utils import timezone

import jobs.api
from dhanman.money import ZERO, inr, money, round_money
from dhanman.validation import as_date, as_id, as_month, existing, required_text
from jobs.events import publish
from notifications.services import notify
from sales import tasks
from sales.models import (
    Invoice,
    InvoiceRun,
    LateFee,
    LedgerEntry,
    Payment,
    Resident,
    ResidentAccount,
    SalesSnapshot,
    Society,
)
from sales.selectors import society_get

logger = logging.getLogger(__name__)

# `send-payment-reminders`: invoices due within this many days are reminded, and one invoice is
# reminded at most once every REMINDER_EVERY_DAYS days.
REMINDER_UPCOMING_DAYS = 3
REMINDER_EVERY_DAYS = 3

_BALANCE = ExpressionWrapper(
    F("amount") + F("late_fee_total") - F("paid_amount"), output_field=DecimalField()
)


# --- Societies and residents ----------------------------------------------------------------


def _resident(resident_id, *, lock: bool = False) -> Resident:
    return existing(
        Resident.objects.select_related("society"),
        resident_id,
        field="resident_id",
        label="resident",
        lock=lock,
    )


def _email(value, field: str = "email") -> str:
    email = required_text(value, field=field, max_length=254).lower()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError({field: f"{value!r} is not an email address."}) from None
    return email


def society_create(
    *,
    name: str,
    code: str,
    contact_email: str,
    monthly_charge,
    payment_terms_days: int = 15,
    late_fee_percent="2.00",
    late_fee_minimum="50.00",
    address: str = "",
) -> Society:
    name = required_text(name, field="name", max_length=200)
    code = required_text(code, field="code", max_length=40).lower()
    society = Society(
        name=name,
        code=code,
        contact_email=_email(contact_email, "contact_email"),
        address=address,
        monthly_charge=money(monthly_charge, field="monthly_charge", allow_zero=True),
        payment_terms_days=payment_terms_days,
        late_fee_percent=money(late_fee_percent, field="late_fee_percent", allow_zero=True),
        late_fee_minimum=money(late_fee_minimum, field="late_fee_minimum", allow_zero=True),
    )
    society.full_clean()
    society.save()
    return society


def resident_register(
    *, society_id, name: str, email: str, unit: str, phone: str = "", monthly_charge=None
) -> Resident:
    """Register a resident and send the welcome mail in the background (fire-and-forget)."""
    society = society_get(society_id)
    name = required_text(name, field="name", max_length=200)
    unit = required_text(unit, field="unit", max_length=20)
    email = _email(email)
    charge = (
        None if monthly_charge is None else money(monthly_charge, field="monthly_charge", allow_zero=True)
    )
    if Resident.objects.filter(society=society, email=email).exists():
        raise ValidationError({"email": f"{email} is already registered in {society}."})
    with transaction.atomic():
        resident = Resident.objects.create(
            society=society,
            name=name,
            email=email,
            unit=unit,
            phone=(phone or "").strip(),
            monthly_charge=charge,
        )
        ResidentAccount.objects.create(resident=resident)
        tasks.send_welcome_email.enqueue(resident.pk)
    return resident


def resident_welcome(*, resident_id) -> dict:
    resident = _resident(resident_id)
    message = notify(
        dedup_key=f"welcome:{resident.pk}",
        recipient=resident.email,
        subject="Welcome to Dhanman",
        body=(
            f"Dear {resident.name},\n\nWelcome to {resident.society.name} on Dhanman. Your invoices, payments, "
            f"visitor passes and maintenance requests for unit {resident.unit} are now in one place.\n"
        ),
    )
    Resident.objects.filter(pk=resident.pk, welcomed_at__isnull=True).update(welcomed_at=message.sent_at)
    return {"resident": resident.pk, "message": message.pk}


def resident_account_refresh(*, resident_id) -> ResidentAccount:
    """Recompute the resident's position from the ledger and the open invoices."""
    resident = _resident(resident_id)
    balance = LedgerEntry.objects.filter(resident=resident).aggregate(s=Sum("amount"))["s"] or ZERO
    open_invoices = Invoice.objects.filter(resident=resident, status__in=Invoice.OPEN)
    overdue = open_invoices.filter(status=Invoice.Status.OVERDUE).aggregate(s=Sum(_BALANCE))["s"] or ZERO
    account, _ = ResidentAccount.objects.update_or_create(
        resident=resident,
        defaults={
            "balance": balance,
            "overdue_amount": overdue,
            "open_invoices": open_invoices.count(),
            "last_invoice_at": Invoice.objects.filter(resident=resident).aggregate(m=Max("issued_at"))["m"],
            "last_payment_at": Payment.objects.filter(
                invoice__resident=resident, status=Payment.Status.PROCESSED
            ).aggregate(m=Max("processed_at"))["m"],
            "refreshed_at": timezone.now(),
        },
    )
    return account


# --- Invoices ---------------------------------------------------------------------------------


def _invoice(invoice_id, *, lock: bool = False) -> Invoice:
    return existing(
        Invoice.objects.select_related("resident", "society"),
        invoice_id,
        field="invoice_id",
        label="invoice",
        lock=lock,
    )


def invoice_create(
    *, resident_id, amount, due_date, issue_date=None, description: str = "", period=None
) -> Invoice:
    """Create a draft invoice and start its workflow: issue → post to ledger → notify (a
    continuation chain), and the reminder 24 h before it falls due."""
    resident = _resident(resident_id)
    if not resident.is_active:
        raise ValidationError({"resident_id": f"Resident {resident} has left the society: no new invoices."})
    amount = money(amount)
    issue_date = timezone.localdate() if issue_date is None else as_date(issue_date, field="issue_date")
    due_date = as_date(due_date, field="due_date")
    if due_date < issue_date:
        raise ValidationError({"due_date": f"Due date {due_date} is before the issue date {issue_date}."})
    period = None if period is None else as_month(period)
    if len(description) > 300:
        raise ValidationError({"description": "description is over 300 characters."})
    with transaction.atomic():
        invoice = Invoice.objects.create(
            society=resident.society,
            resident=resident,
            amount=amount,
            issue_date=issue_date,
            due_date=due_date,
            period=period,
            description=description,
        )
        invoice_workflow_start(invoice=invoice)
        tasks.send_invoice_reminder.using(run_after=invoice.reminder_at).enqueue(invoice.pk)
        publish(
            "sales.invoice_created",
            {
                "invoice_id": invoice.pk,
                "society_id": invoice.society_id,
                "resident_id": invoice.resident_id,
                "amount": str(invoice.amount),
                "issue_date": invoice.issue_date.isoformat(),
                "due_date": invoice.due_date.isoformat(),
                "due_at": invoice.due_at.isoformat(),
            },
            aggregate=f"sales.invoice:{invoice.pk}",
        )
    return invoice


def invoice_workflow_start(*, invoice: Invoice) -> list[str]:
    """The seed's ProcessInvoiceWorkflow: three jobs, each released when the one before succeeds."""
    created = tasks.create_invoice.enqueue(invoice.pk)
    ledger = jobs.api.continue_with(created, tasks.update_ledger, invoice.pk)
    notified = jobs.api.continue_with(ledger, tasks.send_invoice_notification, invoice.pk)
    return [created.id, ledger.id, notified.id]


def invoice_issue(*, invoice_id) -> Invoice:
    """Step 1 of the workflow: number the draft and issue it. Issued already: nothing to do."""
    with transaction.atomic():
        invoice = _invoice(invoice_id, lock=True)
        if invoice.status != Invoice.Status.DRAFT:
            return invoice
        invoice.number = f"INV-{invoice.issue_date:%Y%m}-{invoice.pk:06d}"
        invoice.status = Invoice.Status.ISSUED
        invoice.issued_at = timezone.now()
        invoice.save(update_fields=["number", "status", "issued_at"])
    return invoice


def invoice_post_to_ledger(*, invoice_id) -> LedgerEntry | None:
    """Step 2: the invoice's charge on the resident's ledger, once."""
    with transaction.atomic():
        invoice = _invoice(invoice_id, lock=True)
        if invoice.status in (Invoice.Status.DRAFT, Invoice.Status.CANCELLED):
            return None
        entry, _ = LedgerEntry.objects.get_or_create(
            source_key=f"invoice:{invoice.pk}",
            defaults={
                "society": invoice.society,
                "resident": invoice.resident,
                "invoice": invoice,
                "kind": LedgerEntry.Kind.INVOICE,
                "amount": invoice.amount,
            },
        )
        resident_account_refresh(resident_id=invoice.resident_id)
    return entry


def invoice_notify(*, invoice_id) -> dict:
    """Step 3: tell the resident."""
    invoice = _invoice(invoice_id)
    if invoice.status in (Invoice.Status.DRAFT, Invoice.Status.CANCELLED):
        return {"invoice": invoice.pk, "skipped": f"invoice is {invoice.status}"}
    message = notify(
        dedup_key=f"invoice-issued:{invoice.pk}",
        recipient=invoice.resident.email,
        subject=f"Invoice {invoice.number} from {invoice.society.name}",
        body=(
            f"Dear {invoice.resident.name},\n\nInvoice {invoice.number} for {inr(invoice.amount)} "
            f"({invoice.description or 'society charges'}) is due on {invoice.due_date:%d %b %Y}.\n"
        ),
    )
    return {"invoice": invoice.pk, "message": message.pk}


def invoice_send_due_reminder(*, invoice_id) -> dict:
    """The delayed reminder, 24 h before the invoice falls due; nothing if it is paid by then."""
    invoice = _invoice(invoice_id)
    if invoice.status not in Invoice.OPEN or invoice.balance_due <= 0:
        return {"invoice": invoice.pk, "skipped": f"invoice is {invoice.status}"}
    if timezone.now() >= invoice.due_at:
        # Created (or run) after its due time: "due tomorrow" would be wrong; the daily
        # payment reminders cover it.
        return {"invoice": invoice.pk, "skipped": "already due"}
    message = notify(
        dedup_key=f"invoice-due:{invoice.pk}",
        recipient=invoice.resident.email,
        subject=f"Invoice {invoice.number} is due tomorrow",
        body=(
            f"Dear {invoice.resident.name},\n\nYour invoice #{invoice.number} is due tomorrow "
            f"({invoice.due_date:%d %b %Y}). Amount: {inr(invoice.balance_due)}.\n"
        ),
    )
    return {"invoice": invoice.pk, "message": message.pk}


def invoice_approve(*, invoice_id, approved_by: str) -> Invoice:
    """Approve an issued invoice now; the related records are updated in the background."""
    approved_by = required_text(approved_by, field="approved_by", max_length=150)
    with transaction.atomic():
        invoice = _invoice(invoice_id, lock=True)
        if invoice.status in (Invoice.Status.DRAFT, Invoice.Status.CANCELLED):
            raise ValidationError(
                {"invoice_id": f"Invoice {invoice} is {invoice.status} and cannot be approved."}
            )
        if invoice.approved_at is not None:
            raise ValidationError(
                {"invoice_id": f"Invoice {invoice} was already approved by {invoice.approved_by}."}
            )
        invoice.approved_at = timezone.now()
        invoice.approved_by = approved_by
        invoice.save(update_fields=["approved_at", "approved_by"])
        tasks.update_invoice_related_records.enqueue(invoice.pk)
    return invoice


def invoice_update_related_records(*, invoice_id) -> dict:
    """After approval: the ledger holds the invoice, the resident's account is current, and the
    society's figures are refreshed (on the low-priority queue)."""
    invoice = _invoice(invoice_id)
    entry = invoice_post_to_ledger(invoice_id=invoice.pk)
    account = resident_account_refresh(resident_id=invoice.resident_id)
    sales_analytics_request(society_id=invoice.society_id)
    return {
        "invoice": invoice.pk,
        "ledger_entry": entry.pk if entry else None,
        "balance": str(account.balance),
    }


# --- Payments ---------------------------------------------------------------------------------


def payment_record(*, invoice_id, amount, method: str, reference: str = "", received_at=None) -> Payment:
    """Record a payment against an invoice; it is processed on the `critical` queue."""
    amount = money(amount)
    if method not in Payment.Method.values:
        raise ValidationError(
            {"method": f"Unknown payment method {method!r}: one of {', '.join(Payment.Method.values)}."}
        )
    reference = (reference or "").strip()
    if len(reference) > 100:
        raise ValidationError({"reference": "reference is over 100 characters."})
    received_at = received_at or timezone.now()
    if timezone.is_naive(received_at):
        raise ValidationError({"received_at": "received_at must be an aware datetime."})
    with transaction.atomic():
        invoice = _invoice(invoice_id, lock=True)
        if invoice.status not in Invoice.OPEN:
            raise ValidationError(
                {"invoice_id": f"Invoice {invoice} is {invoice.status}: it takes no payments."}
            )
        pending = (
            invoice.payments.filter(status=Payment.Status.PENDING).aggregate(s=Sum("amount"))["s"] or ZERO
        )
        if amount > invoice.balance_due - pending:
            raise ValidationError(
                {
                    "amount": f"{inr(amount)} is more than the {inr(invoice.balance_due - pending)} left to pay on {invoice}."
                }
            )
        if reference and Payment.objects.filter(method=method, reference=reference).exists():
            raise ValidationError(
                {"reference": f"A {method} payment with reference {reference} is already recorded."}
            )
        payment = Payment.objects.create(
            invoice=invoice, amount=amount, method=method, reference=reference, received_at=received_at
        )
        tasks.process_payment.enqueue(payment.pk)
        publish(
            "sales.payment_received",
            {
                "payment_id": payment.pk,
                "invoice_id": invoice.pk,
                "amount": str(payment.amount),
                "method": payment.method,
                "received_at": payment.received_at.isoformat(),
            },
            # The invoice's aggregate: its payments are delivered after its creation.
            aggregate=f"sales.invoice:{invoice.pk}",
            occurred_at=payment.received_at,
        )
    return payment


def payment_process(*, payment_id) -> dict:
    """Apply a recorded payment: invoice paid amount and status, ledger, account, receipt.
    Processed already (a retry): only the receipt is (re)checked, which its dedup key makes safe."""
    payment_id = as_id(payment_id, field="payment_id")
    with transaction.atomic():
        payment = Payment.objects.select_for_update().filter(pk=payment_id).first()
        if payment is None:
            raise ValidationError({"payment_id": f"Unknown payment {payment_id}."})
        if payment.status == Payment.Status.PENDING:
            invoice = _invoice(payment.invoice_id, lock=True)
            invoice.paid_amount += payment.amount
            fields = ["paid_amount"]
            if invoice.balance_due == 0 and invoice.status in Invoice.OPEN:
                invoice.status = Invoice.Status.PAID
                invoice.paid_at = timezone.now()
                fields += ["status", "paid_at"]
            invoice.save(update_fields=fields)
            LedgerEntry.objects.get_or_create(
                source_key=f"payment:{payment.pk}",
                defaults={
                    "society": invoice.society,
                    "resident": invoice.resident,
                    "invoice": invoice,
                    "kind": LedgerEntry.Kind.PAYMENT,
                    "amount": -payment.amount,
                },
            )
            payment.status = Payment.Status.PROCESSED
            payment.processed_at = timezone.now()
            payment.save(update_fields=["status", "processed_at"])
            resident_account_refresh(resident_id=invoice.resident_id)
            sales_analytics_request(society_id=invoice.society_id)
    invoice = _invoice(payment.invoice_id)
    notify(
        dedup_key=f"payment-receipt:{payment.pk}",
        recipient=invoice.resident.email,
        subject=f"Payment received for invoice {invoice.number}",
        body=(
            f"Dear {invoice.resident.name},\n\nWe received {inr(payment.amount)} by {payment.get_method_display()} "
            f"for invoice {invoice.number}. Balance due: {inr(invoice.balance_due)}.\n"
        ),
    )
    return {"payment": payment.pk, "invoice": invoice.pk, "invoice_status": invoice.status}


# --- Analytics (low-priority) ---------------------------------------------------------------


def sales_analytics_request(*, society_id) -> str:
    """Ask for the society's figures to be refreshed; the job runs on `low-priority`."""
    return tasks.refresh_sales_analytics.enqueue(as_id(society_id, field="society_id")).id


def sales_snapshot_refresh(*, society_id, on_date=None) -> SalesSnapshot:
    """Month-to-date invoiced and collected amounts, what is outstanding and overdue now."""
    society = society_get(society_id)
    on_date = timezone.localdate() if on_date is None else as_date(on_date, field="on_date")
    month_start = on_date.replace(day=1)
    invoices = Invoice.objects.filter(society=society).exclude(
        status__in=[Invoice.Status.DRAFT, Invoice.Status.CANCELLED]
    )
    open_invoices = invoices.filter(status__in=Invoice.OPEN)
    snapshot, _ = SalesSnapshot.objects.update_or_create(
        society=society,
        date=on_date,
        defaults={
            "invoiced_amount": invoices.filter(
                issue_date__gte=month_start, issue_date__lte=on_date
            ).aggregate(s=Sum("amount"))["s"]
            or ZERO,
            "collected_amount": Payment.objects.filter(
                invoice__society=society,
                status=Payment.Status.PROCESSED,
                received_at__date__gte=month_start,
                received_at__date__lte=on_date,
            ).aggregate(s=Sum("amount"))["s"]
            or ZERO,
            "outstanding_amount": open_invoices.aggregate(s=Sum(_BALANCE))["s"] or ZERO,
            "overdue_count": open_invoices.filter(status=Invoice.Status.OVERDUE).count(),
            "refreshed_at": timezone.now(),
        },
    )
    return snapshot


# --- Recurring work -------------------------------------------------------------------------


def invoices_mark_overdue(*, today: date | None = None) -> int:
    """`check-overdue-invoices`: issued invoices past their due date become overdue."""
    today = today or timezone.localdate()
    return Invoice.objects.filter(status=Invoice.Status.ISSUED, due_date__lt=today).update(
        status=Invoice.Status.OVERDUE, overdue_at=timezone.now()
    )


def late_fee_for(invoice: Invoice) -> Decimal:
    unpaid_principal = max(invoice.amount - invoice.paid_amount, ZERO)
    percent_fee = round_money(unpaid_principal * invoice.society.late_fee_percent / 100)
    return max(percent_fee, invoice.society.late_fee_minimum)


def late_fees_apply(*, today: date | None = None) -> dict:
    """`calculate-late-fees`: one fee per overdue invoice per month. The LateFee unique
    constraint is the guarantee; the check under the invoice's row lock keeps a second run
    from even trying."""
    today = today or timezone.localdate()
    period = today.replace(day=1)
    applied, skipped = [], 0
    candidates = Invoice.objects.filter(status=Invoice.Status.OVERDUE).values_list("pk", flat=True)
    for invoice_id in candidates:
        with transaction.atomic():
            invoice = _invoice(invoice_id, lock=True)
            grace = timedelta(days=invoice.society.late_fee_grace_days)
            if (
                invoice.status != Invoice.Status.OVERDUE
                or invoice.due_date + grace >= today
                or invoice.balance_due <= 0
                or LateFee.objects.filter(invoice=invoice, period=period).exists()
            ):
                skipped += 1
                continue
            amount = late_fee_for(invoice)
            if amount <= 0:
                skipped += 1
                continue
            fee = LateFee.objects.create(invoice=invoice, period=period, amount=amount)
            Invoice.objects.filter(pk=invoice.pk).update(late_fee_total=F("late_fee_total") + amount)
            LedgerEntry.objects.create(
                source_key=f"late-fee:{fee.pk}",
                society=invoice.society,
                resident=invoice.resident,
                invoice=invoice,
                kind=LedgerEntry.Kind.LATE_FEE,
                amount=amount,
            )
            resident_account_refresh(resident_id=invoice.resident_id)
            applied.append(fee.pk)
    return {"period": period.isoformat(), "applied": len(applied), "skipped": skipped}


def payment_reminders_send(*, today: date | None = None) -> dict:
    """`send-payment-reminders`: open invoices due within a few days or overdue, each at most
    once every REMINDER_EVERY_DAYS days."""
    today = today or timezone.localdate()
    due = (
        Invoice.objects.filter(
            status__in=Invoice.OPEN, due_date__lte=today + timedelta(days=REMINDER_UPCOMING_DAYS)
        )
        .exclude(last_reminder_on__gt=today - timedelta(days=REMINDER_EVERY_DAYS))
        .select_related("resident", "society")
        .order_by("due_date", "pk")
    )
    sent = 0
    for invoice in due:
        if invoice.balance_due <= 0:
            continue
        when = "was due" if invoice.due_date < today else "is due"
        notify(
            dedup_key=f"payment-reminder:{invoice.pk}:{today.isoformat()}",
            recipient=invoice.resident.email,
            subject=f"Payment reminder: invoice {invoice.number} {when} on {invoice.due_date:%d %b}",
            body=(
                f"Dear {invoice.resident.name},\n\nInvoice {invoice.number} {when} on {invoice.due_date:%d %b %Y}. "
                f"Amount due: {inr(invoice.balance_due)}.\n"
            ),
        )
        Invoice.objects.filter(pk=invoice.pk).update(last_reminder_on=today)
        sent += 1
    return {"reminded": sent}


def monthly_invoices_generate(*, period=None) -> dict:
    """`generate-monthly-invoices`: per society, a batch with one job per active resident and a
    summary continuation. A society whose run for the month exists already is skipped, so the
    recurring job firing twice starts one batch."""
    period = timezone.localdate().replace(day=1) if period is None else as_month(period)
    started = {}
    for society in Society.objects.order_by("pk"):
        resident_ids = list(
            Resident.objects.filter(society=society, is_active=True)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        with transaction.atomic():
            try:
                with transaction.atomic():
                    run = InvoiceRun.objects.create(
                        society=society, period=period, resident_count=len(resident_ids)
                    )
            except IntegrityError:
                continue
            if not resident_ids:
                run.finished_at = timezone.now()
                run.save(update_fields=["finished_at"])
                started[society.code] = None
                continue
            with jobs.api.batch(f"Monthly invoices, {society.code}, {period:%Y-%m}") as b:
                for resident_id in resident_ids:
                    b.enqueue(tasks.generate_invoice_for_resident, resident_id, period.isoformat())
                # "completed", not "succeeded": the summary should also report residents whose
                # invoice failed.
                b.then(tasks.send_bulk_generation_summary, society.pk, period.isoformat(), on="completed")
            run.batch_id = b.id
            run.save(update_fields=["batch_id"])
            started[society.code] = str(b.id)
    return {"period": period.isoformat(), "batches": started}


def invoice_generate_for_resident(*, resident_id, period) -> Invoice | None:
    """One resident's invoice for the month; the existing one if it was generated already."""
    period = as_month(period)
    resident = _resident(resident_id)
    existing = Invoice.objects.filter(resident=resident, period=period).first()
    if existing is not None:
        return existing
    amount = resident.billing_amount
    if amount <= 0:
        return None
    today = timezone.localdate()
    try:
        return invoice_create(
            resident_id=resident.pk,
            amount=amount,
            issue_date=today,
            due_date=today + timedelta(days=resident.society.payment_terms_days),
            period=period,
            description=f"Maintenance charges for {period:%B %Y}",
        )
    except IntegrityError:
        # Only the once-per-month constraint is expected here (a concurrent run of this job);
        # anything else is a real error.
        existing = Invoice.objects.filter(resident=resident, period=period).first()
        if existing is None:
            raise
        return existing


def monthly_invoices_summarize(*, society_id, period) -> InvoiceRun:
    """The batch's continuation: count what was generated, name who is missing, mail the society."""
    society = society_get(society_id)
    period = as_month(period)
    run = InvoiceRun.objects.filter(society=society, period=period).first()
    if run is None:
        raise ValidationError({"period": f"No invoice run for {society} in {period:%Y-%m}."})
    invoices = Invoice.objects.filter(society=society, period=period)
    invoiced = set(invoices.values_list("resident_id", flat=True))
    missing = list(
        Resident.objects.filter(society=society, is_active=True, registered_at__lte=run.started_at)
        .exclude(pk__in=invoiced)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    run.invoice_count = len(invoiced)
    run.total_amount = invoices.aggregate(s=Sum("amount"))["s"] or ZERO
    run.missing_residents = missing
    run.finished_at = run.finished_at or timezone.now()
    run.save(update_fields=["invoice_count", "total_amount", "missing_residents", "finished_at"])
    notify(
        dedup_key=f"monthly-invoice-summary:{society.pk}:{period:%Y-%m}",
        recipient=society.contact_email,
        subject=f"{society.name}: {run.invoice_count} invoices generated for {period:%B %Y}",
        body=(
            f"Invoices generated for {period:%B %Y}: {run.invoice_count} of {run.resident_count} residents, "
            f"{inr(run.total_amount)} in total.\n"
            + (
                f"No invoice for residents {', '.join(map(str, missing))}: see the failed jobs.\n"
                if missing
                else ""
            )
        ),
    )
    return run
