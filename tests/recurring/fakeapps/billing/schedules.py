"""A stand-in app's schedules.py for the seed tests."""

from jobs.recurring import Cron, Recurring
from tests.recurring.tasks import tick, urgent

RECURRING = [
    Recurring("fake-daily-report", tick, Cron.daily(hour=2), args=("daily-report",)),
    Recurring("fake-hourly-check", urgent, Cron.hourly(minute=15), tz="America/New_York"),
]
