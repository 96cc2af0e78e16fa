"""Declarations a careless deploy might ship: `seed_recurring_jobs` must refuse all of them and
write nothing (installed only by tests/security/test_bad_input.py)."""

from jobs.recurring import Recurring

RECURRING = [
    Recurring("hostile-good-looking", "tests.testapp.tasks.record", "0 6 * * *", args=["fine"]),
    Recurring("hostile-bad-cron", "tests.testapp.tasks.record", "61 * * * *", args=["x"]),
    Recurring("hostile-good-looking", "tests.testapp.tasks.record", "0 7 * * *", args=["twice"]),
    Recurring("hostile-forged", "os.system", "0 6 * * *", args=["touch /tmp/pwned"]),
]
