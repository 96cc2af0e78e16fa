"""The console's forms: list filters (GET) and bulk actions (POST).

A malformed submission (an unknown action, a job id that is not a UUID, too many ids) is
refused as a whole with 400: it does not come from our pages, and nothing is half-done.
"""

import uuid

from django import forms

from jobs.conf import jobs_settings
from jobs.console.actions import BULK_ACTIONS, JOB_ACTIONS, MAX_BULK

# The filters a list takes from its URL (a filtered list is a link to share). `since` and
# `until` bound the list's own time column (changed, or due on the Scheduled list).
FILTER_FIELDS = ("q", "queue", "task", "tag", "args", "error", "server", "since", "until")


class JobFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Search", strip=True)
    queue = forms.ChoiceField(required=False)
    # A list of the declared and stored tasks; a short name (`update_ledger`) typed into the URL
    # still works, so this stays a CharField with a drop-down widget.
    task = forms.CharField(required=False, max_length=300)
    tag = forms.CharField(required=False, max_length=100, strip=True)
    args = forms.CharField(required=False, max_length=300, label="Arguments", strip=True)
    error = forms.CharField(required=False, max_length=200, label="Error text", strip=True)
    server = forms.CharField(required=False, max_length=200, strip=True)
    since = forms.DateTimeField(
        required=False, label="From", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    until = forms.DateTimeField(
        required=False, label="To", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )

    def __init__(self, *args, task_paths=(), **kwargs):
        super().__init__(*args, **kwargs)
        queue = self.fields["queue"]
        assert isinstance(queue, forms.ChoiceField)
        queue.choices = [("", "All queues")] + [(q, q) for q in jobs_settings.QUEUES]
        from jobs.registry import declared_task_paths

        self.task_paths = sorted(set(task_paths) | set(declared_task_paths()))
        current = (self.data.get("task") or "").strip() if self.is_bound else ""
        choices = [("", "All tasks")] + [(path, path) for path in self.task_paths]
        if current and current not in self.task_paths:
            choices.append((current, current))  # a short name from a shared link stays selected
        self.fields["task"].widget = forms.Select(choices=choices)

    def clean_args(self):
        from jobs.search import query_terms

        text = self.cleaned_data.get("args") or ""
        if text and not query_terms(text):
            raise forms.ValidationError(
                f"{text!r} has nothing to search for: give a value (42) or name=value (invoice_id=42)."
            )
        return text

    def clean(self):
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and until < since:
            raise forms.ValidationError("The date range ends before it starts: To is before From.")
        return data

    def apply(self, queryset, *, time_field: str = "state_changed_at"):
        from jobs.console.listing import error_filter, search_jobs, task_filter, with_terms
        from jobs.search import query_terms, tag_term

        data = self.cleaned_data
        if data.get("queue"):
            queryset = queryset.filter(queue=data["queue"])
        if data.get("task"):
            queryset = queryset.filter(task_filter(data["task"], self.task_paths))
        if data.get("server"):
            queryset = queryset.filter(server_id=data["server"])
        if data.get("since"):
            queryset = queryset.filter(**{f"{time_field}__gte": data["since"]})
        if data.get("until"):
            queryset = queryset.filter(**{f"{time_field}__lte": data["until"]})
        if data.get("error"):
            queryset = queryset.filter(error_filter(data["error"]))
        # Arguments and tag in one lookup of the search index.
        wanted = query_terms(data.get("args") or "")
        tag = tag_term(data.get("tag") or "")
        if tag:
            wanted.append(tag)
        queryset = with_terms(queryset, wanted)
        return search_jobs(queryset, data.get("q", ""))

    @property
    def is_filtered(self) -> bool:
        return any(self.cleaned_data.get(name) for name in FILTER_FIELDS)

    def query_items(self) -> list[tuple[str, str]]:
        """The filters as given (name, text), to carry into links and the select-all form."""
        return [(name, str(self.data.get(name))) for name in FILTER_FIELDS if self.data.get(name)]


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
