from django.contrib import admin

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


@admin.register(Society)
class SocietyAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "code",
        "contact_email",
        "monthly_charge",
        "payment_terms_days",
        "late_fee_percent",
    ]
    search_fields = ["name", "code"]


class ResidentAccountInline(admin.StackedInline):
    model = ResidentAccount
    can_delete = False
    readonly_fields = [
        "balance",
        "overdue_amount",
        "open_invoices",
        "last_invoice_at",
        "last_payment_at",
        "refreshed_at",
    ]


@admin.register(Resident)
class ResidentAdmin(admin.ModelAdmin):
    list_display = ["name", "unit", "society", "email", "is_active", "registered_at", "welcomed_at"]
    list_filter = ["society", "is_active"]
    search_fields = ["name", "email", "unit"]
    readonly_fields = ["welcomed_at"]
    inlines = [ResidentAccountInline]


class PaymentInline(admin.TabularInline):
    model = Payment
    extra = 0
    readonly_fields = ["status", "processed_at"]


class LateFeeInline(admin.TabularInline):
    model = LateFee
    extra = 0
    readonly_fields = ["period", "amount", "applied_at"]
    can_delete = False


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "resident",
        "society",
        "issue_date",
        "due_date",
        "amount",
        "late_fee_total",
        "paid_amount",
        "status",
    ]
    list_filter = ["status", "society", "period"]
    search_fields = ["number", "resident__name", "resident__email"]
    date_hierarchy = "issue_date"
    readonly_fields = [
        "number",
        "late_fee_total",
        "paid_amount",
        "issued_at",
        "approved_at",
        "approved_by",
        "overdue_at",
        "paid_at",
        "last_reminder_on",
    ]
    inlines = [PaymentInline, LateFeeInline]


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = ["pk", "invoice", "amount", "method", "reference", "received_at", "status"]
    list_filter = ["status", "method"]
    search_fields = ["reference", "invoice__number"]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):
    list_display = ["posted_at", "resident", "kind", "amount", "source_key"]
    list_filter = ["kind", "society"]
    search_fields = ["source_key", "resident__name"]

    def has_change_permission(self, request, obj=None):
        return False  # postings are corrected by new postings, never edited


@admin.register(InvoiceRun)
class InvoiceRunAdmin(admin.ModelAdmin):
    list_display = [
        "society",
        "period",
        "resident_count",
        "invoice_count",
        "total_amount",
        "started_at",
        "finished_at",
    ]
    list_filter = ["society"]


@admin.register(SalesSnapshot)
class SalesSnapshotAdmin(admin.ModelAdmin):
    list_display = [
        "society",
        "date",
        "invoiced_amount",
        "collected_amount",
        "outstanding_amount",
        "overdue_count",
    ]
    list_filter = ["society"]
