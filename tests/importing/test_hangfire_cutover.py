"""The cut-over, end to end: Hangfire's servers are stopped, `import_hangfire` carries its
schema over, a real `qcluster` starts — and every imported job runs once, in its order, at its
time; the recurring occurrence that fell due during the cut-over fires once; nothing Hangfire
had already finished runs again."""

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from jobs.models import Job, RecurringJob, State
from tests.importing.hangfire_db import CANCELLATION, STRING
from tests.testapp.models import Attempt, Execution

PROBE = "Dhanman.Tests.ProbeService, Dhanman.Tests"
MAPPING = """
[[map]]
match = "ProbeService.Record"
task = "tests.testapp.tasks.record"

[[map]]
match = "ProbeService.Tick"
task = "tests.recurring.tasks.tick"
"""


@pytest.mark.django_db(transaction=True)
def test_imported_jobs_run_once_on_a_real_cluster(hangfire, cluster_factory, tmp_path):
    now = datetime.now(UTC)
    record = [STRING, CANCELLATION]
    with hangfire.conn.transaction():
        hangfire.add_recurring(
            "due-tick",
            PROBE,
            "Tick",
            "*/5 * * * *",
            types=[STRING],
            args=["due-tick"],
            last=now - timedelta(minutes=6),
            next_=now - timedelta(minutes=1),
        )
        hangfire.add_recurring(
            "later-tick",
            PROBE,
            "Tick",
            "0 3 * * *",
            tz="India Standard Time",
            types=[STRING],
            args=["later-tick"],
            next_=now + timedelta(hours=20),
        )
        hangfire.enqueued(PROBE, "Record", record, ["enq-1", None])
        hangfire.enqueued(PROBE, "Record", record, ["enq-2", None], queue="critical")
        soon = now + timedelta(seconds=4)
        hangfire.scheduled(PROBE, "Record", record, ["sched-soon", None], soon)
        hangfire.scheduled(PROBE, "Record", record, ["sched-later", None], now + timedelta(days=1))
        first = hangfire.enqueued(PROBE, "Record", record, ["chain-1", None])
        second = hangfire.awaiting(PROBE, "Record", record, ["chain-2", None], first)
        hangfire.awaiting(PROBE, "Record", record, ["chain-3", None], second)
        hangfire.failed(
            PROBE, "Record", record, ["failed-1", None], "System.TimeoutException", "timed out", ""
        )
        hangfire.finished(PROBE, "Record", record, ["done", None])
        hangfire.heartbeat("web-01:stopped", at=now - timedelta(minutes=10))
    path = tmp_path / "map.toml"
    path.write_text(MAPPING)
    call_command(
        "import_hangfire",
        "--dsn",
        hangfire.dsn,
        "--schema",
        hangfire.schema,
        "--map",
        str(path),
        stdout=io.StringIO(),
    )
    assert Job.objects.filter(state=State.AWAITING).count() == 2

    server = cluster_factory(workers=2)
    wanted = {"enq-1", "enq-2", "sched-soon", "chain-1", "chain-2", "chain-3"}
    server.wait_for(
        lambda: wanted <= set(Execution.objects.values_list("key", flat=True)),
        40,
        "every imported job to run",
    )
    server.wait_for(
        lambda: Attempt.objects.filter(key="due-tick").exists(), 20, "the missed occurrence to fire"
    )

    executions = {e.key: e for e in Execution.objects.all()}
    assert set(executions) == wanted  # failed-1, sched-later and Hangfire's finished "done" did not run
    assert executions["chain-1"].at < executions["chain-2"].at < executions["chain-3"].at
    assert executions["sched-soon"].at >= soon
    assert Job.objects.get(args=["sched-later"]).state == State.SCHEDULED
    assert Job.objects.get(args=["failed-1"]).state == State.FAILED
    # The occurrence due during the cut-over fired exactly once; the next one waits its turn.
    assert Attempt.objects.filter(key="due-tick").count() == 1
    due = RecurringJob.objects.get(pk="due-tick")
    assert due.next_run_at > timezone.now() - timedelta(seconds=5)
    assert not Job.objects.filter(recurring_job_id="later-tick").exists()
    assert RecurringJob.objects.get(pk="later-tick").next_run_at == now.replace(
        microsecond=now.microsecond
    ) + timedelta(hours=20)
