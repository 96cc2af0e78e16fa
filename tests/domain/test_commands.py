"""`ensure_admin` and `seed_demo`: safe to run on every start."""

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from jobs.models import Batch, Job, State
from payroll.models import Attendance, Payslip
from sales.models import Invoice, Society

pytestmark = pytest.mark.django_db
User = get_user_model()
DOMAIN_APPS = ("sales", "purchase", "payroll", "community", "inventory")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # The default hasher takes about a second per password, on purpose; these tests hash a few.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_ensure_admin_creates_the_superuser_once_with_the_password_from_the_environment(monkeypatch, capsys):
    monkeypatch.setenv("DHANMAN_ADMIN_PASSWORD", "a-long-demo-passphrase")
    call_command("ensure_admin")
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    assert admin.check_password("a-long-demo-passphrase")
    assert list(admin.groups.values_list("name", flat=True)) == ["Admin"]
    assert "a-long-demo-passphrase" not in capsys.readouterr().out

    call_command("ensure_admin")
    assert "nothing created" in capsys.readouterr().out
    assert User.objects.count() == 1


def test_ensure_admin_applies_a_changed_password_from_the_environment_and_says_so(monkeypatch, capsys):
    monkeypatch.setenv("DHANMAN_ADMIN_PASSWORD", "a-long-demo-passphrase")
    call_command("ensure_admin")
    monkeypatch.setenv("DHANMAN_ADMIN_PASSWORD", "another-passphrase-entirely")
    capsys.readouterr()
    call_command("ensure_admin")
    out = capsys.readouterr().out
    assert "its password is now DHANMAN_ADMIN_PASSWORD" in out
    assert User.objects.get(username="admin").check_password("another-passphrase-entirely")
    assert "another-passphrase-entirely" not in out
    monkeypatch.setenv("DHANMAN_ADMIN_PASSWORD", "123")
    with pytest.raises(CommandError, match="not acceptable"):
        call_command("ensure_admin")
    assert User.objects.get(username="admin").check_password("another-passphrase-entirely")


def test_ensure_admin_ends_with_a_banner_saying_how_to_log_in(monkeypatch, capsys):
    monkeypatch.delenv("DHANMAN_ADMIN_PASSWORD", raising=False)
    monkeypatch.setenv("DHANMAN_PORT", "8123")
    call_command("ensure_admin")
    first = capsys.readouterr().out
    password = first.split("Password: ")[1].split()[0]
    assert User.objects.get(username="admin").check_password(password)
    call_command("ensure_admin")
    banner = capsys.readouterr().out.strip().splitlines()[-7:]
    assert banner[0] == banner[-1] and set(banner[0]) == {"="}
    assert "http://127.0.0.1:8123/admin/" in banner[1]
    assert banner[2].split() == ["User:", "admin"]
    assert password not in "\n".join(banner)  # shown once only
    assert "manage.py changepassword admin" in banner[4]


def test_ensure_admin_prints_a_generated_password_once(monkeypatch, capsys):
    monkeypatch.delenv("DHANMAN_ADMIN_PASSWORD", raising=False)
    call_command("ensure_admin")
    out = capsys.readouterr().out
    password = out.split("Password: ")[1].split()[0]
    assert User.objects.get(username="admin").check_password(password)
    call_command("ensure_admin")
    assert password not in capsys.readouterr().out


def test_ensure_admin_does_nothing_when_a_superuser_exists(monkeypatch):
    User.objects.create_superuser("founder", email="f@example.com", password=None)
    call_command("ensure_admin")
    assert not User.objects.filter(username="admin").exists()


def test_ensure_admin_refuses_a_weak_password(monkeypatch):
    monkeypatch.setenv("DHANMAN_ADMIN_PASSWORD", "123")
    with pytest.raises(CommandError, match="not acceptable"):
        call_command("ensure_admin")
    assert not User.objects.exists()


def _row_counts():
    counts = {}
    for label in (*DOMAIN_APPS, "jobs"):
        for model in apps.get_app_config(label).get_models():
            counts[model._meta.label] = model.objects.count()
    return counts


def test_seed_demo_creates_a_living_society_and_a_second_run_creates_nothing(capsys):
    call_command("seed_demo")
    society = Society.objects.get(code="green-meadows")
    statuses = set(Invoice.objects.filter(society=society).values_list("status", flat=True))
    assert {Invoice.Status.ISSUED, Invoice.Status.PAID, Invoice.Status.OVERDUE} <= statuses
    assert Attendance.objects.exists() and Payslip.objects.exists()
    assert Batch.objects.count() == 2  # this month's invoices, last month's payslips
    queues = set(Job.objects.filter(state=State.ENQUEUED).values_list("queue", flat=True))
    assert queues == {"critical", "default", "low-priority"}
    assert Job.objects.filter(state=State.AWAITING).exists()

    before = _row_counts()
    call_command("seed_demo")
    assert "nothing created" in capsys.readouterr().out
    assert _row_counts() == before
