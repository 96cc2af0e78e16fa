"""Purchase: vendors, purchase orders and their approval, goods receipt notes (GRNs) matched
against the orders, and the vendor bills the society has to pay."""

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from dhanman.money import ZERO, round_money

MONEY = {"max_digits": 12, "decimal_places": 2}
QUANTITY = {"max_digits": 12, "decimal_places": 3}


class Vendor(models.Model):
    society = models.ForeignKey("sales.Society", on_delete=models.PROTECT, related_name="vendors")
    name = models.CharField(max_length=200)
    email = models.EmailField()
    phone = models.CharField(max_length=20, blank=True)
    gstin = models.CharField("GSTIN", max_length=15, blank=True)
    payment_terms_days = models.PositiveSmallIntegerField(default=30)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["society", "name"], name="vendor_name_unique_in_society")
        ]

    def __str__(self):
        return self.name


class PurchaseOrder(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PENDING_APPROVAL = "pending_approval", "Pending approval"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        RECEIVED = "received", "Fully received"
        CLOSED = "closed", "Closed"

    society = models.ForeignKey("sales.Society", on_delete=models.PROTECT, related_name="purchase_orders")
    vendor = models.ForeignKey(Vendor, on_delete=models.PROTECT, related_name="purchase_orders")
    # PO-<society>-<id>, set in the transaction that creates the order.
    number = models.CharField(max_length=40, unique=True, null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    order_date = models.DateField()
    expected_date = models.DateField(null=True, blank=True)
    total_amount = models.DecimalField(**MONEY, default=ZERO)
    requested_by = models.CharField(max_length=150)
    approver_email = models.EmailField(help_text="Who is asked to approve it.")
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.CharField(max_length=150, blank=True)
    last_approval_reminder_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-order_date", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(total_amount__gte=0), name="po_total_not_negative"),
            models.CheckConstraint(
                condition=Q(expected_date__isnull=True) | Q(expected_date__gte=F("order_date")),
                name="po_expected_not_before_order",
            ),
        ]
        indexes = [models.Index(fields=["status", "submitted_at"], name="po_status_idx")]

    def __str__(self):
        return self.number or f"{self._meta.verbose_name} {self.pk}"


class PurchaseOrderLine(models.Model):
    order = models.ForeignKey(PurchaseOrder, on_delete=models.CASCADE, related_name="lines")
    description = models.CharField(max_length=200)
    sku = models.CharField(max_length=40, blank=True, help_text="The inventory item, when it is stock.")
    quantity = models.DecimalField(**QUANTITY)
    unit_price = models.DecimalField(**MONEY)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="po_line_quantity_positive"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="po_line_price_not_negative"),
        ]

    def __str__(self):
        return f"{self.description} × {self.quantity}"

    @property
    def amount(self):
        return round_money(self.quantity * self.unit_price)


class GoodsReceiptNote(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending match"
        MATCHED = "matched", "Matched"
        MISMATCH = "mismatch", "Mismatch"

    order = models.ForeignKey(PurchaseOrder, on_delete=models.PROTECT, related_name="receipts")
    number = models.CharField(max_length=40, unique=True, null=True, blank=True)
    received_on = models.DateField()
    received_by = models.CharField(max_length=150)
    invoice_amount = models.DecimalField(**MONEY, help_text="The amount on the vendor's delivery invoice.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    # What `check-grn-matching` found: a list of {"line", "problem", ...} for each mismatch.
    mismatches = models.JSONField(default=list, blank=True)
    matched_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_on", "-id"]
        verbose_name = "goods receipt note"
        constraints = [
            models.CheckConstraint(condition=Q(invoice_amount__gte=0), name="grn_amount_not_negative")
        ]
        indexes = [models.Index(fields=["status"], name="grn_status_idx")]

    def __str__(self):
        return self.number or f"{self._meta.verbose_name} {self.pk}"


class GoodsReceiptLine(models.Model):
    receipt = models.ForeignKey(GoodsReceiptNote, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey(PurchaseOrderLine, on_delete=models.PROTECT, related_name="receipt_lines")
    quantity_received = models.DecimalField(**QUANTITY)
    unit_price = models.DecimalField(**MONEY, help_text="The price the vendor charged.")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity_received__gt=0), name="grn_line_quantity_positive"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="grn_line_price_not_negative"),
            models.UniqueConstraint(fields=["receipt", "order_line"], name="grn_line_once_per_order_line"),
        ]

    def __str__(self):
        return f"{self.order_line.description} × {self.quantity_received}"


class VendorBill(models.Model):
    class Status(models.TextChoices):
        UNPAID = "unpaid", "Unpaid"
        PAID = "paid", "Paid"

    vendor = models.ForeignKey(Vendor, on_delete=models.PROTECT, related_name="bills")
    order = models.ForeignKey(
        PurchaseOrder, null=True, blank=True, on_delete=models.PROTECT, related_name="bills"
    )
    number = models.CharField(max_length=40, help_text="The vendor's bill number.")
    bill_date = models.DateField()
    due_date = models.DateField()
    amount = models.DecimalField(**MONEY)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.UNPAID)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_date", "id"]
        constraints = [
            models.UniqueConstraint(fields=["vendor", "number"], name="vendor_bill_number_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="vendor_bill_amount_positive"),
            models.CheckConstraint(
                condition=Q(due_date__gte=F("bill_date")), name="vendor_bill_due_not_before_bill"
            ),
        ]
        indexes = [models.Index(fields=["status", "due_date"], name="vendor_bill_due_idx")]

    def __str__(self):
        return f"{self.vendor} bill {self.number}"
