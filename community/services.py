"""Community operations: events and their reminders, visitor passes and their expiry,
maintenance requests and their escalation."""

import secrets
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from community.models import Escalation, Event, MaintenanceRequest, VisitorPass
from dhanman.validation import as_id, required_text
from jobs.events import publish
from notifications.services import notify
from sales.models import Resident
from sales.selectors import society_get

# `send-event-reminders` (daily 08:00) reminds residents of events starting within this window.
EVENT_REMINDER_WINDOW = timedelta(hours=24)
# `maintenance-request-escalation`: a pending request reaches level N when it is this old.
ESCALATION_LEVELS = {1: timedelta(hours=24), 2: timedelta(hours=72), 3: timedelta(days=7)}
ESCALATION_NAMES = {1: "facility manager", 2: "society secretary", 3: "managing committee"}
MAX_PASS_DAYS = 30
# Gate codes avoid characters a guard could misread (0/O, 1/I).
PASS_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def _aware(value, field: str) -> datetime:
    if not isinstance(value, datetime):
        raise ValidationError({field: f"{field} must be a datetime, not {value!r}."})
    if timezone.is_naive(value):
        raise ValidationError({field: f"{field} must be an aware datetime (it has no time zone)."})
    return value


def _resident(resident_id, field: str = "resident_id") -> Resident:
    resident = Resident.objects.select_related("society").filter(pk=as_id(resident_id, field=field)).first()
    if resident is None:
        raise ValidationError({field: f"Unknown resident {resident_id}."})
    if not resident.is_active:
        raise ValidationError({field: f"Resident {resident} has left the society."})
    return resident


# --- Events ---------------------------------------------------------------------------------


def event_create(*, society_id, title: str, venue: str, starts_at, ends_at, description: str = "") -> Event:
    society = society_get(society_id)
    starts_at = _aware(starts_at, "starts_at")
    ends_at = _aware(ends_at, "ends_at")
    if ends_at <= starts_at:
        raise ValidationError({"ends_at": "An event must end after it starts."})
    if starts_at < timezone.now():
        raise ValidationError({"starts_at": "An event cannot start in the past."})
    return Event.objects.create(
        society=society,
        title=required_text(title, field="title", max_length=200),
        venue=required_text(venue, field="venue", max_length=200),
        starts_at=starts_at,
        ends_at=ends_at,
        description=description or "",
    )


def event_reminders_send(*, now: datetime | None = None) -> dict:
    """`send-event-reminders`: every active resident hears about each event of their society
    starting within the next 24 hours, once per event."""
    now = now or timezone.now()
    events = Event.objects.filter(
        cancelled=False, starts_at__gt=now, starts_at__lte=now + EVENT_REMINDER_WINDOW
    )
    sent = 0
    for event in events.select_related("society"):
        starts = timezone.localtime(event.starts_at)
        for resident in Resident.objects.filter(society=event.society, is_active=True).order_by("pk"):
            notify(
                dedup_key=f"event-reminder:{event.pk}:{resident.pk}",
                recipient=resident.email,
                subject=f"Reminder: {event.title}, {starts:%A %d %b at %H:%M}",
                body=(
                    f"Dear {resident.name},\n\n{event.title} is at {event.venue} on {starts:%A %d %b %Y}, "
                    f"{starts:%H:%M}.\n\n{event.description}\n"
                ),
            )
            sent += 1
        Event.objects.filter(pk=event.pk, reminders_sent_at__isnull=True).update(reminders_sent_at=now)
    return {"events": len(events), "reminders": sent}


# --- Visitor passes -------------------------------------------------------------------------


def visitor_pass_issue(
    *,
    host_id,
    visitor_name: str,
    valid_until,
    valid_from=None,
    kind: str = VisitorPass.Kind.ONE_TIME,
    visitor_phone: str = "",
) -> VisitorPass:
    host = _resident(host_id, "host_id")
    visitor_name = required_text(visitor_name, field="visitor_name", max_length=200)
    valid_from = timezone.now() if valid_from is None else _aware(valid_from, "valid_from")
    valid_until = _aware(valid_until, "valid_until")
    if valid_until <= valid_from:
        raise ValidationError({"valid_until": "A pass must end after it starts."})
    if valid_until <= timezone.now():
        raise ValidationError({"valid_until": "A pass cannot end in the past."})
    if valid_until - valid_from > timedelta(days=MAX_PASS_DAYS):
        raise ValidationError({"valid_until": f"A pass lasts at most {MAX_PASS_DAYS} days."})
    if kind not in VisitorPass.Kind.values:
        raise ValidationError(
            {"kind": f"Unknown pass kind {kind!r}: one of {', '.join(VisitorPass.Kind.values)}."}
        )
    for _attempt in range(5):
        code = "".join(secrets.choice(PASS_ALPHABET) for _ in range(8))
        try:
            with transaction.atomic():
                return VisitorPass.objects.create(
                    society=host.society,
                    host=host,
                    code=code,
                    visitor_name=visitor_name,
                    visitor_phone=(visitor_phone or "").strip(),
                    kind=kind,
                    valid_from=valid_from,
                    valid_until=valid_until,
                )
        except IntegrityError:
            if VisitorPass.objects.filter(code=code).exists():
                continue  # the random code was taken: draw another
            raise
    raise RuntimeError("Could not draw an unused visitor pass code in 5 attempts.")


def visitor_pass_use(*, code: str, now: datetime | None = None) -> VisitorPass:
    """The gate scans a pass: a one-time pass is used up, a multi-entry pass stays active."""
    now = now or timezone.now()
    with transaction.atomic():
        visitor_pass = (
            VisitorPass.objects.select_for_update().filter(code=(code or "").strip().upper()).first()
        )
        if visitor_pass is None:
            raise ValidationError({"code": f"No visitor pass {code!r}."})
        if visitor_pass.status != VisitorPass.Status.ACTIVE:
            raise ValidationError({"code": f"Pass {visitor_pass.code} is {visitor_pass.status}."})
        if not visitor_pass.valid_from <= now < visitor_pass.valid_until:
            raise ValidationError({"code": f"Pass {visitor_pass.code} is not valid at this time."})
        visitor_pass.used_at = now
        if visitor_pass.kind == VisitorPass.Kind.ONE_TIME:
            visitor_pass.status = VisitorPass.Status.USED
        visitor_pass.save(update_fields=["used_at", "status"])
    return visitor_pass


def visitor_passes_expire(*, now: datetime | None = None) -> int:
    """`expire-visitor-passes`: active passes past their end stop opening the gate; each one
    expired publishes `community.visitor_pass_expired` in the same transaction."""
    now = now or timezone.now()
    with transaction.atomic():
        due = list(
            VisitorPass.objects.select_for_update(skip_locked=True)
            .filter(status=VisitorPass.Status.ACTIVE, valid_until__lte=now)
            .order_by("pk")
        )
        VisitorPass.objects.filter(pk__in=[p.pk for p in due]).update(
            status=VisitorPass.Status.EXPIRED, expired_at=now
        )
        for visitor_pass in due:
            _publish_expired(visitor_pass, now)
    return len(due)


def visitor_pass_expire(*, visitor_pass_id, now: datetime | None = None) -> bool:
    """Expire one pass at its end (scheduled when a visitor registers); False when it is no
    longer active or not due yet (moved later: the recurring sweep covers it)."""
    now = now or timezone.now()
    with transaction.atomic():
        visitor_pass = (
            VisitorPass.objects.select_for_update()
            .filter(pk=as_id(visitor_pass_id, field="visitor_pass_id"))
            .first()
        )
        if visitor_pass is None:
            raise ValidationError({"visitor_pass_id": f"Unknown visitor pass {visitor_pass_id}."})
        if visitor_pass.status != VisitorPass.Status.ACTIVE or visitor_pass.valid_until > now:
            return False
        visitor_pass.status = VisitorPass.Status.EXPIRED
        visitor_pass.expired_at = now
        visitor_pass.save(update_fields=["status", "expired_at"])
        _publish_expired(visitor_pass, now)
    return True


def _publish_expired(visitor_pass: VisitorPass, now: datetime) -> None:
    publish(
        "community.visitor_pass_expired",
        {
            "visitor_pass_id": visitor_pass.pk,
            "society_id": visitor_pass.society_id,
            "host_id": visitor_pass.host_id,
            "valid_until": visitor_pass.valid_until.isoformat(),
            "expired_at": now.isoformat(),
        },
        aggregate=f"community.visitor_pass:{visitor_pass.pk}",
        occurred_at=now,
    )


# --- Maintenance requests -------------------------------------------------------------------


def maintenance_request_open(
    *, resident_id, title: str, category: str, description: str = ""
) -> MaintenanceRequest:
    resident = _resident(resident_id)
    if category not in MaintenanceRequest.Category.values:
        raise ValidationError(
            {
                "category": f"Unknown category {category!r}: one of {', '.join(MaintenanceRequest.Category.values)}."
            }
        )
    return MaintenanceRequest.objects.create(
        society=resident.society,
        resident=resident,
        title=required_text(title, field="title", max_length=200),
        category=category,
        description=description or "",
    )


def maintenance_request_set_status(*, request_id, status: str) -> MaintenanceRequest:
    if status not in MaintenanceRequest.Status.values:
        raise ValidationError({"status": f"Unknown status {status!r}."})
    with transaction.atomic():
        request = (
            MaintenanceRequest.objects.select_for_update()
            .filter(pk=as_id(request_id, field="request_id"))
            .first()
        )
        if request is None:
            raise ValidationError({"request_id": f"Unknown maintenance request {request_id}."})
        request.status = status
        request.resolved_at = (
            timezone.now() if status in (request.Status.RESOLVED, request.Status.CLOSED) else None
        )
        request.save(update_fields=["status", "resolved_at"])
    return request


def escalation_level_for(age: timedelta) -> int:
    return max((level for level, threshold in ESCALATION_LEVELS.items() if age >= threshold), default=0)


def maintenance_requests_escalate(*, now: datetime | None = None) -> dict:
    """`maintenance-request-escalation`: a pending request rises to the level its age has
    reached. Each level is recorded once (unique per request and level); a request found late
    goes straight to its level rather than through every one below it."""
    now = now or timezone.now()
    top = max(ESCALATION_LEVELS)
    candidates = MaintenanceRequest.objects.filter(
        status__in=MaintenanceRequest.PENDING,
        escalation_level__lt=top,
        opened_at__lte=now - ESCALATION_LEVELS[1],
    ).values_list("pk", flat=True)
    escalated = []
    for request_id in candidates:
        with transaction.atomic():
            request = (
                MaintenanceRequest.objects.select_for_update()
                .select_related("society", "resident")
                .get(pk=request_id)
            )
            level = escalation_level_for(now - request.opened_at)
            if request.status not in MaintenanceRequest.PENDING or level <= request.escalation_level:
                continue
            Escalation.objects.create(
                request=request, level=level, escalated_at=now, notified=request.society.contact_email
            )
            request.escalation_level = level
            request.save(update_fields=["escalation_level"])
        hours = int((now - request.opened_at).total_seconds() // 3600)
        notify(
            dedup_key=f"escalation:{request.pk}:{level}",
            recipient=request.society.contact_email,
            subject=f"Escalated to the {ESCALATION_NAMES[level]}: maintenance request #{request.pk} ({request.title})",
            body=(
                f"Request #{request.pk} from {request.resident} ({request.get_category_display()}) has been "
                f"{request.get_status_display().lower()} for {hours} hours.\n\n{request.description}\n"
            ),
        )
        escalated.append({"request": request.pk, "level": level})
    return {"escalated": escalated}
