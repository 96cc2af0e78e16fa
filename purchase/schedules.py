"""Purchase recurring jobs (the old Purchase Service table). Times are local (TIME_ZONE)."""

from jobs.recurring import Cron, Recurring
from purchase import tasks

RECURRING = [
    Recurring("send-po-approvals", tasks.send_po_approvals, Cron.every_hours(2)),
    Recurring("check-grn-matching", tasks.check_grn_matching, Cron.daily(hour=9)),
    Recurring("vendor-payment-reminders", tasks.vendor_payment_reminders, Cron.weekly("monday", hour=9)),
]
