"""Payroll: the society's staff, their daily attendance, monthly salary runs with statutory
deductions, payslips (PDF) and the statutory compliance report."""

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from dhanman.money import ZERO

MONEY = {"max_digits": 12, "decimal_places": 2}


class Employee(models.Model):
    society = models.ForeignKey("sales.Society", on_delete=models.PROTECT, related_name="employees")
    code = models.CharField(max_length=20)
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    designation = models.CharField(max_length=100)
    monthly_basic = models.DecimalField(**MONEY)
    monthly_allowances = models.DecimalField(**MONEY, default=ZERO)
    pan = models.CharField("PAN", max_length=10, blank=True)
    uan = models.CharField("UAN (provident fund)", max_length=12, blank=True)
    joined_on = models.DateField()
    left_on = models.DateField(null=True, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["society", "code"]
        constraints = [
            models.UniqueConstraint(fields=["society", "code"], name="employee_code_unique_in_society"),
            models.CheckConstraint(condition=Q(monthly_basic__gt=0), name="employee_basic_positive"),
            models.CheckConstraint(
                condition=Q(monthly_allowances__gte=0), name="employee_allowances_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(left_on__isnull=True) | Q(left_on__gte=F("joined_on")),
                name="employee_left_after_joined",
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.code})"

    @property
    def monthly_gross(self):
        return self.monthly_basic + self.monthly_allowances


class Attendance(models.Model):
    class Status(models.TextChoices):
        PRESENT = "present", "Present"
        HALF_DAY = "half_day", "Half day"
        ABSENT = "absent", "Absent (unpaid)"
        LEAVE = "leave", "Paid leave"
        WEEKLY_OFF = "weekly_off", "Weekly off"

    employee = models.ForeignKey(Employee, on_delete=models.CASCADE, related_name="attendance")
    date = models.DateField()
    status = models.CharField(max_length=10, choices=Status.choices)
    marked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-date", "employee"]
        verbose_name_plural = "attendance"
        constraints = [models.UniqueConstraint(fields=["employee", "date"], name="attendance_once_per_day")]
        indexes = [models.Index(fields=["date", "status"], name="attendance_date_idx")]

    def __str__(self):
        return f"{self.employee} {self.date}: {self.status}"


class AttendanceSummary(models.Model):
    """One society's day, as `attendance-summary` counted it at 18:00."""

    society = models.ForeignKey(
        "sales.Society", on_delete=models.CASCADE, related_name="attendance_summaries"
    )
    date = models.DateField()
    employees = models.PositiveIntegerField(default=0)
    present = models.PositiveIntegerField(default=0)
    half_day = models.PositiveIntegerField(default=0)
    absent = models.PositiveIntegerField(default=0)
    on_leave = models.PositiveIntegerField(default=0)
    weekly_off = models.PositiveIntegerField(default=0)
    not_marked = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-date"]
        verbose_name_plural = "attendance summaries"
        constraints = [
            models.UniqueConstraint(fields=["society", "date"], name="attendance_summary_once_per_day")
        ]

    def __str__(self):
        return f"{self.society} {self.date}"


class PayrollRun(models.Model):
    """A society's salaries for one month; unique, so processing twice changes nothing."""

    society = models.ForeignKey("sales.Society", on_delete=models.PROTECT, related_name="payroll_runs")
    period = models.DateField(help_text="The first day of the month paid.")
    processed_at = models.DateTimeField(default=timezone.now)
    employee_count = models.PositiveIntegerField(default=0)
    total_gross = models.DecimalField(**MONEY, default=ZERO)
    total_deductions = models.DecimalField(**MONEY, default=ZERO)
    total_net = models.DecimalField(**MONEY, default=ZERO)
    payslip_batch_id = models.UUIDField(null=True, blank=True)
    payslips_generated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-period", "society"]
        constraints = [
            models.UniqueConstraint(fields=["society", "period"], name="payroll_run_once_per_month")
        ]

    def __str__(self):
        return f"{self.society} salaries {self.period:%Y-%m}"


def payslip_path(payslip, filename):
    return f"payslips/{payslip.period:%Y-%m}/{filename}"


class Payslip(models.Model):
    """One employee's salary for the month: days paid, gross, statutory deductions and net."""

    run = models.ForeignKey(PayrollRun, on_delete=models.CASCADE, related_name="payslips")
    employee = models.ForeignKey(Employee, on_delete=models.PROTECT, related_name="payslips")
    period = models.DateField()
    days_in_month = models.PositiveSmallIntegerField()
    paid_days = models.DecimalField(max_digits=4, decimal_places=1)
    loss_of_pay_days = models.DecimalField(max_digits=4, decimal_places=1, default=0)
    basic = models.DecimalField(**MONEY)
    allowances = models.DecimalField(**MONEY)
    gross = models.DecimalField(**MONEY)
    pf_employee = models.DecimalField("PF (employee)", **MONEY, default=ZERO)
    pf_employer = models.DecimalField("PF (employer)", **MONEY, default=ZERO)
    esi_employee = models.DecimalField("ESI (employee)", **MONEY, default=ZERO)
    esi_employer = models.DecimalField("ESI (employer)", **MONEY, default=ZERO)
    professional_tax = models.DecimalField(**MONEY, default=ZERO)
    total_deductions = models.DecimalField(**MONEY)
    net_pay = models.DecimalField(**MONEY)
    pdf = models.FileField(upload_to=payslip_path, blank=True)
    pdf_generated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-period", "employee"]
        constraints = [
            models.UniqueConstraint(fields=["employee", "period"], name="payslip_once_per_employee_month"),
            models.CheckConstraint(condition=Q(net_pay__gte=0), name="payslip_net_not_negative"),
            # Not "net = gross - deductions": SQLite compares decimals as floats, and an exact
            # equality fails there on amounts like 15435.48 - 1887.38. payslip_compute owns it.
            models.CheckConstraint(
                condition=Q(total_deductions__lte=F("gross")), name="payslip_deductions_within_gross"
            ),
        ]

    def __str__(self):
        return f"Payslip {self.employee} {self.period:%Y-%m}"


class ComplianceReport(models.Model):
    """The month's statutory dues (PF, ESI, professional tax), for the 2nd-of-month filing."""

    society = models.ForeignKey("sales.Society", on_delete=models.PROTECT, related_name="compliance_reports")
    period = models.DateField()
    employee_count = models.PositiveIntegerField(default=0)
    total_gross = models.DecimalField(**MONEY, default=ZERO)
    pf_employee = models.DecimalField(**MONEY, default=ZERO)
    pf_employer = models.DecimalField(**MONEY, default=ZERO)
    esi_employee = models.DecimalField(**MONEY, default=ZERO)
    esi_employer = models.DecimalField(**MONEY, default=ZERO)
    professional_tax = models.DecimalField(**MONEY, default=ZERO)
    generated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-period"]
        constraints = [
            models.UniqueConstraint(fields=["society", "period"], name="compliance_report_once_per_month")
        ]

    def __str__(self):
        return f"{self.society} statutory report {self.period:%Y-%m}"

    @property
    def total_due(self):
        return (
            self.pf_employee
            + self.pf_employer
            + self.esi_employee
            + self.esi_employer
            + self.professional_tax
        )
