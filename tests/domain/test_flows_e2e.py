"""The two job flows that depend on the engine end to end, on a real `qcluster`: the invoice
workflow's continuation chain and the monthly invoice batch with its summary continuation."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import Batch, BatchState, Job, State
from notifications.models import OutboxMessage
from sales import services, tasks
from sales.models import Invoice, InvoiceRun, LedgerEntry
from tests.domain.helpers import jobs_of
from tests.support.cluster import run_cluster

pytestmark = pytest.mark.django_db(transaction=True)


def _succeeded(task):
    return jobs_of(task).filter(state=State.SUCCEEDED)


def test_the_invoice_workflow_runs_create_then_ledger_then_notify(resident):
    today = timezone.localdate()
    invoice = services.invoice_create(
        resident_id=resident.pk, amount="3500.00", issue_date=today, due_date=today + timedelta(days=15)
    )
    with run_cluster(workers=2) as server:
        server.wait_for(
            lambda: _succeeded(tasks.send_invoice_notification).exists(), 30, "the last step of the chain"
        )
    create, ledger, notify = (
        jobs_of(t).get() for t in (tasks.create_invoice, tasks.update_ledger, tasks.send_invoice_notification)
    )
    assert create.state == ledger.state == notify.state == State.SUCCEEDED
    assert create.finished_at <= ledger.started_at and ledger.finished_at <= notify.started_at
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.ISSUED and invoice.number
    assert LedgerEntry.objects.filter(invoice=invoice, kind=LedgerEntry.Kind.INVOICE).count() == 1
    message = OutboxMessage.objects.get(dedup_key=f"invoice-issued:{invoice.pk}")
    assert message.status == OutboxMessage.Status.SENT
    # The reminder waits for its time (24 h before the due date).
    assert jobs_of(tasks.send_invoice_reminder).get().state == State.SCHEDULED


def test_monthly_invoices_run_as_a_batch_and_the_summary_runs_after_it(make_resident, society):
    residents = [make_resident() for _ in range(4)]
    result = services.monthly_invoices_generate()
    batch_id = result["batches"][society.code]
    with run_cluster(workers=3) as server:
        server.wait_for(
            lambda: _succeeded(tasks.send_bulk_generation_summary).exists(), 45, "the batch summary"
        )
    batch = Batch.objects.get(pk=batch_id)
    assert (batch.state, batch.total, batch.succeeded) == (BatchState.SUCCEEDED, 4, 4)
    members = jobs_of(tasks.generate_invoice_for_resident)
    summary = jobs_of(tasks.send_bulk_generation_summary).get()
    assert max(job.finished_at for job in members) <= summary.started_at
    period = timezone.localdate().replace(day=1)
    assert sorted(Invoice.objects.filter(period=period).values_list("resident_id", flat=True)) == sorted(
        r.pk for r in residents
    )
    run = InvoiceRun.objects.get(society=society, period=period)
    assert (run.invoice_count, run.missing_residents, str(run.total_amount)) == (4, [], "14000.00")
    assert OutboxMessage.objects.get(dedup_key__startswith="monthly-invoice-summary:").status == "sent"
    assert not Job.objects.filter(state=State.FAILED).exists()
