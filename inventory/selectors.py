"""Read-only queries for the daily report."""

from django.db.models import F

from inventory.models import LowStockAlert, StockItem
from sales.models import Society


def low_stock_items(*, society: Society) -> list[StockItem]:
    return list(
        StockItem.objects.filter(society=society, is_active=True, quantity__lte=F("reorder_level")).order_by(
            "sku"
        )
    )


def open_alerts(*, society: Society) -> int:
    return LowStockAlert.objects.filter(item__society=society, status=LowStockAlert.Status.OPEN).count()
