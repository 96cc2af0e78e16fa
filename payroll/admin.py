from django.contrib import admin

from payroll.models import Attendance, AttendanceSummary, ComplianceReport, Employee, PayrollRun, Payslip


@admin.register(Employee)
class EmployeeAdmin(admin.ModelAdmin):
    list_display = [
        "code",
        "name",
        "designation",
        "society",
        "monthly_basic",
        "monthly_allowances",
        "is_active",
    ]
    list_filter = ["society", "is_active", "designation"]
    search_fields = ["code", "name", "email"]


@admin.register(Attendance)
class AttendanceAdmin(admin.ModelAdmin):
    list_display = ["date", "employee", "status", "marked_at"]
    list_filter = ["status", "employee__society"]
    date_hierarchy = "date"


@admin.register(AttendanceSummary)
class AttendanceSummaryAdmin(admin.ModelAdmin):
    list_display = ["date", "society", "employees", "present", "half_day", "absent", "on_leave", "not_marked"]
    list_filter = ["society"]


class PayslipInline(admin.TabularInline):
    model = Payslip
    extra = 0
    can_delete = False
    fields = ["employee", "paid_days", "gross", "total_deductions", "net_pay", "pdf"]
    readonly_fields = fields


@admin.register(PayrollRun)
class PayrollRunAdmin(admin.ModelAdmin):
    list_display = [
        "society",
        "period",
        "employee_count",
        "total_gross",
        "total_net",
        "payslips_generated_at",
    ]
    list_filter = ["society"]
    inlines = [PayslipInline]


@admin.register(Payslip)
class PayslipAdmin(admin.ModelAdmin):
    list_display = ["employee", "period", "paid_days", "gross", "total_deductions", "net_pay", "pdf"]
    list_filter = ["period", "employee__society"]
    search_fields = ["employee__name", "employee__code"]


@admin.register(ComplianceReport)
class ComplianceReportAdmin(admin.ModelAdmin):
    list_display = [
        "society",
        "period",
        "employee_count",
        "pf_employee",
        "pf_employer",
        "esi_employee",
        "esi_employer",
        "professional_tax",
    ]
    list_filter = ["society"]
