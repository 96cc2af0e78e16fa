"""`manage.py seed_demo`: one society with a few months of life in it, so that `make run`
shows real jobs from the first minute.

Everything is created through the contexts' services, so the demo enqueues the jobs real use
would: welcome mails, invoice workflow chains and due-date reminders, payments on the critical
queue, the monthly invoice batch, payslip PDFs as a batch, a purchase order approval request,
and a first run of the recurring checks (overdue invoices, low stock, visitor passes,
escalations). It runs in one transaction and does nothing if the demo society exists, so a
second run creates nothing.
"""

from datetime import datetime, time, timedelta
from decimal import Decimal

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from community import services as community
from community import tasks as community_tasks
from community.models import MaintenanceRequest, VisitorPass
from inventory import services as inventory
from inventory import tasks as inventory_tasks
from payroll import services as payroll
from payroll.models import Attendance
from purchase import services as purchase
from sales import services as sales
from sales import tasks as sales_tasks
from sales.models import InvoiceRun, Society

CODE = "green-meadows"

RESIDENTS = [
    ("Aarav Sharma", "A-101", "aarav.sharma@example.com"),
    ("Diya Patel", "A-102", "diya.patel@example.com"),
    ("Kabir Mehta", "A-201", "kabir.mehta@example.com"),
    ("Ananya Iyer", "A-202", "ananya.iyer@example.com"),
    ("Vihaan Reddy", "B-101", "vihaan.reddy@example.com"),
    ("Ishita Banerjee", "B-102", "ishita.banerjee@example.com"),
    ("Rohan Desai", "B-201", "rohan.desai@example.com"),
    ("Meera Nair", "B-202", "meera.nair@example.com"),
]
# Of last month's invoices, these many are paid; the rest are overdue.
PAID_LAST_MONTH = 5

EMPLOYEES = [
    ("SEC-01", "Ramesh Yadav", "Security guard", "14000.00", "2500.00"),
    ("SEC-02", "Suresh Kumar", "Security guard", "14000.00", "2500.00"),
    ("HK-01", "Lakshmi Devi", "Housekeeping", "12000.00", "1500.00"),
    ("MGR-01", "Prakash Joshi", "Facility manager", "32000.00", "8000.00"),
]


def local(day, hour=0, minute=0):
    return timezone.make_aware(datetime.combine(day, time(hour, minute)))


class Command(BaseCommand):
    help = "Create a demo society with residents, invoices, vendors, staff, events and stock (idempotent)."

    def handle(self, *args, **options):
        if Society.objects.filter(code=CODE).exists():
            self.stdout.write("Demo data is present already: nothing created.")
            return
        with transaction.atomic():
            summary = self.seed()
        self.stdout.write(
            self.style.SUCCESS("Demo data created: " + ", ".join(f"{k} {v}" for k, v in summary.items()))
        )

    def seed(self) -> dict:
        today = timezone.localdate()
        this_month = today.replace(day=1)
        last_month = (this_month - timedelta(days=1)).replace(day=1)

        society = sales.society_create(
            name="Green Meadows Co-operative Housing Society",
            code=CODE,
            contact_email="office@greenmeadows.example.com",
            address="Plot 14, Sector 21, Kharghar, Navi Mumbai 410210",
            monthly_charge="3500.00",
            payment_terms_days=15,
        )
        residents = [
            sales.resident_register(society_id=society.pk, name=name, unit=unit, email=email)
            for name, unit, email in RESIDENTS
        ]
        # The penthouse pays more: a resident's own charge overrides the society's.
        residents[-1].monthly_charge = Decimal("5200.00")
        residents[-1].save(update_fields=["monthly_charge"])

        # Last month: every invoice issued, most paid, the rest left to go overdue. The workflow
        # steps run here so that payments can be recorded; their queued jobs then find the work
        # done and only send the mails.
        InvoiceRun.objects.create(
            society=society, period=last_month, resident_count=len(residents), finished_at=timezone.now()
        )
        for index, resident in enumerate(residents):
            invoice = sales.invoice_create(
                resident_id=resident.pk,
                amount=resident.billing_amount,
                issue_date=last_month,
                due_date=last_month + timedelta(days=society.payment_terms_days),
                period=last_month,
                description=f"Maintenance charges for {last_month:%B %Y}",
            )
            sales.invoice_issue(invoice_id=invoice.pk)
            sales.invoice_post_to_ledger(invoice_id=invoice.pk)
            if index < PAID_LAST_MONTH:
                payment = sales.payment_record(
                    invoice_id=invoice.pk,
                    amount=invoice.amount,
                    method="upi",
                    reference=f"UPI{last_month:%Y%m}{resident.pk:04d}",
                    received_at=local(last_month + timedelta(days=3 + index), 19, 30),
                )
                sales.payment_process(payment_id=payment.pk)
        sales.invoices_mark_overdue(today=today)
        # One-off charges issued this week, due next week: their reminders wait as Scheduled jobs.
        for resident, description, amount in [
            (residents[0], "Clubhouse booking, birthday party", "1500.00"),
            (residents[6], "Replacement access card", "250.00"),
        ]:
            invoice = sales.invoice_create(
                resident_id=resident.pk,
                amount=amount,
                issue_date=today - timedelta(days=2),
                due_date=today + timedelta(days=7),
                description=description,
            )
            sales.invoice_issue(invoice_id=invoice.pk)
            sales.invoice_post_to_ledger(invoice_id=invoice.pk)
        # This month: the real batch, one job per resident and the summary continuation.
        sales.monthly_invoices_generate(period=this_month)

        self.seed_purchase(society, today)
        self.seed_payroll(society, today, last_month)
        self.seed_community(society, residents, today)
        self.seed_inventory(society, today)

        # A first pass of the recurring checks, so their results show without waiting.
        sales_tasks.check_overdue_invoices.enqueue()
        sales_tasks.refresh_sales_analytics.enqueue(society.pk)
        inventory_tasks.check_low_stock_alerts.enqueue()
        inventory_tasks.expire_items_check.enqueue()
        community_tasks.expire_visitor_passes.enqueue()
        community_tasks.maintenance_request_escalation.enqueue()
        return {"society": society.code, "residents": len(residents), "employees": len(EMPLOYEES)}

    def seed_purchase(self, society, today):
        supplies = purchase.vendor_create(
            society_id=society.pk,
            name="Shree Ganesh Housekeeping Supplies",
            email="orders@shreeganesh.example.com",
            gstin="27AABCS1234F1Z5",
            payment_terms_days=30,
        )
        electrical = purchase.vendor_create(
            society_id=society.pk,
            name="Bright Spark Electricals",
            email="sales@brightspark.example.com",
            payment_terms_days=15,
        )
        approver = society.contact_email
        # Delivered in full, at the agreed prices: matches.
        received = purchase.purchase_order_create(
            society_id=society.pk,
            vendor_id=supplies.pk,
            requested_by="Prakash Joshi",
            approver_email=approver,
            order_date=today - timedelta(days=12),
            lines=[
                {
                    "description": "Floor cleaner 5 L",
                    "sku": "CLN-FLOOR",
                    "quantity": "10",
                    "unit_price": "420.00",
                },
                {
                    "description": "Garbage bags (pack of 30)",
                    "sku": "GRB-BAGS",
                    "quantity": "20",
                    "unit_price": "95.00",
                },
            ],
        )
        purchase.purchase_order_submit(order_id=received.pk)
        purchase.purchase_order_decide(order_id=received.pk, approve=True, decided_by="Society secretary")
        lines = list(received.lines.order_by("pk"))
        purchase.grn_record(
            order_id=received.pk,
            received_by="Ramesh Yadav",
            invoice_amount="6100.00",
            received_on=today - timedelta(days=5),
            lines=[
                {
                    "order_line_id": line.pk,
                    "quantity_received": str(line.quantity),
                    "unit_price": str(line.unit_price),
                }
                for line in lines
            ],
        )
        # Delivered with a higher price than ordered: check-grn-matching flags it.
        disputed = purchase.purchase_order_create(
            society_id=society.pk,
            vendor_id=electrical.pk,
            requested_by="Prakash Joshi",
            approver_email=approver,
            order_date=today - timedelta(days=6),
            lines=[
                {"description": "LED tube 20 W", "sku": "LED-20W", "quantity": "24", "unit_price": "180.00"}
            ],
        )
        purchase.purchase_order_submit(order_id=disputed.pk)
        purchase.purchase_order_decide(order_id=disputed.pk, approve=True, decided_by="Society secretary")
        line = disputed.lines.get()
        purchase.grn_record(
            order_id=disputed.pk,
            received_by="Suresh Kumar",
            invoice_amount="4560.00",
            received_on=today - timedelta(days=1),
            lines=[{"order_line_id": line.pk, "quantity_received": "24", "unit_price": "190.00"}],
        )
        # Waiting for approval: send-po-approvals reminds the approver every 2 hours.
        pending = purchase.purchase_order_create(
            society_id=society.pk,
            vendor_id=supplies.pk,
            requested_by="Lakshmi Devi",
            approver_email=approver,
            lines=[{"description": "Mop refills", "sku": "MOP-REF", "quantity": "12", "unit_price": "65.00"}],
        )
        purchase.purchase_order_submit(order_id=pending.pk)
        purchase.vendor_bill_record(
            vendor_id=supplies.pk,
            order_id=received.pk,
            number="SGH/2411/0457",
            bill_date=today - timedelta(days=5),
            due_date=today + timedelta(days=3),
            amount="6100.00",
        )
        purchase.vendor_bill_record(
            vendor_id=electrical.pk,
            number="BSE-8812",
            bill_date=today - timedelta(days=40),
            due_date=today - timedelta(days=25),
            amount="2350.00",
        )

    def seed_payroll(self, society, today, last_month):
        employees = [
            payroll.employee_create(
                society_id=society.pk,
                code=code,
                name=name,
                designation=designation,
                monthly_basic=basic,
                monthly_allowances=allowances,
                joined_on=today - timedelta(days=400),
                email=f"{code.lower()}@greenmeadows.example.com",
                uan=f"10{index:010d}",
            )
            for index, (code, name, designation, basic, allowances) in enumerate(EMPLOYEES, 1)
        ]
        marks = []
        day = last_month
        while day < today:
            for index, employee in enumerate(employees):
                if day.weekday() == 6:
                    status = Attendance.Status.WEEKLY_OFF
                elif (day.day + index) % 13 == 0:
                    status = Attendance.Status.ABSENT
                elif (day.day + index) % 11 == 0:
                    status = Attendance.Status.HALF_DAY
                elif (day.day + index) % 17 == 0:
                    status = Attendance.Status.LEAVE
                else:
                    status = Attendance.Status.PRESENT
                marks.append(Attendance(employee=employee, date=day, status=status))
            day += timedelta(days=1)
        Attendance.objects.bulk_create(marks)
        # Last month's salaries, and its payslip PDFs as a batch for the workers.
        payroll.salaries_process(period=last_month)
        payroll.payslips_generate(period=last_month)

    def seed_community(self, society, residents, today):
        now = timezone.now()
        tomorrow = today + timedelta(days=1)
        community.event_create(
            society_id=society.pk,
            title="Annual general meeting",
            venue="Clubhouse hall",
            starts_at=local(tomorrow, 18),
            ends_at=local(tomorrow, 20),
            description="Accounts for the year, the repainting proposal and the committee election.",
        )
        community.event_create(
            society_id=society.pk,
            title="Diwali get-together",
            venue="Central lawn",
            starts_at=local(today + timedelta(days=9), 19),
            ends_at=local(today + timedelta(days=9), 22),
        )
        community.visitor_pass_issue(
            host_id=residents[0].pk,
            visitor_name="Neha Kulkarni",
            visitor_phone="9820012345",
            valid_until=now + timedelta(hours=6),
        )
        used = community.visitor_pass_issue(
            host_id=residents[1].pk,
            visitor_name="Amazon delivery",
            valid_until=now + timedelta(hours=2),
        )
        community.visitor_pass_use(code=used.code)
        stale = community.visitor_pass_issue(
            host_id=residents[2].pk,
            visitor_name="Plumber (Sunil)",
            valid_until=now + timedelta(hours=1),
        )
        # A pass from yesterday nobody used: expire-visitor-passes retires it.
        VisitorPass.objects.filter(pk=stale.pk).update(
            valid_from=now - timedelta(hours=30), valid_until=now - timedelta(hours=26)
        )
        for resident, title, category, age in [
            (residents[3], "Water leaking from the bathroom ceiling", "plumbing", timedelta(days=8)),
            (residents[4], "Lift B stops between floors", "lift", timedelta(hours=30)),
            (residents[5], "Corridor light on the 2nd floor is out", "electrical", timedelta(hours=3)),
        ]:
            request = community.maintenance_request_open(
                resident_id=resident.pk, title=title, category=category
            )
            MaintenanceRequest.objects.filter(pk=request.pk).update(opened_at=now - age)

    def seed_inventory(self, society, today):
        items = {
            sku: inventory.stock_item_create(
                society_id=society.pk,
                sku=sku,
                name=name,
                unit=unit,
                reorder_level=level,
                reorder_quantity=reorder,
                unit_cost=cost,
            )
            for sku, name, unit, level, reorder, cost in [
                ("CLN-FLOOR", "Floor cleaner 5 L", "can", "4", "10", "420.00"),
                ("GRB-BAGS", "Garbage bags (pack of 30)", "pack", "10", "20", "95.00"),
                ("LED-20W", "LED tube 20 W", "pcs", "6", "24", "180.00"),
                ("CHL-TAB", "Pool chlorine tablets", "kg", "5", "10", "350.00"),
                ("DSL-GEN", "Diesel for the generator", "litre", "50", "200", "92.50"),
            ]
        }
        inventory.stock_receive(
            item_id=items["CLN-FLOOR"].pk, quantity="10", received_on=today - timedelta(days=5)
        )
        inventory.stock_receive(
            item_id=items["GRB-BAGS"].pk, quantity="20", received_on=today - timedelta(days=5)
        )
        inventory.stock_receive(
            item_id=items["LED-20W"].pk, quantity="8", received_on=today - timedelta(days=60)
        )
        inventory.stock_receive(
            item_id=items["CHL-TAB"].pk,
            quantity="6",
            lot_code="CHL-0312",
            received_on=today - timedelta(days=90),
            expires_on=today - timedelta(days=1),
        )
        inventory.stock_receive(
            item_id=items["CHL-TAB"].pk,
            quantity="4",
            lot_code="CHL-0520",
            received_on=today - timedelta(days=10),
            expires_on=today + timedelta(days=200),
        )
        inventory.stock_receive(
            item_id=items["DSL-GEN"].pk, quantity="120", received_on=today - timedelta(days=20)
        )
        # Stock used since: the floor cleaner is near its reorder level, the LED tubes below it.
        inventory.stock_issue(item_id=items["CLN-FLOOR"].pk, quantity="5", reference="Weekly cleaning")
        inventory.stock_issue(item_id=items["LED-20W"].pk, quantity="4", reference="Wing B corridors")
        inventory.stock_issue(item_id=items["DSL-GEN"].pk, quantity="60", reference="Power cuts")
