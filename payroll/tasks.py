"""Payroll jobs: thin wrappers over payroll.services, safe to run twice."""

from django.core.exceptions import ValidationError
from django.tasks import task

from jobs.retry import Retry
from payroll import services

RETRY = Retry(never_on=(ValidationError,))


@task(retry=RETRY, tags=("payroll",))
def process_monthly_salaries() -> dict:
    return services.salaries_process()


@task(retry=RETRY)
def generate_payslips() -> dict:
    return services.payslips_generate()


@task(retry=RETRY, timeout=120, tags=("payroll",))
def generate_payslip_pdf(payslip_id: int) -> dict:
    payslip = services.payslip_render(payslip_id=payslip_id)
    return {"payslip": payslip.pk, "pdf": payslip.pdf.name}


@task(retry=RETRY, tags=("payroll", "payroll-run:{run_id}"))
def announce_payslips(run_id: int) -> dict:
    return services.payslips_announce(run_id=run_id)


@task(retry=RETRY)
def statutory_compliance_report() -> dict:
    return services.compliance_report_generate()


@task(retry=RETRY)
def attendance_summary() -> dict:
    return services.attendance_summarize()
