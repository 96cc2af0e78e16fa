"""A second stand-in app's schedules.py, naming its task by path."""

from jobs.recurring import Cron, Recurring

RECURRING = [
    Recurring(
        "fake-month-end", "tests.recurring.tasks.tick", Cron.last_day_of_month(hour=23), args=("month-end",)
    ),
]
