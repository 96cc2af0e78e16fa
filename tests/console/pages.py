"""Every page of the console, made from its URLconf, for the checks that must cover them all
(no inline script under the CSP, axe-core in the browser).

The access matrix (tests/console/test_access_matrix.py) has a row for every URL of
jobs.console.urls, with a setup that makes what the URL needs; a URL added later without a row
fails that test, so a page added later is covered here too. A page is:
- every GET row (the JSON endpoints are filtered out by their content type where the page is
  loaded: `is_html`);
- the job list of every state and the job detail of a job in each live and finished state
  (their templates differ by state);
- the confirmation page of every POST row that asks first (its data has confirm=yes), which is
  what the same POST shows without it.
"""

from dataclasses import dataclass

from django.db import transaction
from django.urls import reverse

from jobs.models import Job, State
from tests.console import factories
from tests.console.test_access_matrix import CONFIRMED, MATRIX, console_patterns, url_name
from tests.testapp import tasks


@dataclass
class Page:
    label: str
    url: str
    # A confirmation page: shown by POSTing `data` (without confirm=yes) to the URL.
    data: dict | None = None


# The job detail in each state. Those that claim a job come first: the claim takes the oldest
# Enqueued job, so nothing else may be waiting when they are made.
CLAIMING_STATES = {
    "processing": factories.processing,
    "succeeded": factories.succeeded,
    "failed": factories.failed,
    "retry-scheduled": factories.awaiting_retry,
}
OTHER_STATES = {
    "enqueued": factories.enqueued,
    "scheduled": factories.scheduled,
    "deleted": factories.deleted,
    "awaiting": factories.awaiting,
}


class _LeavesJobsWaiting(Exception):
    """A row's setup left Enqueued jobs, which a later row's claim would take: made last."""


def _row_page(name: str) -> Page | None:
    case = MATRIX[name]
    context = case.setup() or {}
    url = reverse(f"jobs_console:{url_name(name)}", kwargs=context.get("kwargs") or {})
    if case.method == "GET":
        return Page(name, url)
    data = dict(context.get("data") or {})
    if data.get("confirm") != CONFIRMED["confirm"]:
        return None
    del data["confirm"]
    return Page(f"{name} (confirmation)", url, data)


def console_pages() -> list[Page]:
    """Makes what every page needs (in the current database) and lists the pages; call inside a
    test with database access."""
    pages = [
        Page(f"job_detail {label}", reverse("jobs_console:job_detail", args=[make().pk]))
        for label, make in CLAIMING_STATES.items()
    ]
    last = []
    for name in sorted(MATRIX):
        try:
            with transaction.atomic():
                page = _row_page(name)
                if Job.objects.filter(state=State.ENQUEUED).exists():
                    raise _LeavesJobsWaiting
        except _LeavesJobsWaiting:
            last.append(name)
            continue
        if page is not None:
            pages.append(page)
    pages += [page for page in map(_row_page, last) if page is not None]
    pages += [
        Page(f"job_detail {label}", reverse("jobs_console:job_detail", args=[make().pk]))
        for label, make in OTHER_STATES.items()
    ]
    pages += [
        Page(f"job_list {state}", reverse("jobs_console:job_list", args=[state])) for state in State.values
    ]
    # A filtered list: tag chips, every filter filled in, "Select all N matching" (made last: it
    # leaves a job Enqueued).
    factories.enqueued(tasks.bill_society, 12, 42)
    query = (
        "?tag=society%3A12&args=invoice_id%3D42&error=&queue=default&task=tests.testapp.tasks.bill_society"
    )
    pages.append(
        Page("job_list enqueued, filtered", reverse("jobs_console:job_list", args=["enqueued"]) + query)
    )
    return pages


def covered_url_names() -> set[str]:
    """The URL names the page list is built from (every URL of the console)."""
    return {url_name(name) for name in MATRIX} & set(console_patterns())


def is_html(content_type: str) -> bool:
    return content_type.split(";")[0].strip() == "text/html"
