"""`manage.py import_hangfire` against a real Hangfire.PostgreSql schema filled as Hangfire 1.8
fills it (tests/importing/hangfire_db.py): Dhanman's 23 recurring jobs and its pending jobs."""

import io
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command

from jobs.console.listing import search_jobs
from jobs.models import ContinuationOn, Job, JobState, RecurringJob, State
from tests.importing import dhanman
from tests.importing.hangfire_db import CANCELLATION, INT

pytestmark = pytest.mark.django_db


def run(db, mapping_path, *extra):
    out = io.StringIO()
    call_command(
        "import_hangfire",
        "--dsn",
        db.dsn,
        "--schema",
        db.schema,
        "--map",
        str(mapping_path),
        *extra,
        stdout=out,
    )
    return out.getvalue()


@pytest.fixture
def mapping(tmp_path):
    path = tmp_path / "hangfire-map.toml"
    path.write_text(dhanman.mapping_toml())
    return path


def test_imports_dhanman_recurring_and_pending_jobs_once(hangfire, mapping):
    now = datetime.now(UTC).replace(microsecond=0)
    ids = dhanman.fill(hangfire, now)
    before = hangfire.snapshot()

    report = json.loads(run(hangfire, mapping, "--json"))

    assert hangfire.snapshot() == before  # read-only on the Hangfire side
    assert report["written"] is True
    # The 23 recurring jobs, with Windows zones converted and Hangfire's clock carried over.
    declared = dhanman.declared_tasks()
    rows = {row.id: row for row in RecurringJob.objects.all()}
    assert set(rows) == {rid for rid, *_ in dhanman.RECURRING}
    for rid, _type, _method, cron, _tz in dhanman.RECURRING:
        row = rows[rid]
        assert (row.task_path, row.cron, row.timezone, row.args) == (declared[rid], cron, "Asia/Kolkata", [])
        assert (row.last_run_at, row.next_run_at) == ids["clock"][rid]
    # The occurrence that fell due while no server ran is the one our servers fire first.
    assert rows["check-overdue-invoices"].next_run_at <= now
    assert rows["process-monthly-salaries"].cron == "0 23 L * *"

    def job(hid):
        return Job.objects.get(external_id=f"hangfire:{hangfire.conn.info.dbname}.{hangfire.schema}:{hid}")

    reminders = [job(hid) for hid in ids["reminders"]]
    assert [(j.state, j.args, j.task_path) for j in reminders] == [
        (State.SCHEDULED, [invoice], "sales.tasks.send_invoice_reminder") for invoice in (101, 102, 103)
    ]
    assert reminders[0].run_at == now + timedelta(hours=24)
    assert job(ids["reminder_due"]).state == State.ENQUEUED  # due during the cut-over: runs now
    assert (job(ids["welcome"]).state, job(ids["welcome"]).args) == (State.ENQUEUED, [7])
    assert (job(ids["payment"]).queue, job(ids["payment"]).args) == ("critical", [55])
    create, ledger, notify = (job(hid) for hid in ids["chain"])
    assert (create.state, ledger.state, notify.state) == (State.ENQUEUED, State.AWAITING, State.AWAITING)
    assert (ledger.parent_id, notify.parent_id) == (create.pk, ledger.pk)
    assert ledger.continuation_on == ContinuationOn.SUCCEEDED
    failed = job(ids["failed"])
    assert failed.state == State.FAILED
    assert failed.exception_class == "Npgsql.NpgsqlException"
    assert failed.exception_message == "Exception while reading from stream"
    assert "ApproveInvoiceCommandHandler.UpdateRelatedSystems" in failed.exception_traceback
    assert list(failed.history.values_list("name", flat=True)) == [State.ENQUEUED, State.FAILED]
    assert job(ids["processing"]).state == State.ENQUEUED
    # Operators find an imported job by its Hangfire id in the console's search.
    assert list(search_jobs(Job.objects.all(), str(ids["welcome"]))) == [job(ids["welcome"])]
    assert not Job.objects.filter(external_id__endswith=f":{ids['unmapped']}").exists()
    assert not Job.objects.filter(external_id__endswith=f":{ids['bad_arguments']}").exists()
    assert Job.objects.filter(external_id__startswith="hangfire:").count() == 11

    by_source = {
        e["source"].split(" ")[1] if e["source"].startswith("job ") else e["source"]: e
        for e in report["entries"]
    }
    assert by_source[str(ids["unmapped"])]["status"] == "unmapped"
    assert "AnalyticsService.UpdateAnalytics" in by_source[str(ids["unmapped"])]["reason"]
    assert by_source[str(ids["bad_arguments"])]["status"] == "skipped"
    assert "unparsable arguments" in by_source[str(ids["bad_arguments"])]["reason"]
    assert by_source["3 Succeeded job(s)"]["status"] == "skipped"
    assert by_source["1 Deleted job(s)"]["status"] == "skipped"
    assert report["summary"]["create"] == 23 + 11

    # A second run imports nothing new and changes nothing.
    counts = (RecurringJob.objects.count(), Job.objects.count(), JobState.objects.count())
    again = json.loads(run(hangfire, mapping, "--json"))
    assert again["written"] is False
    assert again["summary"]["create"] == again["summary"]["update"] == 0
    assert (RecurringJob.objects.count(), Job.objects.count(), JobState.objects.count()) == counts
    assert hangfire.snapshot() == before


def test_dry_run_prints_the_table_and_writes_nothing(hangfire, mapping):
    dhanman.fill(hangfire, datetime.now(UTC))
    out = run(hangfire, mapping, "--dry-run", "--no-jobs")
    assert "recurring-job:generate-monthly-invoices InvoiceService" in out
    assert "0 6 1 * *" in out and "Asia/Kolkata" in out
    assert "Dry run: nothing was written." in out
    assert "job " not in out  # --no-jobs
    assert RecurringJob.objects.count() == Job.objects.count() == 0


def test_a_live_hangfire_server_stops_the_import_unless_forced(hangfire, mapping):
    dhanman.fill(hangfire, datetime.now(UTC))
    hangfire.heartbeat("web-02:5f0c", at=datetime.now(UTC) - timedelta(seconds=20))
    with pytest.raises(CommandError, match="A Hangfire server is still running: web-02:5f0c"):
        run(hangfire, mapping)
    assert RecurringJob.objects.count() == Job.objects.count() == 0
    out = run(hangfire, mapping, "--force")
    assert "--force: imported although" in out
    assert RecurringJob.objects.count() == 23


# --- Bad input: a clear error, nothing written ---------------------------------------------------


def assert_nothing_written():
    assert RecurringJob.objects.count() == 0
    assert Job.objects.count() == 0


def run_failing(db, mapping_path):
    out = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command(
            "import_hangfire", "--dsn", db.dsn, "--schema", db.schema, "--map", str(mapping_path), stdout=out
        )
    return out.getvalue(), str(caught.value)


def test_invocation_data_that_is_not_json(make_hangfire, mapping):
    db = make_hangfire(legacy_text_columns=True)  # before Hangfire.PostgreSql v20 it was a text column
    dhanman.fill(db, datetime.now(UTC))
    bad = db.add_job("", "", [], [], "Enqueued", {"Queue": "default"}, invocation="System.Int32 Foo(")
    out, error = run_failing(db, mapping)
    assert f"job {bad}: its invocation data is not JSON" in out
    assert "1 entry" in error and "nothing was written" in error
    assert_nothing_written()


def test_a_recurring_job_whose_payload_is_not_json(hangfire, mapping):
    dhanman.fill(hangfire, datetime.now(UTC))
    hangfire.add_recurring("broken", "", "", "0 1 * * *", job="{t: InvoiceService")
    out, _ = run_failing(hangfire, mapping)
    assert "recurring job 'broken': its invocation data is not JSON" in out
    assert_nothing_written()


def test_an_unknown_time_zone(hangfire, mapping):
    dhanman.fill(hangfire, datetime.now(UTC))
    hangfire.add_recurring(
        "in-mars-time",
        dhanman.SALES.format("InvoiceService"),
        "CheckOverdueInvoices",
        "0 * * * *",
        tz="Mars Standard Time",
    )
    out, _ = run_failing(hangfire, mapping)
    assert "Unknown time zone 'Mars Standard Time'" in out
    assert_nothing_written()


def test_a_dsn_that_does_not_answer(mapping):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(CommandError, match=r"does not answer") as caught:
        call_command(
            "import_hangfire",
            "--dsn",
            f"postgres://postgres:secret@127.0.0.1:{port}/hangfire",
            "--map",
            str(mapping),
            stdout=io.StringIO(),
        )
    assert "secret" not in str(caught.value)
    assert_nothing_written()


def test_a_schema_that_is_not_hangfires(hangfire, mapping):
    hangfire.execute("DROP TABLE {s}.jobqueue")
    hangfire.execute("ALTER TABLE {s}.hash DROP COLUMN field")
    with pytest.raises(
        CommandError, match=r"is not Hangfire.PostgreSql's: no table 'jobqueue'; table 'hash' has no column"
    ):
        run(hangfire, mapping)
    with pytest.raises(CommandError, match="There is no schema 'nowhere'"):
        call_command(
            "import_hangfire",
            "--dsn",
            hangfire.dsn,
            "--schema",
            "nowhere",
            "--map",
            str(mapping),
            stdout=io.StringIO(),
        )
    assert_nothing_written()


def test_a_mapping_to_an_unregistered_task(hangfire, tmp_path):
    path = tmp_path / "map.toml"
    path.write_text('[[map]]\nmatch = "InvoiceService.CheckOverdueInvoices"\ntask = "os.system"\n')
    with pytest.raises(CommandError, match="'os.system' is not a registered task"):
        run(hangfire, path)


def test_arguments_that_do_not_fit_the_task(hangfire, tmp_path):
    path = tmp_path / "map.toml"
    path.write_text(
        '[[map]]\nmatch = "EmailService.SendWelcomeEmail"\ntask = "sales.tasks.check_overdue_invoices"\n'
    )
    hangfire.enqueued(
        dhanman.SALES.format("EmailService"), "SendWelcomeEmail", [INT, CANCELLATION], [7, None]
    )
    out, _ = run_failing(hangfire, path)
    assert "do not fit: check_overdue_invoices() " in out
    assert_nothing_written()


def test_continuations_of_finished_or_missing_parents_and_second_level_crons(hangfire, tmp_path):
    path = tmp_path / "map.toml"
    path.write_text(dhanman.mapping_toml())
    workflow = dhanman.SALES.format("InvoiceProcessingService")
    done = hangfire.finished(workflow, "CreateInvoice", [INT, CANCELLATION], [1, None])
    gone = hangfire.finished(workflow, "CreateInvoice", [INT, CANCELLATION], [2, None], state="Deleted")
    released = hangfire.awaiting(workflow, "UpdateLedger", [INT, CANCELLATION], [1, None], done)
    not_met = hangfire.awaiting(workflow, "UpdateLedger", [INT, CANCELLATION], [2, None], gone)
    orphan = hangfire.add_job(
        workflow,
        "UpdateLedger",
        [INT, CANCELLATION],
        [3, None],
        "Awaiting",
        {"ParentId": "999999", "Options": "OnlyOnSucceededState"},
    )
    hangfire.add_recurring(
        "every-30-seconds", dhanman.SALES.format("InvoiceService"), "CheckOverdueInvoices", "*/30 * * * * *"
    )
    report = {
        e["details"].get("hangfire_id"): e for e in json.loads(run(hangfire, path, "--json"))["entries"]
    }
    assert report[released]["status"] == "create"
    assert Job.objects.get(external_id__endswith=f":{released}").state == State.ENQUEUED  # parent succeeded
    assert "continuation condition not met" in report[not_met]["reason"]
    assert "no longer exists in Hangfire" in report[orphan]["reason"]
    assert report["every-30-seconds"]["status"] == "skipped"
    assert "finest unit is the minute" in report["every-30-seconds"]["reason"]
    assert Job.objects.count() == 1 and RecurringJob.objects.count() == 0


def test_a_select_only_database_user_is_enough(hangfire, mapping):
    """The import needs no write privilege on Hangfire's side: a role that may only SELECT does."""
    dhanman.fill(hangfire, datetime.now(UTC))
    role = f"hangfire_reader_{uuid.uuid4().hex[:10]}"  # roles are cluster-wide: never a fixed name
    hangfire.execute(f"CREATE ROLE {role} LOGIN")
    try:
        hangfire.execute(f"GRANT USAGE ON SCHEMA {{s}} TO {role}")
        hangfire.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {{s}} TO {role}")
        dsn = hangfire.dsn.replace(f"//{hangfire.conninfo['user']}@", f"//{role}@")
        call_command(
            "import_hangfire",
            "--dsn",
            dsn,
            "--schema",
            hangfire.schema,
            "--map",
            str(mapping),
            stdout=io.StringIO(),
        )
        assert RecurringJob.objects.count() == 23
    finally:
        hangfire.execute(f"DROP OWNED BY {role}")
        hangfire.execute(f"DROP ROLE {role}")


def test_many_pending_jobs_go_in_one_bulk_insert(hangfire, mapping):
    """From 200 jobs on the engine writes them with COPY: the external ids must come along."""
    reminder = dhanman.SALES.format("ReminderService")
    later = datetime.now(UTC) + timedelta(days=1)
    with hangfire.conn.transaction():
        hids = [
            hangfire.scheduled(reminder, "SendInvoiceReminder", [INT, CANCELLATION], [n, None], later)
            for n in range(250)
        ]
    run(hangfire, mapping)
    jobs = Job.objects.filter(external_id__startswith="hangfire:")
    assert jobs.count() == 250 and set(jobs.values_list("state", flat=True)) == {State.SCHEDULED}
    assert sorted(int(e.rsplit(":", 1)[1]) for e in jobs.values_list("external_id", flat=True)) == hids
    assert JobState.objects.filter(reason__startswith="Imported from Hangfire job").count() == 250
    run(hangfire, mapping)
    assert Job.objects.count() == 250
