from django.contrib import admin

from purchase.models import (
    GoodsReceiptLine,
    GoodsReceiptNote,
    PurchaseOrder,
    PurchaseOrderLine,
    Vendor,
    VendorBill,
)


@admin.register(Vendor)
class VendorAdmin(admin.ModelAdmin):
    list_display = ["name", "society", "email", "gstin", "payment_terms_days", "is_active"]
    list_filter = ["society", "is_active"]
    search_fields = ["name", "email", "gstin"]


class PurchaseOrderLineInline(admin.TabularInline):
    model = PurchaseOrderLine
    extra = 0


@admin.register(PurchaseOrder)
class PurchaseOrderAdmin(admin.ModelAdmin):
    list_display = ["__str__", "vendor", "society", "order_date", "total_amount", "status", "approver_email"]
    list_filter = ["status", "society"]
    search_fields = ["number", "vendor__name"]
    readonly_fields = ["number", "submitted_at", "decided_at", "decided_by", "last_approval_reminder_at"]
    inlines = [PurchaseOrderLineInline]


class GoodsReceiptLineInline(admin.TabularInline):
    model = GoodsReceiptLine
    extra = 0


@admin.register(GoodsReceiptNote)
class GoodsReceiptNoteAdmin(admin.ModelAdmin):
    list_display = ["__str__", "order", "received_on", "invoice_amount", "status", "matched_at"]
    list_filter = ["status"]
    search_fields = ["number", "order__number"]
    readonly_fields = ["number", "status", "mismatches", "matched_at"]
    inlines = [GoodsReceiptLineInline]


@admin.register(VendorBill)
class VendorBillAdmin(admin.ModelAdmin):
    list_display = ["__str__", "vendor", "bill_date", "due_date", "amount", "status"]
    list_filter = ["status"]
    search_fields = ["number", "vendor__name"]
