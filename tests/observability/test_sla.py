"""SLA rules: declaration, the checks, alerts opened once and resolved once with their mails,
acknowledgement and resolution by hand, the console's banner and actions, the metrics.

Run times and waits of finished jobs are placed as bulk-created rows where a test needs a
precise value; the end-to-end test runs a real job past max_duration on a real server.
"""

from datetime import timedelta

import pytest
from django.tasks import task
from django.tasks.exceptions import InvalidTask
from django.urls import reverse
from django.utils import timezone

from jobs import metrics, sla
from jobs.models import Alert, AlertKind, Job, RecurringJob, State
from notifications.models import OutboxMessage
from tests.console import factories
from tests.jobs.helpers import run_all
from tests.observability.metrics_helpers import value
from tests.observability.test_metrics import jobs_settings, ran
from tests.testapp import tasks

pytestmark = pytest.mark.django_db
SLOW = "tests.testapp.tasks.slow_for_sla"
FLAKY = "tests.testapp.tasks.flaky_for_sla"
WAITS = "tests.testapp.tasks.waits_for_sla"
OPS = "ops@example.com"


@pytest.fixture
def alerting():
    """Alert mails to OPS; recurring lateness off unless a test turns it on."""
    with jobs_settings(ALERT_EMAILS=[OPS], SLA_RECURRING_LATE_FACTOR=0.0, SLA_RECURRING_MAX_START_DELAY=0.0):
        yield


def alerts(kind=None, subject=None):
    queryset = Alert.objects.all()
    if kind:
        queryset = queryset.filter(kind=kind)
    if subject:
        queryset = queryset.filter(subject=subject)
    return list(queryset.order_by("opened_at"))


def mails_about(alert) -> list[str]:
    """The events ("opened", "resolved") mailed for this alert, through the outbox."""
    return sorted(
        key.split(":")[2]
        for key in OutboxMessage.objects.filter(
            dedup_key__startswith=f"sla-alert:{alert.pk}:", status="sent"
        ).values_list("dedup_key", flat=True)
    )


class TestDeclaration:
    @pytest.mark.parametrize(
        "kwargs",
        [
            {},
            {"max_wait": 0},
            {"max_duration": -1},
            {"max_failure_rate": 1.0},
            {"max_duration": 5, "window": 0},
            {"max_wait": "60"},
            {"max_duration": 5, "min_runs": 0},
            {"max_duration": True},
        ],
    )
    def test_a_bad_sla_is_refused_with_a_clear_error(self, kwargs):
        with pytest.raises(InvalidTask, match="SLA"):
            sla.SLA(**kwargs)

    def test_sla_must_be_an_SLA(self):
        with pytest.raises(InvalidTask, match="jobs.sla.SLA"):
            task(sla={"max_duration": 5})(lambda: None)

    def test_tasks_with_an_sla_are_found_and_named_as_rules(self, alerting):
        declared = sla.declared_tasks()
        assert declared[SLOW] == sla.SLA(max_duration=1, window=3)
        names = sla.rule_names()
        assert f"max_duration:{SLOW}" in names and f"max_failure_rate:{FLAKY}" in names
        assert f"max_wait:{WAITS}" in names


def test_a_run_over_max_duration_opens_one_alert_mails_once_and_resolves_with_one_mail(alerting, mailoutbox):
    # Checks at chosen instants after the run: the rule's window is 3 s, a busy machine is slower.
    end = ran(State.SUCCEEDED, task=SLOW, duration=2.5, finished_ago=timedelta(seconds=1))
    outcome = sla.check(end + timedelta(seconds=1), force=True)
    assert outcome["opened"] == 1
    (alert,) = alerts(AlertKind.MAX_DURATION, SLOW)
    assert alert.value == pytest.approx(2.5) and alert.threshold == 1.0 and alert.is_open
    run_all()
    assert mails_about(alert) == ["opened"]
    assert len(mailoutbox) == 1 and mailoutbox[0].to == [OPS]
    assert "Ran too long" in mailoutbox[0].subject and SLOW in mailoutbox[0].subject
    # Still within the window: the breach persists, no new alert, no new mail.
    assert sla.check(end + timedelta(seconds=1.5), force=True)["opened"] == 0
    run_all()
    assert len(alerts()) == 1 and len(mailoutbox) == 1
    # The window (3 s) passes without a slow run: it resolves by itself, with one mail.
    later = end + timedelta(seconds=6)
    assert sla.check(later, force=True)["resolved"] == 1
    run_all()
    alert.refresh_from_db()
    assert not alert.is_open and alert.resolved_by is None and "Back within" in alert.resolve_reason
    assert mails_about(alert) == ["opened", "resolved"]
    assert len(mailoutbox) == 2 and mailoutbox[1].subject.startswith("[Dhanman Jobs Dashboard] Resolved")
    sla.check(later + timedelta(seconds=1), force=True)
    run_all()
    assert len(mailoutbox) == 2


def test_a_running_job_past_max_duration_breaches_before_it_finishes(alerting):
    job = factories.processing(tasks.slow_for_sla, 10)
    Job.objects.filter(pk=job.pk).update(started_at=timezone.now() - timedelta(seconds=4))
    sla.check(force=True)
    (alert,) = alerts(AlertKind.MAX_DURATION, SLOW)
    assert alert.value >= 4


def test_checks_are_spaced_by_the_interval_across_servers(alerting):
    now = timezone.now()
    with jobs_settings(SLA_CHECK_INTERVAL=60.0):
        assert sla.check(now) is not None
        assert sla.check(now + timedelta(seconds=30)) is None  # another server, 30 s later
        assert sla.check(now + timedelta(seconds=61)) is not None


def test_resolving_by_hand_records_who_and_why_and_old_evidence_does_not_reopen_it(alerting):
    end = ran(State.SUCCEEDED, task=SLOW, duration=2.5, finished_ago=timedelta(seconds=1))
    sla.check(end + timedelta(seconds=1), force=True)
    (alert,) = alerts()
    operator = factories.make_user("operator")
    with pytest.raises(ValueError, match="reason"):
        sla.alert_resolve(alert_id=alert.pk, user=operator, reason="  ")
    sla.alert_resolve(alert_id=alert.pk, user=operator, reason="Known slow import, fixed in 2.3")
    alert.refresh_from_db()
    assert alert.resolved_by == operator and alert.resolve_reason == "Known slow import, fixed in 2.3"
    sla.check(force=True)
    assert len(alerts()) == 1  # the same slow run is not new evidence
    end = ran(State.SUCCEEDED, task=SLOW, duration=3.0, finished_ago=timedelta(seconds=0))
    sla.check(end + timedelta(milliseconds=500), force=True)
    assert len(alerts()) == 2 and alerts()[1].is_open


def test_acknowledging_keeps_the_alert_open_and_records_who_when_and_why(alerting):
    alert = factories.alert()
    operator = factories.make_user("operator")
    sla.alert_acknowledge(alert_id=alert.pk, user=operator, reason="On it")
    alert.refresh_from_db()
    assert alert.is_open and alert.acknowledged_by == operator and alert.acknowledge_reason == "On it"
    assert alert.acknowledged_at is not None


def test_failure_rate_over_the_window(alerting):
    ran(State.FAILED, task=FLAKY, n=1, finished_ago=timedelta(minutes=5))
    sla.check(force=True)
    assert not alerts(AlertKind.MAX_FAILURE_RATE)  # one run: below min_runs
    ran(State.FAILED, task=FLAKY, n=1, finished_ago=timedelta(minutes=4))
    ran(State.SUCCEEDED, task=FLAKY, n=1, finished_ago=timedelta(minutes=3))
    sla.check(force=True)
    (alert,) = alerts(AlertKind.MAX_FAILURE_RATE, FLAKY)
    assert alert.value == pytest.approx(2 / 3, abs=0.001) and alert.threshold == 0.5
    assert "66.7 % failed" in sla.describe(alert)


def test_max_wait_counts_jobs_still_waiting(alerting):
    result = tasks.waits_for_sla.enqueue()
    Job.objects.filter(pk=result.id).update(enqueued_at=timezone.now() - timedelta(seconds=45))
    sla.check(force=True)
    (alert,) = alerts(AlertKind.MAX_WAIT, WAITS)
    assert 45 <= alert.value < 60
    run_all()  # it ran: nothing waits any more, and its own wait (45 s) is in the window
    sla.check(force=True)
    assert alerts(AlertKind.MAX_WAIT, WAITS)[0].is_open


def test_a_late_recurring_job_raises_its_alert_and_a_success_resolves_it():
    row = RecurringJob.objects.create(
        id="every-minute",
        task_path="tests.testapp.tasks.add",
        cron="* * * * *",
        args=[1, 2],
        next_run_at=timezone.now() + timedelta(seconds=30),
    )
    RecurringJob.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    with jobs_settings(ALERT_EMAILS=[OPS], SLA_RECURRING_LATE_FACTOR=2.0):
        sla.check(force=True)
        (alert,) = alerts(AlertKind.RECURRING_LATE, "every-minute")
        assert alert.threshold == 120 and alert.value >= 300
        assert "recurring_late:every-minute" in sla.rule_names()
        ran(State.SUCCEEDED, finished_ago=timedelta(seconds=2))
        Job.objects.filter(task_path="tests.testapp.tasks.add").update(recurring_job=row)
        sla.check(force=True)
    alert.refresh_from_db()
    assert not alert.is_open


def test_a_recurring_job_started_long_after_its_due_time():
    now = timezone.now()
    RecurringJob.objects.create(
        id="overdue",
        task_path="tests.testapp.tasks.add",
        cron="0 2 * * *",
        next_run_at=now - timedelta(minutes=20),
    )
    with jobs_settings(SLA_RECURRING_LATE_FACTOR=0.0, SLA_RECURRING_MAX_START_DELAY=600.0, ALERT_EMAILS=[]):
        sla.check(force=True)
    (alert,) = alerts(AlertKind.RECURRING_START_DELAY, "overdue")
    assert alert.value >= 1200 and alert.threshold == 600


def test_an_alert_whose_rule_is_gone_is_closed(alerting):
    factories.alert(kind="max_duration", subject="tests.testapp.tasks.no_longer_declared")
    sla.check(force=True)
    (alert,) = alerts(subject="tests.testapp.tasks.no_longer_declared")
    assert not alert.is_open and alert.resolve_reason == "The rule no longer exists."


def test_metrics_count_breaches_and_show_the_open_ones(alerting):
    registry = metrics.registry()
    rule = f"max_duration:{SLOW}"
    text = metrics.generate_latest(registry).decode()
    assert value(text, "dhanman_jobs_sla_breached", rule=rule) == 0
    assert value(text, "dhanman_jobs_sla_breaches_total", rule=rule) == 0
    end = ran(State.SUCCEEDED, task=SLOW, duration=2.5, finished_ago=timedelta(seconds=1))
    sla.check(end + timedelta(seconds=1), force=True)
    text = metrics.generate_latest(registry).decode()
    assert value(text, "dhanman_jobs_sla_breached", rule=rule) == 1
    assert value(text, "dhanman_jobs_sla_breaches_total", rule=rule) == 1
    sla.check(end + timedelta(seconds=6), force=True)
    text = metrics.generate_latest(registry).decode()
    assert value(text, "dhanman_jobs_sla_breached", rule=rule) == 0
    assert value(text, "dhanman_jobs_sla_breaches_total", rule=rule) == 1


class TestConsole:
    def test_the_banner_shows_on_every_console_page_until_the_alert_resolves(self, alerting, client_for):
        alert = factories.alert(subject=SLOW)
        client = client_for("viewer")
        for name in ("dashboard", "retries", "servers", "batch_list", "recurring_list"):
            page = client.get(reverse(f"jobs_console:{name}")).content.decode()
            assert 'id="alert-banner"' in page and SLOW in page, name
        sla.alert_resolve(alert_id=alert.pk, user=None, reason="done")
        assert 'id="alert-banner"' not in client.get(reverse("jobs_console:dashboard")).content.decode()

    def test_an_operator_acknowledges_and_resolves_with_a_reason(self, alerting, client_for):
        alert = factories.alert(subject=SLOW)
        client = client_for("operator")
        page = client.get(reverse("jobs_console:alert_list")).content.decode()
        assert "Acknowledge" in page and "Resolve" in page
        response = client.post_with_csrf(
            reverse("jobs_console:alert_acknowledge", args=[alert.pk]), {"reason": ""}
        )
        assert response.status_code == 302
        alert.refresh_from_db()
        assert alert.acknowledged_at is None  # no reason: refused, nothing written
        client.post_with_csrf(
            reverse("jobs_console:alert_acknowledge", args=[alert.pk]), {"reason": "Looking"}
        )
        client.post_with_csrf(
            reverse("jobs_console:alert_resolve", args=[alert.pk]), {"reason": "Deployed fix"}
        )
        alert.refresh_from_db()
        assert alert.acknowledge_reason == "Looking" and alert.resolve_reason == "Deployed fix"
        assert alert.resolved_by.username.startswith("operator")
        page = client.get(reverse("jobs_console:alert_list")).content.decode()
        assert "Deployed fix" in page

    def test_a_viewer_sees_alerts_without_the_actions(self, alerting, client_for):
        factories.alert(subject=SLOW)
        page = client_for("viewer").get(reverse("jobs_console:alert_list")).content.decode()
        assert SLOW in page and 'value="resolve"' not in page


@pytest.mark.django_db(transaction=True)
def test_a_real_server_run_past_max_duration_opens_one_alert_then_resolves_with_one_mail_each(
    cluster_factory,
):
    server = cluster_factory(
        workers=1,
        env={
            "JOBS_SLA_CHECK_INTERVAL": "0.3",
            "JOBS_ALERT_EMAILS": OPS,
            "JOBS_SLA_RECURRING_LATE_FACTOR": "0",
        },
    )
    tasks.slow_for_sla.enqueue(2.0)
    alert = server.wait_for(
        lambda: Alert.objects.filter(kind="max_duration", subject=SLOW).first(),
        20,
        message="the alert to open",
    )
    server.wait_for(lambda: mails_about(alert) == ["opened"], 20, message="the opening mail")
    server.wait_for(
        lambda: Alert.objects.get(pk=alert.pk).resolved_at is not None,
        30,
        message="the alert to resolve once the window passed",
    )
    server.wait_for(lambda: mails_about(alert) == ["opened", "resolved"], 20, message="the resolution mail")
    # More checks run meanwhile; the breach that persisted while the job ran opened nothing more.
    import time

    time.sleep(1.0)
    assert Alert.objects.filter(subject=SLOW).count() == 1
    assert OutboxMessage.objects.filter(dedup_key__startswith=f"sla-alert:{alert.pk}:").count() == 2
    assert Alert.objects.get(pk=alert.pk).worst >= 1.0


def test_a_bug_in_the_sla_check_does_not_stop_the_housekeeping(monkeypatch, caplog):
    from jobs import maintenance

    def broken(now):
        raise RuntimeError("a bug in a rule")

    monkeypatch.setattr(sla, "check", broken)
    due = tasks.add.using(run_after=timezone.now() - timedelta(seconds=1)).enqueue(1, 2)
    maintenance.Housekeeping().run(None)
    assert Job.objects.get(pk=due.id).state == State.ENQUEUED  # the steps around it still ran
    assert "checking the SLA rules" in caplog.text
