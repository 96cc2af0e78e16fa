"""A schedules.py whose import fails: the seed must name it rather than skip it."""

from tests.recurring.tasks import task_that_was_renamed  # noqa: F401

RECURRING = []
