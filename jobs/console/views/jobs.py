"""Jobs by state (searchable keyset lists), bulk actions, job detail and single-job actions."""

from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse

from jobs.console import actions, stats
from jobs.console.access import console_action, console_page
from jobs.console.forms import BulkJobActionForm, JobFilterForm
from jobs.console.listing import InvalidCursor, SearchTooSlow, bounded, keyset_page, parse_job_id
from jobs.console.views.base import bad_request, redirect_after_action, render_page, report
from jobs.models import Job, State
from jobs.output import outputs_of

# What a list row shows; the heavy columns (traceback, result, retry policy) stay on disk.
LIST_FIELDS = (
    "id", "task_path", "args", "kwargs", "queue", "priority", "state", "state_reason",
    "state_changed_at", "created_at", "run_at", "attempt", "exception_class", "exception_message",
    "progress", "server_id",
)
STATE_LABELS = dict(State.choices)
# Hangfire's order: the states someone acts on first.
STATE_ORDER = [
    (state, STATE_LABELS[state])
    for state in (State.ENQUEUED, State.SCHEDULED, State.PROCESSING, State.SUCCEEDED, State.FAILED,
                  State.DELETED, State.AWAITING)
]


def list_jobs(request, queryset, *, time_field="state_changed_at", form=None):
    """A keyset page of `queryset`, searched/filtered by `form`; raises InvalidCursor/SearchTooSlow."""
    if form is not None:
        queryset = form.apply(queryset)
    older, newer = request.GET.get("older"), request.GET.get("newer")

    def fetch():
        return keyset_page(queryset.only(*LIST_FIELDS), time_field=time_field, older=older, newer=newer)

    if form is not None and form.cleaned_data.get("q"):
        return bounded(fetch)
    return fetch()


def _state_or_404(state: str) -> str:
    if state not in STATE_LABELS:
        raise Http404(f"There is no job state {state!r}.")
    return state


@console_page()
def job_list(request, state):
    state = _state_or_404(state)
    form = JobFilterForm(request.GET, task_paths=stats.task_paths())
    if not form.is_valid():
        return bad_request(request, f"Invalid filter: {form.errors.as_text()}", section="jobs")
    # A whole job id finds that job, whatever its state.
    job_id = parse_job_id(form.cleaned_data.get("q") or "")
    if job_id is not None and Job.objects.filter(pk=job_id).exists():
        return redirect("jobs_console:job_detail", job_id)
    try:
        page = list_jobs(request, Job.objects.filter(state=state), form=form)
    except InvalidCursor as exc:
        return bad_request(request, str(exc), section="jobs")
    except SearchTooSlow as exc:
        page, slow = None, str(exc)
    else:
        slow = ""
    snapshot = stats.snapshot()
    return render_page(
        request,
        "jobs/console/job_list.html",
        title=f"{STATE_LABELS[state]} jobs",
        section="jobs",
        context={
            "state": state,
            "states": [
                {"key": key, "label": label, "count": snapshot["states"].get(key, 0),
                 "approximate": key in snapshot.get("approximate", []),
                 "url": reverse("jobs_console:job_list", args=[key]), "active": key == state}
                for key, label in STATE_ORDER
            ],
            "total": snapshot["states"].get(state, 0),
            "total_is_estimate": state in snapshot.get("approximate", []),
            "form": form,
            "page": page,
            "slow": slow,
            "bulk_actions": [
                (name, actions.JOB_ACTIONS[name]["label"])
                for name in actions.BULK_ACTIONS
                if state in actions.JOB_ACTIONS[name]["states"]
            ],
        },
    )


@console_action()
def job_bulk(request):
    """Requeue or delete the selected jobs (from any list: by state, retries)."""
    form = BulkJobActionForm(request.POST)
    if not form.is_valid():
        return bad_request(request, f"Invalid bulk action: {form.errors.as_text()}", section="jobs")
    outcome = actions.run_job_action(form.cleaned_data["action"], form.cleaned_data["job"], user=request.user)
    report(request, outcome.messages())
    return redirect_after_action(request, reverse("jobs_console:dashboard"))


@console_page()
def job_detail(request, job_id):
    job = get_object_or_404(
        Job.objects.select_related("server", "batch", "awaiting_batch", "recurring_job", "parent"), pk=job_id
    )
    history = timeline(job)
    continuations = list(
        Job.objects.filter(parent=job).only(*LIST_FIELDS).order_by("created_at", "pk")[:100]
    )
    return render_page(
        request,
        "jobs/console/job_detail.html",
        title=f"Job {job.task_name}",
        section="jobs",
        context={
            "job": job,
            "history": history,
            "continuations": continuations,
            "outputs": outputs_of(job),
            "live": job.state in LIVE_STATES,
            "available_actions": [
                {"name": name, "label": actions.JOB_ACTIONS[name]["label"],
                 "url": reverse(f"jobs_console:job_{name}", args=[job.pk])}
                for name in actions.actions_for(job)
            ],
        },
    )


# States in which a job's page keeps polling job_live: its output and progress may still change.
LIVE_STATES = (State.ENQUEUED, State.SCHEDULED, State.PROCESSING, State.AWAITING)


@console_page()
def job_live(request, job_id):
    """The job detail's live part, polled by console.js while the job may still change: state,
    progress and each attempt's output. Text is set with textContent on the page, never as HTML."""
    job = get_object_or_404(Job.objects.only("id", "state", "progress", "progress_message", "attempt"), pk=job_id)
    return JsonResponse({
        "state": job.state,
        "state_label": STATE_LABELS[job.state],
        "live": job.state in LIVE_STATES,
        "attempt": job.attempt,
        "progress": job.progress,
        "progress_message": job.progress_message,
        "outputs": [
            {"attempt": row.attempt, "text": row.text, "size": row.size, "truncated": row.truncated}
            for row in outputs_of(job)
        ],
    })


def timeline(job: Job) -> list:
    """The job's states in order, each with the time since the one before and its error split out."""
    entries = list(job.history.order_by("created_at", "id"))
    previous = None
    for entry in entries:
        data = dict(entry.data or {})
        exception = data.pop("exception", None)
        if exception is not None and not isinstance(exception, dict):
            data["exception"] = exception
        # Attributes for the template only, set on the row objects it iterates.
        vars(entry).update(
            exception=exception if isinstance(exception, dict) else None,
            details=data,
            since_previous=(entry.created_at - previous).total_seconds() if previous else None,
        )
        previous = entry.created_at
    return entries


def _single_job_action(action: str):
    @console_action()
    def view(request, job_id):
        job = get_object_or_404(Job.objects.only("id"), pk=job_id)
        outcome = actions.run_job_action(action, [job.pk], user=request.user)
        report(request, outcome.messages())
        return redirect_after_action(request, reverse("jobs_console:job_detail", args=[job.pk]))

    view.__name__ = view.__qualname__ = f"job_{action}"
    view.__doc__ = f"{action.capitalize()} one job through jobs.api.{action}."
    return view


job_requeue = _single_job_action("requeue")
job_delete = _single_job_action("delete")
job_cancel = _single_job_action("cancel")
