"""The console's forms: list filters (GET) and bulk actions (POST).

A malformed submission (an unknown action, a job id that is not a UUID, too many ids) is
refused as a whole with 400: it does not come from our pages, and nothing is half-done.
"""

import uuid

from django import forms

from jobs.conf import jobs_settings
from jobs.console.actions import BULK_ACTIONS, JOB_ACTIONS, MAX_BULK


class JobFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Search", strip=True)
    queue = forms.ChoiceField(required=False)
    task = forms.CharField(required=False, max_length=300)

    def __init__(self, *args, task_paths=(), **kwargs):
        super().__init__(*args, **kwargs)
        queue = self.fields["queue"]
        assert isinstance(queue, forms.ChoiceField)
        queue.choices = [("", "All queues")] + [(q, q) for q in jobs_settings.QUEUES]
        self.task_paths = list(task_paths)

    def apply(self, queryset):
        from jobs.console.listing import search_jobs, task_filter

        data = self.cleaned_data
        if data.get("queue"):
            queryset = queryset.filter(queue=data["queue"])
        if data.get("task"):
            queryset = queryset.filter(task_filter(data["task"], self.task_paths))
        return search_jobs(queryset, data.get("q", ""))

    @property
    def is_filtered(self) -> bool:
        return any(self.cleaned_data.get(name) for name in ("q", "queue", "task"))


class JobIdsField(forms.Field):
    """Job ids from repeated `job` inputs (the list's checkboxes): at least one, at most MAX_BULK."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value):
        values = list(value or [])
        if not values:
            raise forms.ValidationError("Select at least one job.")
        if len(values) > MAX_BULK:
            raise forms.ValidationError(f"At most {MAX_BULK} jobs at a time.")
        ids = []
        for text in values:
            try:
                ids.append(uuid.UUID(str(text)))
            except ValueError:
                raise forms.ValidationError(f"{text!r} is not a job id.") from None
        # Once each, in the order the person saw them.
        return list(dict.fromkeys(ids))


class BulkJobActionForm(forms.Form):
    action = forms.ChoiceField(choices=[(name, JOB_ACTIONS[name]["label"]) for name in BULK_ACTIONS])
    job = JobIdsField()
