"""The common service's work: user sync from Auth0, refresh tokens, the system health report,
the daily report, log cleanup and database backups.

No engine module imports this file (DESIGN.md): it reads the job tables like any other
context (common/selectors.py), and the bounded contexts through their selectors.
"""

import json
import logging
import os
import secrets
import shutil
import sqlite3
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections, transaction
from django.utils import timezone

from common import selectors
from common.models import ExternalIdentity, RefreshToken, hash_token
from dhanman.money import inr
from notifications.models import OutboxMessage
from notifications.services import admin_recipients, notify

logger = logging.getLogger("common")

AUTH0 = "auth0"
AUTH0_PAGE_SIZE = 100
HTTP_TIMEOUT = 15


# --- Refresh tokens ---------------------------------------------------------------------------


def refresh_token_issue(*, user, lifetime: timedelta = timedelta(days=30)) -> str:
    """Create a refresh token for `user` and return it; only its hash is stored."""
    if lifetime <= timedelta(0):
        raise ValueError(f"A token lifetime must be positive, not {lifetime}.")
    raw = secrets.token_urlsafe(32)
    now = timezone.now()
    RefreshToken.objects.create(
        user=user, token_hash=hash_token(raw), created_at=now, expires_at=now + lifetime
    )
    return raw


def refresh_tokens_cleanup(*, now: datetime | None = None) -> dict:
    """`cleanup-expired-tokens`: expired and revoked tokens can never be used again; remove them."""
    now = now or timezone.now()
    expired, _ = RefreshToken.objects.filter(expires_at__lte=now).delete()
    revoked, _ = RefreshToken.objects.filter(revoked_at__isnull=False).delete()
    return {"expired": expired, "revoked": revoked}


# --- Auth0 user sync --------------------------------------------------------------------------


class Auth0Error(RuntimeError):
    """The Management API refused or failed; the job fails and retries."""


def _auth0_base(domain: str) -> str:
    # A bare tenant domain means HTTPS (production); a full URL lets tests and on-premise
    # Auth0-compatible servers use their own scheme and port.
    domain = domain.strip().rstrip("/")
    return domain if domain.startswith(("http://", "https://")) else f"https://{domain}"


def _http_json(url: str, *, data: dict | None = None, token: str | None = None) -> dict | list:
    headers = {"Accept": "application/json"}
    body = None
    if data is not None:
        body = json.dumps(data).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        url, data=body, headers=headers, method="POST" if data is not None else "GET"
    )
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:  # noqa: S310 (configured URL)
            return json.loads(response.read().decode())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:500]
        hint = " (rate limited: the retry will try again later)" if exc.code == 429 else ""
        raise Auth0Error(f"{request.get_method()} {url} answered {exc.code}{hint}: {detail}") from None
    except (urllib.error.URLError, TimeoutError, json.JSONDecodeError) as exc:
        raise Auth0Error(f"{request.get_method()} {url} failed: {exc}") from None


def auth0_users_fetch(*, domain: str, client_id: str, client_secret: str, audience: str = "") -> list[dict]:
    """Every user of the tenant: a client-credentials token, then `/api/v2/users` page by page."""
    base = _auth0_base(domain)
    grant = _http_json(
        f"{base}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
            "audience": audience or f"{base}/api/v2/",
        },
    )
    token = grant.get("access_token") if isinstance(grant, dict) else None
    if not token:
        raise Auth0Error("The token endpoint answered without an access_token.")
    users, page = [], 0
    while True:
        query = urllib.parse.urlencode(
            {"page": page, "per_page": AUTH0_PAGE_SIZE, "include_totals": "true", "sort": "created_at:1"}
        )
        answer = _http_json(f"{base}/api/v2/users?{query}", token=token)
        batch = answer.get("users", []) if isinstance(answer, dict) else answer
        users.extend(batch)
        total = answer.get("total") if isinstance(answer, dict) else None
        if not batch or len(batch) < AUTH0_PAGE_SIZE or (total is not None and len(users) >= total):
            return users
        page += 1


def _username_for(profile: dict) -> str:
    User = get_user_model()
    candidates = [
        (profile.get("email") or "").strip().lower(),
        profile.get("username") or "",
        profile["user_id"],
    ]
    for candidate in candidates:
        candidate = candidate[: User._meta.get_field("username").max_length]
        if candidate and not User.objects.filter(username=candidate).exists():
            return candidate
    return f"auth0-{secrets.token_hex(6)}"


def _parse_time(value) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def auth0_user_upsert(profile: dict, *, now: datetime) -> str:
    """Create or update the local user of one Auth0 profile: "created", "linked" or "updated"."""
    User = get_user_model()
    subject = profile.get("user_id")
    if not subject:
        raise Auth0Error(f"An Auth0 user without user_id: {str(profile)[:200]}")
    email = (profile.get("email") or "").strip().lower()
    blocked = bool(profile.get("blocked", False))
    names = {
        "first_name": (profile.get("given_name") or "")[:150],
        "last_name": (profile.get("family_name") or "")[:150],
    }
    with transaction.atomic():
        identity = (
            ExternalIdentity.objects.select_for_update()
            .select_related("user")
            .filter(provider=AUTH0, subject=subject)
            .first()
        )
        if identity is not None:
            user, outcome = identity.user, "updated"
        else:
            user = User.objects.filter(email__iexact=email).order_by("pk").first() if email else None
            outcome = "linked"
            if user is None:
                user = User(username=_username_for(profile), email=email, **names)
                user.set_unusable_password()
                user.save()
                outcome = "created"
            identity = ExternalIdentity(provider=AUTH0, subject=subject, user=user)
        if email:
            user.email = email
        for field, value in names.items():
            if value:
                setattr(user, field, value)
        user.is_active = not blocked
        user.save(update_fields=["email", "first_name", "last_name", "is_active"])
        identity.email = email
        identity.blocked = blocked
        identity.last_login_at = _parse_time(profile.get("last_login"))
        identity.synced_at = now
        identity.save()
    return outcome


def auth0_users_sync(*, now: datetime | None = None) -> dict:
    """`sync-auth0-users`: upsert every Auth0 user locally. Users whose Auth0 account is gone are
    deactivated (never deleted: their history stays). Unconfigured: skipped, with the reason."""
    now = now or timezone.now()
    missing = [
        name
        for name in ("AUTH0_DOMAIN", "AUTH0_CLIENT_ID", "AUTH0_CLIENT_SECRET")
        if not getattr(settings, name, "")
    ]
    if missing:
        reason = f"Auth0 is not configured ({', '.join(missing)} unset)"
        logger.info("sync-auth0-users skipped: %s", reason)
        return {"skipped": reason}
    profiles = auth0_users_fetch(
        domain=settings.AUTH0_DOMAIN,
        client_id=settings.AUTH0_CLIENT_ID,
        client_secret=settings.AUTH0_CLIENT_SECRET,
        audience=getattr(settings, "AUTH0_AUDIENCE", ""),
    )
    outcomes = {"created": 0, "linked": 0, "updated": 0}
    for profile in profiles:
        outcomes[auth0_user_upsert(profile, now=now)] += 1
    gone = ExternalIdentity.objects.filter(provider=AUTH0, synced_at__lt=now)
    deactivated = (
        get_user_model().objects.filter(pk__in=gone.values("user_id"), is_active=True).update(is_active=False)
    )
    return {**outcomes, "deactivated": deactivated, "fetched": len(profiles)}


# --- Reports ----------------------------------------------------------------------------------


def system_health_report(*, now: datetime | None = None) -> dict:
    """`generate-system-health-report`: jobs by state and queue, the last day's failures,
    servers, the slowest tasks and recurring jobs in error, mailed to the admins."""
    now = now or timezone.now()
    since = now - timedelta(hours=24)
    report = {
        "generated_at": now.isoformat(),
        "jobs_by_state": selectors.jobs_by_state(),
        "waiting_by_queue": selectors.waiting_by_queue(),
        "failures": selectors.failures_since(since),
        "servers": selectors.servers(now),
        "slowest_tasks": selectors.slowest_tasks(since),
        "recurring_errors": selectors.recurring_errors(),
    }
    body = _health_text(report)
    recipients = admin_recipients()
    for recipient in recipients:
        notify(
            dedup_key=f"system-health:{timezone.localdate(now).isoformat()}:{recipient}",
            recipient=recipient,
            subject=f"Dhanman Jobs health, {timezone.localtime(now):%d %b %Y}: "
            f"{report['failures']['failed_now']} failed, {sum(report['waiting_by_queue'].values())} waiting",
            body=body,
        )
    report["mailed_to"] = recipients
    return report


def _health_text(report: dict) -> str:
    lines = ["Jobs by state:"]
    lines += [f"  {state:<11} {count}" for state, count in report["jobs_by_state"].items()]
    lines.append("Waiting by queue:")
    lines += [f"  {queue:<13} {count}" for queue, count in sorted(report["waiting_by_queue"].items())] or [
        "  none"
    ]
    failures = report["failures"]
    lines.append(
        f"Failed attempts in the last 24 h: {failures['failed_attempts']}; jobs failed now: {failures['failed_now']}"
    )
    lines += [f"  {row['task']}: {row['failed']} (last {row['last']})" for row in failures["by_task"]]
    lines.append("Servers:")
    lines += [
        f"  {s['id']}: {s['status']}, {s['workers']} workers, heartbeat {s['heartbeat_seconds_ago']} s ago"
        for s in report["servers"]
    ] or ["  none"]
    lines.append("Slowest tasks (last 24 h):")
    lines += [
        f"  {row['task']}: longest {row['longest_seconds']} s, average {row['average_seconds']} s over {row['runs']} runs"
        for row in report["slowest_tasks"]
    ] or ["  none"]
    if report["recurring_errors"]:
        lines.append("Recurring jobs in error:")
        lines += [f"  {row['id']}: {row['error']}" for row in report["recurring_errors"]]
    return "\n".join(lines) + "\n"


def daily_reports_generate(*, day: date | None = None) -> dict:
    """`generate-daily-reports` (02:00): yesterday per society — collections, invoices issued,
    maintenance requests opened, visitors — mailed to the society."""
    from community import selectors as community
    from sales import selectors as sales
    from sales.models import Society

    day = day or timezone.localdate() - timedelta(days=1)
    reports = {}
    for society in Society.objects.order_by("pk"):
        figures = {
            "collections": sales.collections_on(society=society, day=day),
            "invoices_issued": sales.invoices_issued_on(society=society, day=day),
            "overdue": sales.overdue_invoices(society=society),
            "requests_opened": community.requests_opened_on(society=society, day=day),
            "requests_pending": community.requests_pending(society=society),
            "visitors": community.visitors_on(society=society, day=day),
        }
        notify(
            dedup_key=f"daily-report:{society.pk}:{day.isoformat()}",
            recipient=society.contact_email,
            subject=f"{society.name}: daily report for {day:%d %b %Y}",
            body=(
                f"Collections: {figures['collections']['count']} payments, {inr(figures['collections']['amount'])}\n"
                f"Invoices issued: {figures['invoices_issued']['count']}, {inr(figures['invoices_issued']['amount'])}\n"
                f"Overdue invoices: {figures['overdue']['count']}, {inr(figures['overdue']['amount'])}\n"
                f"Maintenance requests opened: {figures['requests_opened']} (pending: {figures['requests_pending']})\n"
                f"Visitors expected: {figures['visitors']['expected']}, arrived: {figures['visitors']['arrived']}\n"
            ),
        )
        reports[society.code] = {
            "collections": str(figures["collections"]["amount"]),
            "invoices_issued": figures["invoices_issued"]["count"],
            "requests_opened": figures["requests_opened"],
            "visitors": figures["visitors"]["arrived"],
        }
    return {"day": day.isoformat(), "societies": reports}


# --- Housekeeping -----------------------------------------------------------------------------


def old_logs_cleanup(*, now: datetime | None = None) -> dict:
    """`cleanup-old-logs` (Sundays 00:00): log files in LOG_DIR older than LOG_RETENTION_DAYS,
    and delivered or failed outbox messages older than OUTBOX_RETENTION_DAYS.

    Only regular files whose name contains ".log" are touched (app.log, app.log.3,
    worker.log.gz), and symbolic links are never followed, so a mistaken LOG_DIR cannot
    empty an unrelated directory.
    """
    now = now or timezone.now()
    cutoff = now.timestamp() - settings.LOG_RETENTION_DAYS * 86400
    removed_files, freed = [], 0
    log_dir = Path(settings.LOG_DIR)
    if log_dir.is_dir():
        for folder, _dirs, files in os.walk(log_dir, followlinks=False):
            for name in files:
                path = Path(folder) / name
                if ".log" not in name or path.is_symlink() or not path.is_file():
                    continue
                stat = path.stat()
                if stat.st_mtime < cutoff:
                    path.unlink()
                    removed_files.append(str(path.relative_to(log_dir)))
                    freed += stat.st_size
    outbox_cutoff = now - timedelta(days=settings.OUTBOX_RETENTION_DAYS)
    messages, _ = OutboxMessage.objects.filter(
        created_at__lt=outbox_cutoff, status__in=[OutboxMessage.Status.SENT, OutboxMessage.Status.FAILED]
    ).delete()
    return {"log_files": len(removed_files), "bytes_freed": freed, "outbox_messages": messages}


class BackupFailed(RuntimeError):
    pass


def _backup_name(directory: Path, stem: str, suffix: str, now: datetime) -> Path:
    base = f"{stem}-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    path, n = directory / f"{base}{suffix}", 1
    while path.exists():
        n += 1
        path = directory / f"{base}-{n}{suffix}"
    return path


def backup_postgresql(settings_dict: dict, target: Path) -> None:
    """pg_dump in custom format (compressed, restorable with pg_restore) to `target`."""
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise BackupFailed("pg_dump is not installed (apt-get install postgresql-client).")
    command = [
        pg_dump,
        "--format=custom",
        "--no-owner",
        f"--file={target}",
        "--dbname",
        settings_dict["NAME"],
    ]
    for option, key in (("--host", "HOST"), ("--port", "PORT"), ("--username", "USER")):
        if settings_dict.get(key):
            command += [option, str(settings_dict[key])]
    env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
    if settings_dict.get("PASSWORD"):
        env["PGPASSWORD"] = settings_dict["PASSWORD"]
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=3600, check=False)
    except subprocess.TimeoutExpired:
        raise BackupFailed("pg_dump ran for over an hour and was stopped.") from None
    if done.returncode != 0:
        raise BackupFailed(f"pg_dump exited with {done.returncode}: {done.stderr.strip()[:2000]}")


def backup_sqlite(database: str, target: Path) -> None:
    """SQLite's online backup API: a consistent copy while the app keeps writing."""
    if not Path(database).is_file():
        raise BackupFailed(f"SQLite database {database} does not exist.")
    source = sqlite3.connect(database)
    destination = sqlite3.connect(target)
    try:
        source.backup(destination)
    except sqlite3.Error as exc:
        raise BackupFailed(f"SQLite backup failed: {exc}") from None
    finally:
        destination.close()
        source.close()


def database_backup(*, now: datetime | None = None, alias: str = "default") -> dict:
    """`database-backup` (every 6 h): a dump of the database in BACKUP_DIR, keeping the newest
    BACKUP_KEEP. The dump is written under a temporary name and renamed when complete, so a
    failed run leaves no file that looks like a backup; the failure fails the job."""
    now = now or timezone.now()
    connection = connections[alias]
    directory = Path(settings.BACKUP_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    stem = "dhanman"
    suffix = ".dump" if connection.vendor == "postgresql" else ".sqlite3"
    final = _backup_name(directory, stem, suffix, now)
    partial = final.with_name(f".{final.name}.partial")
    started = time.monotonic()
    try:
        if connection.vendor == "postgresql":
            backup_postgresql(connection.settings_dict, partial)
        elif connection.vendor == "sqlite":
            backup_sqlite(str(connection.settings_dict["NAME"]), partial)
        else:
            raise BackupFailed(f"No backup method for {connection.vendor}.")
        if not partial.is_file() or partial.stat().st_size == 0:
            raise BackupFailed("The backup came out empty.")
        partial.rename(final)
    finally:
        partial.unlink(missing_ok=True)
    kept = sorted(directory.glob(f"{stem}-*{suffix}"), key=lambda p: p.stat().st_mtime, reverse=True)
    removed = [p.name for p in kept[settings.BACKUP_KEEP :]]
    for name in removed:
        (directory / name).unlink(missing_ok=True)
    return {
        "file": final.name,
        "bytes": final.stat().st_size,
        "seconds": round(time.monotonic() - started, 2),
        "removed": removed,
    }
