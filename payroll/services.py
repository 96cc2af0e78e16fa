"""Payroll operations and the four recurring jobs' work.

Salary rules (one place, so the payslip, the run totals and the compliance report agree):
- Pay is pro-rata over the calendar days of the month the employee was employed. Absent days
  are unpaid, half days half paid; days without a mark are paid (the society marks exceptions).
- Provident fund: 12% of earned basic from the employee and 12% from the employer, on basic up to
  the ₹15,000 wage ceiling.
- ESI: for employees whose monthly gross is at most ₹21,000, 0.75% of earned gross from the
  employee and 3.25% from the employer.
- Professional tax (Maharashtra slabs): nothing up to ₹7,500 earned gross, ₹175 up to ₹10,000,
  ₹200 above (₹300 in February).
"""

import calendar
from datetime import date, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

import jobs.api
from dhanman.money import ZERO, inr, money, round_money
from dhanman.validation import as_date, as_id, as_month, required_text
from jobs.events import publish
from notifications.services import notify
from payroll import tasks
from payroll.models import Attendance, AttendanceSummary, ComplianceReport, Employee, PayrollRun, Payslip
from payroll.payslip_pdf import render_payslip
from sales.models import Society
from sales.selectors import society_get

PF_RATE = Decimal("0.12")
PF_WAGE_CEILING = Decimal("15000.00")
ESI_GROSS_LIMIT = Decimal("21000.00")
ESI_EMPLOYEE_RATE = Decimal("0.0075")
ESI_EMPLOYER_RATE = Decimal("0.0325")


def professional_tax(gross: Decimal, month: int) -> Decimal:
    if gross <= Decimal("7500"):
        return ZERO
    if gross <= Decimal("10000"):
        return Decimal("175.00")
    return Decimal("300.00") if month == 2 else Decimal("200.00")


def _month_end(period: date) -> date:
    return period.replace(day=calendar.monthrange(period.year, period.month)[1])


# --- Staff and attendance ---------------------------------------------------------------------


def employee_create(
    *,
    society_id,
    code: str,
    name: str,
    designation: str,
    monthly_basic,
    joined_on,
    monthly_allowances="0",
    email: str = "",
    pan: str = "",
    uan: str = "",
) -> Employee:
    society = society_get(society_id)
    code = required_text(code, field="code", max_length=20).upper()
    if Employee.objects.filter(society=society, code=code).exists():
        raise ValidationError({"code": f"{society} already has an employee {code}."})
    employee = Employee(
        society=society,
        code=code,
        name=required_text(name, field="name", max_length=200),
        designation=required_text(designation, field="designation", max_length=100),
        monthly_basic=money(monthly_basic, field="monthly_basic"),
        monthly_allowances=money(monthly_allowances, field="monthly_allowances", allow_zero=True),
        joined_on=as_date(joined_on, field="joined_on"),
        email=(email or "").strip().lower(),
        pan=(pan or "").strip().upper(),
        uan=(uan or "").strip(),
    )
    employee.full_clean()
    employee.save()
    return employee


def attendance_mark(*, employee_id, day, status: str) -> Attendance:
    """Mark (or correct) one day's attendance."""
    employee = Employee.objects.filter(pk=as_id(employee_id, field="employee_id")).first()
    if employee is None:
        raise ValidationError({"employee_id": f"Unknown employee {employee_id}."})
    day = as_date(day, field="day")
    if status not in Attendance.Status.values:
        raise ValidationError(
            {"status": f"Unknown attendance status {status!r}: one of {', '.join(Attendance.Status.values)}."}
        )
    if day > timezone.localdate():
        raise ValidationError({"day": f"Attendance cannot be marked for a future day ({day})."})
    if day < employee.joined_on or (employee.left_on and day > employee.left_on):
        raise ValidationError({"day": f"{employee} was not employed on {day}."})
    attendance, _ = Attendance.objects.update_or_create(
        employee=employee, date=day, defaults={"status": status, "marked_at": timezone.now()}
    )
    return attendance


def attendance_summarize(*, day: date | None = None) -> dict:
    """`attendance-summary`: each society's day, counted from the marks."""
    day = timezone.localdate() if day is None else as_date(day, field="day")
    summaries = {}
    for society in Society.objects.order_by("pk"):
        employed = Employee.objects.filter(society=society, joined_on__lte=day).filter(
            Q(left_on__isnull=True) | Q(left_on__gte=day)
        )
        counts = dict(
            Attendance.objects.filter(employee__in=employed, date=day)
            .values("status")
            .annotate(n=Count("pk"))
            .values_list("status", "n")
        )
        total = employed.count()
        if total == 0:
            continue
        S = Attendance.Status
        summary, _ = AttendanceSummary.objects.update_or_create(
            society=society,
            date=day,
            defaults={
                "employees": total,
                "present": counts.get(S.PRESENT, 0),
                "half_day": counts.get(S.HALF_DAY, 0),
                "absent": counts.get(S.ABSENT, 0),
                "on_leave": counts.get(S.LEAVE, 0),
                "weekly_off": counts.get(S.WEEKLY_OFF, 0),
                "not_marked": total - sum(counts.values()),
                "computed_at": timezone.now(),
            },
        )
        summaries[society.code] = {
            "present": summary.present,
            "absent": summary.absent,
            "not_marked": summary.not_marked,
        }
    return {"day": day.isoformat(), "societies": summaries}


# --- Salaries -------------------------------------------------------------------------------


def payslip_compute(*, employee: Employee, period: date) -> dict | None:
    """The month's figures for one employee, or None if they were not employed in it."""
    month_end = _month_end(period)
    first = max(period, employee.joined_on)
    last = min(month_end, employee.left_on) if employee.left_on else month_end
    if last < first:
        return None
    days_in_month = month_end.day
    marks = dict(
        Attendance.objects.filter(employee=employee, date__range=(first, last))
        .values("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    employed_days = Decimal((last - first).days + 1)
    loss_of_pay = (
        Decimal(marks.get(Attendance.Status.ABSENT, 0))
        + Decimal(marks.get(Attendance.Status.HALF_DAY, 0)) / 2
    )
    paid_days = employed_days - loss_of_pay
    share = paid_days / days_in_month
    basic = round_money(employee.monthly_basic * share)
    allowances = round_money(employee.monthly_allowances * share)
    gross = basic + allowances
    pf = round_money(min(basic, PF_WAGE_CEILING) * PF_RATE)
    esi_covered = employee.monthly_gross <= ESI_GROSS_LIMIT
    esi_employee = round_money(gross * ESI_EMPLOYEE_RATE) if esi_covered else ZERO
    esi_employer = round_money(gross * ESI_EMPLOYER_RATE) if esi_covered else ZERO
    # PF and ESI are at most 12.75% of gross; only the flat professional tax could exceed a
    # tiny month's pay, so it is capped at what is left.
    pt = min(professional_tax(gross, period.month), gross - pf - esi_employee)
    deductions = pf + esi_employee + pt
    return {
        "days_in_month": days_in_month,
        "paid_days": paid_days,
        "loss_of_pay_days": loss_of_pay,
        "basic": basic,
        "allowances": allowances,
        "gross": gross,
        "pf_employee": pf,
        "pf_employer": pf,
        "esi_employee": esi_employee,
        "esi_employer": esi_employer,
        "professional_tax": pt,
        "total_deductions": deductions,
        "net_pay": gross - deductions,
    }


def salaries_process(*, period=None) -> dict:
    """`process-monthly-salaries` (last day of the month, 23:00): one payroll run per society for
    the month, with a payslip row per employee. A month processed already is left alone."""
    period = timezone.localdate().replace(day=1) if period is None else as_month(period)
    processed = {}
    for society in Society.objects.order_by("pk"):
        month_end = _month_end(period)
        employees = Employee.objects.filter(society=society, joined_on__lte=month_end).filter(
            Q(left_on__isnull=True) | Q(left_on__gte=period)
        )
        if not employees.exists():
            continue
        if PayrollRun.objects.filter(society=society, period=period).exists():
            continue  # processed already (this job ran twice)
        with transaction.atomic():
            try:
                with transaction.atomic():
                    run = PayrollRun.objects.create(society=society, period=period)
            except IntegrityError:
                continue  # another run of this job got there first
            slips = []
            for employee in employees.order_by("code"):
                figures = payslip_compute(employee=employee, period=period)
                if figures is not None:
                    slips.append(Payslip(run=run, employee=employee, period=period, **figures))
            Payslip.objects.bulk_create(slips)
            run.employee_count = len(slips)
            run.total_gross = sum((s.gross for s in slips), ZERO)
            run.total_deductions = sum((s.total_deductions for s in slips), ZERO)
            run.total_net = sum((s.net_pay for s in slips), ZERO)
            run.save(update_fields=["employee_count", "total_gross", "total_deductions", "total_net"])
        processed[society.code] = {"employees": run.employee_count, "net": str(run.total_net)}
        notify(
            dedup_key=f"payroll-processed:{society.pk}:{period:%Y-%m}",
            recipient=society.contact_email,
            subject=f"{society.name}: salaries for {period:%B %Y} processed",
            body=(
                f"{run.employee_count} employees. Gross {inr(run.total_gross)}, deductions "
                f"{inr(run.total_deductions)}, net pay {inr(run.total_net)}.\n"
            ),
        )
    return {"period": period.isoformat(), "processed": processed}


# --- Payslips (a batch per payroll run) -----------------------------------------------------


def payslips_generate(*, period=None) -> dict:
    """`generate-payslips` (1st, 00:00): for last month's runs, a batch with one PDF job per
    payslip and a continuation that tells everyone when all are done."""
    if period is None:
        period = (timezone.localdate().replace(day=1) - timedelta(days=1)).replace(day=1)
    period = as_month(period)
    started = {}
    for run_id in PayrollRun.objects.filter(period=period, payslip_batch_id__isnull=True).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            run = PayrollRun.objects.select_for_update().select_related("society").get(pk=run_id)
            if run.payslip_batch_id is not None:
                continue
            with jobs.api.batch(f"Payslips, {run.society.code}, {period:%Y-%m}") as b:
                for payslip_id in run.payslips.order_by("pk").values_list("pk", flat=True):
                    b.enqueue(tasks.generate_payslip_pdf, payslip_id)
                b.then(tasks.announce_payslips, run.pk, on="completed")
            run.payslip_batch_id = b.id
            run.save(update_fields=["payslip_batch_id"])
            started[run.society.code] = str(b.id)
    return {"period": period.isoformat(), "batches": started}


def payslip_render(*, payslip_id) -> Payslip:
    """Write the payslip's PDF (again, if its file is missing)."""
    payslip = (
        Payslip.objects.select_related("employee", "run__society")
        .filter(pk=as_id(payslip_id, field="payslip_id"))
        .first()
    )
    if payslip is None:
        raise ValidationError({"payslip_id": f"Unknown payslip {payslip_id}."})
    if payslip.pdf and payslip.pdf.storage.exists(payslip.pdf.name):
        return payslip
    name = f"{payslip.employee.society.code}-{payslip.employee.code}-{payslip.period:%Y-%m}.pdf"
    storage = payslip.pdf.storage
    target = payslip.pdf.field.generate_filename(payslip, name)
    if storage.exists(target):
        storage.delete(target)  # a half-finished earlier attempt: the row never pointed at it
    payslip.pdf.save(name, ContentFile(render_payslip(payslip)), save=False)
    payslip.pdf_generated_at = timezone.now()
    payslip.save(update_fields=["pdf", "pdf_generated_at"])
    return payslip


def payslips_announce(*, run_id) -> dict:
    """The batch's continuation: mark the run, tell each employee, tell the society."""
    run = PayrollRun.objects.select_related("society").filter(pk=as_id(run_id, field="run_id")).first()
    if run is None:
        raise ValidationError({"run_id": f"Unknown payroll run {run_id}."})
    slips = run.payslips.select_related("employee")
    ready = [s for s in slips if s.pdf]
    for payslip in ready:
        if payslip.employee.email:
            notify(
                dedup_key=f"payslip-ready:{payslip.pk}",
                recipient=payslip.employee.email,
                subject=f"Your payslip for {run.period:%B %Y}",
                body=(
                    f"Dear {payslip.employee.name},\n\nYour payslip for {run.period:%B %Y} is ready: net pay "
                    f"{inr(payslip.net_pay)}. Ask the society office for the PDF.\n"
                ),
            )
    missing = [s.employee.code for s in slips if not s.pdf]
    with transaction.atomic():
        generated_at = timezone.now()
        first_time = PayrollRun.objects.filter(pk=run.pk, payslips_generated_at__isnull=True).update(
            payslips_generated_at=generated_at
        )
        if first_time:  # a rerun of this continuation publishes nothing twice
            publish(
                "payroll.payslips_generated",
                {
                    "run_id": run.pk,
                    "society_id": run.society_id,
                    "period": run.period.isoformat(),
                    "generated": len(ready),
                    "missing": missing,
                },
                aggregate=f"payroll.run:{run.pk}",
                occurred_at=generated_at,
            )
    notify(
        dedup_key=f"payslips-generated:{run.pk}",
        recipient=run.society.contact_email,
        subject=f"{run.society.name}: {len(ready)} payslips for {run.period:%B %Y}",
        body=f"{len(ready)} payslip PDFs generated."
        + (f" Missing: {', '.join(missing)}." if missing else "")
        + "\n",
    )
    return {"run": run.pk, "generated": len(ready), "missing": missing}


# --- Statutory compliance -------------------------------------------------------------------


def compliance_report_generate(*, period=None) -> dict:
    """`statutory-compliance-report` (2nd, 06:00): last month's PF, ESI and professional tax due,
    per society, from its payslips; mailed to the society."""
    if period is None:
        period = (timezone.localdate().replace(day=1) - timedelta(days=1)).replace(day=1)
    period = as_month(period)
    reports = {}
    for run in PayrollRun.objects.filter(period=period).select_related("society"):
        totals = run.payslips.aggregate(
            employees=Count("pk"),
            gross=Sum("gross"),
            pf_employee=Sum("pf_employee"),
            pf_employer=Sum("pf_employer"),
            esi_employee=Sum("esi_employee"),
            esi_employer=Sum("esi_employer"),
            professional_tax=Sum("professional_tax"),
        )
        report, _ = ComplianceReport.objects.update_or_create(
            society=run.society,
            period=period,
            defaults={
                "employee_count": totals["employees"],
                "total_gross": totals["gross"] or ZERO,
                "pf_employee": totals["pf_employee"] or ZERO,
                "pf_employer": totals["pf_employer"] or ZERO,
                "esi_employee": totals["esi_employee"] or ZERO,
                "esi_employer": totals["esi_employer"] or ZERO,
                "professional_tax": totals["professional_tax"] or ZERO,
                "generated_at": timezone.now(),
            },
        )
        notify(
            dedup_key=f"compliance-report:{run.society.pk}:{period:%Y-%m}",
            recipient=run.society.contact_email,
            subject=f"{run.society.name}: statutory dues for {period:%B %Y}, {inr(report.total_due)}",
            body=(
                f"Employees: {report.employee_count}, gross wages {inr(report.total_gross)}\n"
                f"Provident fund: employee {inr(report.pf_employee)} + employer {inr(report.pf_employer)}\n"
                f"ESI: employee {inr(report.esi_employee)} + employer {inr(report.esi_employer)}\n"
                f"Professional tax: {inr(report.professional_tax)}\n"
                f"Total due: {inr(report.total_due)}\n"
            ),
        )
        reports[run.society.code] = str(report.total_due)
    return {"period": period.isoformat(), "reports": reports}
