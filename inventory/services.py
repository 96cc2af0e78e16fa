"""Inventory operations: items, receipts in lots, issues (first expiring, first out), and the
recurring checks: low stock, expired lots, the weekly report.

Invariant: an item's `quantity` is the sum of its active lots' quantities and of its movements;
every change goes through a function here, under the item's row lock.
"""

from collections import defaultdict
from datetime import date, datetime, time, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from dhanman.money import ZERO, inr, money, round_money
from dhanman.validation import as_date, as_quantity, existing, required_text
from inventory import tasks
from inventory.models import LowStockAlert, StockItem, StockLot, StockMovement, StockReport
from notifications.services import notify
from sales.models import Society
from sales.selectors import society_get


def qty(value) -> str:
    """A quantity as people write it: 4, 2.5, 120 (not 4.000)."""
    return format(value.normalize(), "f") if value else "0"


def _item(item_id, *, lock: bool = False) -> StockItem:
    return existing(
        StockItem.objects.select_related("society"), item_id, field="item_id", label="stock item", lock=lock
    )


def stock_item_create(
    *, society_id, sku: str, name: str, unit: str, reorder_level, reorder_quantity, unit_cost="0"
) -> StockItem:
    society = society_get(society_id)
    sku = required_text(sku, field="sku", max_length=40).upper()
    if StockItem.objects.filter(society=society, sku=sku).exists():
        raise ValidationError({"sku": f"{society} already has an item {sku}."})
    return StockItem.objects.create(
        society=society,
        sku=sku,
        name=required_text(name, field="name", max_length=200),
        unit=required_text(unit, field="unit", max_length=20),
        reorder_level=as_quantity(reorder_level, field="reorder_level", allow_zero=True),
        reorder_quantity=as_quantity(reorder_quantity, field="reorder_quantity"),
        unit_cost=money(unit_cost, field="unit_cost", allow_zero=True),
    )


def stock_receive(
    *, item_id, quantity, lot_code: str = "", received_on=None, expires_on=None, reference: str = ""
) -> StockLot:
    quantity = as_quantity(quantity, field="quantity")
    received_on = timezone.localdate() if received_on is None else as_date(received_on, field="received_on")
    expires_on = None if expires_on is None else as_date(expires_on, field="expires_on")
    if expires_on is not None and expires_on <= received_on:
        raise ValidationError(
            {"expires_on": f"Goods expiring on {expires_on} cannot be received on {received_on}."}
        )
    with transaction.atomic():
        item = _item(item_id, lock=True)
        if not item.is_active:
            raise ValidationError({"item_id": f"{item} is no longer stocked."})
        lot_code = (lot_code or "").strip() or f"{received_on:%Y%m%d}-{item.lots.count() + 1}"
        if item.lots.filter(lot_code=lot_code).exists():
            raise ValidationError({"lot_code": f"{item} already has a lot {lot_code}."})
        lot = StockLot.objects.create(
            item=item, lot_code=lot_code, quantity=quantity, received_on=received_on, expires_on=expires_on
        )
        StockMovement.objects.create(
            item=item, lot=lot, kind=StockMovement.Kind.RECEIPT, quantity=quantity, reference=reference
        )
        StockItem.objects.filter(pk=item.pk).update(quantity=F("quantity") + quantity)
    return lot


def stock_issue(*, item_id, quantity, reference: str = "") -> StockItem:
    """Take stock out, from the lots that expire first. Falling to the reorder level raises the
    low-stock alert in the background at once, not at the next daily check."""
    quantity = as_quantity(quantity, field="quantity")
    with transaction.atomic():
        item = _item(item_id, lock=True)
        if quantity > item.quantity:
            raise ValidationError(
                {"quantity": f"Only {qty(item.quantity)} {item.unit} of {item} on hand, not {qty(quantity)}."}
            )
        remaining = quantity
        lots = item.lots.select_for_update().filter(status=StockLot.Status.ACTIVE, quantity__gt=0)
        for lot in lots.order_by(F("expires_on").asc(nulls_last=True), "received_on", "pk"):
            take = min(lot.quantity, remaining)
            lot.quantity -= take
            if lot.quantity == 0:
                lot.status = StockLot.Status.USED_UP
            lot.save(update_fields=["quantity", "status"])
            StockMovement.objects.create(
                item=item, lot=lot, kind=StockMovement.Kind.ISSUE, quantity=-take, reference=reference
            )
            remaining -= take
            if remaining == 0:
                break
        if remaining:
            raise ValidationError({"quantity": f"The lots of {item} hold less than its recorded quantity."})
        was_low = item.is_low
        item.quantity -= quantity
        item.save(update_fields=["quantity"])
        if item.is_low and not was_low:
            tasks.raise_low_stock_alert.enqueue(item.pk)
    return item


# --- Low stock ------------------------------------------------------------------------------


def low_stock_alert_raise(*, item_id) -> LowStockAlert | None:
    """Open the item's alert if it is at or below its reorder level and has none open."""
    with transaction.atomic():
        item = _item(item_id, lock=True)
        if not item.is_active or not item.is_low:
            return None
        if item.alerts.filter(status=LowStockAlert.Status.OPEN).exists():
            return None
        try:
            with transaction.atomic():
                alert = LowStockAlert.objects.create(
                    item=item, quantity_at_alert=item.quantity, reorder_level=item.reorder_level
                )
        except IntegrityError:
            if item.alerts.filter(status=LowStockAlert.Status.OPEN).exists():
                return None  # the partial unique index: another run opened it first
            raise
    notify(
        dedup_key=f"low-stock:{alert.pk}",
        recipient=item.society.contact_email,
        subject=f"Low stock: {item.name} ({qty(item.quantity)} {item.unit} left)",
        body=(
            f"{item.name} ({item.sku}) is down to {qty(item.quantity)} {item.unit}, at or below its reorder level "
            f"of {qty(item.reorder_level)}. Suggested order: {qty(item.reorder_quantity)} {item.unit} "
            f"(about {inr(round_money(item.reorder_quantity * item.unit_cost))}).\n"
        ),
    )
    return alert


def low_stock_alerts_check() -> dict:
    """`check-low-stock-alerts`: raise an alert for each low item without one; resolve the open
    alerts of items that are back above their reorder level."""
    now = timezone.now()
    resolved = LowStockAlert.objects.filter(
        status=LowStockAlert.Status.OPEN, item__quantity__gt=F("item__reorder_level")
    ).update(status=LowStockAlert.Status.RESOLVED, resolved_at=now)
    low = (
        StockItem.objects.filter(is_active=True, quantity__lte=F("reorder_level"))
        .exclude(alerts__status=LowStockAlert.Status.OPEN)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    raised = [alert.pk for item_id in low if (alert := low_stock_alert_raise(item_id=item_id)) is not None]
    return {"raised": len(raised), "resolved": resolved}


# --- Expiry ---------------------------------------------------------------------------------


def stock_lots_expire(*, today: date | None = None) -> dict:
    """`expire-items-check` (midnight): lots whose expiry date has passed are written off; the
    stock they held leaves the item's quantity through an expiry movement."""
    today = today or timezone.localdate()
    expired = defaultdict(list)
    lot_ids = StockLot.objects.filter(status=StockLot.Status.ACTIVE, expires_on__lt=today).values_list(
        "pk", flat=True
    )
    for lot_id in lot_ids:
        with transaction.atomic():
            lot = StockLot.objects.select_for_update().select_related("item__society").get(pk=lot_id)
            if lot.status != StockLot.Status.ACTIVE:
                continue
            item = _item(lot.item_id, lock=True)
            written_off = lot.quantity
            if written_off > 0:
                StockMovement.objects.create(
                    item=item,
                    lot=lot,
                    kind=StockMovement.Kind.EXPIRY,
                    quantity=-written_off,
                    reference=f"expired {lot.expires_on}",
                )
                StockItem.objects.filter(pk=item.pk).update(quantity=F("quantity") - written_off)
            lot.status = StockLot.Status.EXPIRED
            lot.quantity = 0
            lot.expired_at = timezone.now()
            lot.save(update_fields=["status", "quantity", "expired_at"])
        expired[item.society].append((item, lot, written_off))
    for society, lots in expired.items():
        notify(
            dedup_key=f"expired-stock:{society.pk}:{today.isoformat()}",
            recipient=society.contact_email,
            subject=f"{society.name}: {len(lots)} stock lot(s) expired",
            body="\n".join(
                f"{item.name} lot {lot.lot_code} (expired {lot.expires_on:%d %b %Y}): {qty(amount)} {item.unit} written off"
                for item, lot, amount in lots
            ),
        )
    return {"expired_lots": sum(len(v) for v in expired.values())}


# --- Weekly report --------------------------------------------------------------------------


def stock_report_generate(*, today: date | None = None) -> dict:
    """`generate-stock-report` (Friday 17:00): each society's stock, its value and the week's
    movements, stored and mailed."""
    today = today or timezone.localdate()
    week_start = today - timedelta(days=today.weekday())
    since = timezone.make_aware(datetime.combine(week_start, time.min))
    reports = {}
    for society in Society.objects.filter(stock_items__isnull=False).distinct().order_by("pk"):
        items = StockItem.objects.filter(society=society, is_active=True).order_by("sku")
        movements = {
            row["item_id"]: row
            for row in StockMovement.objects.filter(item__society=society, created_at__gte=since)
            .values("item_id")
            .annotate(
                received=Sum("quantity", filter=Q(kind=StockMovement.Kind.RECEIPT)),
                issued=Sum("quantity", filter=Q(kind=StockMovement.Kind.ISSUE)),
            )
        }
        rows, total = [], ZERO
        for item in items:
            value = round_money(item.quantity * item.unit_cost)
            total += value
            week = movements.get(item.pk, {})
            rows.append(
                {
                    "sku": item.sku,
                    "name": item.name,
                    "unit": item.unit,
                    "on_hand": str(item.quantity),
                    "reorder_level": str(item.reorder_level),
                    "value": str(value),
                    "received": str(week.get("received") or 0),
                    "issued": str(-(week.get("issued") or 0)),
                    "low": item.is_low,
                }
            )
        expired_lots = StockLot.objects.filter(
            item__society=society, status=StockLot.Status.EXPIRED, expired_at__gte=since
        ).count()
        report, _ = StockReport.objects.update_or_create(
            society=society,
            week_start=week_start,
            defaults={
                "item_count": len(rows),
                "total_value": total,
                "low_stock_count": sum(1 for r in rows if r["low"]),
                "expired_lots": expired_lots,
                "rows": rows,
                "generated_at": timezone.now(),
            },
        )
        notify(
            dedup_key=f"stock-report:{society.pk}:{week_start.isoformat()}",
            recipient=society.contact_email,
            subject=f"{society.name}: stock report, week of {week_start:%d %b %Y}",
            body=(
                f"{report.item_count} items worth {inr(total)}; {report.low_stock_count} at or below reorder level; "
                f"{expired_lots} lots expired this week.\n\n"
                + "\n".join(
                    f"{r['sku']:<10} {r['name']:<30} {r['on_hand']:>10} {r['unit']:<6} in {r['received']:>8} "
                    f"out {r['issued']:>8} {'LOW' if r['low'] else ''}"
                    for r in rows
                )
            ),
        )
        reports[society.code] = str(report.total_value)
    return {"week_start": week_start.isoformat(), "reports": reports}
