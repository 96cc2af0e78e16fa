"""SLA rules on tasks and recurring jobs, their checks, and the alerts they open.

Declared on the task:

    @task(sla=SLA(max_wait=60, max_duration=300, max_failure_rate=0.05, window=3600))

and for every enabled recurring job: "has not succeeded within RECURRING_LATE_FACTOR × its period"
and, when RECURRING_MAX_START_DELAY is set, "started more than N s after its due time".

One server at a time checks them: each server's housekeeping calls `check()` every
SLA_CHECK_INTERVAL; the first to take SlaMark's row lock (the others skip) checks if the last
check is an interval old. A breach opens an Alert (at most one open per rule and subject) and
mails JOBS_ALERT_EMAILS once; a breach that persists only updates its alert; when the rule holds
again the alert resolves and mails once more. An operator may acknowledge or resolve it from the
console; after a resolution by hand only what happened since counts as new evidence, so the same
slow run does not reopen it. Mails go through a job (send_alert_mail): durable, retried, and
sent exactly once per alert and event through the outbox's dedup key.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Count, DurationField, ExpressionWrapper, F, Max, Min, Q
from django.tasks import task
from django.tasks.exceptions import InvalidTask
from django.utils import timezone
from django.utils.module_loading import import_string

from jobs.conf import jobs_settings
from jobs.models import Alert, AlertKind, Job, RecurringJob, SlaMark, State

logger = logging.getLogger("jobs.sla")

RUN_STATES = (State.SUCCEEDED, State.FAILED)
# Open alerts shown in the banner of every console page, at most.
BANNER_LIMIT = 5


@dataclass(frozen=True, kw_only=True)
class SLA:
    """What a task promises: seconds it may wait and run, the share of runs that may fail, over
    the last `window` seconds (a failure rate needs `min_runs` runs in the window to count)."""

    max_wait: float | None = None
    max_duration: float | None = None
    max_failure_rate: float | None = None
    window: float = 3600
    min_runs: int = 5

    def __post_init__(self):
        for name in ("max_wait", "max_duration"):
            value = getattr(self, name)
            if value is not None and (
                not isinstance(value, int | float) or isinstance(value, bool) or value <= 0
            ):
                raise InvalidTask(f"SLA {name} must be a positive number of seconds, not {value!r}.")
        rate = self.max_failure_rate
        if rate is not None and (
            not isinstance(rate, int | float) or isinstance(rate, bool) or not 0 <= rate < 1
        ):
            raise InvalidTask(
                f"SLA max_failure_rate must be a fraction from 0 to 1 (excluded), not {rate!r}."
            )
        if not isinstance(self.window, int | float) or isinstance(self.window, bool) or self.window <= 0:
            raise InvalidTask(f"SLA window must be a positive number of seconds, not {self.window!r}.")
        if not isinstance(self.min_runs, int) or isinstance(self.min_runs, bool) or self.min_runs < 1:
            raise InvalidTask(f"SLA min_runs must be a whole number of at least 1, not {self.min_runs!r}.")
        if self.max_wait is None and self.max_duration is None and self.max_failure_rate is None:
            raise InvalidTask("An SLA needs at least one of max_wait, max_duration, max_failure_rate.")

    def rules(self) -> list[tuple[str, float]]:
        """(kind, threshold) of each rule it declares."""
        pairs = [
            (AlertKind.MAX_WAIT, self.max_wait),
            (AlertKind.MAX_DURATION, self.max_duration),
            (AlertKind.MAX_FAILURE_RATE, self.max_failure_rate),
        ]
        return [(kind.value, float(threshold)) for kind, threshold in pairs if threshold is not None]


@dataclass(frozen=True)
class Finding:
    kind: str
    subject: str
    value: float
    threshold: float

    @property
    def breached(self) -> bool:
        return self.value > self.threshold


# --- Which rules exist ----------------------------------------------------------------------------


def declared_tasks() -> dict:
    """{task path: SLA} of every task with an SLA, found in each installed app's tasks module
    (where the project declares its tasks) — the engine imports no context by name."""
    import importlib

    from django.apps import apps

    from jobs.backend import JobTask

    found = {}
    for app in apps.get_app_configs():
        try:
            module = importlib.import_module(f"{app.name}.tasks")
        except ModuleNotFoundError as exc:
            if exc.name != f"{app.name}.tasks":
                raise
            continue
        for value in vars(module).values():
            if isinstance(value, JobTask) and value.sla is not None:
                found[value.module_path] = value.sla
    return found


def rule_names() -> list[str]:
    """Every rule that exists now, as metrics label it (kind:subject)."""
    names = [f"{kind}:{path}" for path, sla in declared_tasks().items() for kind, _ in sla.rules()]
    recurring = list(RecurringJob.objects.filter(enabled=True).order_by("id").values_list("id", flat=True))
    if jobs_settings.SLA_RECURRING_LATE_FACTOR:
        names += [f"{AlertKind.RECURRING_LATE}:{id}" for id in recurring]
    if jobs_settings.SLA_RECURRING_MAX_START_DELAY:
        names += [f"{AlertKind.RECURRING_START_DELAY}:{id}" for id in recurring]
    return names


# --- Measuring ------------------------------------------------------------------------------------

DURATION = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
WAIT = ExpressionWrapper(F("started_at") - F("enqueued_at"), output_field=DurationField())


def _seconds(delta) -> float:
    return delta.total_seconds() if delta is not None else 0.0


def _evidence_since(kind: str, subject: str, now: datetime, window: float) -> datetime:
    """The window's start, or the last resolution by hand of this rule if later."""
    since = now - timedelta(seconds=window)
    resolved = _manual_resolution(kind, subject)
    return max(since, resolved) if resolved else since


def measure_task(path: str, kind: str, threshold: float, sla: SLA, now: datetime) -> Finding:
    since = _evidence_since(kind, path, now, sla.window)
    jobs = Job.objects.filter(task_path=path).order_by()
    if kind == AlertKind.MAX_DURATION:
        running = jobs.filter(state=State.PROCESSING, started_at__isnull=False)
        if since > now - timedelta(seconds=sla.window):  # resolved by hand: only runs started since
            running = running.filter(started_at__gte=since)
        oldest = running.aggregate(at=Min("started_at"))["at"]
        ran = (
            jobs.filter(
                state__in=RUN_STATES,
                state_changed_at__gte=since,
                started_at__isnull=False,
                finished_at__gte=F("started_at"),
            )
            .annotate(d=DURATION)
            .aggregate(worst=Max("d"))["worst"]
        )
        value = max(_seconds(now - oldest) if oldest else 0.0, _seconds(ran))
    elif kind == AlertKind.MAX_WAIT:
        waiting = jobs.filter(state=State.ENQUEUED, enqueued_at__isnull=False)
        if since > now - timedelta(seconds=sla.window):
            waiting = waiting.filter(enqueued_at__gte=since)
        oldest = waiting.aggregate(at=Min("enqueued_at"))["at"]
        started = (
            jobs.filter(
                state__in=(State.PROCESSING, *RUN_STATES), started_at__gte=since, enqueued_at__isnull=False
            )
            .filter(started_at__gte=F("enqueued_at"))
            .annotate(w=WAIT)
            .aggregate(worst=Max("w"))["worst"]
        )
        value = max(_seconds(now - oldest) if oldest else 0.0, _seconds(started))
    else:
        finished = dict(
            jobs.filter(state__in=RUN_STATES, state_changed_at__gte=since)
            .values_list("state")
            .annotate(n=Count("pk"))
        )
        runs = sum(finished.values())
        value = finished.get(State.FAILED, 0) / runs if runs >= sla.min_runs else 0.0
    return Finding(kind, path, round(value, 3), threshold)


def period_of(recurring: RecurringJob, now: datetime) -> timedelta | None:
    """The gap between the recurring job's next two runs (its period, for cron's regular ones)."""
    from jobs.cron import InvalidSchedule, next_run

    try:
        first = next_run(recurring.cron, recurring.timezone, now)
        second = next_run(recurring.cron, recurring.timezone, first) if first else None
    except InvalidSchedule:
        return None
    return (second - first) if first and second else None


def measure_recurring(now: datetime, last_success: dict) -> list[Finding]:
    factor = jobs_settings.SLA_RECURRING_LATE_FACTOR
    max_delay = jobs_settings.SLA_RECURRING_MAX_START_DELAY
    findings = []
    rows = (
        RecurringJob.objects.filter(enabled=True)
        .select_related("last_job")
        .only(
            "id",
            "cron",
            "timezone",
            "created_at",
            "next_run_at",
            "last_run_at",
            "last_job__started_at",
            "last_job__state",
        )
    )
    for row in rows:
        if factor:
            period = period_of(row, now)
            if period is not None:
                kind = AlertKind.RECURRING_LATE.value
                since = max(
                    at
                    for at in (last_success.get(row.id), row.created_at, _manual_resolution(kind, row.id))
                    if at is not None
                )
                findings.append(
                    Finding(
                        kind,
                        row.id,
                        round(_seconds(now - since), 3),
                        round(factor * period.total_seconds(), 3),
                    )
                )
        if max_delay:
            kind = AlertKind.RECURRING_START_DELAY.value
            delay = 0.0
            if row.next_run_at is not None and row.next_run_at < now:
                delay = _seconds(now - row.next_run_at)  # due and not fired: no server ran it
            elif row.last_job is not None and row.last_run_at is not None:
                started = row.last_job.started_at
                if started is None and row.last_job.state in (State.ENQUEUED, State.SCHEDULED):
                    started = now
                if started is not None and started >= row.last_run_at:
                    delay = _seconds(started - row.last_run_at)
            findings.append(Finding(kind, row.id, round(delay, 3), float(max_delay)))
    return findings


def _manual_resolution(kind: str, subject: str):
    return Alert.objects.filter(kind=kind, subject=subject, resolved_by__isnull=False).aggregate(
        at=Max("resolved_at")
    )["at"]


def measure_all(now: datetime) -> list[Finding]:
    from jobs import tallies

    findings = []
    for path, sla in sorted(declared_tasks().items()):
        for kind, threshold in sla.rules():
            findings.append(measure_task(path, kind, threshold, sla, now))
    if jobs_settings.SLA_RECURRING_LATE_FACTOR or jobs_settings.SLA_RECURRING_MAX_START_DELAY:
        findings += measure_recurring(now, tallies.read(now).last_success)
    return findings


# --- Alerts ---------------------------------------------------------------------------------------


def check(now: datetime | None = None, *, force: bool = False) -> dict | None:
    """Check every rule if an interval passed since the last check (by any server).

    Returns {"opened": n, "resolved": n, "open": n}, or None when another server is checking or
    it is not time yet.
    """
    now = now or timezone.now()
    interval = timedelta(seconds=jobs_settings.SLA_CHECK_INTERVAL)
    with transaction.atomic():
        SlaMark.objects.bulk_create([SlaMark(id=1, checked_at=now - interval)], ignore_conflicts=True)
        mark = SlaMark.objects.select_for_update(skip_locked=True).filter(id=1).first()
        if mark is None or (not force and mark.checked_at > now - interval):
            return None
        outcome = apply_findings(measure_all(now), now)
        mark.checked_at = now
        mark.save(update_fields=["checked_at"])
    return outcome


def apply_findings(findings: list[Finding], now: datetime) -> dict:
    """Open, update and resolve alerts from one check's findings, in one transaction."""
    with transaction.atomic():
        return _apply_findings(findings, now)


def _apply_findings(findings: list[Finding], now: datetime) -> dict:
    open_alerts = {
        (a.kind, a.subject): a for a in Alert.objects.select_for_update().filter(resolved_at__isnull=True)
    }
    measured = {(f.kind, f.subject) for f in findings}
    opened = resolved = 0
    for finding in findings:
        alert = open_alerts.get((finding.kind, finding.subject))
        if finding.breached and alert is None:
            try:
                with transaction.atomic():
                    alert = Alert.objects.create(
                        kind=finding.kind,
                        subject=finding.subject,
                        value=finding.value,
                        threshold=finding.threshold,
                        worst=finding.value,
                        opened_at=now,
                        checked_at=now,
                    )
            except IntegrityError:
                continue  # opened meanwhile (a check by hand): that one stands
            opened += 1
            _mail_later(alert, "opened")
        elif finding.breached and alert is not None:
            alert.value, alert.threshold, alert.checked_at = finding.value, finding.threshold, now
            alert.worst = max(alert.worst, finding.value)
            alert.save(update_fields=["value", "threshold", "checked_at", "worst"])
        elif alert is not None:
            _resolve(
                alert, now, None, f"Back within its threshold: {describe_value(finding.kind, finding.value)}."
            )
            alert.value = finding.value
            alert.save(update_fields=["value"])
            resolved += 1
    # A rule that no longer exists (its task lost its SLA, the recurring job was removed or
    # disabled) cannot resolve by itself: close its alert.
    for key, alert in open_alerts.items():
        if key not in measured:
            _resolve(alert, now, None, "The rule no longer exists.")
            resolved += 1
    return {
        "opened": opened,
        "resolved": resolved,
        "open": Alert.objects.filter(resolved_at__isnull=True).count(),
    }


def _resolve(alert: Alert, now: datetime, user, reason: str) -> None:
    alert.resolved_at, alert.resolved_by, alert.resolve_reason, alert.checked_at = now, user, reason, now
    alert.save(update_fields=["resolved_at", "resolved_by", "resolve_reason", "checked_at"])
    _mail_later(alert, "resolved")


def alert_acknowledge(*, alert_id: int, user, reason: str) -> Alert:
    """An operator has seen the alert and says why (it stays open until it resolves)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("Say why: an acknowledgement needs a reason.")
    with transaction.atomic():
        alert = Alert.objects.select_for_update().get(pk=alert_id)
        if not alert.is_open:
            raise ValueError("This alert is resolved already.")
        alert.acknowledged_at, alert.acknowledged_by, alert.acknowledge_reason = (
            timezone.now(),
            user,
            reason[:2000],
        )
        alert.save(update_fields=["acknowledged_at", "acknowledged_by", "acknowledge_reason"])
    return alert


def alert_resolve(*, alert_id: int, user, reason: str) -> Alert:
    """An operator closes the alert; only what happens from now on can open it again."""
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("Say why: a resolution needs a reason.")
    with transaction.atomic():
        alert = Alert.objects.select_for_update().get(pk=alert_id)
        if not alert.is_open:
            raise ValueError("This alert is resolved already.")
        _resolve(alert, timezone.now(), user, reason[:2000])
    return alert


def open_alerts(limit: int = BANNER_LIMIT) -> tuple[list[Alert], int]:
    """The newest open alerts and how many are open (the banner; the partial index serves it)."""
    alerts = list(Alert.objects.filter(resolved_at__isnull=True).order_by("-opened_at")[:limit])
    count = len(alerts) if len(alerts) < limit else Alert.objects.filter(resolved_at__isnull=True).count()
    return alerts, count


# --- Mail -----------------------------------------------------------------------------------------


def describe_value(kind: str, value: float) -> str:
    if kind == AlertKind.MAX_FAILURE_RATE:
        return f"{value * 100:.1f} % failed"
    return f"{value:g} s"


def describe(alert: Alert) -> str:
    subject_kind = "recurring job" if alert.kind.startswith("recurring") else "task"
    return (
        f"{AlertKind(alert.kind).label}: {subject_kind} {alert.subject}, "
        f"{describe_value(alert.kind, alert.value)} (threshold {describe_value(alert.kind, alert.threshold)})"
    )


def _mail_later(alert: Alert, event: str) -> None:
    """Queue the alert's mail as a job in this transaction: it exists only if the alert does."""
    if jobs_settings.ALERT_EMAILS:
        send_alert_mail.enqueue(alert.pk, event)


def _alert_notifier():
    """The project's mail sender for alerts (JOBS_ALERT_NOTIFIER): the engine names no app of the
    project, so the outbox that dedups mails (one per key, however often this job is retried) is
    plugged in by settings, as EMAIL_BACKEND is. Without one, Django's send_mail sends directly."""
    if jobs_settings.ALERT_NOTIFIER:
        return import_string(jobs_settings.ALERT_NOTIFIER)

    def send_directly(*, dedup_key: str, recipient: str, subject: str, body: str) -> None:
        send_mail(subject, body, None, [recipient])

    return send_directly


@task(queue_name="critical")
def send_alert_mail(alert_id: int, event: str) -> int:
    """Mail an alert's opening or resolution to JOBS_ALERT_EMAILS, once per recipient (the
    outbox's dedup key makes a retry of this job send nothing twice)."""
    notify = _alert_notifier()
    alert = Alert.objects.select_related("resolved_by").get(pk=alert_id)
    title = jobs_settings.DASHBOARD_TITLE
    if event == "opened":
        subject = f"[{title}] SLA breach: {describe(alert)}"
        body = (
            f"{describe(alert)}\n\nSince {alert.opened_at:%Y-%m-%d %H:%M:%S %Z}.\n"
            "Acknowledge or resolve it in the job console, under Alerts.\n"
        )
    else:
        who = alert.resolved_by.get_username() if alert.resolved_by else "itself"
        subject = f"[{title}] Resolved: {AlertKind(alert.kind).label}: {alert.subject}"
        body = (
            f"{describe(alert)}\n\nOpened {alert.opened_at:%Y-%m-%d %H:%M:%S %Z}, resolved by {who} at "
            f"{alert.resolved_at:%Y-%m-%d %H:%M:%S %Z}: {alert.resolve_reason}\n"
            f"Worst value while open: {describe_value(alert.kind, alert.worst)}.\n"
        )
    sent = 0
    for recipient in jobs_settings.ALERT_EMAILS:
        notify(
            dedup_key=f"sla-alert:{alert.pk}:{event}:{recipient}",
            recipient=recipient,
            subject=subject,
            body=body,
        )
        sent += 1
    return sent


# --- Metrics --------------------------------------------------------------------------------------


class SlaCollector:
    """dhanman_jobs_sla_breaches_total{rule} (alerts ever opened) and dhanman_jobs_sla_breached{rule}
    (1 while one is open), for every rule that exists or has had an alert."""

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        breaches = CounterMetricFamily(
            "dhanman_jobs_sla_breaches", "SLA alerts opened, per rule.", labels=["rule"]
        )
        breached = GaugeMetricFamily(
            "dhanman_jobs_sla_breached", "1 while the rule has an open alert.", labels=["rule"]
        )
        totals: dict = {}
        open_rules = set()
        for kind, subject, n, still_open in (
            Alert.objects.order_by()
            .values_list("kind", "subject")
            .annotate(n=Count("pk"), still_open=Count("pk", filter=Q(resolved_at__isnull=True)))
        ):
            totals[f"{kind}:{subject}"] = n
            if still_open:
                open_rules.add(f"{kind}:{subject}")
        rules = sorted(set(rule_names()) | set(totals))
        for rule in rules:
            breaches.add_metric([rule], totals.get(rule, 0))
            breached.add_metric([rule], 1 if rule in open_rules else 0)
        yield breaches
        yield breached
