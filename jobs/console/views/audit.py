"""The Audit page: every console action, newest first, filterable by action, person, object
and time. Read-only: nothing in the console edits or deletes an entry."""

from datetime import datetime, time

from django import forms
from django.utils import timezone

from jobs.console.access import console_page
from jobs.console.listing import InvalidCursor, keyset_page
from jobs.console.views.base import bad_request, render_page
from jobs.models import AuditEntry

KINDS = [
    ("", "Anything"),
    ("job", "Job"),
    ("batch", "Batch"),
    ("recurring", "Recurring job"),
    ("queue", "Queue"),
    ("failure_group", "Failure group"),
]


class AuditFilterForm(forms.Form):
    action = forms.SlugField(required=False, max_length=50)
    user = forms.CharField(required=False, max_length=150, strip=True)
    kind = forms.ChoiceField(required=False, choices=KINDS)
    object = forms.CharField(required=False, max_length=200, strip=True, label="Object id")
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean() or {}
        if data.get("object") and not data.get("kind"):
            raise forms.ValidationError("Choose what kind of object the id names.")
        return data

    def apply(self, queryset):
        data = self.cleaned_data
        if data.get("action"):
            queryset = queryset.filter(action=data["action"])
        if data.get("user"):
            queryset = queryset.filter(username=data["user"])
        if data.get("kind"):
            queryset = queryset.filter(targets__kind=data["kind"])
            if data.get("object"):
                queryset = queryset.filter(targets__kind=data["kind"], targets__object_id=data["object"])
        zone = timezone.get_current_timezone()
        if data.get("since"):
            queryset = queryset.filter(at__gte=datetime.combine(data["since"], time.min, zone))
        if data.get("until"):
            queryset = queryset.filter(at__lte=datetime.combine(data["until"], time.max, zone))
        return queryset.distinct() if data.get("kind") else queryset


@console_page()
def audit_list(request):
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        return bad_request(request, f"Invalid filter: {form.errors.as_text()}", section="audit")
    try:
        page = keyset_page(
            form.apply(AuditEntry.objects.prefetch_related("targets")),
            time_field="at",
            older=request.GET.get("older"),
            newer=request.GET.get("newer"),
        )
    except InvalidCursor as exc:
        return bad_request(request, str(exc), section="audit")
    return render_page(
        request,
        "jobs/console/audit.html",
        title="Audit",
        section="audit",
        context={"form": form, "page": page},
    )
