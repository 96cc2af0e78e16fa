"""Inventory: low-stock alerts (one open per item), expired lots written off, the weekly report."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from inventory import services, tasks
from inventory.models import LowStockAlert, StockItem, StockLot, StockMovement, StockReport
from jobs.models import State
from tests.domain.helpers import jobs_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def make_item(society):
    def make(sku="LED-20W", quantity="8", reorder_level="6", **kwargs):
        item = services.stock_item_create(
            society_id=society.pk,
            sku=sku,
            name=kwargs.pop("name", f"Item {sku}"),
            unit="pcs",
            reorder_level=reorder_level,
            reorder_quantity="24",
            unit_cost=kwargs.pop("unit_cost", "180.00"),
        )
        if Decimal(quantity):
            services.stock_receive(item_id=item.pk, quantity=quantity, **kwargs)
        item.refresh_from_db()
        return item

    return make


def test_a_low_stock_alert_is_raised_once_per_item_until_it_is_resolved(make_item, society, mailoutbox):
    low = make_item(quantity="4")
    make_item(sku="CLN", quantity="20")
    assert tasks.check_low_stock_alerts.call() == {"raised": 1, "resolved": 0}
    assert tasks.check_low_stock_alerts.call() == {"raised": 0, "resolved": 0}
    [alert] = LowStockAlert.objects.all()
    assert (alert.item_id, alert.status, alert.quantity_at_alert) == (low.pk, "open", Decimal("4.000"))
    [mail] = mailoutbox
    assert mail.to == [society.contact_email] and "Low stock" in mail.subject and "24 pcs" in mail.body

    services.stock_receive(item_id=low.pk, quantity="24")
    assert tasks.check_low_stock_alerts.call() == {"raised": 0, "resolved": 1}
    services.stock_issue(item_id=low.pk, quantity="25")
    tasks.check_low_stock_alerts.call()
    assert LowStockAlert.objects.filter(item=low).count() == 2
    assert LowStockAlert.objects.filter(item=low, status="open").count() == 1


def test_the_database_allows_one_open_alert_per_item(make_item):
    item = make_item(quantity="1")
    LowStockAlert.objects.create(item=item, quantity_at_alert=1, reorder_level=6)
    with pytest.raises(IntegrityError), transaction.atomic():
        LowStockAlert.objects.create(item=item, quantity_at_alert=1, reorder_level=6)


def test_issuing_stock_down_to_the_reorder_level_raises_the_alert_in_the_background(make_item):
    item = make_item(quantity="10")
    with pytest.raises(RuntimeError), transaction.atomic():
        services.stock_issue(item_id=item.pk, quantity="5")
        raise RuntimeError
    assert not jobs_of(tasks.raise_low_stock_alert).exists()
    item.refresh_from_db()
    assert item.quantity == Decimal("10.000")

    services.stock_issue(item_id=item.pk, quantity="4")  # 6: at the reorder level
    [job] = jobs_of(tasks.raise_low_stock_alert)
    assert (job.state, job.args) == (State.ENQUEUED, [item.pk])
    tasks.raise_low_stock_alert.call(item.pk)
    tasks.raise_low_stock_alert.call(item.pk)
    assert LowStockAlert.objects.filter(item=item, status="open").count() == 1
    services.stock_issue(item_id=item.pk, quantity="1")  # already low: no second job
    assert jobs_of(tasks.raise_low_stock_alert).count() == 1


def test_stock_is_issued_from_the_lot_that_expires_first(make_item):
    today = timezone.localdate()
    item = make_item(
        sku="CHL",
        quantity="5",
        lot_code="LATE",
        expires_on=today + timedelta(days=200),
        received_on=today - timedelta(days=1),
    )
    services.stock_receive(
        item_id=item.pk, quantity="3", lot_code="SOON", expires_on=today + timedelta(days=10)
    )
    services.stock_issue(item_id=item.pk, quantity="4")
    lots = dict(StockLot.objects.values_list("lot_code", "quantity"))
    assert lots == {"SOON": Decimal("0.000"), "LATE": Decimal("4.000")}
    assert StockLot.objects.get(lot_code="SOON").status == StockLot.Status.USED_UP


@pytest.mark.parametrize(
    ("quantity", "match"),
    [("100", "on hand"), ("-1", "more than zero"), ("0", "more than zero"), ("abc", "not a quantity")],
)
def test_issuing_refuses_bad_quantities_and_changes_nothing(make_item, quantity, match):
    item = make_item(quantity="8")
    with pytest.raises(ValidationError, match=match):
        services.stock_issue(item_id=item.pk, quantity=quantity)
    item.refresh_from_db()
    assert item.quantity == Decimal("8.000")
    assert StockMovement.objects.count() == 1


def test_goods_cannot_be_received_already_expired(make_item):
    item = make_item(quantity="0")
    with pytest.raises(ValidationError, match="cannot be received"):
        services.stock_receive(
            item_id=item.pk, quantity="1", received_on="2026-03-10", expires_on="2026-03-01"
        )
    assert not StockLot.objects.exists()


def test_expired_lots_are_written_off_once(make_item, society, mailoutbox):
    today = timezone.localdate()
    item = make_item(
        sku="CHL",
        quantity="6",
        lot_code="OLD",
        received_on=today - timedelta(days=90),
        expires_on=today - timedelta(days=1),
    )
    services.stock_receive(
        item_id=item.pk, quantity="4", lot_code="NEW", received_on=today - timedelta(days=2), expires_on=today
    )  # usable until the end of today
    assert tasks.expire_items_check.call() == {"expired_lots": 1}
    assert tasks.expire_items_check.call() == {"expired_lots": 0}
    old = StockLot.objects.get(lot_code="OLD")
    assert (old.status, old.quantity) == (StockLot.Status.EXPIRED, Decimal("0.000"))
    assert StockLot.objects.get(lot_code="NEW").status == StockLot.Status.ACTIVE
    item.refresh_from_db()
    assert item.quantity == Decimal("4.000")
    [write_off] = StockMovement.objects.filter(kind=StockMovement.Kind.EXPIRY)
    assert write_off.quantity == Decimal("-6.000")
    [mail] = mailoutbox
    assert "expired" in mail.subject and "OLD" in mail.body


def test_the_weekly_stock_report_values_the_stock_and_lists_the_weeks_movements(
    make_item, society, mailoutbox
):
    led = make_item(quantity="8")
    make_item(sku="DSL", name="Diesel", quantity="120", reorder_level="50", unit_cost="92.50")
    services.stock_issue(item_id=led.pk, quantity="4")
    result = tasks.generate_stock_report.call()
    today = timezone.localdate()
    week_start = today - timedelta(days=today.weekday())
    report = StockReport.objects.get(society=society, week_start=week_start)
    assert result["reports"][society.code] == "11820.00"  # 4 × 180 + 120 × 92.50
    assert (report.item_count, report.low_stock_count, report.total_value) == (2, 1, Decimal("11820.00"))
    led_row = next(r for r in report.rows if r["sku"] == "LED-20W")
    assert (led_row["on_hand"], led_row["received"], led_row["issued"], led_row["low"]) == (
        "4.000",
        "8.000",
        "4.000",
        True,
    )
    tasks.generate_stock_report.call()
    assert StockReport.objects.count() == 1
    [mail] = mailoutbox
    assert "stock report" in mail.subject and "₹11,820.00" in mail.body


def test_an_item_sku_is_unique_in_its_society(make_item):
    make_item(quantity="0")
    with pytest.raises(ValidationError, match="already has an item"):
        make_item(quantity="0")
    assert StockItem.objects.count() == 1
