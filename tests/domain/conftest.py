"""Fixtures for the bounded contexts' tests: a society with residents, created through the
services (as real use would), and helpers to look at the jobs they enqueued."""

from datetime import timedelta

import pytest
from django.utils import timezone

from sales import services as sales


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Payslip PDFs and other files go to a per-test directory."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def society(db):
    return sales.society_create(
        name="Green Meadows CHS",
        code="green-meadows",
        contact_email="office@greenmeadows.example.com",
        monthly_charge="3500.00",
        payment_terms_days=15,
        late_fee_percent="2.00",
        late_fee_minimum="50.00",
    )


@pytest.fixture
def make_resident(society):
    counter = iter(range(1, 1000))

    def make(name=None, **kwargs):
        n = next(counter)
        kwargs.setdefault("society_id", society.pk)
        kwargs.setdefault("unit", f"A-{100 + n}")
        kwargs.setdefault("email", f"resident{n}@example.com")
        return sales.resident_register(name=name or f"Resident {n}", **kwargs)

    return make


@pytest.fixture
def resident(make_resident):
    return make_resident("Aarav Sharma", email="aarav@example.com")


@pytest.fixture
def make_invoice(resident):
    def make(amount="3500.00", issue_date=None, due_in_days=15, issue=True, **kwargs):
        issue_date = issue_date or timezone.localdate()
        invoice = sales.invoice_create(
            resident_id=kwargs.pop("resident_id", resident.pk),
            amount=amount,
            issue_date=issue_date,
            due_date=issue_date + timedelta(days=due_in_days),
            **kwargs,
        )
        if issue:
            sales.invoice_issue(invoice_id=invoice.pk)
            sales.invoice_post_to_ledger(invoice_id=invoice.pk)
            invoice.refresh_from_db()
        return invoice

    return make
