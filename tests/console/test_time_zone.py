"""One time zone, labelled: every time the console shows is in TIME_ZONE with its abbreviation
(IST), with the relative time beside it; the dashboard's history is bucketed and labelled in
that zone, so "today" is the server zone's today."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import dateformat, timezone

from jobs.console import stats
from jobs.recurring import add_or_update
from tests.console import factories
from tests.testapp import tasks

pytestmark = pytest.mark.django_db

# A date and time as the pages write them, and the zone label that follows (if any).
STAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d(?::\d\d(?:\.\d+)?)?( [A-Z][A-Za-z+\-0-9]{1,5})?")


def html_of(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def stamps(html: str) -> list[str]:
    return [match.group(0) for match in STAMP.finditer(html)]


def assert_every_time_labelled(html: str, abbreviation: str, at_least: int = 1):
    found = stamps(html)
    assert len(found) >= at_least, found
    unlabelled = [stamp for stamp in found if not stamp.endswith(f" {abbreviation}")]
    assert not unlabelled, unlabelled


def console_pages(client):
    failed = factories.failed()
    batch = factories.batch()
    row = factories.recurring("zone-probe")
    factories.server("zone-server")
    factories.scheduled(delay=timedelta(hours=2))
    yield "job detail", html_of(client.get(reverse("jobs_console:job_detail", args=[failed.pk]))), 4
    for state in ("failed", "scheduled", "enqueued"):
        yield f"{state} list", html_of(client.get(reverse("jobs_console:job_list", args=[state]))), 1
    yield "retries", html_of(client.get(reverse("jobs_console:retries"))), 1
    yield "batch detail", html_of(client.get(reverse("jobs_console:batch_detail", args=[batch.pk]))), 2
    yield "batch list", html_of(client.get(reverse("jobs_console:batch_list"))), 1
    yield "recurring list", html_of(client.get(reverse("jobs_console:recurring_list"))), 1
    yield "recurring detail", html_of(client.get(reverse("jobs_console:recurring_detail", args=[row.pk]))), 1
    yield "servers", html_of(client.get(reverse("jobs_console:servers"))), 2


def test_every_time_on_every_page_carries_the_zone_and_a_relative_time(client_for):
    assert timezone.get_current_timezone_name() == "Asia/Kolkata"
    for name, html, at_least in console_pages(client_for("viewer")):
        assert_every_time_labelled(html, "IST", at_least)
        assert re.search(r'IST</time> <span class="quiet relative">\((now|in [^)]+|[^)]+ ago)\)', html), name


def test_the_zone_follows_the_time_zone_setting(client_for, settings):
    settings.TIME_ZONE = "America/New_York"
    job = factories.failed()
    html = html_of(client_for("viewer").get(reverse("jobs_console:job_detail", args=[job.pk])))
    abbreviation = timezone.localtime(job.created_at).tzname()
    assert abbreviation in ("EST", "EDT")
    assert_every_time_labelled(html, abbreviation, at_least=4)
    assert dateformat.format(timezone.localtime(job.created_at), "Y-m-d H:i:s T") in html


def test_a_recurring_job_in_another_zone_shows_both(client_for):
    row = add_or_update("zone-ny", tasks.record, "0 6 * * *", args=["zone"], tz="America/New_York")
    html = html_of(client_for("viewer").get(reverse("jobs_console:recurring_detail", args=[row.pk])))
    ist = dateformat.format(timezone.localtime(row.next_run_at), "Y-m-d H:i:s T")
    assert ist in html and ist.endswith(" IST")
    assert re.search(r"· \d{4}-\d\d-\d\d 06:00 E[SD]T in America/New_York", html)


def test_history_is_labelled_in_the_server_zone(settings):
    # Far from UTC, so that the server zone's date and UTC's differ for half of every day.
    settings.TIME_ZONE = "Pacific/Kiritimati"
    stats.forget_cached()
    history = stats.compute_history()
    now = timezone.localtime(timezone.now())
    assert history["time_zone"] == "Pacific/Kiritimati"
    assert history["days"][-1]["label"] == dateformat.format(now, "D j M")
    assert history["hours"][-1]["label"] == f"{now:%H}:00"
    assert [b["label"] for b in history["hours"]][-2] == f"{now - timedelta(hours=1):%H}:00"


def test_the_dashboard_says_its_zone(client_for):
    html = html_of(client_for("viewer").get(reverse("jobs_console:dashboard")))
    assert 'data-time-zone="Asia/Kolkata"' in html and 'data-zone-abbreviation="IST"' in html
    assert re.search(r'<h2>History <span class="quiet zone-label">IST \(Asia/Kolkata\)</span></h2>', html)
