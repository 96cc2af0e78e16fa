"""Payroll: salaries from attendance with statutory deductions, payslip PDFs as a batch, the
compliance report and the daily attendance summary."""

import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from pypdf import PdfReader

from jobs.models import Batch, State
from payroll import services, tasks
from payroll.models import Attendance, AttendanceSummary, ComplianceReport, Employee, PayrollRun, Payslip
from tests.domain.helpers import jobs_of

pytestmark = pytest.mark.django_db

SEPTEMBER = date(2025, 9, 1)  # 30 days


@pytest.fixture
def guard(society):
    return services.employee_create(
        society_id=society.pk,
        code="sec-01",
        name="Ramesh Yadav",
        designation="Security guard",
        monthly_basic="14000.00",
        monthly_allowances="2500.00",
        joined_on="2024-01-01",
        email="ramesh@example.com",
        uan="100000000001",
    )


@pytest.fixture
def manager(society):
    return services.employee_create(
        society_id=society.pk,
        code="MGR-01",
        name="Prakash Joshi",
        designation="Facility manager",
        monthly_basic="32000.00",
        monthly_allowances="8000.00",
        joined_on="2024-01-01",
    )


@pytest.fixture
def september(guard, manager):
    """September 2025: the guard was absent two days and took a half day."""
    for day, status in [(3, "absent"), (4, "absent"), (10, "half_day"), (7, "weekly_off"), (12, "leave")]:
        services.attendance_mark(employee_id=guard.pk, day=SEPTEMBER.replace(day=day), status=status)
    return services.salaries_process(period=SEPTEMBER)


def test_salaries_come_from_attendance_with_statutory_deductions(
    september, guard, manager, mailoutbox, society
):
    assert september["processed"][society.code] == {"employees": 2, "net": "51271.56"}
    slip = Payslip.objects.get(employee=guard, period=SEPTEMBER)
    assert (slip.days_in_month, slip.paid_days, slip.loss_of_pay_days) == (
        30,
        Decimal("27.5"),
        Decimal("2.5"),
    )
    assert (slip.basic, slip.allowances, slip.gross) == (
        Decimal("12833.33"),
        Decimal("2291.67"),
        Decimal("15125.00"),
    )
    assert slip.pf_employee == slip.pf_employer == Decimal("1540.00")  # 12% of earned basic
    assert (slip.esi_employee, slip.esi_employer) == (Decimal("113.44"), Decimal("491.56"))  # 0.75% / 3.25%
    assert slip.professional_tax == Decimal("200.00")
    assert (slip.total_deductions, slip.net_pay) == (Decimal("1853.44"), Decimal("13271.56"))

    boss = Payslip.objects.get(employee=manager, period=SEPTEMBER)
    assert boss.pf_employee == Decimal("1800.00")  # basic capped at the 15,000 wage ceiling
    assert boss.esi_employee == boss.esi_employer == 0  # gross above 21,000: not covered
    assert boss.net_pay == Decimal("38000.00")
    run = PayrollRun.objects.get(period=SEPTEMBER)
    assert (run.employee_count, run.total_net) == (2, Decimal("51271.56"))
    assert [m.to for m in mailoutbox] == [[society.contact_email]]


def test_processing_a_month_twice_changes_nothing(september):
    again = services.salaries_process(period=SEPTEMBER)
    assert again["processed"] == {}
    assert PayrollRun.objects.count() == 1
    assert Payslip.objects.count() == 2


def test_the_monthly_job_processes_the_current_month(guard):
    result = tasks.process_monthly_salaries.call()
    period = timezone.localdate().replace(day=1)
    assert result["period"] == period.isoformat()
    assert Payslip.objects.get(employee=guard).period == period
    tasks.process_monthly_salaries.call()
    assert PayrollRun.objects.count() == 1


def test_pay_is_pro_rata_for_a_month_joined_midway(society):
    newcomer = services.employee_create(
        society_id=society.pk,
        code="HK-02",
        name="New",
        designation="Housekeeping",
        monthly_basic="12000.00",
        joined_on="2025-09-16",
    )
    figures = services.payslip_compute(employee=newcomer, period=SEPTEMBER)
    assert (figures["paid_days"], figures["basic"]) == (Decimal("15"), Decimal("6000.00"))
    assert services.payslip_compute(employee=newcomer, period=date(2025, 8, 1)) is None


def test_professional_tax_follows_the_slabs():
    assert services.professional_tax(Decimal("7500"), 9) == 0
    assert services.professional_tax(Decimal("9000"), 9) == Decimal("175.00")
    assert services.professional_tax(Decimal("15000"), 9) == Decimal("200.00")
    assert services.professional_tax(Decimal("15000"), 2) == Decimal("300.00")


def test_generate_payslips_starts_a_batch_of_pdf_jobs_for_last_months_runs(guard, manager):
    last_month = (timezone.localdate().replace(day=1) - timedelta(days=1)).replace(day=1)
    services.salaries_process(period=last_month)
    result = tasks.generate_payslips.call()
    run = PayrollRun.objects.get(period=last_month)
    batch = Batch.objects.get(pk=run.payslip_batch_id)
    assert result["batches"] == {"green-meadows": str(batch.pk)}
    members = jobs_of(tasks.generate_payslip_pdf)
    assert batch.total == members.count() == 2
    assert {job.batch_id for job in members} == {batch.pk}
    [announce] = jobs_of(tasks.announce_payslips)
    assert (announce.state, announce.awaiting_batch_id, announce.args) == (State.AWAITING, batch.pk, [run.pk])
    tasks.generate_payslips.call()
    assert Batch.objects.count() == 1


def test_a_payslip_pdf_is_a_real_pdf_naming_the_employee_and_net_pay(september, guard, media_root):
    slip = Payslip.objects.get(employee=guard)
    tasks.generate_payslip_pdf.call(slip.pk)
    tasks.generate_payslip_pdf.call(slip.pk)  # a retry does not write a second file
    slip.refresh_from_db()
    assert slip.pdf.name == "payslips/2025-09/green-meadows-SEC-01-2025-09.pdf"
    assert slip.pdf_generated_at is not None
    files = list((media_root / "payslips" / "2025-09").iterdir())
    assert [f.name for f in files] == ["green-meadows-SEC-01-2025-09.pdf"]
    data = files[0].read_bytes()
    assert data.startswith(b"%PDF-")
    text = PdfReader(io.BytesIO(data)).pages[0].extract_text()
    assert "Ramesh Yadav" in text
    assert "Net pay" in text and "Rs. 13,271.56" in text
    assert "September 2025" in text


def test_a_missing_pdf_file_is_written_again(september, guard, media_root):
    slip = Payslip.objects.get(employee=guard)
    services.payslip_render(payslip_id=slip.pk)
    slip.refresh_from_db()
    (media_root / slip.pdf.name).unlink()
    services.payslip_render(payslip_id=slip.pk)
    assert (media_root / slip.pdf.name).read_bytes().startswith(b"%PDF-")


def test_announcing_payslips_tells_each_employee_and_the_society_once(september, guard, society, mailoutbox):
    mailoutbox.clear()
    run = PayrollRun.objects.get()
    for slip in run.payslips.all():
        services.payslip_render(payslip_id=slip.pk)
    tasks.announce_payslips.call(run.pk)
    tasks.announce_payslips.call(run.pk)
    assert sorted(m.to[0] for m in mailoutbox) == [society.contact_email, "ramesh@example.com"]
    run.refresh_from_db()
    assert run.payslips_generated_at is not None


def test_the_compliance_report_totals_last_months_statutory_dues(september, society, mailoutbox):
    mailoutbox.clear()
    services.compliance_report_generate(period=SEPTEMBER)
    report = ComplianceReport.objects.get(society=society, period=SEPTEMBER)
    assert (report.employee_count, report.total_gross) == (2, Decimal("55125.00"))
    assert report.pf_employee == report.pf_employer == Decimal("3340.00")
    assert (report.esi_employee, report.esi_employer) == (Decimal("113.44"), Decimal("491.56"))
    assert report.professional_tax == Decimal("400.00")
    assert report.total_due == Decimal("7685.00")
    [mail] = mailoutbox
    assert "₹7,685.00" in mail.subject


def test_the_compliance_job_reports_the_previous_month(guard):
    last_month = (timezone.localdate().replace(day=1) - timedelta(days=1)).replace(day=1)
    services.salaries_process(period=last_month)
    result = tasks.statutory_compliance_report.call()
    assert result["period"] == last_month.isoformat()
    assert ComplianceReport.objects.filter(period=last_month).count() == 1


def test_the_attendance_summary_counts_the_day(guard, manager, society):
    today = timezone.localdate()
    services.attendance_mark(employee_id=guard.pk, day=today, status="present")
    services.attendance_mark(employee_id=guard.pk, day=today, status="half_day")  # a correction
    tasks.attendance_summary.call()
    summary = AttendanceSummary.objects.get(society=society, date=today)
    assert (summary.employees, summary.present, summary.half_day, summary.not_marked) == (2, 0, 1, 1)
    services.attendance_mark(employee_id=manager.pk, day=today, status="present")
    tasks.attendance_summary.call()
    summary.refresh_from_db()
    assert (summary.present, summary.not_marked) == (1, 0)
    assert Attendance.objects.filter(date=today).count() == 2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"day": "2999-01-01"}, "future"),
        ({"day": "2023-12-31"}, "not employed"),
        ({"status": "sick"}, "Unknown attendance status"),
        ({"employee_id": 999999}, "Unknown employee"),
    ],
)
def test_attendance_refuses_bad_input(guard, kwargs, match):
    data = {"employee_id": guard.pk, "day": "2025-09-01", "status": "present", **kwargs}
    with pytest.raises(ValidationError, match=match):
        services.attendance_mark(**data)
    assert not Attendance.objects.exists()


def test_an_employee_with_a_negative_salary_is_refused(society):
    with pytest.raises(ValidationError, match="negative"):
        services.employee_create(
            society_id=society.pk,
            code="X",
            name="X",
            designation="X",
            monthly_basic="-1",
            joined_on="2025-01-01",
        )
    assert not Employee.objects.exists()
