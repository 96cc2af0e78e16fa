"""Recurring jobs: their schedules, last and next runs, and trigger / enable / disable / remove."""

from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import dateformat, timezone

from jobs import cron, predictions
from jobs.console import actions
from jobs.console.access import console_action, console_page, may
from jobs.console.humanize import describe_cron
from jobs.console.listing import InvalidCursor, keyset_page
from jobs.console.views.base import (
    action_reason,
    bad_request,
    confirm_page,
    confirmed,
    redirect_after_action,
    render_page,
    report,
)
from jobs.console.views.jobs import LIST_FIELDS
from jobs.models import Job, RecurringJob, State
from jobs.permissions import REMOVE_RECURRING, TOGGLE_RECURRING, TRIGGER_RECURRING

MAX_RECURRING = 1000
# The detail page's chart: this many of its latest finished runs, and its next runs.
RECENT_RUNS = 50
NEXT_RUNS = 5
FINISHED = (State.SUCCEEDED, State.FAILED, State.DELETED)


def _zone(name):
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def describe(recurring: RecurringJob) -> dict:
    zone = _zone(recurring.timezone)
    next_local = timezone.localtime(recurring.next_run_at, zone) if recurring.next_run_at and zone else None
    return {
        "recurring": recurring,
        "description": describe_cron(recurring.cron),
        # Formatted here: the template's date filter would convert it back to TIME_ZONE.
        "next_run_local": dateformat.format(next_local, "Y-m-d H:i T") if next_local else "",
        # Its own zone is shown beside the console's only when it tells something more.
        "other_zone": zone is not None and recurring.timezone != timezone.get_current_timezone_name(),
        "last_job": recurring.last_job,
    }


@console_page()
def recurring_list(request):
    rows = [
        describe(r)
        for r in RecurringJob.objects.select_related("last_job")
        .defer("last_job__exception_traceback", "last_job__result", "last_job__args", "last_job__kwargs")
        .order_by("id")[:MAX_RECURRING]
    ]
    # How long each one's next run should take (jobs.predictions), in one query for the page.
    expected = predictions.estimates(predictions.Kind.RECURRING, [row["recurring"].id for row in rows])
    for row in rows:
        row["expected"] = expected.get(row["recurring"].id)
    return render_page(
        request,
        "jobs/console/recurring_list.html",
        title="Recurring jobs",
        section="recurring",
        context={
            "rows": rows,
            "now": timezone.now(),
            "recurring_actions": any(
                may(request.user, codename)
                for codename in (TRIGGER_RECURRING, TOGGLE_RECURRING, REMOVE_RECURRING)
            ),
        },
    )


@console_page()
def recurring_detail(request, recurring_id):
    recurring = get_object_or_404(RecurringJob.objects.select_related("last_job"), pk=recurring_id)
    try:
        page = keyset_page(
            Job.objects.filter(recurring_job=recurring).only(*LIST_FIELDS),
            time_field="created_at",
            older=request.GET.get("older"),
            newer=request.GET.get("newer"),
        )
    except InvalidCursor as exc:
        return bad_request(request, str(exc), section="recurring")
    now = timezone.now()
    return render_page(
        request,
        "jobs/console/recurring_detail.html",
        title=f"Recurring job {recurring.id}",
        section="recurring",
        context={
            "row": describe(recurring),
            "page": page,
            "now": now,
            "runs": recent_runs(recurring),
            "next_runs": next_runs(recurring, now),
        },
    )


def recent_runs(recurring: RecurringJob) -> list[dict]:
    """Its latest RECENT_RUNS finished runs, oldest first, for the chart: duration (seconds)
    and outcome. Jobs deleted before they ran have no duration and are left out."""
    rows = (
        Job.objects.filter(recurring_job=recurring, state__in=FINISHED, started_at__isnull=False)
        .exclude(finished_at__isnull=True)
        .order_by("-finished_at")
        .values_list("id", "state", "started_at", "finished_at")[:RECENT_RUNS]
    )
    runs = []
    for job_id, state, started, finished in reversed(rows):
        if started is None or finished is None:  # (the query leaves them out; the types do not know)
            continue
        runs.append(
            {
                "job": str(job_id),
                # Labelled here, in the console's time zone, like the dashboard's history.
                "label": dateformat.format(timezone.localtime(finished), "j M H:i"),
                "seconds": round(max((finished - started).total_seconds(), 0.0), 3),
                "outcome": state if state in (State.SUCCEEDED, State.FAILED) else "other",
            }
        )
    return runs


def next_runs(recurring: RecurringJob, now) -> list[str]:
    """Its next NEXT_RUNS occurrences, written in its own zone (none when it is disabled)."""
    zone = _zone(recurring.timezone)
    if not recurring.enabled or zone is None:
        return []
    try:
        runs = cron.upcoming(recurring.cron, recurring.timezone, now, NEXT_RUNS)
    except ValueError:  # a schedule stored before its syntax was checked: the page still opens
        return []
    return [dateformat.format(timezone.localtime(run, zone), "D Y-m-d H:i T") for run in runs]


def _recurring_action(action: str, permission: str):
    @console_action(permission)
    def view(request, recurring_id):
        recurring = get_object_or_404(RecurringJob.objects.only("id"), pk=recurring_id)
        if action == "remove" and not confirmed(request):
            return confirm_page(
                request,
                actions.preview_recurring_remove(recurring),
                section="recurring",
                fallback=reverse("jobs_console:recurring_detail", args=[recurring.pk]),
            )
        level_name, text = actions.run_recurring_action(
            action, recurring.pk, user=request.user, reason=action_reason(request)
        )
        report(request, [(level_name, text)])
        if action == "remove":  # its own page is gone: back to the list, whatever `next` says
            return redirect("jobs_console:recurring_list")
        return redirect_after_action(request, reverse("jobs_console:recurring_detail", args=[recurring.pk]))

    view.__name__ = view.__qualname__ = f"recurring_{action}"
    view.__doc__ = f"{action.capitalize()} a recurring job through jobs.api.{action}."
    return view


recurring_trigger = _recurring_action("trigger", TRIGGER_RECURRING)
recurring_enable = _recurring_action("enable", TOGGLE_RECURRING)
recurring_disable = _recurring_action("disable", TOGGLE_RECURRING)
# Removing a schedule is the Admin role's by default: operators pause it (disable) instead.
recurring_remove = _recurring_action("remove", REMOVE_RECURRING)
