"""Community recurring jobs (the old Community Service table). Times are local (TIME_ZONE)."""

from community import tasks
from jobs.recurring import Cron, Recurring

RECURRING = [
    Recurring("send-event-reminders", tasks.send_event_reminders, Cron.daily(hour=8)),
    Recurring("expire-visitor-passes", tasks.expire_visitor_passes, Cron.every_minutes(30)),
    Recurring("maintenance-request-escalation", tasks.maintenance_request_escalation, Cron.every_hours(4)),
]
