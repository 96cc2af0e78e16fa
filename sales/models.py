"""Sales: the society and its residents (the customers), their invoices, payments, late fees
and ledger.

The society lives here because every other context bills, pays or serves the same society;
they reference `sales.Society` (and community references `sales.Resident`), so dependencies
between contexts point one way.
"""

from datetime import datetime, time, timedelta

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from dhanman.money import ZERO

MONEY = {"max_digits": 12, "decimal_places": 2}


class Society(models.Model):
    """A residential society, with the billing terms its invoices follow."""

    name = models.CharField(max_length=200)
    code = models.SlugField(max_length=40, unique=True)
    contact_email = models.EmailField(help_text="Where summaries, approvals and reports go.")
    address = models.TextField(blank=True)
    monthly_charge = models.DecimalField(
        **MONEY, help_text="Default monthly maintenance charge per resident."
    )
    payment_terms_days = models.PositiveSmallIntegerField(default=15)
    late_fee_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default="2.00",
        help_text="Percent of the unpaid amount, once a month.",
    )
    late_fee_minimum = models.DecimalField(**MONEY, default="50.00")
    late_fee_grace_days = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "societies"
        constraints = [
            models.CheckConstraint(
                condition=Q(monthly_charge__gte=0), name="society_monthly_charge_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(late_fee_percent__gte=0, late_fee_percent__lte=100),
                name="society_late_fee_percent_range",
            ),
            models.CheckConstraint(
                condition=Q(late_fee_minimum__gte=0), name="society_late_fee_minimum_not_negative"
            ),
        ]

    def __str__(self):
        return self.name


class Resident(models.Model):
    society = models.ForeignKey(Society, on_delete=models.PROTECT, related_name="residents")
    name = models.CharField(max_length=200)
    email = models.EmailField()
    phone = models.CharField(max_length=20, blank=True)
    unit = models.CharField(max_length=20, help_text="Flat or house number.")
    monthly_charge = models.DecimalField(
        **MONEY, null=True, blank=True, help_text="Overrides the society's monthly charge."
    )
    is_active = models.BooleanField(default=True)
    registered_at = models.DateTimeField(default=timezone.now)
    welcomed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["society", "unit", "name"]
        constraints = [
            models.UniqueConstraint(fields=["society", "email"], name="resident_email_unique_in_society"),
            models.CheckConstraint(
                condition=Q(monthly_charge__isnull=True) | Q(monthly_charge__gte=0),
                name="resident_monthly_charge_not_negative",
            ),
        ]
        indexes = [models.Index(fields=["society", "is_active"], name="resident_active_idx")]

    def __str__(self):
        return f"{self.name} ({self.unit})"

    @property
    def billing_amount(self):
        return self.monthly_charge if self.monthly_charge is not None else self.society.monthly_charge


class ResidentAccount(models.Model):
    """The resident's position, recomputed from the ledger (never edited by hand)."""

    resident = models.OneToOneField(Resident, on_delete=models.CASCADE, related_name="account")
    balance = models.DecimalField(**MONEY, default=ZERO, help_text="Charges minus payments.")
    overdue_amount = models.DecimalField(**MONEY, default=ZERO)
    open_invoices = models.PositiveIntegerField(default=0)
    last_invoice_at = models.DateTimeField(null=True, blank=True)
    last_payment_at = models.DateTimeField(null=True, blank=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"Account of {self.resident}"


class Invoice(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ISSUED = "issued", "Issued"
        OVERDUE = "overdue", "Overdue"
        PAID = "paid", "Paid"
        CANCELLED = "cancelled", "Cancelled"

    OPEN = (Status.ISSUED, Status.OVERDUE)

    society = models.ForeignKey(Society, on_delete=models.PROTECT, related_name="invoices")
    resident = models.ForeignKey(Resident, on_delete=models.PROTECT, related_name="invoices")
    # Assigned when the invoice is issued (the first step of the invoice workflow).
    number = models.CharField(max_length=40, unique=True, null=True, blank=True)
    # The month a recurring invoice bills (its first day); empty for one-off invoices.
    period = models.DateField(null=True, blank=True)
    description = models.CharField(max_length=300, blank=True)
    issue_date = models.DateField()
    due_date = models.DateField()
    amount = models.DecimalField(**MONEY)
    late_fee_total = models.DecimalField(**MONEY, default=ZERO)
    paid_amount = models.DecimalField(**MONEY, default=ZERO)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    created_at = models.DateTimeField(default=timezone.now)
    issued_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.CharField(max_length=150, blank=True)
    overdue_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    last_reminder_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["-issue_date", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="invoice_amount_positive"),
            models.CheckConstraint(
                condition=Q(due_date__gte=F("issue_date")), name="invoice_due_not_before_issue"
            ),
            models.CheckConstraint(condition=Q(paid_amount__gte=0), name="invoice_paid_not_negative"),
            models.CheckConstraint(condition=Q(late_fee_total__gte=0), name="invoice_late_fee_not_negative"),
            # One recurring invoice per resident and month, however often generation runs.
            models.UniqueConstraint(
                fields=["resident", "period"],
                condition=Q(period__isnull=False),
                name="invoice_once_per_resident_period",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "due_date"], name="invoice_status_due_idx"),
            models.Index(fields=["society", "issue_date"], name="invoice_society_issue_idx"),
            models.Index(fields=["resident", "status"], name="invoice_resident_status_idx"),
        ]

    def __str__(self):
        return self.number or f"Draft invoice {self.pk}"

    @property
    def total(self):
        return self.amount + self.late_fee_total

    @property
    def balance_due(self):
        return max(self.total - self.paid_amount, ZERO)

    @property
    def due_at(self) -> datetime:
        """The moment the invoice falls due: the start of its due date, in the society's time zone."""
        return timezone.make_aware(datetime.combine(self.due_date, time.min))

    @property
    def reminder_at(self) -> datetime:
        return self.due_at - timedelta(hours=24)


class Payment(models.Model):
    class Method(models.TextChoices):
        UPI = "upi", "UPI"
        BANK_TRANSFER = "bank_transfer", "Bank transfer"
        CARD = "card", "Card"
        CHEQUE = "cheque", "Cheque"
        CASH = "cash", "Cash"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSED = "processed", "Processed"

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payments")
    amount = models.DecimalField(**MONEY)
    method = models.CharField(max_length=20, choices=Method.choices)
    reference = models.CharField(max_length=100, blank=True, help_text="Bank, UPI or cheque reference.")
    received_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    processed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            # The same bank reference recorded twice is the same payment.
            models.UniqueConstraint(
                fields=["method", "reference"], condition=~Q(reference=""), name="payment_reference_unique"
            ),
        ]
        indexes = [models.Index(fields=["status", "received_at"], name="payment_status_idx")]

    def __str__(self):
        return f"Payment {self.pk} of {self.amount} for {self.invoice}"


class LateFee(models.Model):
    """A late fee applied to an overdue invoice for one month. The unique constraint is what
    makes `calculate-late-fees` safe to run twice: a second run cannot charge the month again."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="late_fees")
    period = models.DateField(help_text="The first day of the month the fee is for.")
    amount = models.DecimalField(**MONEY)
    applied_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-period"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "period"], name="late_fee_once_per_invoice_period"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="late_fee_amount_positive"),
        ]

    def __str__(self):
        return f"Late fee {self.amount} on {self.invoice} for {self.period:%Y-%m}"


class LedgerEntry(models.Model):
    """A posting on a resident's ledger: charges positive, payments negative. `source_key`
    names what was posted (invoice:12, payment:7, late-fee:3) and is unique, so posting the same
    thing again (a retried job) is a no-op."""

    class Kind(models.TextChoices):
        INVOICE = "invoice", "Invoice"
        PAYMENT = "payment", "Payment"
        LATE_FEE = "late_fee", "Late fee"

    society = models.ForeignKey(Society, on_delete=models.PROTECT, related_name="ledger_entries")
    resident = models.ForeignKey(Resident, on_delete=models.PROTECT, related_name="ledger_entries")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="ledger_entries")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    source_key = models.CharField(max_length=60, unique=True)
    amount = models.DecimalField(**MONEY)
    posted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-posted_at", "-id"]
        verbose_name_plural = "ledger entries"
        indexes = [models.Index(fields=["resident", "posted_at"], name="ledger_resident_idx")]

    def __str__(self):
        return f"{self.kind} {self.amount} ({self.source_key})"


class InvoiceRun(models.Model):
    """One society's monthly invoice generation: the batch that ran it and what it produced.
    Unique per month, so the recurring job firing twice starts one batch."""

    society = models.ForeignKey(Society, on_delete=models.PROTECT, related_name="invoice_runs")
    period = models.DateField()
    batch_id = models.UUIDField(null=True, blank=True)
    resident_count = models.PositiveIntegerField(default=0)
    invoice_count = models.PositiveIntegerField(default=0)
    total_amount = models.DecimalField(**MONEY, default=ZERO)
    missing_residents = models.JSONField(default=list, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-period", "society"]
        constraints = [
            models.UniqueConstraint(fields=["society", "period"], name="invoice_run_once_per_month")
        ]

    def __str__(self):
        return f"{self.society} invoices for {self.period:%Y-%m}"


class SalesSnapshot(models.Model):
    """Collection figures per society and day, refreshed on the low-priority queue."""

    society = models.ForeignKey(Society, on_delete=models.CASCADE, related_name="sales_snapshots")
    date = models.DateField()
    invoiced_amount = models.DecimalField(**MONEY, default=ZERO)
    collected_amount = models.DecimalField(**MONEY, default=ZERO)
    outstanding_amount = models.DecimalField(**MONEY, default=ZERO)
    overdue_count = models.PositiveIntegerField(default=0)
    refreshed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-date"]
        constraints = [
            models.UniqueConstraint(fields=["society", "date"], name="sales_snapshot_once_per_day")
        ]

    def __str__(self):
        return f"{self.society} on {self.date}"
