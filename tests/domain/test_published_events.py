"""The four events the services publish, each written to the outbox in the service's own
transaction (nothing is sent here: the relay does that, tests/events)."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from community import services as community
from jobs.models import EventOutbox
from payroll.models import PayrollRun
from sales import services as sales
from tests.domain.test_payroll import SEPTEMBER, guard, manager, september  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db


def outbox(event_type):
    return list(EventOutbox.objects.filter(type=event_type).order_by("id"))


def test_invoice_create_publishes_invoice_created(resident):
    invoice = sales.invoice_create(
        resident_id=resident.pk, amount="1200.00", due_date=timezone.localdate() + timedelta(days=10)
    )
    [row] = outbox("sales.invoice_created")
    assert row.aggregate == f"sales.invoice:{invoice.pk}"
    assert row.data["invoice_id"] == invoice.pk
    assert row.data["due_at"] == invoice.due_at.isoformat()
    assert row.data["amount"] == "1200.00" and row.sent_at is None and row.source == "dhanman-jobs"


def test_a_failed_service_call_publishes_nothing(resident):
    with pytest.raises(RuntimeError), transaction.atomic():
        sales.invoice_create(resident_id=resident.pk, amount="10.00", due_date=timezone.localdate())
        raise RuntimeError("the caller's transaction rolls back")
    assert not EventOutbox.objects.exists()


def test_payment_record_publishes_payment_received_on_the_invoices_aggregate(make_invoice):
    invoice = make_invoice()
    payment = sales.payment_record(invoice_id=invoice.pk, amount="500.00", method="upi", reference="UPI-1")
    [row] = outbox("sales.payment_received")
    assert row.aggregate == f"sales.invoice:{invoice.pk}"
    assert row.data == {
        "payment_id": payment.pk,
        "invoice_id": invoice.pk,
        "amount": "500.00",
        "method": "upi",
        "received_at": payment.received_at.isoformat(),
    }
    created = outbox("sales.invoice_created")[0]
    assert created.id < row.id  # the order the relay keeps per aggregate


def test_expiring_visitor_passes_publishes_one_event_per_pass(resident):
    now = timezone.now()
    passes = [
        community.visitor_pass_issue(
            host_id=resident.pk, visitor_name=f"V{n}", valid_until=now + timedelta(hours=1)
        )
        for n in range(2)
    ]
    assert community.visitor_passes_expire(now=now + timedelta(hours=2)) == 2
    rows = outbox("community.visitor_pass_expired")
    assert [r.data["visitor_pass_id"] for r in rows] == [p.pk for p in passes]
    assert community.visitor_passes_expire(now=now + timedelta(hours=3)) == 0
    assert len(outbox("community.visitor_pass_expired")) == 2


def test_a_registered_visitors_pass_expires_once_at_its_end(resident):
    now = timezone.now()
    visitor_pass = community.visitor_pass_issue(
        host_id=resident.pk, visitor_name="Courier", valid_until=now + timedelta(hours=1)
    )
    assert community.visitor_pass_expire(visitor_pass_id=visitor_pass.pk, now=now) is False
    assert (
        community.visitor_pass_expire(visitor_pass_id=visitor_pass.pk, now=now + timedelta(hours=1)) is True
    )
    assert (
        community.visitor_pass_expire(visitor_pass_id=visitor_pass.pk, now=now + timedelta(hours=2)) is False
    )
    assert len(outbox("community.visitor_pass_expired")) == 1


def test_announcing_payslips_publishes_payslips_generated_once(september):  # noqa: F811
    from payroll import services as payroll
    from payroll import tasks

    run = PayrollRun.objects.get()
    for slip in run.payslips.all():
        payroll.payslip_render(payslip_id=slip.pk)
    tasks.announce_payslips.call(run.pk)
    tasks.announce_payslips.call(run.pk)
    [row] = outbox("payroll.payslips_generated")
    assert row.data["run_id"] == run.pk and row.data["period"] == SEPTEMBER.isoformat()
    assert row.data["generated"] == 2 and row.data["missing"] == []
