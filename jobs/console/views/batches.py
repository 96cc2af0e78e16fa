"""Batches: their progress, ETA and jobs; cancel a started batch."""

from django.shortcuts import get_object_or_404
from django.urls import reverse

from jobs.api import batch_progress
from jobs.console import actions
from jobs.console.access import console_action, console_page
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
from jobs.models import Batch, BatchState, Job
from jobs.permissions import CANCEL_BATCHES

STATE_LABELS = dict(BatchState.choices)


def progress_of(batch: Batch) -> dict:
    return batch_progress(batch)


@console_page()
def batch_list(request):
    state = request.GET.get("state", "")
    if state and state not in STATE_LABELS:
        return bad_request(request, f"state={state!r} is not a batch state.", section="batches")
    queryset = Batch.objects.all()
    if state:
        queryset = queryset.filter(state=state)
    try:
        page = keyset_page(
            queryset, time_field="created_at", older=request.GET.get("older"), newer=request.GET.get("newer")
        )
    except InvalidCursor as exc:
        return bad_request(request, str(exc), section="batches")
    rows = [{"batch": batch, "progress": progress_of(batch)} for batch in page.items]
    return render_page(
        request,
        "jobs/console/batch_list.html",
        title="Batches",
        section="batches",
        context={
            "page": page,
            "rows": rows,
            "state": state,
            "states": [
                {"key": key, "label": label, "active": key == state} for key, label in BatchState.choices
            ],
        },
    )


@console_page()
def batch_detail(request, batch_id):
    batch = get_object_or_404(Batch.objects.select_related("parent"), pk=batch_id)
    try:
        page = keyset_page(
            Job.objects.filter(batch=batch).only(*LIST_FIELDS),
            time_field="created_at",
            older=request.GET.get("older"),
            newer=request.GET.get("newer"),
        )
    except InvalidCursor as exc:
        return bad_request(request, str(exc), section="batches")
    return render_page(
        request,
        "jobs/console/batch_detail.html",
        title=f"Batch {batch.description or batch.pk}",
        section="batches",
        context={
            "batch": batch,
            "progress": progress_of(batch),
            "page": page,
            "children": list(Batch.objects.filter(parent=batch).order_by("created_at")[:100]),
            "continuations": list(
                Job.objects.filter(awaiting_batch=batch).only(*LIST_FIELDS).order_by("created_at", "pk")[:100]
            ),
            "can_cancel": batch.state == BatchState.STARTED,
        },
    )


@console_action(CANCEL_BATCHES)
def batch_cancel(request, batch_id):
    batch = get_object_or_404(Batch.objects.only("id", "description"), pk=batch_id)
    detail = reverse("jobs_console:batch_detail", args=[batch.pk])
    if not confirmed(request):
        return confirm_page(request, actions.preview_batch_cancel(batch), section="batches", fallback=detail)
    outcome = actions.cancel_batch(batch.pk, user=request.user, reason=action_reason(request))
    report(request, outcome.messages())
    return redirect_after_action(request, detail)
