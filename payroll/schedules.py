"""Payroll recurring jobs (the old Payroll Service table). Times are local (TIME_ZONE)."""

from jobs.recurring import Cron, Recurring
from payroll import tasks

RECURRING = [
    Recurring("process-monthly-salaries", tasks.process_monthly_salaries, Cron.last_day_of_month(hour=23)),
    Recurring("generate-payslips", tasks.generate_payslips, Cron.monthly(day=1, hour=0)),
    Recurring("statutory-compliance-report", tasks.statutory_compliance_report, Cron.monthly(day=2, hour=6)),
    Recurring("attendance-summary", tasks.attendance_summary, Cron.daily(hour=18)),
]
