"""Inventory: the society's stock (cleaning supplies, spares, diesel), received in lots that may
expire, every change recorded as a movement, low-stock alerts and the weekly stock report."""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from dhanman.money import ZERO

MONEY = {"max_digits": 12, "decimal_places": 2}
QUANTITY = {"max_digits": 12, "decimal_places": 3}


class StockItem(models.Model):
    society = models.ForeignKey("sales.Society", on_delete=models.PROTECT, related_name="stock_items")
    sku = models.CharField(max_length=40)
    name = models.CharField(max_length=200)
    unit = models.CharField(max_length=20, help_text="pcs, kg, litre …")
    # On hand: the sum of the movements, kept here so the alert query needs no aggregate.
    quantity = models.DecimalField(**QUANTITY, default=0)
    reorder_level = models.DecimalField(**QUANTITY)
    reorder_quantity = models.DecimalField(**QUANTITY)
    unit_cost = models.DecimalField(**MONEY, default=ZERO)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["society", "sku"]
        constraints = [
            models.UniqueConstraint(fields=["society", "sku"], name="stock_item_sku_unique_in_society"),
            models.CheckConstraint(condition=Q(quantity__gte=0), name="stock_item_quantity_not_negative"),
            models.CheckConstraint(
                condition=Q(reorder_level__gte=0), name="stock_item_reorder_level_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(reorder_quantity__gt=0), name="stock_item_reorder_quantity_positive"
            ),
            models.CheckConstraint(condition=Q(unit_cost__gte=0), name="stock_item_cost_not_negative"),
        ]

    def __str__(self):
        return f"{self.name} ({self.sku})"

    @property
    def is_low(self) -> bool:
        return self.quantity <= self.reorder_level


class StockLot(models.Model):
    """Goods received together, with their expiry date (medicines, chemicals, food for events)."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        EXPIRED = "expired", "Expired"
        USED_UP = "used_up", "Used up"

    item = models.ForeignKey(StockItem, on_delete=models.CASCADE, related_name="lots")
    lot_code = models.CharField(max_length=40)
    quantity = models.DecimalField(**QUANTITY, help_text="What is left of this lot.")
    received_on = models.DateField()
    expires_on = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    expired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["expires_on", "received_on", "id"]
        constraints = [
            models.UniqueConstraint(fields=["item", "lot_code"], name="stock_lot_code_unique_per_item"),
            models.CheckConstraint(condition=Q(quantity__gte=0), name="stock_lot_quantity_not_negative"),
        ]
        indexes = [
            models.Index(fields=["expires_on"], name="stock_lot_expiry_idx", condition=Q(status="active")),
        ]

    def __str__(self):
        return f"{self.item.sku} lot {self.lot_code}"


class StockMovement(models.Model):
    class Kind(models.TextChoices):
        RECEIPT = "receipt", "Receipt"
        ISSUE = "issue", "Issue"
        EXPIRY = "expiry", "Written off (expired)"
        ADJUSTMENT = "adjustment", "Adjustment"

    item = models.ForeignKey(StockItem, on_delete=models.CASCADE, related_name="movements")
    lot = models.ForeignKey(
        StockLot, null=True, blank=True, on_delete=models.SET_NULL, related_name="movements"
    )
    kind = models.CharField(max_length=12, choices=Kind.choices)
    quantity = models.DecimalField(**QUANTITY, help_text="Positive in, negative out.")
    reference = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["item", "created_at"], name="stock_movement_item_idx")]
        constraints = [models.CheckConstraint(condition=~Q(quantity=0), name="stock_movement_not_zero")]

    def __str__(self):
        return f"{self.kind} {self.quantity} {self.item.sku}"


class LowStockAlert(models.Model):
    """At most one open alert per item (a partial unique index): `check-low-stock-alerts` raises
    it once, and it is resolved when stock is back above the reorder level."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"

    item = models.ForeignKey(StockItem, on_delete=models.CASCADE, related_name="alerts")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    quantity_at_alert = models.DecimalField(**QUANTITY)
    reorder_level = models.DecimalField(**QUANTITY)
    raised_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-raised_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["item"], condition=Q(status="open"), name="low_stock_one_open_alert_per_item"
            ),
        ]

    def __str__(self):
        return f"Low stock: {self.item} ({self.status})"


class StockReport(models.Model):
    """The weekly stock report of one society (Friday 17:00), one per society and week."""

    society = models.ForeignKey("sales.Society", on_delete=models.CASCADE, related_name="stock_reports")
    week_start = models.DateField(help_text="The Monday of the reported week.")
    item_count = models.PositiveIntegerField(default=0)
    total_value = models.DecimalField(**MONEY, default=ZERO)
    low_stock_count = models.PositiveIntegerField(default=0)
    expired_lots = models.PositiveIntegerField(default=0)
    # Per item: sku, name, on hand, value, received and issued this week.
    rows = models.JSONField(default=list)
    generated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-week_start"]
        constraints = [
            models.UniqueConstraint(fields=["society", "week_start"], name="stock_report_once_per_week")
        ]

    def __str__(self):
        return f"{self.society} stock, week of {self.week_start}"
