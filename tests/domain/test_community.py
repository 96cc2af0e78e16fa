"""Community: event reminders, visitor pass expiry, maintenance request escalation."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from community import services, tasks
from community.models import Escalation, Event, MaintenanceRequest, VisitorPass
from sales.models import Resident

pytestmark = pytest.mark.django_db


def _event(society, starts_in, **kwargs):
    starts = timezone.now() + starts_in
    return services.event_create(
        society_id=society.pk,
        title=kwargs.get("title", "Annual general meeting"),
        venue="Clubhouse",
        starts_at=starts,
        ends_at=starts + timedelta(hours=2),
    )


def test_event_reminders_reach_each_active_resident_once(society, make_resident, mailoutbox):
    residents = [make_resident() for _ in range(3)]
    Resident.objects.filter(pk=residents[2].pk).update(is_active=False)
    soon = _event(society, timedelta(hours=10))
    _event(society, timedelta(hours=30), title="Diwali")  # not within the next 24 hours
    cancelled = _event(society, timedelta(hours=5), title="Cancelled")
    Event.objects.filter(pk=cancelled.pk).update(cancelled=True)
    mailoutbox.clear()
    assert tasks.send_event_reminders.call() == {"events": 1, "reminders": 2}
    tasks.send_event_reminders.call()
    assert sorted(m.to[0] for m in mailoutbox) == sorted([residents[0].email, residents[1].email])
    assert all("Annual general meeting" in m.subject for m in mailoutbox)
    soon.refresh_from_db()
    assert soon.reminders_sent_at is not None


@pytest.mark.parametrize(
    ("starts_in", "length", "match"),
    [(timedelta(hours=-1), timedelta(hours=1), "past"), (timedelta(hours=1), timedelta(0), "end after")],
)
def test_events_must_be_in_the_future_and_end_after_they_start(society, starts_in, length, match):
    starts = timezone.now() + starts_in
    with pytest.raises(ValidationError, match=match):
        services.event_create(
            society_id=society.pk, title="x", venue="y", starts_at=starts, ends_at=starts + length
        )
    assert not Event.objects.exists()


def test_expire_visitor_passes_retires_only_active_passes_past_their_end(resident):
    now = timezone.now()
    stale = services.visitor_pass_issue(
        host_id=resident.pk, visitor_name="Plumber", valid_until=now + timedelta(hours=1)
    )
    current = services.visitor_pass_issue(
        host_id=resident.pk, visitor_name="Guest", valid_until=now + timedelta(hours=5)
    )
    used = services.visitor_pass_issue(
        host_id=resident.pk, visitor_name="Courier", valid_until=now + timedelta(hours=1)
    )
    services.visitor_pass_use(code=used.code)
    VisitorPass.objects.filter(pk__in=[stale.pk, used.pk]).update(
        valid_from=now - timedelta(hours=3), valid_until=now - timedelta(minutes=1)
    )
    assert tasks.expire_visitor_passes.call() == {"expired": 1}
    assert tasks.expire_visitor_passes.call() == {"expired": 0}
    statuses = dict(VisitorPass.objects.values_list("pk", "status"))
    assert statuses == {stale.pk: "expired", current.pk: "active", used.pk: "used"}
    with pytest.raises(ValidationError, match="expired"):
        services.visitor_pass_use(code=stale.code)


def test_a_one_time_pass_opens_the_gate_once_and_a_multi_entry_pass_again(resident):
    until = timezone.now() + timedelta(hours=4)
    once = services.visitor_pass_issue(host_id=resident.pk, visitor_name="A", valid_until=until)
    multi = services.visitor_pass_issue(
        host_id=resident.pk, visitor_name="B", valid_until=until, kind="multi_entry"
    )
    services.visitor_pass_use(code=once.code.lower())
    with pytest.raises(ValidationError, match="used"):
        services.visitor_pass_use(code=once.code)
    services.visitor_pass_use(code=multi.code)
    assert services.visitor_pass_use(code=multi.code).status == VisitorPass.Status.ACTIVE


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"host_id": 999999}, "Unknown resident"),
        ({"valid_until": "tomorrow"}, "must be a datetime"),
        ({"valid_from_hours": 5}, "end after it starts"),
        ({"valid_until_hours": 24 * 40}, "at most 30 days"),
        ({"kind": "forever"}, "Unknown pass kind"),
    ],
)
def test_visitor_passes_refuse_bad_input(resident, kwargs, match):
    now = timezone.now()
    data = {
        "host_id": resident.pk,
        "visitor_name": "V",
        "valid_until": now + timedelta(hours=kwargs.pop("valid_until_hours", 2)),
    }
    if "valid_from_hours" in kwargs:
        data["valid_from"] = now + timedelta(hours=kwargs.pop("valid_from_hours"))
    data.update(kwargs)
    with pytest.raises(ValidationError, match=match):
        services.visitor_pass_issue(**data)
    assert not VisitorPass.objects.exists()


def _request(resident, age, **kwargs):
    request = services.maintenance_request_open(
        resident_id=resident.pk, title="Leak", category="plumbing", **kwargs
    )
    MaintenanceRequest.objects.filter(pk=request.pk).update(opened_at=timezone.now() - age)
    return request


def test_escalation_rises_with_age_and_each_level_happens_once(resident, society, mailoutbox):
    request = _request(resident, timedelta(hours=25))
    fresh = _request(resident, timedelta(hours=2))
    assert tasks.maintenance_request_escalation.call() == {"escalated": [{"request": request.pk, "level": 1}]}
    assert tasks.maintenance_request_escalation.call() == {"escalated": []}
    MaintenanceRequest.objects.filter(pk=request.pk).update(opened_at=timezone.now() - timedelta(hours=73))
    services.maintenance_requests_escalate()
    services.maintenance_requests_escalate()
    request.refresh_from_db()
    assert request.escalation_level == 2
    assert list(request.escalations.values_list("level", flat=True)) == [1, 2]
    assert fresh.escalations.count() == 0
    subjects = [m.subject for m in mailoutbox]
    assert len(subjects) == 2
    assert "facility manager" in subjects[0] and "society secretary" in subjects[1]
    assert all(m.to == [society.contact_email] for m in mailoutbox)


def test_a_request_found_late_goes_straight_to_its_level_and_resolved_ones_never_escalate(resident):
    neglected = _request(resident, timedelta(days=8))
    resolved = _request(resident, timedelta(days=8))
    services.maintenance_request_set_status(request_id=resolved.pk, status="resolved")
    services.maintenance_requests_escalate()
    assert list(Escalation.objects.values_list("request_id", "level")) == [(neglected.pk, 3)]
    assert services.maintenance_requests_escalate() == {"escalated": []}


def test_a_maintenance_request_needs_a_known_resident_and_category(resident):
    with pytest.raises(ValidationError, match="Unknown resident"):
        services.maintenance_request_open(resident_id=999999, title="x", category="plumbing")
    with pytest.raises(ValidationError, match="Unknown category"):
        services.maintenance_request_open(resident_id=resident.pk, title="x", category="gardening")
    assert not MaintenanceRequest.objects.exists()
