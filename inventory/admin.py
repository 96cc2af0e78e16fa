from django.contrib import admin

from inventory.models import LowStockAlert, StockItem, StockLot, StockMovement, StockReport


class StockLotInline(admin.TabularInline):
    model = StockLot
    extra = 0
    readonly_fields = ["status", "expired_at"]


@admin.register(StockItem)
class StockItemAdmin(admin.ModelAdmin):
    list_display = ["sku", "name", "society", "quantity", "unit", "reorder_level", "unit_cost", "is_active"]
    list_filter = ["society", "is_active"]
    search_fields = ["sku", "name"]
    # Quantity changes only through receipts, issues and expiry, which keep the movements.
    readonly_fields = ["quantity"]
    inlines = [StockLotInline]


@admin.register(StockMovement)
class StockMovementAdmin(admin.ModelAdmin):
    list_display = ["created_at", "item", "kind", "quantity", "lot", "reference"]
    list_filter = ["kind", "item__society"]
    search_fields = ["item__sku", "reference"]

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(LowStockAlert)
class LowStockAlertAdmin(admin.ModelAdmin):
    list_display = ["item", "status", "quantity_at_alert", "reorder_level", "raised_at", "resolved_at"]
    list_filter = ["status"]


@admin.register(StockReport)
class StockReportAdmin(admin.ModelAdmin):
    list_display = ["society", "week_start", "item_count", "total_value", "low_stock_count", "expired_lots"]
    list_filter = ["society"]
