"""The Performance page (per task over a window, from rolled-up data: jobs/performance.py) and
the failure groups (jobs/failure_groups.py), with retry and delete of a whole group."""

from django.http import Http404
from django.urls import reverse
from django.utils.http import urlencode

from jobs import failure_groups, performance
from jobs.console import actions
from jobs.console.access import console_action, console_page
from jobs.console.views.base import (
    action_reason,
    bad_request,
    confirm_page,
    confirmed,
    redirect_after_action,
    render_page,
    report,
)
from jobs.permissions import DELETE_JOBS, RETRY_JOBS

# The table's columns: (sort key, heading, numeric). Sorting is server-side (?sort=).
COLUMNS = (
    ("task", "Task", False),
    ("runs", "Runs", True),
    ("success", "Success", True),
    ("p50", "p50", True),
    ("p95", "p95", True),
    ("max", "Max", True),
    ("wait_p50", "Wait p50", True),
    ("wait_p95", "Wait p95", True),
    ("last_failure", "Last failure", False),
)
SPARK_WIDTH, SPARK_HEIGHT = 120, 24
# The failure groups shown on the Performance page itself (all of them on their own page).
GROUPS_ON_PERFORMANCE = 10


def _headers(window: str, column: str, descending: bool) -> list[dict]:
    """Each column's link: its own sort, or the reverse of the current one."""
    headers = []
    for key, label, numeric in COLUMNS:
        active = key == column
        # A first click sorts numbers largest first, names A to Z.
        next_descending = (not descending) if active else numeric
        headers.append(
            {
                "key": key,
                "label": label,
                "numeric": numeric,
                "active": active,
                "descending": descending if active else None,
                "url": "?" + urlencode({"window": window, "sort": ("-" if next_descending else "") + key}),
            }
        )
    return headers


@console_page()
def performance_page(request):
    window_key = request.GET.get("window", performance.DEFAULT_WINDOW)
    if window_key not in performance.WINDOWS:
        return bad_request(
            request,
            f"window={window_key!r} is not one of {', '.join(performance.WINDOWS)}.",
            section="performance",
        )
    sort = performance.parse_sort(request.GET.get("sort", performance.DEFAULT_SORT))
    if sort is None:
        return bad_request(
            request,
            f"sort={request.GET.get('sort')!r} is not a column: use one of {', '.join(performance.SORTS)}, "
            "with '-' first for descending.",
            section="performance",
        )
    column, descending = sort
    window, rows = performance.task_performance(window_key)
    rows = performance.sort_rows(rows, column, descending)
    peak = max((max(row.trend) for row in rows), default=0)
    lines = [
        {
            "row": row,
            "trend": performance.sparkline_points(row.trend, SPARK_WIDTH, SPARK_HEIGHT, peak),
            "failed_trend": performance.sparkline_points(row.failed_trend, SPARK_WIDTH, SPARK_HEIGHT, peak),
            "trend_text": ", ".join(str(n) for n in row.trend),
        }
        for row in rows
    ]
    sort_value = ("-" if descending else "") + column
    return render_page(
        request,
        "jobs/console/performance.html",
        title="Performance",
        section="performance",
        context={
            "window": window,
            "windows": [
                {
                    "key": key,
                    "label": label,
                    "active": key == window_key,
                    "url": "?" + urlencode({"window": key, "sort": sort_value}),
                }
                for key, (_, _, label) in performance.WINDOWS.items()
            ],
            "headers": _headers(window_key, column, descending),
            "lines": lines,
            "spark_width": SPARK_WIDTH,
            "spark_height": SPARK_HEIGHT,
            "groups": failure_groups.groups(GROUPS_ON_PERFORMANCE),
        },
    )


@console_page()
def failure_group_list(request):
    return render_page(
        request,
        "jobs/console/failure_groups.html",
        title="Failure groups",
        section="performance",
        context={"groups": failure_groups.groups(), "cap": failure_groups.ACTION_CAP},
    )


def _group_or_404(key: str) -> failure_groups.FailureGroup:
    found = failure_groups.group(key)
    if found is None:
        raise Http404("No failed job is in this failure group (any more).")
    return found


def _group_action(request, key: str, action: str):
    group = _group_or_404(key)
    back = reverse("jobs_console:failure_groups")
    if not confirmed(request):
        return confirm_page(
            request, actions.preview_group_action(action, group), section="performance", fallback=back
        )
    outcome = actions.run_group_action(action, group, user=request.user, reason=action_reason(request))
    report(request, outcome.messages(actions.GROUP_ACTIONS[action]["done"]))
    return redirect_after_action(request, back)


@console_action(RETRY_JOBS)
def failure_group_retry(request, group):
    return _group_action(request, group, "retry")


@console_action(DELETE_JOBS)
def failure_group_delete(request, group):
    return _group_action(request, group, "delete")
