"""Probe handlers for the events tests: each leaves rows that show what ran, and how often."""

from jobs.events import handles
from tests.testapp.models import Attempt


@handles("tests.probe", data={"key": str})
def record_probe(event):
    # Attempt allows duplicates: a message handled twice shows as two rows.
    Attempt.objects.create(key=event.data["key"], job_id=event.id)


@handles("tests.explode")
def explode(event):
    Attempt.objects.create(key="explode-tried", job_id=event.id)  # rolled back with the failure
    raise RuntimeError("the probe handler always fails")
