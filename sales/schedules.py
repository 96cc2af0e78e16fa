"""Sales recurring jobs (the old Sales Service table), read by `manage.py seed_recurring_jobs`.
Times are the society's local time (settings.TIME_ZONE)."""

from jobs.recurring import Cron, Recurring
from sales import tasks

RECURRING = [
    Recurring("generate-monthly-invoices", tasks.generate_monthly_invoices, Cron.monthly(day=1, hour=6)),
    Recurring("send-payment-reminders", tasks.send_payment_reminders, Cron.daily(hour=10)),
    Recurring("check-overdue-invoices", tasks.check_overdue_invoices, Cron.hourly()),
    Recurring("calculate-late-fees", tasks.calculate_late_fees, Cron.daily(hour=0)),
]
