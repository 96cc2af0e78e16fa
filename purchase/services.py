"""Purchase operations: vendors, purchase orders through approval, goods receipts matched
against their orders, vendor bills, and the three recurring jobs' work."""

from collections import defaultdict
from datetime import date, datetime, timedelta

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from dhanman.money import ZERO, inr, money, round_money
from dhanman.validation import as_date, as_id, as_quantity, existing, required_text
from notifications.services import notify
from purchase import tasks
from purchase.models import (
    GoodsReceiptLine,
    GoodsReceiptNote,
    PurchaseOrder,
    PurchaseOrderLine,
    Vendor,
    VendorBill,
)
from sales.selectors import society_get

# `vendor-payment-reminders` lists unpaid bills due within this many days (and overdue ones).
VENDOR_PAYMENT_HORIZON_DAYS = 7
# `send-po-approvals` runs every 2 hours: one reminder per approver per 2-hour slot.
APPROVAL_REMINDER_SLOT_HOURS = 2


def _email(value, field: str) -> str:
    email = required_text(value, field=field, max_length=254).lower()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError({field: f"{value!r} is not an email address."}) from None
    return email


def _order(order_id, *, lock: bool = False) -> PurchaseOrder:
    return existing(
        PurchaseOrder.objects.select_related("vendor", "society"),
        order_id,
        field="order_id",
        label="purchase order",
        lock=lock,
    )


# --- Vendors and orders -----------------------------------------------------------------------


def vendor_create(
    *, society_id, name: str, email: str, phone: str = "", gstin: str = "", payment_terms_days: int = 30
) -> Vendor:
    society = society_get(society_id)
    name = required_text(name, field="name", max_length=200)
    if Vendor.objects.filter(society=society, name=name).exists():
        raise ValidationError({"name": f"{society} already has a vendor named {name}."})
    if gstin and len(gstin.strip()) != 15:
        raise ValidationError({"gstin": f"A GSTIN has 15 characters; {gstin!r} has {len(gstin.strip())}."})
    return Vendor.objects.create(
        society=society,
        name=name,
        email=_email(email, "email"),
        phone=(phone or "").strip(),
        gstin=(gstin or "").strip().upper(),
        payment_terms_days=payment_terms_days,
    )


def purchase_order_create(
    *,
    society_id,
    vendor_id,
    lines: list[dict],
    requested_by: str,
    approver_email: str,
    order_date=None,
    expected_date=None,
) -> PurchaseOrder:
    """A draft order. `lines`: [{"description", "quantity", "unit_price", "sku"?}, …]."""
    society = society_get(society_id)
    vendor = Vendor.objects.filter(pk=as_id(vendor_id, field="vendor_id"), society=society).first()
    if vendor is None:
        raise ValidationError({"vendor_id": f"Unknown vendor {vendor_id} in {society}."})
    if not vendor.is_active:
        raise ValidationError({"vendor_id": f"Vendor {vendor} is inactive."})
    order_date = timezone.localdate() if order_date is None else as_date(order_date, field="order_date")
    expected_date = None if expected_date is None else as_date(expected_date, field="expected_date")
    if expected_date is not None and expected_date < order_date:
        raise ValidationError(
            {"expected_date": f"Expected date {expected_date} is before the order date {order_date}."}
        )
    if not lines:
        raise ValidationError({"lines": "A purchase order needs at least one line."})
    parsed = []
    for number, line in enumerate(lines, 1):
        if not isinstance(line, dict):
            raise ValidationError({"lines": f"Line {number} is not a mapping."})
        parsed.append(
            PurchaseOrderLine(
                description=required_text(
                    line.get("description"), field=f"line {number} description", max_length=200
                ),
                sku=(line.get("sku") or "").strip(),
                quantity=as_quantity(line.get("quantity"), field=f"line {number} quantity"),
                unit_price=money(line.get("unit_price"), field=f"line {number} unit_price", allow_zero=True),
            )
        )
    requested_by = required_text(requested_by, field="requested_by", max_length=150)
    approver_email = _email(approver_email, "approver_email")
    with transaction.atomic():
        order = PurchaseOrder.objects.create(
            society=society,
            vendor=vendor,
            order_date=order_date,
            expected_date=expected_date,
            requested_by=requested_by,
            approver_email=approver_email,
            total_amount=sum((line.amount for line in parsed), ZERO),
        )
        order.number = f"PO-{society.code.upper()}-{order.pk:05d}"
        order.save(update_fields=["number"])
        for line in parsed:
            line.order = order
        PurchaseOrderLine.objects.bulk_create(parsed)
    return order


def purchase_order_submit(*, order_id) -> PurchaseOrder:
    """Send a draft for approval; the approver is asked at once, then every 2 hours."""
    with transaction.atomic():
        order = _order(order_id, lock=True)
        if order.status != PurchaseOrder.Status.DRAFT:
            raise ValidationError({"order_id": f"{order} is {order.get_status_display()}, not a draft."})
        order.status = PurchaseOrder.Status.PENDING_APPROVAL
        order.submitted_at = timezone.now()
        order.save(update_fields=["status", "submitted_at"])
        tasks.request_po_approval.enqueue(order.pk)
    return order


def purchase_order_request_approval(*, order_id) -> dict:
    order = _order(order_id)
    if order.status != PurchaseOrder.Status.PENDING_APPROVAL:
        return {"order": order.pk, "skipped": f"order is {order.status}"}
    message = notify(
        dedup_key=f"po-approval-request:{order.pk}",
        recipient=order.approver_email,
        subject=f"Approve purchase order {order.number} ({inr(order.total_amount)})",
        body=_order_text(order),
    )
    return {"order": order.pk, "message": message.pk}


def _order_text(order: PurchaseOrder) -> str:
    lines = "\n".join(
        f"  - {line.description}: {line.quantity} × {inr(line.unit_price)} = {inr(line.amount)}"
        for line in order.lines.all()
    )
    return (
        f"{order.number} to {order.vendor.name}, requested by {order.requested_by} on {order.order_date:%d %b %Y}:\n"
        f"{lines}\nTotal {inr(order.total_amount)}.\n"
    )


def purchase_order_decide(*, order_id, approve: bool, decided_by: str) -> PurchaseOrder:
    decided_by = required_text(decided_by, field="decided_by", max_length=150)
    with transaction.atomic():
        order = _order(order_id, lock=True)
        if order.status != PurchaseOrder.Status.PENDING_APPROVAL:
            raise ValidationError(
                {"order_id": f"{order} is {order.get_status_display()}, not pending approval."}
            )
        order.status = PurchaseOrder.Status.APPROVED if approve else PurchaseOrder.Status.REJECTED
        order.decided_at = timezone.now()
        order.decided_by = decided_by
        order.save(update_fields=["status", "decided_at", "decided_by"])
    return order


# --- Goods receipts -------------------------------------------------------------------------


def grn_record(
    *, order_id, lines: list[dict], received_by: str, invoice_amount, received_on=None
) -> GoodsReceiptNote:
    """Record goods received against an approved order. `lines`: [{"order_line_id",
    "quantity_received", "unit_price"}, …]. Matching happens in `check-grn-matching`."""
    order = _order(order_id)
    if order.status not in (PurchaseOrder.Status.APPROVED, PurchaseOrder.Status.RECEIVED):
        raise ValidationError(
            {
                "order_id": f"{order} is {order.get_status_display()}: goods can only be received on an approved order."
            }
        )
    received_on = timezone.localdate() if received_on is None else as_date(received_on, field="received_on")
    if received_on < order.order_date:
        raise ValidationError(
            {
                "received_on": f"Goods cannot be received ({received_on}) before the order date {order.order_date}."
            }
        )
    invoice_amount = money(invoice_amount, field="invoice_amount", allow_zero=True)
    if not lines:
        raise ValidationError({"lines": "A goods receipt needs at least one line."})
    order_lines = {line.pk: line for line in order.lines.all()}
    parsed, seen = [], set()
    for number, line in enumerate(lines, 1):
        order_line_id = as_id(line.get("order_line_id"), field=f"line {number} order_line_id")
        if order_line_id not in order_lines:
            raise ValidationError({"lines": f"Line {number}: {order_line_id} is not a line of {order}."})
        if order_line_id in seen:
            raise ValidationError({"lines": f"Line {number}: order line {order_line_id} is listed twice."})
        seen.add(order_line_id)
        parsed.append(
            GoodsReceiptLine(
                order_line=order_lines[order_line_id],
                quantity_received=as_quantity(
                    line.get("quantity_received"), field=f"line {number} quantity_received"
                ),
                unit_price=money(line.get("unit_price"), field=f"line {number} unit_price", allow_zero=True),
            )
        )
    received_by = required_text(received_by, field="received_by", max_length=150)
    with transaction.atomic():
        grn = GoodsReceiptNote.objects.create(
            order=order, received_on=received_on, received_by=received_by, invoice_amount=invoice_amount
        )
        grn.number = f"GRN-{order.society.code.upper()}-{grn.pk:05d}"
        grn.save(update_fields=["number"])
        for line in parsed:
            line.receipt = grn
        GoodsReceiptLine.objects.bulk_create(parsed)
    return grn


def grn_match(*, grn_id) -> GoodsReceiptNote:
    """Three checks against the order: no line received beyond what was ordered (counting earlier
    receipts), the vendor's prices are the order's, and the vendor's invoice amount is what the
    received quantities cost at the order's prices. A mismatch is flagged and the society told."""
    with transaction.atomic():
        grn = (
            GoodsReceiptNote.objects.select_for_update(of=("self",))
            .select_related("order__society")
            .filter(pk=as_id(grn_id, field="grn_id"))
            .first()
        )
        if grn is None:
            raise ValidationError({"grn_id": f"Unknown goods receipt {grn_id}."})
        if grn.status != GoodsReceiptNote.Status.PENDING:
            return grn
        problems, expected = [], ZERO
        for line in grn.lines.select_related("order_line"):
            ordered = line.order_line
            earlier = (
                GoodsReceiptLine.objects.filter(order_line=ordered)
                .exclude(receipt=grn)
                .exclude(receipt__status=GoodsReceiptNote.Status.MISMATCH)
                .aggregate(q=Sum("quantity_received"))["q"]
                or 0
            )
            if earlier + line.quantity_received > ordered.quantity:
                problems.append(
                    {
                        "line": ordered.description,
                        "problem": "quantity",
                        "ordered": str(ordered.quantity),
                        "received": str(earlier + line.quantity_received),
                    }
                )
            if line.unit_price != ordered.unit_price:
                problems.append(
                    {
                        "line": ordered.description,
                        "problem": "price",
                        "ordered": str(ordered.unit_price),
                        "charged": str(line.unit_price),
                    }
                )
            expected += round_money(line.quantity_received * ordered.unit_price)
        if grn.invoice_amount != expected:
            problems.append(
                {
                    "line": "",
                    "problem": "amount",
                    "expected": str(expected),
                    "invoiced": str(grn.invoice_amount),
                }
            )
        grn.status = GoodsReceiptNote.Status.MISMATCH if problems else GoodsReceiptNote.Status.MATCHED
        grn.mismatches = problems
        grn.matched_at = timezone.now()
        grn.save(update_fields=["status", "mismatches", "matched_at"])
        if not problems:
            _mark_order_received_if_complete(grn.order)
    if problems:
        notify(
            dedup_key=f"grn-mismatch:{grn.pk}",
            recipient=grn.order.society.contact_email,
            subject=f"Goods receipt {grn.number} does not match {grn.order.number}",
            body="\n".join(
                [
                    f"{grn.number} (received {grn.received_on:%d %b %Y} by {grn.received_by}) against {grn.order.number}:"
                ]
                + [f"  - {p['line'] or 'invoice'}: {p['problem']} {p}" for p in problems]
            ),
        )
    return grn


def _mark_order_received_if_complete(order: PurchaseOrder) -> None:
    for line in order.lines.all():
        received = (
            GoodsReceiptLine.objects.filter(
                order_line=line, receipt__status=GoodsReceiptNote.Status.MATCHED
            ).aggregate(q=Sum("quantity_received"))["q"]
            or 0
        )
        if received < line.quantity:
            return
    PurchaseOrder.objects.filter(pk=order.pk, status=PurchaseOrder.Status.APPROVED).update(
        status=PurchaseOrder.Status.RECEIVED
    )


def grns_match_pending() -> dict:
    """`check-grn-matching`: every goods receipt not matched yet, oldest first."""
    results = {"matched": 0, "mismatch": 0}
    for grn_id in (
        GoodsReceiptNote.objects.filter(status=GoodsReceiptNote.Status.PENDING)
        .order_by("pk")
        .values_list("pk", flat=True)
    ):
        grn = grn_match(grn_id=grn_id)
        results[grn.status] = results.get(grn.status, 0) + 1
    return results


# --- Recurring: approvals and vendor payments ------------------------------------------------


def _slot(now: datetime) -> str:
    local = timezone.localtime(now)
    hour = local.hour - local.hour % APPROVAL_REMINDER_SLOT_HOURS
    return f"{local:%Y-%m-%d}T{hour:02d}"


def po_approvals_remind(*, now: datetime | None = None) -> dict:
    """`send-po-approvals`: each approver gets one list of the orders waiting for them."""
    now = now or timezone.now()
    pending = (
        PurchaseOrder.objects.filter(status=PurchaseOrder.Status.PENDING_APPROVAL)
        .select_related("vendor")
        .order_by("submitted_at", "pk")
    )
    by_approver = defaultdict(list)
    for order in pending:
        by_approver[order.approver_email].append(order)
    for approver, orders in by_approver.items():
        notify(
            dedup_key=f"po-approvals:{approver}:{_slot(now)}",
            recipient=approver,
            subject=f"{len(orders)} purchase order(s) waiting for your approval",
            body="\n".join(
                f"{order.number}: {order.vendor.name}, {inr(order.total_amount)}, waiting since "
                f"{timezone.localtime(order.submitted_at):%d %b %H:%M}"
                for order in orders
            ),
        )
        PurchaseOrder.objects.filter(pk__in=[o.pk for o in orders]).update(last_approval_reminder_at=now)
    return {"approvers": len(by_approver), "orders": sum(len(o) for o in by_approver.values())}


def vendor_bill_record(
    *, vendor_id, number: str, bill_date, amount, due_date=None, order_id=None
) -> VendorBill:
    vendor = Vendor.objects.filter(pk=as_id(vendor_id, field="vendor_id")).first()
    if vendor is None:
        raise ValidationError({"vendor_id": f"Unknown vendor {vendor_id}."})
    number = required_text(number, field="number", max_length=40)
    bill_date = as_date(bill_date, field="bill_date")
    due_date = (
        bill_date + timedelta(days=vendor.payment_terms_days)
        if due_date is None
        else as_date(due_date, field="due_date")
    )
    if due_date < bill_date:
        raise ValidationError({"due_date": f"Due date {due_date} is before the bill date {bill_date}."})
    order = None
    if order_id is not None:
        order = _order(order_id)
        if order.vendor_id != vendor.pk:
            raise ValidationError({"order_id": f"{order} is not an order to {vendor}."})
    if VendorBill.objects.filter(vendor=vendor, number=number).exists():
        raise ValidationError({"number": f"Bill {number} of {vendor} is already recorded."})
    return VendorBill.objects.create(
        vendor=vendor,
        order=order,
        number=number,
        bill_date=bill_date,
        due_date=due_date,
        amount=money(amount),
    )


def vendor_payment_reminders_send(*, today: date | None = None) -> dict:
    """`vendor-payment-reminders`: each society's unpaid bills due this week or overdue."""
    today = today or timezone.localdate()
    bills = (
        VendorBill.objects.filter(
            status=VendorBill.Status.UNPAID, due_date__lte=today + timedelta(days=VENDOR_PAYMENT_HORIZON_DAYS)
        )
        .select_related("vendor__society")
        .order_by("due_date", "pk")
    )
    by_society = defaultdict(list)
    for bill in bills:
        by_society[bill.vendor.society].append(bill)
    year, week, _ = today.isocalendar()
    for society, society_bills in by_society.items():
        total = sum((b.amount for b in society_bills), ZERO)
        notify(
            dedup_key=f"vendor-payments:{society.pk}:{year}-W{week:02d}",
            recipient=society.contact_email,
            subject=f"{society.name}: {len(society_bills)} vendor bill(s) to pay, {inr(total)}",
            body="\n".join(
                f"{bill.vendor.name} bill {bill.number}: {inr(bill.amount)} "
                f"{'OVERDUE since' if bill.due_date < today else 'due'} {bill.due_date:%d %b %Y}"
                for bill in society_bills
            ),
        )
    return {"societies": len(by_society), "bills": sum(len(b) for b in by_society.values())}
