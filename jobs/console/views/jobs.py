"""Jobs by state (searchable keyset lists), bulk actions, job detail and single-job actions."""

import json

from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from jobs import audit, predictions, redaction, retention, selectors
from jobs.conf import jobs_settings
from jobs.console import actions, matching, stats
from jobs.console.access import Permissions, console_action, console_action_by_field, console_page, may
from jobs.console.forms import BulkJobActionForm, JobFilterForm
from jobs.console.listing import (
    MAX_COUNT,
    InvalidCursor,
    SearchTooSlow,
    bounded,
    capped_count,
    id_prefix_filter,
    keyset_page,
    parse_job_id,
)
from jobs.console.views.base import (
    action_reason,
    bad_request,
    confirm_page,
    confirmed,
    redirect_after_action,
    render_page,
    report,
)
from jobs.flow import limit_waiting_reason
from jobs.models import ContinuationOn, Job, State
from jobs.output import outputs_of
from jobs.permissions import CANCEL_JOBS, DELETE_JOBS, RETRY_JOBS, VIEW_ARGUMENTS
from jobs.selectors import job_waiting_reason
from jobs.templatetags.jobs_console import thousands

# What a list row shows; the heavy columns (traceback, result, retry policy) stay on disk.
LIST_FIELDS = (
    "id",
    "task_path",
    "args",
    "kwargs",
    "queue",
    "priority",
    "state",
    "state_reason",
    "state_changed_at",
    "created_at",
    "run_at",
    "attempt",
    "exception_class",
    "exception_message",
    "progress",
    "server_id",
    "tags",
)
# The Processing list's extra columns: how long it has run, its progress, a cancel under way.
PROCESSING_FIELDS = ("started_at", "progress_message", "cancel_requested")
# The lists that change while someone looks at them: they update in place (live_list.js polls
# job_list_live). The others only change when someone acts, and reloading then is enough.
LIVE_LISTS = (State.ENQUEUED, State.SCHEDULED, State.PROCESSING)
STATE_LABELS = dict(State.choices)
# The permission each job action needs.
ACTION_PERMISSIONS = {"requeue": RETRY_JOBS, "delete": DELETE_JOBS, "cancel": CANCEL_JOBS}
# Hangfire's order: the states someone acts on first.
STATE_ORDER = [
    (state, STATE_LABELS[state])
    for state in (
        State.ENQUEUED,
        State.SCHEDULED,
        State.PROCESSING,
        State.SUCCEEDED,
        State.FAILED,
        State.DELETED,
        State.AWAITING,
    )
]


def list_jobs(
    request, queryset, *, time_field="state_changed_at", ascending=False, form=None, fields=LIST_FIELDS
):
    """A keyset page of `queryset`, searched/filtered by `form`; raises InvalidCursor/SearchTooSlow.

    A filtered page carries how many jobs match (page.extra["matches"], counted up to
    listing.MAX_COUNT; "more" when there are more), within the same time limit as the search.
    """
    filtered = form is not None and form.is_filtered
    if form is not None:
        queryset = form.apply(queryset, time_field=time_field)
    older, newer = request.GET.get("older"), request.GET.get("newer")

    def fetch():
        page = keyset_page(
            queryset.only(*fields), time_field=time_field, older=older, newer=newer, ascending=ascending
        )
        if filtered:
            page.extra["matches"], page.extra["more"] = capped_count(queryset)
        return page

    if filtered:
        return bounded(fetch)
    return fetch()


def _state_or_404(state: str) -> str:
    if state not in STATE_LABELS:
        raise Http404(f"There is no job state {state!r}.")
    return state


def _filter_form(request):
    """The list's filters from the query string, and the error text when they are invalid."""
    form = JobFilterForm(request.GET, task_paths=stats.task_paths())
    return form, "" if form.is_valid() else f"Invalid filter: {form.errors.as_text()}"


def _state_page(request, state, form):
    """(page, slow, error) of the list of `state` filtered by `form` (valid): the page itself
    and its live rows (job_list_live) are the same query."""
    due_first = state == State.SCHEDULED  # as in Hangfire: the next job to run on top
    try:
        page = list_jobs(
            request,
            Job.objects.filter(state=state),
            form=form,
            time_field="run_at" if due_first else "state_changed_at",
            ascending=due_first,
            fields=LIST_FIELDS + PROCESSING_FIELDS if state == State.PROCESSING else LIST_FIELDS,
        )
    except InvalidCursor as exc:
        return None, "", str(exc)
    except SearchTooSlow as exc:
        return None, str(exc), ""
    if state == State.PROCESSING:
        with_running_time(page.items)
    return page, "", ""


def with_running_time(jobs) -> None:
    """Set, on a page of Processing jobs (for the template only), how long each has run and its
    predicted finish (jobs.predictions, one query for the page)."""
    now = timezone.now()
    predicted = predictions.processing_jobs(jobs, now)
    for job in jobs:
        job.running_for = (now - job.started_at).total_seconds() if job.started_at else None
        job.prediction = predicted.get(job.pk)


def _bulk_actions(request, state) -> list:
    return [
        (name, actions.label_for(name, state))
        for name in actions.BULK_ACTIONS
        if state in actions.JOB_ACTIONS[name]["states"] and may(request.user, ACTION_PERMISSIONS[name])
    ]


def _list_url(state, request) -> str:
    """The list's own URL with the request's filters."""
    url = reverse("jobs_console:job_list", args=[state])
    return f"{url}?{request.GET.urlencode()}" if request.GET else url


def _is_live(request, state) -> bool:
    """Only the first page updates in place: a later page would shift under the reader."""
    return state in LIVE_LISTS and not (request.GET.get("older") or request.GET.get("newer"))


def state_tabs(snapshot, state) -> list[dict]:
    """The lists' navigation: each state with its count as the tab shows it (count_text: the
    page renders it, and a live list's live.json sends it again for live_list.js)."""
    tabs = []
    for key, label in STATE_ORDER:
        approximate = key in snapshot.get("approximate", [])
        tabs.append(
            {
                "key": key,
                "label": label,
                "count_text": f"{'≈ ' if approximate else ''}{thousands(snapshot['states'].get(key, 0))}",
                "url": reverse("jobs_console:job_list", args=[key]),
                "active": key == state,
            }
        )
    return tabs


@console_page()
def job_list(request, state):
    state = _state_or_404(state)
    form, error = _filter_form(request)
    if error:
        return bad_request(request, error, section="jobs")
    # A job id, whole or as the lists show it (8 characters), finds that job, whatever its state.
    found = find_job_by_id(form.cleaned_data.get("q") or "")
    if found is not None:
        return redirect("jobs_console:job_detail", found)
    page, slow, error = _state_page(request, state, form)
    if error:
        return bad_request(request, error, section="jobs")
    due_first = state == State.SCHEDULED
    snapshot = stats.snapshot()
    live_url = ""
    if _is_live(request, state) and page is not None:
        live_url = reverse("jobs_console:job_list_live", args=[state])
        if request.GET:
            live_url += "?" + request.GET.urlencode()
    return render_page(
        request,
        "jobs/console/job_list.html",
        title=f"{STATE_LABELS[state]} jobs",
        section="jobs",
        context={
            "state": state,
            "states": state_tabs(snapshot, state),
            "total": snapshot["states"].get(state, 0),
            "total_is_estimate": state in snapshot.get("approximate", []),
            "form": form,
            "page": page,
            "slow": slow,
            "bulk_actions": _bulk_actions(request, state),
            "matching": matching_context(request, form, page, scope=f"state:{state}", states={state}),
            "processing": state == State.PROCESSING,
            "live_url": live_url,
            "live_interval_ms": jobs_settings.STATS_POLLING_INTERVAL_MS,
            "due_first": due_first,
            "time_label": "Due" if due_first else "",
            "order_text": "soonest due first" if due_first else "newest first",
            "pager": PAGER_DUE if due_first else None,
        },
    )


@console_page()
def job_list_live(request, state):
    """The first page's rows of a live list (Enqueued, Scheduled, Processing), as the page
    renders them, for live_list.js to put in place: {"rows": HTML, "count": HTML (the line that
    says how many), "states": {state: its tab's count, as text}, "ids": [...], "now": ISO}.
    The query string is the page's own (its filters)."""
    state = _state_or_404(state)
    if state not in LIVE_LISTS:
        raise Http404(f"The {state} list does not update live: reload it.")
    if request.GET.get("older") or request.GET.get("newer"):
        return JsonResponse({"error": "Only a list's first page updates live."}, status=400)
    form, error = _filter_form(request)
    if not error:
        page, slow, error = _state_page(request, state, form)
    if error:
        return JsonResponse({"error": error}, status=400)
    if page is None:
        return JsonResponse({"error": slow}, status=503)
    rows = render_to_string(
        "jobs/console/_job_rows.html",
        {
            "jobs": page.items,
            "selectable": bool(_bulk_actions(request, state)),
            "processing": state == State.PROCESSING,
            "may": Permissions(request.user),
            "time_label": "Due" if state == State.SCHEDULED else "",
            # Where Cancel comes back to: the list, not this JSON.
            "list_url": _list_url(state, request),
        },
        request=request,
    )
    snapshot = stats.snapshot()  # the same few-seconds-old counters as the page's
    count = render_to_string(
        "jobs/console/_list_count.html",
        {
            "form": form,
            "page": page,
            "state": state,
            "total": snapshot["states"].get(state, 0),
            "total_is_estimate": state in snapshot.get("approximate", []),
            "order_text": "soonest due first" if state == State.SCHEDULED else "newest first",
        },
    )
    return JsonResponse(
        {
            "now": timezone.now().isoformat(),
            "ids": [str(job.pk) for job in page.items],
            "rows": rows,
            "count": count,
            "states": {tab["key"]: tab["count_text"] for tab in state_tabs(snapshot, state)},
        }
    )


# The pager's words on a list sorted by due time (the others go newest first).
PAGER_DUE = {"first": "« Soonest", "previous": "‹ Sooner", "next": "Later ›"}


def find_job_by_id(text: str):
    """The id of the one job whose id is `text` or starts with it (8+ hex digits), else None."""
    job_id = parse_job_id(text)
    if job_id is not None:
        return job_id if Job.objects.filter(pk=job_id).exists() else None
    by_prefix = id_prefix_filter(text)
    if by_prefix is None:
        return None
    ids = list(Job.objects.filter(by_prefix).values_list("pk", flat=True)[:2])
    return ids[0] if len(ids) == 1 else None


@console_action_by_field("action", {name: ACTION_PERMISSIONS[name] for name in actions.BULK_ACTIONS})
def job_bulk(request):
    """Requeue or delete the selected jobs (from any list: by state, retries)."""
    form = BulkJobActionForm(request.POST)
    if not form.is_valid():
        return bad_request(request, f"Invalid bulk action: {form.errors.as_text()}", section="jobs")
    action, job_ids = form.cleaned_data["action"], form.cleaned_data["job"]
    if action in actions.CONFIRM_FIRST and not confirmed(request):
        return confirm_page(
            request,
            actions.preview_job_delete(job_ids),
            section="jobs",
            fields=[("action", action), *(("job", str(pk)) for pk in job_ids)],
            fallback=reverse("jobs_console:dashboard"),
        )
    outcome = actions.run_job_action(action, job_ids, user=request.user, reason=action_reason(request))
    report(request, outcome.messages())
    return redirect_after_action(request, reverse("jobs_console:dashboard"))


# --- Select all matching -----------------------------------------------------------------------
# A list is named by its scope: "state:failed" (jobs by state) or "retries:failed" /
# "retries:scheduled" (the Retries tabs); the filters come with it as fields.
MATCHING_PERMISSIONS = {name: ACTION_PERMISSIONS[name] for name in ("requeue", "delete", "cancel")}


def scope_of(scope: str):
    """(queryset, states it can hold, time field, ascending) of a list scope, or None."""
    from jobs.console.views.retries import TABS, retry_queryset

    kind, _, name = (scope or "").partition(":")
    if kind == "state" and name in STATE_LABELS:
        due_first = name == State.SCHEDULED
        return (
            Job.objects.filter(state=name),
            {name},
            "run_at" if due_first else "state_changed_at",
            due_first,
        )
    if kind == "retries" and name in TABS:
        return (
            retry_queryset(name),
            {State.FAILED if name == "failed" else State.SCHEDULED},
            "state_changed_at",
            False,
        )
    return None


def matching_context(request, form, page, *, scope: str, states: set) -> dict | None:
    """What the list's "Select all N matching" form needs: only on a filtered list with matches,
    with the actions that apply to its states and that the person may take."""
    if page is None or not form.is_filtered or not page.extra.get("matches"):
        return None
    names = [
        name
        for name in MATCHING_PERMISSIONS
        if states & set(actions.JOB_ACTIONS[name]["states"]) and may(request.user, MATCHING_PERMISSIONS[name])
    ]
    if not names:
        return None
    count = min(page.extra["matches"], matching.MAX_MATCHING)
    return {
        "scope": scope,
        "filters": form.query_items(),
        "count": count,
        "capped": page.extra["more"] or page.extra["matches"] > matching.MAX_MATCHING,
        "actions": [(name, actions.JOB_ACTIONS[name]["label"]) for name in names],
    }


@console_action_by_field("action", MATCHING_PERMISSIONS)
def job_matching(request):
    """Requeue, delete or cancel every job a filtered list matches (at most matching.MAX_MATCHING):
    a confirmation page first, then the action, in chunks (jobs.console.matching)."""
    action = request.POST.get("action", "")
    if action not in MATCHING_PERMISSIONS:
        return bad_request(request, f"Unknown action {action!r}.", section="jobs")
    fallback = reverse("jobs_console:dashboard")
    if confirmed(request):
        try:
            selection = matching.Selection.decode(request.POST.get("selection", ""), action)
        except matching.InvalidSelection as exc:
            return bad_request(request, str(exc), section="jobs")
        outcome = matching.run(selection, user=request.user, reason=action_reason(request))
        report(request, outcome.messages())
        return redirect_after_action(request, fallback)
    found = scope_of(request.POST.get("scope", ""))
    if found is None:
        return bad_request(request, f"Unknown list {request.POST.get('scope', '')!r}.", section="jobs")
    queryset, states, time_field, ascending = found
    if not states & set(actions.JOB_ACTIONS[action]["states"]):
        return bad_request(
            request,
            f"{actions.JOB_ACTIONS[action]['label']} does not apply to {', '.join(states)} jobs.",
            section="jobs",
        )
    form = JobFilterForm(request.POST, task_paths=stats.task_paths())
    if not form.is_valid():
        return bad_request(request, f"Invalid filter: {form.errors.as_text()}", section="jobs")
    if not form.is_filtered:
        return bad_request(
            request, "Select all matching needs a filter: filter the list first.", section="jobs"
        )
    queryset = form.apply(queryset, time_field=time_field)
    try:
        selection = bounded(
            lambda: matching.select(
                queryset, action, time_field=time_field, ascending=ascending, filters=form.query_items()
            )
        )
        matches, more = bounded(lambda: capped_count(queryset))
    except SearchTooSlow as exc:
        return bad_request(request, str(exc), section="jobs")
    if not selection.rows:
        report(request, [("warning", "No job matches these filters any more: nothing was done.")])
        return redirect_after_action(request, fallback)
    matches_text = f"{MAX_COUNT:,}+" if more else f"{matches:,}"
    return confirm_page(
        request,
        matching.preview(selection, matches_text),
        section="jobs",
        fields=[("action", action), ("selection", selection.encode())],
        fallback=fallback,
    )


@console_page()
def job_detail(request, job_id):
    job = get_object_or_404(
        Job.objects.select_related("server", "batch", "awaiting_batch", "recurring_job", "parent"), pk=job_id
    )
    redacted = redaction.has_redacted(job.task_path, job.args, job.kwargs)
    history = timeline(job)
    if redacted:
        mask_for_display(job, history)
    # What people did to the job from the console, in the same timeline as its states.
    history = sorted(
        history + [_audit_entry(entry) for entry in audit.for_object(audit.JOB, job.pk)],
        key=lambda entry: entry.created_at,
    )
    continuations = list(Job.objects.filter(parent=job).only(*LIST_FIELDS).order_by("created_at", "pk")[:100])
    return render_page(
        request,
        "jobs/console/job_detail.html",
        title=f"Job {job.task_name}",
        section="jobs",
        context={
            "job": job,
            "limit_waiting": limit_waiting_reason(job),
            "history": history,
            "redacted": redacted,
            "continuations": continuations,
            "outputs": outputs_of(job),
            "live": job.state in LIVE_STATES,
            "continuation_rule": CONTINUATION_RULES.get(job.continuation_on, "") if job.parent_id else "",
            "batch_rule": BATCH_RULES.get(job.continuation_on, "") if job.awaiting_batch_id else "",
            "retry_note": retry_note(job),
            "waiting_for": waiting_explanation(job),
            "prediction": predictions.processing_job(job),
            # "expires in 3 hours" / "kept until someone acts", and the task's policy behind it.
            "expiry": retention.describe(job.task_path, job.state, job.expires_at, timezone.now()),
            "retention_policy": retention.describe_policy(retention.policy_for(job.task_path)),
            "available_actions": [
                {
                    "name": name,
                    "label": actions.label_for(name, job.state),
                    "url": reverse(f"jobs_console:job_{name}", args=[job.pk]),
                }
                for name in actions.actions_for(job)
                if may(request.user, ACTION_PERMISSIONS[name])
            ],
        },
    )


def _audit_entry(entry):
    entry.is_audit = True
    entry.created_at = entry.at
    entry.since_previous = None
    return entry


def mask_for_display(job: Job, history) -> None:
    """Replace, on these in-memory objects only (a read view never saves them), the job's
    redacted values by ••• in its arguments, result, error and timeline."""
    args, kwargs, secrets = redaction.redact_call(job.task_path, job.args, job.kwargs)

    redactor = redaction.redactor_of(secrets)

    def text(value):
        return redactor.clean(value or "")

    def data(value):
        return json.loads(text(json.dumps(value, default=str))) if value is not None else None

    job.args, job.kwargs = args, kwargs
    job.result = data(job.result)
    job.state_reason = text(job.state_reason)
    job.progress_message = text(job.progress_message)
    job.exception_message = text(job.exception_message)
    job.exception_traceback = text(job.exception_traceback)
    for entry in history:
        entry.reason = text(entry.reason)
        entry.details = data(entry.details)
        if entry.exception:
            entry.exception = data(entry.exception)


@console_page(VIEW_ARGUMENTS)
def job_arguments(request, job_id):
    """The job's arguments as stored, redacted values included; each look is audited."""
    job = get_object_or_404(Job.objects.only("id", "task_path", "args", "kwargs", "state"), pk=job_id)
    audit.record(
        request.user,
        "reveal_arguments",
        [(audit.JOB, job.pk)],
        summary=f"Revealed the arguments of {job.task_name}",
    )
    return render_page(
        request,
        "jobs/console/job_arguments.html",
        title=f"Arguments of job {job.task_name}",
        section="jobs",
        context={"job": job, "redacted_keys": sorted(redaction.keys_for(job.task_path))},
    )


# A continuation's condition in words (the model's labels read "Parent succeeded": after "runs
# when the parent" that said "parent" twice).
CONTINUATION_RULES: dict[str, str] = {
    ContinuationOn.SUCCEEDED: "runs when the parent succeeds",
    ContinuationOn.ANY_FINISHED: "runs when the parent succeeds or is deleted",
    ContinuationOn.DELETED: "runs when the parent is deleted",
}
BATCH_RULES: dict[str, str] = {
    ContinuationOn.SUCCEEDED: "runs when every job of the batch succeeds",
    ContinuationOn.COMPLETED: "runs when the batch completes, whatever the outcome",
}


def retry_note(job: Job) -> str:
    """The retry policy, once it matters: on a job that has failed at least once. A job that
    never failed says nothing ("retries allowed: 10" on it only raised the question)."""
    policy = job.retry_policy or {}
    if "attempts" not in policy or not (job.attempt > 1 or job.exception_class):
        return ""
    used, allowed = max(job.attempt - 1, 0), policy["attempts"]
    text = f"{used} of {allowed} retr{'y' if allowed == 1 else 'ies'} used"
    if policy.get("on_exhausted") == "delete":
        text += "; deleted when they run out"
    return text


def waiting_explanation(job: Job) -> dict | None:
    """Why an Awaiting job has not run (jobs.selectors.job_waiting_reason), and whether it is
    stuck until someone acts (a failed or vanished parent or batch) or merely waiting."""
    reason = job_waiting_reason(job)
    if reason is None:
        return None
    stuck = reason in (selectors.PARENT_FAILED, selectors.GONE) or " failed: " in reason
    return {"text": reason, "stuck": stuck}


# States in which a job's page keeps polling job_live: its output and progress may still change.
LIVE_STATES = (State.ENQUEUED, State.SCHEDULED, State.PROCESSING, State.AWAITING)


@console_page()
def job_live(request, job_id):
    """The job detail's live part, polled by console.js while the job may still change: state,
    progress and each attempt's output. Text is set with textContent on the page, never as HTML."""
    job = get_object_or_404(
        Job.objects.only("id", "state", "progress", "progress_message", "attempt"), pk=job_id
    )
    return JsonResponse(
        {
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
        }
    )


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
    @console_action(ACTION_PERMISSIONS[action])
    def view(request, job_id):
        job = get_object_or_404(Job.objects.only("id"), pk=job_id)
        detail = reverse("jobs_console:job_detail", args=[job.pk])
        if action in actions.CONFIRM_FIRST and not confirmed(request):
            return confirm_page(
                request, actions.preview_job_delete([job.pk]), section="jobs", fallback=detail
            )
        outcome = actions.run_job_action(action, [job.pk], user=request.user, reason=action_reason(request))
        report(request, outcome.messages())
        return redirect_after_action(request, detail)

    view.__name__ = view.__qualname__ = f"job_{action}"
    view.__doc__ = f"{action.capitalize()} one job through jobs.api.{action}."
    return view


job_requeue = _single_job_action("requeue")
job_delete = _single_job_action("delete")
job_cancel = _single_job_action("cancel")
