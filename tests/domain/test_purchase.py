"""Purchase: orders through approval, goods receipts matched against orders, vendor payment
reminders."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from jobs.models import Job, State
from purchase import services, tasks
from purchase.models import GoodsReceiptNote, PurchaseOrder, PurchaseOrderLine, VendorBill
from sales import services as sales
from tests.domain.helpers import jobs_of

pytestmark = pytest.mark.django_db

APPROVER = "secretary@greenmeadows.example.com"
DEFAULT_LINES = [
    {"description": "Floor cleaner 5 L", "quantity": "10", "unit_price": "420.00"},
    {"description": "Garbage bags", "quantity": "20", "unit_price": "95.50"},
]


@pytest.fixture
def vendor(society):
    return services.vendor_create(
        society_id=society.pk, name="Shree Ganesh Supplies", email="orders@sg.example.com"
    )


@pytest.fixture
def make_order(society, vendor):
    def make(lines=None, approve=True, **kwargs):
        order = services.purchase_order_create(
            society_id=society.pk,
            vendor_id=vendor.pk,
            requested_by="Facility manager",
            approver_email=kwargs.pop("approver_email", APPROVER),
            lines=DEFAULT_LINES if lines is None else lines,
            **kwargs,
        )
        if approve:
            services.purchase_order_submit(order_id=order.pk)
            services.purchase_order_decide(order_id=order.pk, approve=True, decided_by="secretary")
            order.refresh_from_db()
        return order

    return make


def test_an_order_totals_its_lines_and_is_numbered(make_order, society):
    order = make_order(approve=False)
    assert order.total_amount == Decimal("6110.00")
    assert order.number == f"PO-GREEN-MEADOWS-{order.pk:05d}"
    assert order.status == PurchaseOrder.Status.DRAFT


@pytest.mark.parametrize(
    ("lines", "match"),
    [
        ([], "at least one line"),
        ([{"description": "x", "quantity": "-1", "unit_price": "1"}], "more than zero"),
        ([{"description": "x", "quantity": "1", "unit_price": "-1"}], "negative"),
        ([{"description": "x", "quantity": "1.0001", "unit_price": "1"}], "more than 3 decimal places"),
        ([{"description": "", "quantity": "1", "unit_price": "1"}], "required"),
    ],
)
def test_an_order_with_bad_lines_is_refused_and_nothing_is_written(make_order, lines, match):
    with pytest.raises(ValidationError, match=match):
        make_order(lines=lines, approve=False)
    assert not PurchaseOrder.objects.exists()
    assert not PurchaseOrderLine.objects.exists()


def test_an_order_to_another_societys_vendor_is_refused(society, make_order):
    other = sales.society_create(
        name="Other", code="other", contact_email="o@example.com", monthly_charge="1"
    )
    foreign = services.vendor_create(society_id=other.pk, name="Far away", email="f@example.com")
    with pytest.raises(ValidationError, match="Unknown vendor"):
        services.purchase_order_create(
            society_id=society.pk,
            vendor_id=foreign.pk,
            requested_by="x",
            approver_email=APPROVER,
            lines=[{"description": "x", "quantity": "1", "unit_price": "1"}],
        )
    with pytest.raises(ValidationError, match="before the order date"):
        make_order(order_date="2026-05-10", expected_date="2026-05-01", approve=False)


def test_submitting_asks_the_approver_in_the_background_once(make_order, mailoutbox):
    order = make_order(approve=False)
    with pytest.raises(RuntimeError), transaction.atomic():
        services.purchase_order_submit(order_id=order.pk)
        raise RuntimeError
    assert not jobs_of(tasks.request_po_approval).exists()

    services.purchase_order_submit(order_id=order.pk)
    [job] = jobs_of(tasks.request_po_approval)
    assert (job.state, job.args) == (State.ENQUEUED, [order.pk])
    tasks.request_po_approval.call(order.pk)
    tasks.request_po_approval.call(order.pk)
    [mail] = mailoutbox
    assert mail.to == [APPROVER] and order.number in mail.subject and "Floor cleaner" in mail.body
    with pytest.raises(ValidationError, match="not a draft"):
        services.purchase_order_submit(order_id=order.pk)


def test_send_po_approvals_sends_each_approver_one_list_per_slot(make_order, mailoutbox):
    first = make_order(approve=False)
    second = make_order(approve=False, approver_email="treasurer@example.com")
    third = make_order(approve=False)
    for order in (first, second, third):
        services.purchase_order_submit(order_id=order.pk)
    approved = make_order()
    assert tasks.send_po_approvals.call() == {"approvers": 2, "orders": 3}
    tasks.send_po_approvals.call()  # a retry in the same 2-hour slot sends nothing more
    assert sorted(m.to[0] for m in mailoutbox) == [APPROVER, "treasurer@example.com"]
    [to_secretary] = [m for m in mailoutbox if m.to == [APPROVER]]
    assert first.number in to_secretary.body and third.number in to_secretary.body
    assert approved.number not in to_secretary.body
    first.refresh_from_db()
    assert first.last_approval_reminder_at is not None
    services.po_approvals_remind(now=timezone.now() + timedelta(hours=2))
    assert len(mailoutbox) == 4


def _receive(order, quantities=None, prices=None, invoice_amount=None):
    lines = list(order.lines.order_by("pk"))
    quantities = quantities or [str(line.quantity) for line in lines]
    prices = prices or [str(line.unit_price) for line in lines]
    if invoice_amount is None:
        invoice_amount = str(sum(Decimal(q) * Decimal(p) for q, p in zip(quantities, prices, strict=True)))
    return services.grn_record(
        order_id=order.pk,
        received_by="Guard",
        invoice_amount=invoice_amount,
        lines=[
            {"order_line_id": line.pk, "quantity_received": q, "unit_price": p}
            for line, q, p in zip(lines, quantities, prices, strict=True)
        ],
    )


def test_a_receipt_that_matches_its_order_completes_the_order(make_order, mailoutbox):
    order = make_order()
    grn = _receive(order)
    assert tasks.check_grn_matching.call() == {"matched": 1, "mismatch": 0}
    grn.refresh_from_db()
    order.refresh_from_db()
    assert (grn.status, grn.mismatches) == (GoodsReceiptNote.Status.MATCHED, [])
    assert order.status == PurchaseOrder.Status.RECEIVED
    assert not mailoutbox


def test_partial_receipts_match_and_the_order_completes_with_the_last(make_order):
    order = make_order()
    _receive(order, quantities=["4", "20"])
    services.grns_match_pending()
    order.refresh_from_db()
    assert order.status == PurchaseOrder.Status.APPROVED
    line = order.lines.order_by("pk").first()
    services.grn_record(
        order_id=order.pk,
        received_by="Guard",
        invoice_amount="2520.00",
        lines=[{"order_line_id": line.pk, "quantity_received": "6", "unit_price": "420.00"}],
    )
    services.grns_match_pending()
    order.refresh_from_db()
    assert order.status == PurchaseOrder.Status.RECEIVED


def test_quantity_price_and_amount_mismatches_are_flagged_once(make_order, mailoutbox, society):
    order = make_order()
    grn = _receive(order, quantities=["12", "20"], prices=["420.00", "99.00"], invoice_amount="7000.00")
    tasks.check_grn_matching.call()
    tasks.check_grn_matching.call()
    grn.refresh_from_db()
    assert grn.status == GoodsReceiptNote.Status.MISMATCH
    problems = {(p["line"], p["problem"]) for p in grn.mismatches}
    assert problems == {("Floor cleaner 5 L", "quantity"), ("Garbage bags", "price"), ("", "amount")}
    amount = next(p for p in grn.mismatches if p["problem"] == "amount")
    assert amount["expected"] == "6950.00"  # 12 × 420 + 20 × 95.50 at the order's prices
    [mail] = mailoutbox
    assert mail.to == [society.contact_email] and grn.number in mail.subject
    order.refresh_from_db()
    assert order.status == PurchaseOrder.Status.APPROVED


def test_goods_are_received_only_on_approved_orders_and_their_own_lines(make_order):
    draft = make_order(approve=False)
    with pytest.raises(ValidationError, match="approved order"):
        _receive(draft)
    order = make_order()
    with pytest.raises(ValidationError, match="is not a line of"):
        services.grn_record(
            order_id=order.pk,
            received_by="Guard",
            invoice_amount="1",
            lines=[{"order_line_id": draft.lines.first().pk, "quantity_received": "1", "unit_price": "1"}],
        )
    with pytest.raises(ValidationError, match="more than zero"):
        _receive(order, quantities=["0", "1"])
    assert not GoodsReceiptNote.objects.exists()


def test_vendor_payment_reminders_list_bills_due_this_week_and_overdue(vendor, society, mailoutbox):
    today = timezone.localdate()
    soon = services.vendor_bill_record(
        vendor_id=vendor.pk,
        number="B-1",
        bill_date=today - timedelta(days=27),
        due_date=today + timedelta(days=3),
        amount="6100.00",
    )
    late = services.vendor_bill_record(
        vendor_id=vendor.pk,
        number="B-2",
        bill_date=today - timedelta(days=40),
        due_date=today - timedelta(days=10),
        amount="2350.00",
    )
    services.vendor_bill_record(
        vendor_id=vendor.pk,
        number="B-3",
        bill_date=today,
        due_date=today + timedelta(days=30),
        amount="999.00",
    )
    paid = services.vendor_bill_record(
        vendor_id=vendor.pk, number="B-4", bill_date=today - timedelta(days=5), due_date=today, amount="10.00"
    )
    VendorBill.objects.filter(pk=paid.pk).update(status=VendorBill.Status.PAID)
    assert tasks.vendor_payment_reminders.call() == {"societies": 1, "bills": 2}
    tasks.vendor_payment_reminders.call()
    [mail] = mailoutbox
    assert mail.to == [society.contact_email]
    assert "₹8,450.00" in mail.subject
    assert soon.number in mail.body and f"{late.number}: ₹2,350.00 OVERDUE" in mail.body
    assert "B-3" not in mail.body and "B-4" not in mail.body
    assert not Job.objects.filter(state=State.FAILED).exists()


def test_a_vendor_bill_due_before_it_is_billed_is_refused(vendor):
    with pytest.raises(ValidationError, match="before the bill date"):
        services.vendor_bill_record(
            vendor_id=vendor.pk, number="X", bill_date="2026-05-10", due_date="2026-05-01", amount="10"
        )
    with pytest.raises(ValidationError, match="negative"):
        services.vendor_bill_record(vendor_id=vendor.pk, number="X", bill_date="2026-05-10", amount="-10")
    assert not VendorBill.objects.exists()
