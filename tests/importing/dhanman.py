"""Dhanman's Hangfire content, as the seed describes it: the 23 recurring jobs of the common,
sales, purchase, payroll, community and inventory services (with the Hangfire classes and methods
that ran them), and pending jobs of every kind."""

from datetime import datetime, timedelta

from jobs import cron
from jobs.importing.timezones import to_iana
from tests.importing.hangfire_db import CANCELLATION, INT

# (recurring id, .NET type, method, Hangfire cron, TimeZoneId)
RECURRING = [
    (
        "sync-auth0-users",
        "Dhanman.Common.Services.Auth0SyncService, Dhanman.Common",
        "SyncUsers",
        "0 */6 * * *",
        "India Standard Time",
    ),
    (
        "cleanup-expired-tokens",
        "Dhanman.Common.Services.TokenService, Dhanman.Common",
        "CleanupExpiredTokens",
        "0 3 * * *",
        "India Standard Time",
    ),
    (
        "generate-system-health-report",
        "Dhanman.Common.Services.HealthReportService, Dhanman.Common",
        "GenerateSystemHealthReport",
        "0 8 * * *",
        "India Standard Time",
    ),
    (
        "generate-daily-reports",
        "Dhanman.Common.Services.ReportService, Dhanman.Common",
        "GenerateDailyReports",
        "0 2 * * *",
        "Asia/Kolkata",
    ),
    (
        "cleanup-old-logs",
        "Dhanman.Common.Services.MaintenanceService, Dhanman.Common",
        "CleanupOldLogs",
        "0 0 * * 0",
        "Asia/Kolkata",
    ),
    (
        "database-backup",
        "Dhanman.Common.Services.BackupService, Dhanman.Common",
        "BackupDatabase",
        "0 */6 * * *",
        "Asia/Kolkata",
    ),
    (
        "generate-monthly-invoices",
        "Dhanman.Sales.Services.InvoiceService, Dhanman.Sales",
        "GenerateMonthlyInvoices",
        "0 6 1 * *",
        "India Standard Time",
    ),
    (
        "send-payment-reminders",
        "Dhanman.Sales.Services.PaymentReminderService, Dhanman.Sales",
        "SendPaymentReminders",
        "0 10 * * *",
        "India Standard Time",
    ),
    (
        "check-overdue-invoices",
        "Dhanman.Sales.Services.InvoiceService, Dhanman.Sales",
        "CheckOverdueInvoices",
        "0 * * * *",
        "India Standard Time",
    ),
    (
        "calculate-late-fees",
        "Dhanman.Sales.Services.LateFeeService, Dhanman.Sales",
        "CalculateLateFees",
        "0 0 * * *",
        "India Standard Time",
    ),
    (
        "send-po-approvals",
        "Dhanman.Purchase.Services.PurchaseOrderService, Dhanman.Purchase",
        "SendPoApprovals",
        "0 */2 * * *",
        "India Standard Time",
    ),
    (
        "check-grn-matching",
        "Dhanman.Purchase.Services.GrnMatchingService, Dhanman.Purchase",
        "CheckGrnMatching",
        "0 9 * * *",
        "India Standard Time",
    ),
    (
        "vendor-payment-reminders",
        "Dhanman.Purchase.Services.VendorPaymentService, Dhanman.Purchase",
        "SendVendorPaymentReminders",
        "0 9 * * 1",
        "India Standard Time",
    ),
    (
        "process-monthly-salaries",
        "Dhanman.Payroll.Services.SalaryService, Dhanman.Payroll",
        "ProcessMonthlySalaries",
        "0 23 L * *",
        "India Standard Time",
    ),
    (
        "generate-payslips",
        "Dhanman.Payroll.Services.PayslipService, Dhanman.Payroll",
        "GeneratePayslips",
        "0 0 1 * *",
        "India Standard Time",
    ),
    (
        "statutory-compliance-report",
        "Dhanman.Payroll.Services.ComplianceService, Dhanman.Payroll",
        "GenerateStatutoryComplianceReport",
        "0 6 2 * *",
        "India Standard Time",
    ),
    (
        "attendance-summary",
        "Dhanman.Payroll.Services.AttendanceService, Dhanman.Payroll",
        "GenerateAttendanceSummary",
        "0 18 * * *",
        "India Standard Time",
    ),
    (
        "send-event-reminders",
        "Dhanman.Community.Services.EventReminderService, Dhanman.Community",
        "SendEventReminders",
        "0 8 * * *",
        "India Standard Time",
    ),
    (
        "expire-visitor-passes",
        "Dhanman.Community.Services.VisitorPassService, Dhanman.Community",
        "ExpireVisitorPasses",
        "*/30 * * * *",
        "India Standard Time",
    ),
    (
        "maintenance-request-escalation",
        "Dhanman.Community.Services.MaintenanceRequestService, Dhanman.Community",
        "EscalatePendingRequests",
        "0 */4 * * *",
        "India Standard Time",
    ),
    (
        "check-low-stock-alerts",
        "Dhanman.Inventory.Services.StockAlertService, Dhanman.Inventory",
        "CheckLowStockAlerts",
        "0 9 * * *",
        "India Standard Time",
    ),
    (
        "generate-stock-report",
        "Dhanman.Inventory.Services.StockReportService, Dhanman.Inventory",
        "GenerateWeeklyStockReport",
        "0 17 * * 5",
        "India Standard Time",
    ),
    (
        "expire-items-check",
        "Dhanman.Inventory.Services.InventoryExpiryService, Dhanman.Inventory",
        "CheckExpiredItems",
        "0 0 * * *",
        "India Standard Time",
    ),
]

SALES = "Dhanman.Sales.Services.{}, Dhanman.Sales"


def short(type_name: str, method: str) -> str:
    return f"{type_name.split(',')[0].rsplit('.', 1)[-1]}.{method}"


def declared_tasks() -> dict:
    """recurring id → the task path our schedules.py declare for it (wherever the task lives)."""
    from jobs.recurring import collect_declarations

    return {
        decl.id: (decl.task if isinstance(decl.task, str) else decl.task.module_path)
        for _, decl in collect_declarations()
    }


def mapping_toml(extra: str = "") -> str:
    """The mapping an operator would write: one rule per Hangfire method."""
    declared = declared_tasks()
    rules = []
    for rid, type_name, method, _cron, _tz in RECURRING:
        rules.append(f'[[map]]\nmatch = "{short(type_name, method)}"\ntask = "{declared[rid]}"\n')
    for method, task in (
        ("ReminderService.SendInvoiceReminder", "sales.tasks.send_invoice_reminder"),
        ("EmailService.SendWelcomeEmail", "sales.tasks.send_welcome_email"),
        ("PaymentService.ProcessPayment", "sales.tasks.process_payment"),
        ("InvoiceProcessingService.CreateInvoice", "sales.tasks.create_invoice"),
        ("InvoiceProcessingService.UpdateLedger", "sales.tasks.update_ledger"),
        ("InvoiceProcessingService.SendInvoiceNotification", "sales.tasks.send_invoice_notification"),
        ("ApproveInvoiceCommandHandler.UpdateRelatedSystems", "sales.tasks.update_invoice_related_records"),
    ):
        rules.append(f'[[map]]\nmatch = "{method}"\ntask = "{task}"\n')
    return "\n".join(rules) + extra


def fill(db, now: datetime) -> dict:
    """The 23 recurring jobs and the pending jobs; returns the Hangfire ids by role."""
    with db.conn.transaction():  # one commit, not hundreds
        return _fill(db, now)


def _fill(db, now: datetime) -> dict:
    clock = {}
    for rid, type_name, method, expression, tz in RECURRING:
        # Hangfire ran each at its latest occurrence and waits for the next one; for one of them
        # the next occurrence fell due during the cut-over (no Hangfire server ran it).
        zone = to_iana(tz)
        following = cron.next_run(expression, zone, now)
        last = cron.latest_run(expression, zone, now - timedelta(days=400), now)
        if rid == "check-overdue-invoices":
            following, last = (
                last,
                cron.latest_run(expression, zone, now - timedelta(days=400), last - timedelta(seconds=1)),
            )
        clock[rid] = (last, following)
        db.add_recurring(rid, type_name, method, expression, tz=tz, last=last, next_=following)
    ids = {"clock": clock}
    reminder = SALES.format("ReminderService")
    ids["reminders"] = [
        db.scheduled(
            reminder,
            "SendInvoiceReminder",
            [INT, CANCELLATION],
            [invoice, None],
            now + timedelta(hours=hours),
        )
        for invoice, hours in ((101, 24), (102, 48), (103, 72))
    ]
    ids["reminder_due"] = db.scheduled(
        reminder, "SendInvoiceReminder", [INT, CANCELLATION], [104, None], now - timedelta(minutes=5)
    )
    ids["welcome"] = db.enqueued(
        SALES.format("EmailService"), "SendWelcomeEmail", [INT, CANCELLATION], [7, None]
    )
    ids["payment"] = db.enqueued(
        SALES.format("PaymentService"), "ProcessPayment", [INT, CANCELLATION], [55, None], queue="critical"
    )
    workflow = SALES.format("InvoiceProcessingService")
    create = db.enqueued(workflow, "CreateInvoice", [INT, CANCELLATION], [900, None])
    ledger = db.awaiting(workflow, "UpdateLedger", [INT, CANCELLATION], [900, None], create)
    notify = db.awaiting(workflow, "SendInvoiceNotification", [INT, CANCELLATION], [900, None], ledger)
    ids["chain"] = [create, ledger, notify]
    ids["failed"] = db.failed(
        SALES.format("ApproveInvoiceCommandHandler"),
        "UpdateRelatedSystems",
        [INT, CANCELLATION],
        [901, None],
        "Npgsql.NpgsqlException",
        "Exception while reading from stream",
        "Npgsql.NpgsqlException (0x80004005): Exception while reading from stream\n"
        "   at Npgsql.Internal.NpgsqlReadBuffer.Ensure(Int32 count)\n"
        "   at Dhanman.Sales.Handlers.ApproveInvoiceCommandHandler.UpdateRelatedSystems(Int32 invoiceId)",
    )
    ids["processing"] = db.add_job(
        SALES.format("EmailService"),
        "SendWelcomeEmail",
        [INT, CANCELLATION],
        [8, None],
        "Processing",
        {"StartedAt": "2026-12-01T10:00:00.0000000Z", "ServerId": "web-01", "WorkerId": "w1"},
    )
    ids["unmapped"] = db.enqueued(
        "Dhanman.Sales.Services.AnalyticsService, Dhanman.Sales",
        "UpdateAnalytics",
        [CANCELLATION],
        [None],
        queue="low-priority",
    )
    ids["bad_arguments"] = db.add_job(
        SALES.format("EmailService"),
        "SendWelcomeEmail",
        [INT, CANCELLATION],
        [None, None],
        "Enqueued",
        {"Queue": "default"},
        invocation='{"Type":"Dhanman.Sales.Services.EmailService, Dhanman.Sales","Method":"SendWelcomeEmail",'
        '"ParameterTypes":"[\\"System.Int32, mscorlib\\",\\"System.Threading.CancellationToken, mscorlib\\"]",'
        '"Arguments":"[\\"{resident: 9\\",null]"}',
    )
    ids["succeeded"] = [
        db.finished(SALES.format("EmailService"), "SendWelcomeEmail", [INT, CANCELLATION], [n, None])
        for n in (1, 2, 3)
    ]
    ids["deleted"] = db.finished(
        SALES.format("EmailService"), "SendWelcomeEmail", [INT, CANCELLATION], [4, None], state="Deleted"
    )
    db.heartbeat("web-01:old", at=now - timedelta(hours=3))  # a server that stopped hours ago
    return ids
