"""The common service: the outbox, refresh tokens, the Auth0 sync against a fake Management API
on loopback, the reports, log cleanup and database backups."""

import json
import os
import socket
import threading
import time
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from common import services, tasks
from common.models import ExternalIdentity, RefreshToken, hash_token
from jobs.models import Job, Server, State
from notifications.models import OutboxMessage
from notifications.services import notify
from sales import services as sales
from sales import tasks as sales_tasks

pytestmark = pytest.mark.django_db
User = get_user_model()


# --- The outbox -----------------------------------------------------------------------------


def test_a_message_is_sent_once_per_dedup_key(mailoutbox):
    for _ in range(3):
        message = notify(dedup_key="test:1", recipient="a@example.com", subject="Hello", body="Body")
    assert len(mailoutbox) == 1
    assert (mailoutbox[0].to, mailoutbox[0].subject, mailoutbox[0].body) == (
        ["a@example.com"],
        "Hello",
        "Body",
    )
    message.refresh_from_db()
    assert (
        message.status == OutboxMessage.Status.SENT and message.sent_at is not None and message.attempts == 1
    )


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_failed_delivery_is_recorded_and_retried_until_it_is_sent(settings, mailoutbox):
    # A real SMTP backend pointed at a port nobody listens on: the send fails for real.
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": _closed_port(), "timeout": 2},
        }
    }
    with pytest.raises(ConnectionRefusedError):
        notify(dedup_key="test:retry", recipient="a@example.com", subject="Hi", body="")
    message = OutboxMessage.objects.get(dedup_key="test:retry")
    assert message.status == OutboxMessage.Status.FAILED
    assert message.attempts == 1 and "ConnectionRefusedError" in message.last_error

    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    notify(dedup_key="test:retry", recipient="a@example.com", subject="Hi", body="")
    message.refresh_from_db()
    assert (message.status, message.attempts, message.last_error) == (OutboxMessage.Status.SENT, 2, "")
    assert len(mailoutbox) == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"recipient": "nobody"}, "recipient"), ({"dedup_key": " "}, "dedup_key"), ({"subject": ""}, "subject")],
)
def test_the_outbox_refuses_bad_messages(kwargs, field):
    data = {"dedup_key": "k", "recipient": "a@example.com", "subject": "s", "body": "b", **kwargs}
    with pytest.raises(ValidationError) as error:
        notify(**data)
    assert field in error.value.message_dict
    assert not OutboxMessage.objects.exists()


# --- Refresh tokens -------------------------------------------------------------------------


def test_cleanup_expired_tokens_removes_expired_and_revoked_tokens_only():
    user = User.objects.create_user("resident")
    live = services.refresh_token_issue(user=user)
    expired = services.refresh_token_issue(user=user, lifetime=timedelta(seconds=1))
    revoked = services.refresh_token_issue(user=user)
    RefreshToken.objects.filter(token_hash=hash_token(expired)).update(
        created_at=timezone.now() - timedelta(days=30), expires_at=timezone.now() - timedelta(hours=1)
    )
    RefreshToken.objects.filter(token_hash=hash_token(revoked)).update(revoked_at=timezone.now())
    assert tasks.cleanup_expired_tokens.call() == {"expired": 1, "revoked": 1}
    assert list(RefreshToken.objects.values_list("token_hash", flat=True)) == [hash_token(live)]
    assert tasks.cleanup_expired_tokens.call() == {"expired": 0, "revoked": 0}


def test_only_the_hash_of_a_refresh_token_is_stored():
    raw = services.refresh_token_issue(user=User.objects.create_user("u"))
    assert not RefreshToken.objects.filter(token_hash=raw).exists()
    assert RefreshToken.objects.get(token_hash=hash_token(raw)).is_usable


# --- Auth0 sync against a fake Management API on loopback -----------------------------------


class FakeAuth0(ThreadingHTTPServer):
    """An Auth0-compatible Management API: client-credentials token, paged /api/v2/users."""

    daemon_threads = True

    def __init__(self, users):
        super().__init__(("127.0.0.1", 0), FakeAuth0Handler)
        self.users = users
        self.token = "token-" + os.urandom(4).hex()
        self.requests = []
        self.fail_with = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"


class FakeAuth0Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _answer(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        grant = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(("POST", self.path, grant))
        if self.path != "/oauth/token" or grant.get("client_secret") != "s3cret":
            return self._answer(401, {"error": "access_denied"})
        return self._answer(
            200, {"access_token": self.server.token, "token_type": "Bearer", "expires_in": 86400}
        )

    def do_GET(self):
        url = urlparse(self.path)
        self.server.requests.append(("GET", url.path, parse_qs(url.query)))
        if self.headers.get("Authorization") != f"Bearer {self.server.token}":
            return self._answer(401, {"error": "invalid token"})
        if self.server.fail_with:
            return self._answer(self.server.fail_with, {"error": "try later"})
        query = parse_qs(url.query)
        page, per_page = int(query["page"][0]), int(query["per_page"][0])
        users = self.server.users[page * per_page : (page + 1) * per_page]
        return self._answer(
            200,
            {
                "start": page * per_page,
                "limit": per_page,
                "length": len(users),
                "total": len(self.server.users),
                "users": users,
            },
        )


@pytest.fixture
def auth0(settings):
    users = [
        {
            "user_id": f"auth0|{n:04d}",
            "email": f"User{n}@Example.com",
            "given_name": f"Given{n}",
            "family_name": "Family",
            "blocked": False,
            "last_login": "2026-01-02T03:04:05.000Z",
        }
        for n in range(201)
    ]
    server = FakeAuth0(users)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.AUTH0_DOMAIN = server.url
    settings.AUTH0_CLIENT_ID, settings.AUTH0_CLIENT_SECRET, settings.AUTH0_AUDIENCE = "client", "s3cret", ""
    yield server
    server.shutdown()
    server.server_close()


def test_sync_auth0_users_pages_through_the_api_and_upserts_users(auth0):
    existing = User.objects.create_user("old-account", email="user7@example.com")
    result = tasks.sync_auth0_users.call()
    assert result == {"created": 200, "linked": 1, "updated": 0, "deactivated": 0, "fetched": 201}
    posts = [r for r in auth0.requests if r[0] == "POST"]
    assert posts[0][2]["grant_type"] == "client_credentials"
    assert posts[0][2]["audience"] == f"{auth0.url}/api/v2/"
    pages = [r[2]["page"][0] for r in auth0.requests if r[0] == "GET"]
    assert pages == ["0", "1", "2"]
    assert ExternalIdentity.objects.count() == 201
    linked = ExternalIdentity.objects.get(subject="auth0|0007").user
    assert linked.pk == existing.pk and linked.first_name == "Given7"
    new = User.objects.get(email="user8@example.com")
    assert (new.username, new.has_usable_password(), new.is_active) == ("user8@example.com", False, True)

    # Next run: one user blocked, one deleted at Auth0, the rest unchanged.
    auth0.users[3]["blocked"] = True
    del auth0.users[4]
    second = services.auth0_users_sync()
    assert (second["created"], second["updated"], second["deactivated"]) == (0, 200, 1)
    assert not User.objects.get(email="user3@example.com").is_active
    assert not User.objects.get(email="user4@example.com").is_active
    assert User.objects.count() == 201


def test_sync_auth0_users_is_skipped_with_a_reason_when_unconfigured(settings, caplog):
    settings.AUTH0_DOMAIN = ""
    with caplog.at_level("INFO", logger="common"):
        result = tasks.sync_auth0_users.call()
    assert "AUTH0_DOMAIN" in result["skipped"]
    assert "sync-auth0-users skipped" in caplog.text
    assert not User.objects.exists()


def test_sync_auth0_users_fails_the_job_when_the_api_refuses(auth0):
    auth0.fail_with = 429
    with pytest.raises(services.Auth0Error, match="429.*rate limited"):
        services.auth0_users_sync()
    assert not ExternalIdentity.objects.exists()


# --- Reports ----------------------------------------------------------------------------------


def test_the_system_health_report_counts_jobs_and_is_mailed_to_the_admins(settings, mailoutbox, society):
    settings.ADMINS = [("Ops", "ops@example.com")]
    User.objects.create_superuser("root", email="root@example.com", password=None)
    sales.resident_register(society_id=society.pk, name="A", email="a@example.com", unit="1")
    Job.objects.filter(task_path=sales_tasks.send_welcome_email.module_path).update(
        state=State.SUCCEEDED, started_at=timezone.now() - timedelta(seconds=3), finished_at=timezone.now()
    )
    sales_tasks.check_overdue_invoices.enqueue()
    now = timezone.now()
    Server.objects.create(
        id="host-1", host="host", pid=1, queues=["critical"], worker_count=4, started_at=now, heartbeat_at=now
    )
    report = tasks.generate_system_health_report.call()
    assert report["jobs_by_state"]["succeeded"] == 1
    assert report["jobs_by_state"]["enqueued"] == 1
    assert report["waiting_by_queue"] == {"default": 1}
    assert report["servers"][0]["id"] == "host-1"
    assert report["slowest_tasks"][0]["task"] == sales_tasks.send_welcome_email.module_path
    assert report["slowest_tasks"][0]["longest_seconds"] == pytest.approx(3, abs=0.5)
    assert report["mailed_to"] == ["ops@example.com", "root@example.com"]
    health = [m for m in mailoutbox if m.subject.startswith("Dhanman Jobs health")]
    assert sorted(m.to[0] for m in health) == ["ops@example.com", "root@example.com"]
    assert "host-1" in health[0].body
    tasks.generate_system_health_report.call()
    assert len([m for m in mailoutbox if m.subject.startswith("Dhanman Jobs health")]) == 2


def test_the_daily_report_covers_yesterday_for_each_society(society, make_invoice, mailoutbox):
    from community import services as community

    yesterday = timezone.localdate() - timedelta(days=1)
    invoice = make_invoice(issue_date=yesterday)
    payment = sales.payment_record(
        invoice_id=invoice.pk, amount="1200.00", method="upi", received_at=timezone.now() - timedelta(days=1)
    )
    sales.payment_process(payment_id=payment.pk)
    request = community.maintenance_request_open(
        resident_id=invoice.resident_id, title="Leak", category="plumbing"
    )
    request.opened_at = timezone.now() - timedelta(days=1)
    request.save()
    from sales.models import Invoice

    Invoice.objects.filter(pk=invoice.pk).update(issued_at=timezone.now() - timedelta(days=1))
    result = tasks.generate_daily_reports.call()
    figures = result["societies"][society.code]
    assert result["day"] == yesterday.isoformat()
    assert figures == {"collections": "1200.00", "invoices_issued": 1, "requests_opened": 1, "visitors": 0}
    [mail] = [m for m in mailoutbox if "daily report" in m.subject]
    assert mail.to == [society.contact_email]
    assert "₹1,200.00" in mail.body
    assert Decimal(figures["collections"]) == payment.amount


# --- Housekeeping -----------------------------------------------------------------------------


def test_cleanup_old_logs_removes_old_log_files_and_old_outbox_rows(settings, tmp_path):
    settings.LOG_DIR = tmp_path / "log"
    settings.LOG_RETENTION_DAYS, settings.OUTBOX_RETENTION_DAYS = 30, 90
    (settings.LOG_DIR / "rotated").mkdir(parents=True)
    outside = tmp_path / "precious.log"
    files = {
        "old": settings.LOG_DIR / "app.log.3",
        "old_nested": settings.LOG_DIR / "rotated" / "worker.log.gz",
        "new": settings.LOG_DIR / "app.log",
        "not_a_log": settings.LOG_DIR / "notes.txt",
    }
    for path in [*files.values(), outside]:
        path.write_text("x" * 100)
    ancient = time.time() - 40 * 86400
    for key in ("old", "old_nested", "not_a_log"):
        os.utime(files[key], (ancient, ancient))
    os.utime(outside, (ancient, ancient))
    (settings.LOG_DIR / "link.log").symlink_to(outside)

    old = timezone.now() - timedelta(days=100)
    for key, status in (("sent", "sent"), ("failed", "failed"), ("pending", "pending")):
        OutboxMessage.objects.create(
            dedup_key=f"old-{key}",
            recipient="a@example.com",
            subject="s",
            body="",
            status=status,
            created_at=old,
            sent_at=old if status == "sent" else None,
        )
    OutboxMessage.objects.create(
        dedup_key="recent",
        recipient="a@example.com",
        subject="s",
        body="",
        status="sent",
        sent_at=timezone.now(),
    )

    result = tasks.cleanup_old_logs.call()
    assert result == {"log_files": 2, "bytes_freed": 200, "outbox_messages": 2}
    assert not files["old"].exists() and not files["old_nested"].exists()
    assert files["new"].exists() and files["not_a_log"].exists() and outside.exists()
    assert sorted(OutboxMessage.objects.values_list("dedup_key", flat=True)) == ["old-pending", "recent"]


def test_database_backup_dumps_with_pg_dump_and_keeps_the_newest(settings, tmp_path):
    settings.BACKUP_DIR, settings.BACKUP_KEEP = tmp_path / "backups", 2
    names = [tasks.database_backup.call()["file"] for _ in range(3)]
    kept = sorted(p.name for p in settings.BACKUP_DIR.iterdir())
    assert kept == sorted(names[1:])
    newest = settings.BACKUP_DIR / names[-1]
    assert newest.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format
    assert newest.stat().st_size > 10_000


def test_a_failed_dump_fails_the_job_and_leaves_no_backup(settings, tmp_path, monkeypatch):
    settings.BACKUP_DIR = tmp_path / "backups"
    # Real pg_dump, pointed at a port where no server listens.
    monkeypatch.setitem(connection.settings_dict, "PORT", str(_closed_port()))
    with pytest.raises(services.BackupFailed, match="pg_dump exited"):
        tasks.database_backup.call()
    assert list(settings.BACKUP_DIR.iterdir()) == []


def test_the_sqlite_backup_is_a_consistent_copy(tmp_path):
    import sqlite3

    source = tmp_path / "live.db"
    with sqlite3.connect(source) as db:
        db.execute("create table t (x)")
        db.executemany("insert into t values (?)", [(n,) for n in range(100)])
    services.backup_sqlite(str(source), tmp_path / "copy.db")
    with sqlite3.connect(tmp_path / "copy.db") as copy:
        assert copy.execute("select count(*) from t").fetchone() == (100,)
    with pytest.raises(services.BackupFailed, match="does not exist"):
        services.backup_sqlite(str(tmp_path / "missing.db"), tmp_path / "x.db")
