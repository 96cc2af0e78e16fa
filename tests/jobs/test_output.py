"""Job output (jobs/output.py): context.log lines and the task's logging records, per attempt,
written in batches, capped, released after the attempt, and removed with the job."""

import datetime
import logging
import re
import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from jobs import maintenance, output, redaction
from jobs.models import Job, JobOutput, State
from tests.console import factories
from tests.jobs.helpers import run_all, run_next
from tests.support.cluster import run_cluster
from tests.testapp import tasks

pytestmark = pytest.mark.django_db


def _output_writes(queries) -> int:
    return sum(1 for query in queries if "jobs_joboutput" in query["sql"] and "INSERT" in query["sql"])


def test_context_log_and_logging_records_are_captured_in_one_write():
    result = tasks.chatty.enqueue(lines=10)
    with CaptureQueriesContext(connection) as queries:
        job = run_next()
    assert job.state == State.SUCCEEDED
    (row,) = JobOutput.objects.filter(job=job)
    lines = row.text.splitlines()
    assert len(lines) == 10
    assert lines[0].endswith(" line 1 of 10")
    assert lines[1].endswith(" INFO tests.testapp.tasks: record 2 of 10")
    assert row.attempt == 1 and row.size == len(row.text.encode()) and not row.truncated
    # Ten lines, one write: batched, not one per line.
    assert _output_writes(queries.captured_queries) == 1
    assert str(result.id) == str(job.pk)


def test_a_job_that_prints_nothing_writes_no_output():
    tasks.add.enqueue(1, 2)
    with CaptureQueriesContext(connection) as queries:
        job = run_next()
    assert job.state == State.SUCCEEDED
    assert not JobOutput.objects.exists()
    assert _output_writes(queries.captured_queries) == 0


def test_each_attempt_has_its_own_output(settings):
    tasks.chatty.enqueue(lines=2, fail_first=True)
    first = run_next()
    assert first.state == State.SCHEDULED
    maintenance.promote_due_jobs(now=timezone.now() + datetime.timedelta(seconds=1))
    second = run_next()
    assert second.state == State.SUCCEEDED
    rows = list(JobOutput.objects.filter(job=second).order_by("attempt"))
    assert [row.attempt for row in rows] == [1, 2]
    assert all(len(row.text.splitlines()) == 2 for row in rows)


def test_lines_logged_inside_the_tasks_transaction_survive_its_rollback():
    tasks.chatty.enqueue(lines=1, in_transaction=True)
    job = run_next()
    assert job.state == State.SCHEDULED  # the RuntimeError, retried
    text = JobOutput.objects.get(job=job).text
    assert "inside the task's transaction" in text


def test_output_past_the_cap_is_cut_with_a_marker(settings):
    settings.DHANMAN_JOBS = {**settings.DHANMAN_JOBS, "OUTPUT_MAX_BYTES": 200}
    tasks.chatty.enqueue(lines=40)
    job = run_next()
    row = JobOutput.objects.get(job=job)
    assert row.truncated
    assert row.size <= 200
    assert (
        "[output truncated: JOBS_OUTPUT_MAX_BYTES (200 bytes) reached; further lines are dropped]" in row.text
    )
    assert row.text.rstrip().endswith("line(s) dropped]")
    assert "40 of 40" not in row.text


def test_the_cap_counts_every_attempt_of_the_job(settings):
    settings.DHANMAN_JOBS = {**settings.DHANMAN_JOBS, "OUTPUT_MAX_BYTES": 300}
    tasks.chatty.enqueue(lines=8, fail_first=True)
    run_next()
    maintenance.promote_due_jobs(now=timezone.now() + datetime.timedelta(seconds=1))
    job = run_next()
    rows = list(JobOutput.objects.filter(job=job).order_by("attempt"))
    assert not rows[0].truncated and rows[1].truncated
    assert sum(row.size for row in rows) <= 300


def test_one_handler_serves_every_attempt_and_an_attempt_is_released_after_it():
    root = logging.getLogger()
    tasks.chatty.enqueue(lines=2)
    run_next()
    handlers = list(root.handlers)
    tasks.chatty.enqueue(lines=2)
    job = run_next()
    # No handler per job: the one router stays, and nothing else is added or left behind.
    assert root.handlers == handlers
    assert sum(isinstance(handler, output._Router) for handler in root.handlers) == 1
    tasks.task_logger.info("after the job")
    assert "after the job" not in JobOutput.objects.get(job=job).text


def test_the_router_comes_back_when_logging_is_configured_anew():
    """dictConfig replaces the root logger's handlers: the next attempt installs the router again."""
    logging.getLogger().removeHandler(output._ROUTER)
    tasks.chatty.enqueue(lines=2)
    job = run_next()
    assert "record 2 of 2" in JobOutput.objects.get(job=job).text


class _Context:
    """What capture() reads of a JobContext: the job's id and the attempt; it sets `output`."""

    def __init__(self, job):
        self.job, self.attempt, self.output = job, 1, None


def _captured(body, job=None) -> str:
    """The text an attempt running `body(printed)` leaves to be written with its outcome."""
    job = job or factories.enqueued()
    with output.capture(_Context(job)) as printed:
        body(printed)
    rest = output.rest_parameters(printed)
    return rest["output_text"] if rest else ""


def test_a_record_shows_its_arguments_as_they_were_when_it_was_logged():
    """Lines are formatted at the write, their messages when they are logged."""

    def body(printed):
        items = ["first"]
        tasks.task_logger.warning("items %s", items)
        items.append("later")

    text = _captured(body)
    assert text.endswith(" WARNING tests.testapp.tasks: items ['first']\n"), text


def test_a_records_traceback_is_in_the_output():
    def body(printed):
        try:
            raise ValueError("the reason")
        except ValueError:
            tasks.task_logger.exception("it broke")

    text = _captured(body)
    assert " ERROR tests.testapp.tasks: it broke\nTraceback (most recent call last):" in text
    assert text.rstrip("\n").endswith("ValueError: the reason")


def test_records_of_other_threads_are_not_the_jobs():
    def body(printed):
        tasks.task_logger.warning("from the job's thread")
        other = threading.Thread(target=tasks.task_logger.warning, args=("from another thread",))
        other.start()
        other.join()

    text = _captured(body)
    assert "from the job's thread" in text and "from another thread" not in text


def test_lines_and_records_come_in_the_order_they_were_made_stamped():
    def body(printed):
        printed.line("one")
        tasks.task_logger.warning("two")
        printed.line("three\n")

    lines = _captured(body).splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == ["one", "WARNING tests.testapp.tasks: two", "three"]
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d", line.split(" ", 1)[0]) for line in lines)


def test_redact_keys_are_masked_in_lines_and_records_and_only_there():
    def body(printed):
        printed.line("nothing to hide here")
        printed.line("login password=hunter22 ok")
        tasks.task_logger.warning('sent {"token": "abc123xyz"} then otp: 5566')
        tasks.task_logger.warning("a token-free line")

    text = _captured(body)
    assert "hunter22" not in text and "abc123xyz" not in text and "5566" not in text
    assert "password=•••" in text and '"token": •••' in text and "otp: •••" in text
    assert "nothing to hide here" in text and "a token-free line" in text


def test_the_running_jobs_redacted_values_are_masked_in_lines_and_records():
    job = factories.enqueued(tasks.charge_card, "4111111111111111", "10.00")

    def body(printed):
        printed.line("charging 4111111111111111")
        tasks.task_logger.warning("card %s declined", "4111111111111111")
        printed.line("done")

    with redaction.bound(job):
        text = _captured(body, job)
    assert "4111111111111111" not in text
    assert "charging •••" in text and "card ••• declined" in text and text.endswith(" done\n")


def test_lines_are_flushed_when_enough_is_pending(monkeypatch):
    monkeypatch.setattr(output, "FLUSH_BYTES", 100)
    tasks.chatty.enqueue(lines=20)
    with CaptureQueriesContext(connection) as queries:
        job = run_next()
    writes = _output_writes(queries.captured_queries)
    assert 3 <= writes < 20  # some batches of about 100 bytes, still not one per line
    assert len(JobOutput.objects.get(job=job).text.splitlines()) == 20


def test_output_expires_with_its_job():
    tasks.chatty.enqueue(lines=3)
    run_all()
    Job.objects.update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    assert JobOutput.objects.count() == 1
    maintenance.expire_jobs.call()
    assert not Job.objects.exists()
    assert not JobOutput.objects.exists()


def test_the_console_shows_each_attempts_output_and_its_live_json(client):
    client.force_login(factories.make_user("viewer"))
    tasks.chatty.enqueue(lines=2, fail_first=True)
    job = run_next()
    page = client.get(reverse("jobs_console:job_detail", args=[job.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-output-attempt="1"' in html and "line 1 of 2" in html
    assert "data-live-url=" in html  # Scheduled for its retry: the page keeps polling
    live = client.get(reverse("jobs_console:job_live", args=[job.pk])).json()
    assert live["state"] == State.SCHEDULED and live["live"] is True
    assert [o["attempt"] for o in live["outputs"]] == [1]
    assert "record 2 of 2" in live["outputs"][0]["text"]


def test_output_is_escaped_on_the_page(client):
    client.force_login(factories.make_user("viewer"))
    job = factories.succeeded()
    JobOutput.objects.create(
        job=job, attempt=1, text="<script>alert(1)</script>\n", size=26, updated_at=timezone.now()
    )
    html = client.get(reverse("jobs_console:job_detail", args=[job.pk])).content.decode()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "data-live-url=" not in html  # final: nothing left to poll


@pytest.mark.django_db(transaction=True)
def test_a_real_server_stores_the_output_of_its_jobs():
    with run_cluster(workers=1) as server:
        result = tasks.chatty.enqueue(lines=10)
        server.wait_for(lambda: Job.objects.filter(pk=result.id, state=State.SUCCEEDED).exists(), 20)
    row = JobOutput.objects.get(job_id=result.id)
    assert len(row.text.splitlines()) == 10
    assert "INFO tests.testapp.tasks: record 10 of 10" in row.text


def test_a_job_that_prints_makes_no_more_statements_than_one_that_does_not():
    """The last lines ride in the fast success's own statement (jobs.sql.SUCCEED_MANY_CTES, `printed`)."""
    tasks.add.enqueue(1, 2)
    with CaptureQueriesContext(connection) as quiet:
        run_next()
    tasks.chatty.enqueue(lines=10)
    with CaptureQueriesContext(connection) as printing:
        job = run_next()
    assert len(JobOutput.objects.get(job=job).text.splitlines()) == 10
    assert len(printing.captured_queries) == len(quiet.captured_queries)


def test_redacted_values_are_masked_in_the_output():
    tasks.charge_card.enqueue("4111111111111111", "10.00", otp="992871")
    job = run_next()
    text = JobOutput.objects.get(job=job).text
    assert "4111111111111111" not in text and "992871" not in text
    assert "•••" in text
