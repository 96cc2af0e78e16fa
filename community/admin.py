from django.contrib import admin

from community.models import Escalation, Event, MaintenanceRequest, VisitorPass


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["title", "society", "venue", "starts_at", "ends_at", "cancelled", "reminders_sent_at"]
    list_filter = ["society", "cancelled"]
    search_fields = ["title", "venue"]
    date_hierarchy = "starts_at"


@admin.register(VisitorPass)
class VisitorPassAdmin(admin.ModelAdmin):
    list_display = ["code", "visitor_name", "host", "kind", "valid_from", "valid_until", "status", "used_at"]
    list_filter = ["status", "kind", "society"]
    search_fields = ["code", "visitor_name", "host__name"]
    readonly_fields = ["code", "used_at", "expired_at"]


class EscalationInline(admin.TabularInline):
    model = Escalation
    extra = 0
    can_delete = False
    readonly_fields = ["level", "escalated_at", "notified"]


@admin.register(MaintenanceRequest)
class MaintenanceRequestAdmin(admin.ModelAdmin):
    list_display = ["pk", "title", "resident", "category", "status", "opened_at", "escalation_level"]
    list_filter = ["status", "category", "escalation_level", "society"]
    search_fields = ["title", "resident__name"]
    readonly_fields = ["escalation_level"]
    inlines = [EscalationInline]
