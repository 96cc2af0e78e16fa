"""Inventory recurring jobs (the old Inventory Service table). Times are local (TIME_ZONE)."""

from inventory import tasks
from jobs.recurring import Cron, Recurring

RECURRING = [
    Recurring("check-low-stock-alerts", tasks.check_low_stock_alerts, Cron.daily(hour=9)),
    Recurring("generate-stock-report", tasks.generate_stock_report, Cron.weekly("friday", hour=17)),
    Recurring("expire-items-check", tasks.expire_items_check, Cron.daily(hour=0)),
]
