"""Job output on the embedded SQLite default (`make run`): captured, appended, shown."""

import pytest
from django.urls import reverse

from jobs.models import JobOutput, State
from tests.console import factories
from tests.jobs.helpers import run_next
from tests.testapp import tasks

pytestmark = [pytest.mark.sqlite, pytest.mark.django_db]


def test_output_is_captured_and_shown_on_sqlite(client, monkeypatch):
    from jobs import output

    monkeypatch.setattr(output, "FLUSH_BYTES", 100)  # several appends to the same row
    tasks.chatty.enqueue(lines=12)
    job = run_next()
    assert job.state == State.SUCCEEDED
    row = JobOutput.objects.get(job=job)
    assert len(row.text.splitlines()) == 12 and row.size == len(row.text.encode())
    client.force_login(factories.make_user("viewer"))
    live = client.get(reverse("jobs_console:job_live", args=[job.pk])).json()
    assert live["live"] is False and "line 11 of 12" in live["outputs"][0]["text"]
