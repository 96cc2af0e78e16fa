"""Retries: jobs that failed, and jobs waiting for their next attempt, each with its error."""

from jobs.console import stats
from jobs.console.access import console_page, may
from jobs.console.forms import JobFilterForm
from jobs.console.listing import InvalidCursor, SearchTooSlow
from jobs.console.views.base import bad_request, render_page
from jobs.console.views.jobs import ACTION_PERMISSIONS, list_jobs, matching_context
from jobs.models import Job, State

TABS = {
    "failed": "Failed",
    "scheduled": "Waiting for a retry",
}


def retry_queryset(tab: str):
    if tab == "failed":
        return Job.objects.filter(state=State.FAILED)
    # A Scheduled job that has run before is a retry (job_due_idx covers state=scheduled).
    return Job.objects.filter(state=State.SCHEDULED, attempt__gt=0)


@console_page()
def retries(request):
    tab = request.GET.get("show", "failed")
    if tab not in TABS:
        return bad_request(request, f"show={tab!r}: choose one of {', '.join(TABS)}.", section="retries")
    form = JobFilterForm(request.GET, task_paths=stats.task_paths())
    if not form.is_valid():
        return bad_request(request, f"Invalid filter: {form.errors.as_text()}", section="retries")
    slow = ""
    try:
        page = list_jobs(request, retry_queryset(tab), form=form)
    except InvalidCursor as exc:
        return bad_request(request, str(exc), section="retries")
    except SearchTooSlow as exc:
        page, slow = None, str(exc)
    snapshot = stats.snapshot()
    counts = {"failed": snapshot["states"].get(State.FAILED, 0), "scheduled": snapshot["retries"]}
    return render_page(
        request,
        "jobs/console/retries.html",
        title="Retries",
        section="retries",
        context={
            "tab": tab,
            "tabs": [
                {
                    "key": key,
                    "label": label,
                    "count": counts[key],
                    "active": key == tab,
                    "approximate": key == "failed" and State.FAILED in snapshot.get("approximate", []),
                }
                for key, label in TABS.items()
            ],
            "form": form,
            "page": page,
            "slow": slow,
            "hidden_filters": [("show", tab)],
            "matching": matching_context(
                request,
                form,
                page,
                scope=f"retries:{tab}",
                states={State.FAILED if tab == "failed" else State.SCHEDULED},
            ),
            "bulk_actions": [
                (name, label)
                for name, label in (("requeue", "Retry now"), ("delete", "Delete"))
                if may(request.user, ACTION_PERMISSIONS[name])
            ],
            "time_label": "Failed" if tab == "failed" else "Next attempt",
            "empty_text": "No failed jobs." if tab == "failed" else "No job is waiting for a retry.",
        },
    )
