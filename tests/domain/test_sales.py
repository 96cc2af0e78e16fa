"""Sales: the services enqueue the right jobs in their own transaction, and each job does its
work on the database once, however often it runs."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from jobs.models import Batch, ContinuationOn, Job, State
from notifications.models import OutboxMessage
from sales import services, tasks
from sales.models import Invoice, InvoiceRun, LateFee, LedgerEntry, Payment, Resident, SalesSnapshot
from tests.domain.helpers import jobs_of

pytestmark = pytest.mark.django_db


# --- Resident registration: welcome mail, fire-and-forget ------------------------------------


def test_registering_a_resident_enqueues_the_welcome_mail_in_the_same_transaction(society):
    resident = services.resident_register(
        society_id=society.pk, name="Diya Patel", email="Diya@Example.com", unit="A-102"
    )
    assert resident.email == "diya@example.com"
    assert resident.account.balance == 0
    [job] = jobs_of(tasks.send_welcome_email)
    assert (job.state, job.queue, job.args) == (State.ENQUEUED, "default", [resident.pk])


def test_a_rolled_back_registration_leaves_neither_resident_nor_job(society):
    with pytest.raises(RuntimeError), transaction.atomic():
        services.resident_register(
            society_id=society.pk, name="Diya Patel", email="diya@example.com", unit="A-102"
        )
        raise RuntimeError("the request failed after registering")
    assert not Resident.objects.exists()
    assert not Job.objects.exists()


def test_the_welcome_mail_is_sent_once_even_if_the_job_runs_twice(resident, mailoutbox):
    tasks.send_welcome_email.call(resident.pk)
    tasks.send_welcome_email.call(resident.pk)
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["aarav@example.com"]
    assert mailoutbox[0].subject == "Welcome to Dhanman"
    resident.refresh_from_db()
    assert resident.welcomed_at is not None
    assert OutboxMessage.objects.get(dedup_key=f"welcome:{resident.pk}").status == OutboxMessage.Status.SENT


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"society_id": 999999}, "society_id"),
        ({"email": "not-an-email"}, "email"),
        ({"name": "  "}, "name"),
        ({"monthly_charge": "-10"}, "monthly_charge"),
    ],
)
def test_registration_refuses_bad_input_and_writes_nothing(society, kwargs, field):
    data = {"society_id": society.pk, "name": "Diya", "email": "diya@example.com", "unit": "A-1", **kwargs}
    with pytest.raises(ValidationError) as error:
        services.resident_register(**data)
    assert field in error.value.message_dict
    assert not Resident.objects.exists()
    assert not Job.objects.exists()


def test_an_email_registers_once_per_society(resident, society):
    with pytest.raises(ValidationError, match="already registered"):
        services.resident_register(
            society_id=society.pk, name="Someone", email="AARAV@example.com", unit="B-1"
        )


# --- Invoice creation: the workflow chain and the delayed reminder ---------------------------


def test_creating_an_invoice_enqueues_the_workflow_chain_and_the_reminder(resident):
    today = timezone.localdate()
    invoice = services.invoice_create(
        resident_id=resident.pk, amount="3500.00", issue_date=today, due_date=today + timedelta(days=10)
    )
    assert invoice.status == Invoice.Status.DRAFT
    [create] = jobs_of(tasks.create_invoice)
    [ledger] = jobs_of(tasks.update_ledger)
    [notify] = jobs_of(tasks.send_invoice_notification)
    assert create.state == State.ENQUEUED
    assert (ledger.state, ledger.parent_id, ledger.continuation_on) == (
        State.AWAITING,
        create.pk,
        ContinuationOn.SUCCEEDED,
    )
    assert (notify.state, notify.parent_id) == (State.AWAITING, ledger.pk)
    assert create.args == ledger.args == notify.args == [invoice.pk]

    [reminder] = jobs_of(tasks.send_invoice_reminder)
    assert reminder.state == State.SCHEDULED
    assert reminder.run_at == invoice.due_at - timedelta(hours=24)
    assert timezone.localtime(reminder.run_at).hour == 0  # the start of the day before the due date


def test_a_rolled_back_invoice_leaves_no_jobs(resident):
    today = timezone.localdate()
    with pytest.raises(RuntimeError), transaction.atomic():
        services.invoice_create(resident_id=resident.pk, amount="100", issue_date=today, due_date=today)
        raise RuntimeError
    assert not Invoice.objects.exists()
    assert not Job.objects.exclude(task_path=tasks.send_welcome_email.module_path).exists()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"amount": "-100.00"}, "amount"),
        ({"amount": "0"}, "amount"),
        ({"amount": 99.99}, "amount"),
        ({"amount": "10.001"}, "amount"),
        ({"due_date": "2026-01-01", "issue_date": "2026-01-05"}, "due_date"),
        ({"resident_id": 999999}, "resident_id"),
        ({"resident_id": "abc"}, "resident_id"),
        ({"due_date": "next week"}, "due_date"),
        ({"period": "2026-03-15"}, "period"),
    ],
)
def test_invoice_creation_refuses_bad_input_and_writes_nothing(resident, kwargs, field):
    Job.objects.all().delete()
    data = {
        "resident_id": resident.pk,
        "amount": "3500.00",
        "issue_date": "2026-01-05",
        "due_date": "2026-01-20",
        **kwargs,
    }
    with pytest.raises(ValidationError) as error:
        services.invoice_create(**data)
    assert field in error.value.message_dict
    assert not Invoice.objects.exists()
    assert not Job.objects.exists()


def test_an_invoice_for_a_resident_who_left_is_refused(resident):
    Resident.objects.filter(pk=resident.pk).update(is_active=False)
    with pytest.raises(ValidationError, match="left the society"):
        services.invoice_create(resident_id=resident.pk, amount="10", due_date=timezone.localdate())


def test_the_workflow_steps_issue_post_and_notify_once_each(resident, mailoutbox):
    today = timezone.localdate()
    invoice = services.invoice_create(
        resident_id=resident.pk, amount="3500.00", issue_date=today, due_date=today + timedelta(days=15)
    )
    for _ in range(2):  # a retried job must not do anything twice
        tasks.create_invoice.call(invoice.pk)
        tasks.update_ledger.call(invoice.pk)
        tasks.send_invoice_notification.call(invoice.pk)
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.ISSUED
    assert invoice.number == f"INV-{today:%Y%m}-{invoice.pk:06d}"
    [entry] = LedgerEntry.objects.filter(invoice=invoice)
    assert (entry.kind, entry.amount) == (LedgerEntry.Kind.INVOICE, Decimal("3500.00"))
    resident.account.refresh_from_db()
    assert resident.account.balance == Decimal("3500.00")
    invoice_mails = [m for m in mailoutbox if invoice.number in m.subject]
    assert len(invoice_mails) == 1
    assert "₹3,500.00" in invoice_mails[0].body


def test_the_reminder_is_sent_when_unpaid(make_invoice, mailoutbox):
    invoice = make_invoice(due_in_days=5)
    tasks.send_invoice_reminder.call(invoice.pk)
    tasks.send_invoice_reminder.call(invoice.pk)
    reminders = [m for m in mailoutbox if "is due tomorrow" in m.subject]
    assert len(reminders) == 1
    assert f"#{invoice.number}" in reminders[0].body


def test_the_reminder_is_skipped_when_the_invoice_is_paid_by_then(make_invoice, mailoutbox):
    invoice = make_invoice(due_in_days=5)
    payment = services.payment_record(invoice_id=invoice.pk, amount="3500.00", method="upi", reference="UPI1")
    services.payment_process(payment_id=payment.pk)
    result = tasks.send_invoice_reminder.call(invoice.pk)
    assert result["skipped"] == "invoice is paid"
    assert not [m for m in mailoutbox if "is due tomorrow" in m.subject]


# --- Approval: related records in the background ---------------------------------------------


def test_approving_an_invoice_enqueues_the_update_of_related_records(make_invoice):
    invoice = make_invoice()
    services.invoice_approve(invoice_id=invoice.pk, approved_by="secretary")
    invoice.refresh_from_db()
    assert invoice.approved_by == "secretary" and invoice.approved_at is not None
    [job] = jobs_of(tasks.update_invoice_related_records)
    assert (job.state, job.args) == (State.ENQUEUED, [invoice.pk])

    tasks.update_invoice_related_records.call(invoice.pk)
    assert LedgerEntry.objects.filter(invoice=invoice).count() == 1
    [analytics] = jobs_of(tasks.refresh_sales_analytics)
    assert analytics.queue == "low-priority"


def test_an_invoice_is_approved_once_and_never_as_a_draft(make_invoice):
    invoice = make_invoice()
    services.invoice_approve(invoice_id=invoice.pk, approved_by="secretary")
    with pytest.raises(ValidationError, match="already approved"):
        services.invoice_approve(invoice_id=invoice.pk, approved_by="treasurer")
    draft = make_invoice(issue=False)
    with pytest.raises(ValidationError, match="draft"):
        services.invoice_approve(invoice_id=draft.pk, approved_by="secretary")
    assert jobs_of(tasks.update_invoice_related_records).count() == 1


# --- Payments on the critical queue ----------------------------------------------------------


def test_recording_a_payment_enqueues_its_processing_on_the_critical_queue(make_invoice):
    invoice = make_invoice()
    payment = services.payment_record(
        invoice_id=invoice.pk, amount="1500.00", method="upi", reference="UPI42"
    )
    assert payment.status == Payment.Status.PENDING
    [job] = jobs_of(tasks.process_payment)
    assert (job.queue, job.state, job.args) == ("critical", State.ENQUEUED, [payment.pk])
    assert job.retry_policy["attempts"] == 3
    assert job.retry_policy["delays"] == [60, 300, 900]
    assert job.retry_policy["on_exhausted"] == "delete"


def test_processing_a_payment_settles_the_invoice_once(make_invoice, resident, mailoutbox):
    invoice = make_invoice()
    first = services.payment_record(invoice_id=invoice.pk, amount="1500.00", method="upi", reference="UPI1")
    second = services.payment_record(
        invoice_id=invoice.pk, amount="2000.00", method="cheque", reference="000123"
    )
    tasks.process_payment.call(first.pk)
    invoice.refresh_from_db()
    assert (invoice.status, invoice.paid_amount) == (Invoice.Status.ISSUED, Decimal("1500.00"))
    tasks.process_payment.call(second.pk)
    tasks.process_payment.call(second.pk)  # a retry after success changes nothing
    invoice.refresh_from_db()
    assert (invoice.status, invoice.paid_amount) == (Invoice.Status.PAID, Decimal("3500.00"))
    assert invoice.paid_at is not None
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.PAYMENT).count() == 2
    resident.account.refresh_from_db()
    assert resident.account.balance == 0
    assert len([m for m in mailoutbox if m.subject.startswith("Payment received")]) == 2
    assert jobs_of(tasks.refresh_sales_analytics).filter(queue="low-priority").count() == 2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"amount": "-5"}, "negative"),
        ({"amount": "3500.01"}, "more than"),
        ({"method": "bitcoin"}, "Unknown payment method"),
        ({"invoice_id": 999999}, "Unknown invoice"),
    ],
)
def test_payment_recording_refuses_bad_input(make_invoice, kwargs, match):
    invoice = make_invoice()
    data = {"invoice_id": invoice.pk, "amount": "100", "method": "upi", **kwargs}
    with pytest.raises(ValidationError, match=match):
        services.payment_record(**data)
    assert not Payment.objects.exists()
    assert not jobs_of(tasks.process_payment).exists()


def test_pending_payments_count_against_what_is_left_to_pay(make_invoice):
    invoice = make_invoice(amount="1000.00")
    services.payment_record(invoice_id=invoice.pk, amount="800.00", method="upi", reference="A")
    with pytest.raises(ValidationError, match="more than"):
        services.payment_record(invoice_id=invoice.pk, amount="300.00", method="upi", reference="B")
    with pytest.raises(ValidationError, match="already recorded"):
        services.payment_record(invoice_id=invoice.pk, amount="100.00", method="upi", reference="A")


def test_a_draft_invoice_takes_no_payment(make_invoice):
    draft = make_invoice(issue=False)
    with pytest.raises(ValidationError, match="draft"):
        services.payment_record(invoice_id=draft.pk, amount="10", method="cash")


# --- Recurring: overdue, late fees, reminders ------------------------------------------------


def test_check_overdue_invoices_marks_only_past_due_invoices(make_invoice):
    today = timezone.localdate()
    late = make_invoice(issue_date=today - timedelta(days=20), due_in_days=15)
    on_time = make_invoice(issue_date=today - timedelta(days=5), due_in_days=5)  # due today
    result = tasks.check_overdue_invoices.call()
    assert result == {"marked_overdue": 1}
    late.refresh_from_db()
    on_time.refresh_from_db()
    assert late.status == Invoice.Status.OVERDUE and late.overdue_at is not None
    assert on_time.status == Invoice.Status.ISSUED


def test_a_late_fee_is_applied_once_per_invoice_per_month_even_when_the_job_runs_twice(
    make_invoice, resident
):
    today = timezone.localdate()
    invoice = make_invoice(issue_date=today - timedelta(days=40), due_in_days=15)
    services.invoices_mark_overdue(today=today)
    first = tasks.calculate_late_fees.call()
    second = tasks.calculate_late_fees.call()
    assert (first["applied"], second["applied"]) == (1, 0)
    [fee] = LateFee.objects.filter(invoice=invoice)
    assert fee.period == today.replace(day=1)
    assert fee.amount == Decimal("70.00")  # 2% of 3,500 (above the 50 minimum)
    invoice.refresh_from_db()
    assert invoice.late_fee_total == Decimal("70.00")
    assert invoice.balance_due == Decimal("3570.00")
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.LATE_FEE).count() == 1
    resident.account.refresh_from_db()
    assert resident.account.balance == Decimal("3570.00")

    next_month = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
    services.late_fees_apply(today=next_month)
    assert LateFee.objects.filter(invoice=invoice).count() == 2


def test_late_fees_respect_the_minimum_and_the_grace_period(make_invoice, society):
    today = timezone.localdate()
    small = make_invoice(
        amount="1000.00", issue_date=today - timedelta(days=30), due_in_days=27
    )  # 3 days late
    services.invoices_mark_overdue(today=today)
    society.late_fee_grace_days = 5
    society.save()
    assert services.late_fees_apply(today=today)["applied"] == 0
    society.late_fee_grace_days = 0
    society.save()
    services.late_fees_apply(today=today)
    assert LateFee.objects.get(invoice=small).amount == Decimal("50.00")  # 2% is 20: the minimum applies


def test_payment_reminders_go_to_upcoming_and_overdue_invoices_once_a_day(make_invoice, mailoutbox):
    today = timezone.localdate()
    upcoming = make_invoice(due_in_days=2)
    overdue = make_invoice(issue_date=today - timedelta(days=20), due_in_days=10)
    make_invoice(due_in_days=12)  # not yet
    services.invoices_mark_overdue(today=today)
    assert tasks.send_payment_reminders.call() == {"reminded": 2}
    assert tasks.send_payment_reminders.call() == {"reminded": 0}
    subjects = sorted(m.subject for m in mailoutbox if m.subject.startswith("Payment reminder"))
    assert len(subjects) == 2
    assert any(upcoming.number in s and "is due" in s for s in subjects)
    assert any(overdue.number in s and "was due" in s for s in subjects)
    # Three days later the overdue one is reminded again; the upcoming one is due by then too.
    assert services.payment_reminders_send(today=today + timedelta(days=3))["reminded"] == 2


# --- Monthly invoices: a batch per society with a summary continuation -----------------------


def test_monthly_invoice_generation_starts_one_batch_with_a_job_per_resident(make_resident, society):
    residents = [make_resident() for _ in range(3)]
    Resident.objects.filter(pk=residents[2].pk).update(is_active=False)
    result = tasks.generate_monthly_invoices.call()
    period = timezone.localdate().replace(day=1)
    run = InvoiceRun.objects.get(society=society, period=period)
    batch = Batch.objects.get(pk=run.batch_id)
    assert str(batch.pk) == result["batches"][society.code]
    assert batch.total == 2
    members = jobs_of(tasks.generate_invoice_for_resident)
    assert sorted(job.args[0] for job in members) == [residents[0].pk, residents[1].pk]
    assert {job.batch_id for job in members} == {batch.pk}
    [summary] = jobs_of(tasks.send_bulk_generation_summary)
    assert (summary.state, summary.awaiting_batch_id, summary.args) == (
        State.AWAITING,
        batch.pk,
        [society.pk, period.isoformat()],
    )
    # The recurring job firing again the same month starts nothing.
    tasks.generate_monthly_invoices.call()
    assert Batch.objects.count() == 1


def test_a_residents_monthly_invoice_is_generated_once_and_summarised(make_resident, society, mailoutbox):
    residents = [make_resident() for _ in range(2)]
    period = timezone.localdate().replace(day=1)
    services.monthly_invoices_generate(period=period)
    for resident in residents:
        tasks.generate_invoice_for_resident.call(resident.pk, period.isoformat())
        tasks.generate_invoice_for_resident.call(resident.pk, period.isoformat())
    invoices = Invoice.objects.filter(period=period)
    assert invoices.count() == 2
    assert {i.amount for i in invoices} == {Decimal("3500.00")}
    assert {i.due_date - i.issue_date for i in invoices} == {timedelta(days=15)}
    tasks.send_bulk_generation_summary.call(society.pk, period.isoformat())
    run = InvoiceRun.objects.get(period=period)
    assert (run.invoice_count, run.total_amount, run.missing_residents) == (2, Decimal("7000.00"), [])
    [summary] = [m for m in mailoutbox if "invoices generated" in m.subject]
    assert summary.to == [society.contact_email]


def test_the_summary_names_residents_whose_invoice_is_missing(make_resident, society):
    residents = [make_resident() for _ in range(2)]
    period = timezone.localdate().replace(day=1)
    services.monthly_invoices_generate(period=period)
    tasks.generate_invoice_for_resident.call(residents[0].pk, period.isoformat())
    run = services.monthly_invoices_summarize(society_id=society.pk, period=period)
    assert run.missing_residents == [residents[1].pk]


def test_analytics_refresh_writes_the_days_snapshot(make_invoice, society):
    invoice = make_invoice()
    payment = services.payment_record(invoice_id=invoice.pk, amount="500.00", method="cash")
    services.payment_process(payment_id=payment.pk)
    job_id = services.sales_analytics_request(society_id=society.pk)
    assert Job.objects.get(pk=job_id).queue == "low-priority"
    tasks.refresh_sales_analytics.call(society.pk)
    snapshot = SalesSnapshot.objects.get(society=society, date=timezone.localdate())
    assert snapshot.invoiced_amount == Decimal("3500.00")
    assert snapshot.collected_amount == Decimal("500.00")
    assert snapshot.outstanding_amount == Decimal("3000.00")
