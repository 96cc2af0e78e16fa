"""Bad input, table-driven: every way a caller can get it wrong, across `.enqueue()`, jobs.api,
recurring jobs (API and `seed_recurring_jobs`), the console and the domain services. Each case
must fail with a clear error — the right exception and a message that says what was wrong —
and leave the database exactly as it was (tests/security/snapshot.py).
"""

import math
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.tasks.exceptions import InvalidTask
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from jobs import api
from jobs.api import InvalidOperation, JobNotFound
from jobs.creation import ArgumentsTooLarge
from jobs.models import Job
from jobs.recurring import Cron, InvalidSchedule, Recurring, RecurringJobNotFound, seed
from jobs.server.broker import claim_jobs
from jobs.server.runner import perform
from tests.security.snapshot import database_snapshot
from tests.testapp.tasks import add, record

pytestmark = pytest.mark.django_db


def _claim_and(target_id, run: bool):
    rows = claim_jobs(None, list(settings.JOB_QUEUES), 1)
    assert rows and str(rows[0][0]) == str(target_id)
    if run:
        perform(str(rows[0][0]), str(rows[0][1]))


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """One of everything a bad call could damage, made through the engine and the services, once
    for the module (committed); each case runs in its own transaction, rolled back after it."""
    with django_db_blocker.unblock():
        made = build_world()
    yield made
    with django_db_blocker.unblock():
        call_command("flush", interactive=False)


def build_world():
    from sales import services as sales

    w = SimpleNamespace()
    w.processing = record.enqueue("processing").id
    _claim_and(w.processing, run=False)
    w.succeeded = record.enqueue("succeeded").id
    _claim_and(w.succeeded, run=True)
    with api.batch("finished") as finished:
        finished.enqueue(record, "finished-batch-job")
    _claim_and(Job.objects.get(batch_id=finished.id).pk, run=True)
    w.finished_batch = finished.id
    w.enqueued = record.enqueue("enqueued").id
    with api.batch("started") as started:
        started.enqueue(add, 1, 2)
    w.started_batch = started.id
    api.add_or_update("nightly-report", record, Cron.daily(hour=2), args=["nightly"])
    society = sales.society_create(
        name="Security Heights",
        code="security-heights",
        contact_email="office@example.com",
        monthly_charge="2500.00",
    )
    w.resident = sales.resident_register(
        society_id=society.pk, name="Asha Rao", email="asha@example.com", unit="C-301"
    ).pk
    w.draft_invoice = sales.invoice_create(
        resident_id=w.resident, amount="2500.00", due_date=timezone.localdate() + timedelta(days=15)
    ).pk
    w.invoice = sales.invoice_create(
        resident_id=w.resident, amount="2500.00", due_date=timezone.localdate() + timedelta(days=15)
    ).pk
    sales.invoice_issue(invoice_id=w.invoice)
    return w


@dataclass(frozen=True)
class Case:
    id: str
    call: object  # a function of the world
    error: type | tuple
    match: str  # a regular expression the message must contain


def _batch_with_a_bad_job(w):
    with api.batch("half good") as b:
        b.enqueue(record, "good")
        b.enqueue(record, object())


def _then_invalid_on(w):
    with api.batch("continuation that waits for nothing") as b:
        b.enqueue(record, "k")
        b.then(record, "after", on="whenever")


def _many_with_one_bad(w):
    api.enqueue_many(record, [(("a",), {}), (("b",), {}), ((timezone.now(),), {})])


def _sales(name):
    def call(**kwargs):
        from sales import services

        return getattr(services, name)(**kwargs)

    return call


def _seed_duplicate(w):
    seed(
        [
            ("sales.schedules", Recurring("nightly-report", record, Cron.daily(hour=3), args=["x"])),
            ("purchase.schedules", Recurring("nightly-report", record, Cron.daily(hour=4), args=["y"])),
        ]
    )


def _seed_command_with_hostile_declarations(w):
    with override_settings(INSTALLED_APPS=[*settings.INSTALLED_APPS, "tests.security.hostile_schedules"]):
        call_command("seed_recurring_jobs")


def _attach_to_finished(w):
    with api.attach(w.finished_batch) as b:
        b.enqueue(record, "late")


TOO_BIG = "x" * (64 * 1024 + 1)

CASES = [
    # --- .enqueue() -----------------------------------------------------------------------------
    Case("enqueue-object-argument", lambda w: record.enqueue(object()), TypeError, r"not JSON.*ids, strings"),
    Case(
        "enqueue-decimal-kwarg",
        lambda w: add.enqueue(a=Decimal("1.50"), b=1),
        TypeError,
        r"'a'.*not JSON.*Decimal",
    ),
    Case(
        "enqueue-datetime-argument",
        lambda w: record.enqueue(timezone.now()),
        TypeError,
        r"not JSON.*datetime",
    ),
    Case("enqueue-nan", lambda w: add.enqueue(math.nan, 1), TypeError, r"not JSON"),
    Case("enqueue-set", lambda w: record.enqueue({"a", "b"}), TypeError, r"not JSON.*set"),
    Case(
        "enqueue-oversized",
        lambda w: record.enqueue(TOO_BIG),
        ArgumentsTooLarge,
        r"over the 65536-byte limit",
    ),
    Case(
        "enqueue-unknown-queue",
        lambda w: record.using(queue_name="urgent!").enqueue("k"),
        InvalidTask,
        r"[Qq]ueue 'urgent!'",
    ),
    Case(
        "enqueue-naive-run-after",
        lambda w: record.using(run_after=datetime.now()).enqueue("k"),
        (InvalidTask, ValueError),
        r"aware",
    ),
    Case(
        "enqueue-run-after-not-a-datetime",
        lambda w: record.using(run_after="tomorrow").enqueue("k"),
        (InvalidTask, TypeError),
        r"run_after|datetime",
    ),
    Case(
        "enqueue-priority-out-of-range",
        lambda w: record.using(priority=1000).enqueue("k"),
        InvalidTask,
        r"priority must be a whole number",
    ),
    Case("enqueue-many-one-bad", _many_with_one_bad, TypeError, r"not JSON"),
    Case(
        "enqueue-arguments-do-not-fit",
        lambda w: add.enqueue(1, 2, 3),
        TypeError,
        r"^add\(a, b\) cannot be called with these arguments: too many positional",
    ),
    Case(
        "enqueue-many-call-does-not-fit",
        lambda w: api.enqueue_many(add, [((1, 2), {}), ((1,), {})]),
        TypeError,
        r"^add\(a, b\) cannot be called .*missing a required argument: 'b'",
    ),
    Case(
        "continue-with-arguments-do-not-fit",
        lambda w: api.continue_with(w.enqueued, record),
        TypeError,
        r"^record\(key\) cannot be called",
    ),
    Case(
        "enqueue-many-plain-function",
        lambda w: api.enqueue_many(print, [((), {})]),
        InvalidTask,
        r"not a task of this job system",
    ),
    # --- jobs.api ---------------------------------------------------------------------------------
    Case(
        "enqueue-in-negative-delay",
        lambda w: api.enqueue_in(record, -5, "k"),
        ValueError,
        r"cannot be negative",
    ),
    Case(
        "enqueue-in-negative-timedelta",
        lambda w: api.enqueue_in(record, timedelta(minutes=-1), "k"),
        ValueError,
        r"cannot be negative",
    ),
    Case(
        "enqueue-in-delay-not-a-number",
        lambda w: api.enqueue_in(record, "soon", "k"),
        TypeError,
        r"timedelta or seconds",
    ),
    Case(
        "continue-with-missing-parent",
        lambda w: api.continue_with(uuid.uuid4(), record, "k"),
        JobNotFound,
        r"There is no job",
    ),
    Case(
        "continue-with-malformed-id",
        lambda w: api.continue_with("42; DROP TABLE jobs_job", record, "k"),
        JobNotFound,
        r"is not a job id",
    ),
    Case(
        "continue-with-invalid-on",
        lambda w: api.continue_with(w.enqueued, record, "k", on="sometimes"),
        ValueError,
        r"on must be one of",
    ),
    Case(
        "continue-with-batch-only-on",
        lambda w: api.continue_with(w.enqueued, record, "k", on="completed"),
        ValueError,
        r"on must be one of",
    ),
    Case(
        "continue-with-bad-argument",
        lambda w: api.continue_with(w.enqueued, record, object()),
        TypeError,
        r"not JSON",
    ),
    Case(
        "continue-batch-missing",
        lambda w: api.continue_batch_with(uuid.uuid4(), record, "k"),
        JobNotFound,
        r"There is no batch",
    ),
    Case(
        "continue-batch-invalid-on",
        lambda w: api.continue_batch_with(w.started_batch, record, "k", on="deleted"),
        ValueError,
        r"on must be one of",
    ),
    Case("batch-with-a-bad-job", _batch_with_a_bad_job, TypeError, r"not JSON"),
    Case("batch-then-invalid-on", _then_invalid_on, ValueError, r"on must be one of"),
    Case("attach-to-finished-batch", _attach_to_finished, InvalidOperation, r"cannot be attached"),
    Case(
        "cancel-finished-batch",
        lambda w: api.cancel_batch(w.finished_batch),
        InvalidOperation,
        r"cannot be cancelled",
    ),
    Case(
        "requeue-running-job",
        lambda w: api.requeue(w.processing),
        InvalidOperation,
        r"already queued or running",
    ),
    Case("requeue-unknown-job", lambda w: api.requeue(uuid.uuid4()), JobNotFound, r"There is no job"),
    Case("delete-malformed-id", lambda w: api.delete("../../etc/passwd"), JobNotFound, r"is not a job id"),
    # --- Recurring jobs ---------------------------------------------------------------------------
    Case(
        "recurring-bad-cron",
        lambda w: api.add_or_update("r1", record, "61 * * * *", args=["k"]),
        InvalidSchedule,
        r"Invalid cron expression '61 \* \* \* \*'",
    ),
    Case(
        "recurring-seconds-field",
        lambda w: api.add_or_update("r1", record, "* * * * * *", args=["k"]),
        InvalidSchedule,
        r"five fields",
    ),
    Case(
        "recurring-never-runs",
        lambda w: api.add_or_update("r1", record, "0 0 30 2 *", args=["k"]),
        InvalidSchedule,
        r"bad day-of-month|never runs",
    ),
    Case(
        "recurring-unknown-zone",
        lambda w: api.add_or_update("r1", record, "0 6 * * *", tz="Mars/Olympus", args=["k"]),
        InvalidSchedule,
        r"Unknown time zone",
    ),
    Case(
        "recurring-abbreviated-zone",
        lambda w: api.add_or_update("r1", record, "0 6 * * *", tz="IST", args=["k"]),
        InvalidSchedule,
        r"Unknown time zone 'IST'",
    ),
    Case(
        "recurring-unknown-task",
        lambda w: api.add_or_update("r1", "tests.testapp.tasks.nope", "0 6 * * *"),
        InvalidSchedule,
        r"has no 'nope'",
    ),
    Case(
        "recurring-forged-task-path",
        lambda w: api.add_or_update("r1", "os.system", "0 6 * * *", args=["id"]),
        InvalidSchedule,
        r"not a registered task",
    ),
    Case(
        "recurring-plain-function",
        lambda w: api.add_or_update("r1", print, "0 6 * * *"),
        InvalidSchedule,
        r"not a task",
    ),
    Case(
        "recurring-id-not-a-slug",
        lambda w: api.add_or_update("nightly report!", record, "0 6 * * *", args=["k"]),
        InvalidSchedule,
        r"must be a slug",
    ),
    Case(
        "recurring-unknown-queue",
        lambda w: api.add_or_update("r1", record, "0 6 * * *", queue="urgent", args=["k"]),
        InvalidSchedule,
        r"unknown queue",
    ),
    Case(
        "recurring-unknown-misfire",
        lambda w: api.add_or_update("r1", record, "0 6 * * *", misfire="sometimes", args=["k"]),
        InvalidSchedule,
        r"misfire",
    ),
    Case(
        "recurring-non-json-args",
        lambda w: api.add_or_update("r1", record, "0 6 * * *", args=[object()]),
        InvalidSchedule,
        r"not JSON",
    ),
    Case(
        "recurring-update-to-bad-cron",
        lambda w: api.add_or_update("nightly-report", record, "0 25 * * *", args=["nightly"]),
        InvalidSchedule,
        r"cron",
    ),
    Case(
        "recurring-trigger-unknown",
        lambda w: api.trigger("no-such-job"),
        RecurringJobNotFound,
        r"no recurring job 'no-such-job'",
    ),
    Case(
        "seed-duplicate-ids",
        _seed_duplicate,
        InvalidSchedule,
        r"declared twice.*nothing was written|nothing was written",
    ),
    Case(
        "seed-command-hostile-declarations",
        _seed_command_with_hostile_declarations,
        CommandError,
        r"3 invalid recurring job declaration\(s\); nothing was written",
    ),
    # --- Domain services (sales) ------------------------------------------------------------------
    Case(
        "invoice-float-amount",
        lambda w: _sales("invoice_create")(resident_id=w.resident, amount=2500.5, due_date=date(2031, 1, 15)),
        ValidationError,
        r"not the float",
    ),
    Case(
        "invoice-negative-amount",
        lambda w: _sales("invoice_create")(
            resident_id=w.resident, amount="-10.00", due_date=date(2031, 1, 15)
        ),
        ValidationError,
        r"cannot be negative",
    ),
    Case(
        "invoice-three-decimals",
        lambda w: _sales("invoice_create")(
            resident_id=w.resident, amount="10.005", due_date=date(2031, 1, 15)
        ),
        ValidationError,
        r"more than two decimal places",
    ),
    Case(
        "invoice-not-an-amount",
        lambda w: _sales("invoice_create")(
            resident_id=w.resident, amount="ten rupees", due_date=date(2031, 1, 15)
        ),
        ValidationError,
        r"is not an amount",
    ),
    Case(
        "invoice-due-before-issue",
        lambda w: _sales("invoice_create")(
            resident_id=w.resident, amount="10.00", issue_date="2031-02-01", due_date="2031-01-15"
        ),
        ValidationError,
        r"before the issue date",
    ),
    Case(
        "invoice-malformed-date",
        lambda w: _sales("invoice_create")(resident_id=w.resident, amount="10.00", due_date="15/01/2031"),
        ValidationError,
        r"YYYY-MM-DD",
    ),
    Case(
        "invoice-unknown-resident",
        lambda w: _sales("invoice_create")(resident_id=999_999, amount="10.00", due_date="2031-01-15"),
        ValidationError,
        r"Unknown resident",
    ),
    Case(
        "invoice-resident-id-injection",
        lambda w: _sales("invoice_create")(resident_id="1 OR 1=1", amount="10.00", due_date="2031-01-15"),
        ValidationError,
        r"must be an id",
    ),
    Case(
        "payment-naive-time",
        lambda w: _sales("payment_record")(
            invoice_id=w.invoice, amount="100.00", method="upi", received_at=datetime(2031, 1, 1, 10, 0)
        ),
        ValidationError,
        r"aware datetime",
    ),
    Case(
        "payment-unknown-method",
        lambda w: _sales("payment_record")(invoice_id=w.invoice, amount="100.00", method="bitcoin"),
        ValidationError,
        r"Unknown payment method",
    ),
    Case(
        "payment-on-draft-invoice",
        lambda w: _sales("payment_record")(invoice_id=w.draft_invoice, amount="100.00", method="upi"),
        ValidationError,
        r"takes no payments",
    ),
    Case(
        "payment-more-than-due",
        lambda w: _sales("payment_record")(invoice_id=w.invoice, amount="99999.00", method="upi"),
        ValidationError,
        r"left to pay",
    ),
]


def _messages(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_is_refused_clearly_and_changes_nothing(world, case):
    before = database_snapshot()
    with pytest.raises(case.error) as raised:
        case.call(world)
    assert re.search(case.match, _messages(raised.value), re.S), _messages(raised.value)
    assert database_snapshot() == before


def test_the_table_is_at_least_twenty_cases_wide():
    assert len(CASES) >= 20
    assert len({case.id for case in CASES}) == len(CASES)


# --- The console: wrong URLs and forms are 400/404, and change nothing --------------------------

CONSOLE_CASES = [
    # (id, method, url of the world, form data of the world (POST), expected status)
    ("unknown-job", "GET", lambda w: reverse("jobs_console:job_detail", args=[uuid.uuid4()]), None, 404),
    ("malformed-job-id", "GET", lambda w: "/admin/jobs/job/not-a-uuid/", None, 404),
    ("path-traversal", "GET", lambda w: "/admin/jobs/job/..%2F..%2Fetc%2Fpasswd/", None, 404),
    ("unknown-state", "GET", lambda w: "/admin/jobs/jobs/exploded/", None, 404),
    ("unknown-batch", "GET", lambda w: reverse("jobs_console:batch_detail", args=[uuid.uuid4()]), None, 404),
    ("unknown-recurring", "GET", lambda w: "/admin/jobs/recurring/no-such-job/", None, 404),
    ("recurring-id-not-a-slug", "GET", lambda w: "/admin/jobs/recurring/bad%20id%3B/", None, 404),
    (
        "forged-cursor",
        "GET",
        lambda w: reverse("jobs_console:job_list", args=["succeeded"]) + "?older=AAAA",
        None,
        400,
    ),
    (
        "unknown-queue-filter",
        "GET",
        lambda w: reverse("jobs_console:job_list", args=["enqueued"]) + "?queue=x",
        None,
        400,
    ),
    (
        "oversized-search",
        "GET",
        lambda w: reverse("jobs_console:job_list", args=["enqueued"]) + "?q=" + "a" * 500,
        None,
        400,
    ),
    (
        "requeue-unknown-job",
        "POST",
        lambda w: reverse("jobs_console:job_requeue", args=[uuid.uuid4()]),
        {},
        404,
    ),
    ("delete-malformed-id", "POST", lambda w: "/admin/jobs/job/1%20OR%201=1/delete/", {}, 404),
    (
        "cancel-unknown-batch",
        "POST",
        lambda w: reverse("jobs_console:batch_cancel", args=[uuid.uuid4()]),
        {},
        404,
    ),
    ("trigger-unknown-recurring", "POST", lambda w: "/admin/jobs/recurring/no-such-job/trigger/", {}, 404),
    (
        "bulk-unknown-action",
        "POST",
        lambda w: reverse("jobs_console:job_bulk"),
        lambda w: {"action": "truncate", "job": [str(w.enqueued)]},
        400,
    ),
    (
        "bulk-malformed-id",
        "POST",
        lambda w: reverse("jobs_console:job_bulk"),
        lambda w: {"action": "delete", "job": [str(w.enqueued), "' OR 1=1 --"]},
        400,
    ),
    ("bulk-no-jobs", "POST", lambda w: reverse("jobs_console:job_bulk"), lambda w: {"action": "delete"}, 400),
    (
        "bulk-too-many",
        "POST",
        lambda w: reverse("jobs_console:job_bulk"),
        lambda w: {"action": "delete", "job": [str(w.enqueued)] + [str(uuid.uuid4()) for _ in range(500)]},
        400,
    ),
]


@pytest.mark.parametrize("name,method,url,data,status", CONSOLE_CASES, ids=[c[0] for c in CONSOLE_CASES])
def test_bad_console_requests_are_400_or_404_and_change_nothing(
    world, superuser_client, name, method, url, data, status
):
    before = database_snapshot()
    if method == "GET":
        response = superuser_client.get(url(world))
    else:
        response = superuser_client.post_with_csrf(url(world), data(world) if data else {})
    assert response.status_code == status, response.content[:300]
    assert database_snapshot() == before


@pytest.mark.parametrize("action,target", [("requeue", "processing"), ("requeue", "enqueued")])
def test_console_action_refused_by_the_engine_says_why_and_changes_nothing(
    world, superuser_client, action, target
):
    before = database_snapshot()
    job_id = getattr(world, target)
    response = superuser_client.post_with_csrf(
        reverse(f"jobs_console:job_{action}", args=[job_id]), follow=True
    )
    assert response.status_code == 200
    assert re.search(rf"Job {job_id}: ", response.content.decode()), "the refusal is not explained"
    assert database_snapshot() == before
