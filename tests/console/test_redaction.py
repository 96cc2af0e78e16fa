"""Redacted arguments: ••• in the console's lists and detail, in log lines and in the error;
revealed only with view_arguments, and each reveal audited."""

import io
import logging

import pytest
from django.tasks.exceptions import InvalidTask
from django.urls import reverse

from jobs import permissions
from jobs.models import AuditEntry, Job
from jobs.redaction import MASK, RedactingFilter, redact_call
from tests.console import factories
from tests.testapp import tasks

pytestmark = pytest.mark.django_db

CARD = "4111111111111111"
OTP = "918273"


@pytest.fixture
def captured():
    """A stdout-like handler with the filter settings.LOGGING puts on the real one."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    yield stream
    root.removeHandler(handler)


def charged() -> Job:
    """A failed charge_card job: card positional, otp keyword, a global key (cvv) nested."""
    result = tasks.charge_card.enqueue(CARD, 250, otp=OTP, profile={"cvv": "7777", "name": "Asha"})
    return factories.run(factories.job(result.id))


def test_keys_are_masked_positionally_by_keyword_nested_and_globally():
    args, kwargs, secrets = redact_call(
        "tests.testapp.tasks.charge_card",
        [CARD, 250],
        {"otp": OTP, "profile": {"cvv": "7777", "name": "Asha"}},
    )
    assert args == [MASK, 250]
    assert kwargs == {"otp": MASK, "profile": {"cvv": MASK, "name": "Asha"}}
    assert set(secrets) == {CARD, OTP, "7777"}


def test_console_shows_mask_in_lists_detail_and_error(client_for):
    job = charged()
    client = client_for("operator")
    for url in (
        reverse("jobs_console:job_list", args=["failed"]),
        reverse("jobs_console:retries"),
        reverse("jobs_console:job_detail", args=[job.pk]),
    ):
        page = client.get(url).content.decode()
        assert CARD not in page and OTP not in page and "7777" not in page, url
        assert MASK in page, url
    detail = client.get(reverse("jobs_console:job_detail", args=[job.pk])).content.decode()
    assert "gateway refused card" in detail  # the error is there, its secret is not
    assert 'id="reveal-arguments"' not in detail  # operators may not reveal
    assert client.get(reverse("jobs_console:job_arguments", args=[job.pk])).status_code == 403
    assert not AuditEntry.objects.filter(action="reveal_arguments").exists()
    # The row keeps the real values: the task needs them.
    assert Job.objects.get(pk=job.pk).args == [CARD, 250]


def test_view_arguments_reveals_and_each_reveal_is_audited(client_with):
    job = charged()
    client = client_with(permissions.VIEW_JOBS, permissions.VIEW_ARGUMENTS)
    detail = client.get(reverse("jobs_console:job_detail", args=[job.pk])).content.decode()
    assert 'id="reveal-arguments"' in detail and CARD not in detail
    for _ in range(2):
        page = client.get(reverse("jobs_console:job_arguments", args=[job.pk])).content.decode()
        assert CARD in page and OTP in page and "7777" in page
    entries = AuditEntry.objects.filter(action="reveal_arguments")
    assert entries.count() == 2
    entry = entries.first()
    assert entry.user == client.user and entry.username == client.user.username
    assert [(t.kind, t.object_id) for t in entry.targets.all()] == [("job", str(job.pk))]


def test_log_lines_of_the_running_job_are_masked(captured):
    charged()
    text = captured.getvalue()
    assert "charging card" in text and "Job failed" in text
    assert CARD not in text and OTP not in text
    assert f"charging card {MASK} for 250" in text


def test_global_keys_are_masked_in_any_log_line(captured):
    logging.getLogger("tests.anything").warning('login password=hunter22 then {"token": "abc123xyz"} ok')
    text = captured.getvalue()
    assert "hunter22" not in text and "abc123xyz" not in text
    assert f"password={MASK}" in text


def test_redact_must_name_arguments():
    from jobs.backend import JobTask

    with pytest.raises(InvalidTask, match="redact"):
        JobTask(func=tasks.add.func, backend="default", redact="card_number")
