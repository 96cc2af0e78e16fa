"""Read-only queries for the daily report."""

from datetime import date

from django.db.models import Q

from community.models import MaintenanceRequest, VisitorPass
from sales.models import Society


def requests_opened_on(*, society: Society, day: date) -> int:
    return MaintenanceRequest.objects.filter(society=society, opened_at__date=day).count()


def requests_pending(*, society: Society) -> int:
    return MaintenanceRequest.objects.filter(society=society, status__in=MaintenanceRequest.PENDING).count()


def visitors_on(*, society: Society, day: date) -> dict:
    """Passes issued for the day and passes used at the gate that day."""
    expected = VisitorPass.objects.filter(
        society=society, valid_from__date__lte=day, valid_until__date__gte=day
    )
    return {
        "expected": expected.exclude(Q(status=VisitorPass.Status.REVOKED)).count(),
        "arrived": VisitorPass.objects.filter(society=society, used_at__date=day).count(),
    }
