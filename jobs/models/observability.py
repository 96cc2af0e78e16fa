"""Cumulative tallies of finished jobs, rolled up by the servers: what /metrics counts.

The 15-minute FinishedCount rows (jobs.statistics) answer "how many per interval" for the
console's graphs and are forgotten after 31 days. Prometheus counters need totals since the
beginning that never go backwards, whatever expires: so the same roll-up also folds every
finished job into one running total per (task, queue, state), with its run-time and wait
histograms, and records up to when it has counted (TallyMark). A scrape reads these few rows and
counts only the jobs that finished after the mark (jobs/tallies.py).
"""

from django.db import models


class JobTally(models.Model):
    """Jobs that reached `state` since the system began, per task and queue, never decreasing.

    The duration (finished_at - started_at) and wait (started_at - enqueued_at) histograms hold
    Succeeded and Failed runs only; bucket counts are cumulative (le), as Prometheus exposes them,
    one per bound of jobs.tallies.DURATION_BOUNDS / WAIT_BOUNDS.
    """

    pk = models.CompositePrimaryKey("task_path", "queue", "state")
    task_path = models.CharField(max_length=300)
    queue = models.CharField(max_length=50)
    state = models.CharField(max_length=20)
    count = models.BigIntegerField(default=0)
    duration_count = models.BigIntegerField(default=0)
    duration_sum = models.FloatField(default=0.0)
    duration_buckets = models.JSONField(default=list)
    wait_count = models.BigIntegerField(default=0)
    wait_sum = models.FloatField(default=0.0)
    wait_buckets = models.JSONField(default=list)

    def __str__(self):
        return f"{self.task_path} [{self.queue}] {self.state}: {self.count}"


class TallyMark(models.Model):
    """The one row saying up to when finished jobs are counted in JobTally (excluded).

    Its row lock is what makes one server at a time roll up.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    counted_until = models.DateTimeField()

    def __str__(self):
        return f"tallied until {self.counted_until:%Y-%m-%d %H:%M:%S}"


class RecurringSuccess(models.Model):
    """When a recurring job last succeeded: kept here because its jobs expire (a monthly job's
    last success is long gone from the Job table) and RecurringJob belongs to the engine."""

    recurring_job = models.OneToOneField(
        "jobs.RecurringJob", primary_key=True, on_delete=models.CASCADE, related_name="last_success"
    )
    succeeded_at = models.DateTimeField()

    def __str__(self):
        return f"{self.recurring_job_id}: {self.succeeded_at:%Y-%m-%d %H:%M:%S}"


class AlertKind(models.TextChoices):
    MAX_WAIT = "max_wait", "Waited too long to start"
    MAX_DURATION = "max_duration", "Ran too long"
    MAX_FAILURE_RATE = "max_failure_rate", "Failed too often"
    RECURRING_LATE = "recurring_late", "Recurring job has not succeeded in time"
    RECURRING_START_DELAY = "recurring_start_delay", "Recurring job started late"


class Alert(models.Model):
    """One breach of an SLA rule, from when it was seen until it resolved (jobs/sla.py).

    At most one alert per rule and subject is open at a time (a partial unique constraint), so a
    breach that persists updates its alert instead of opening new ones, and mails once. Alerts
    are never deleted: dhanman_jobs_sla_breaches_total counts them.
    """

    kind = models.CharField(max_length=30, choices=AlertKind.choices)
    # The task path, or the recurring job's id.
    subject = models.CharField(max_length=300)
    value = models.FloatField()
    threshold = models.FloatField()
    # The worst value seen while it was open.
    worst = models.FloatField()
    opened_at = models.DateTimeField()
    checked_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledge_reason = models.TextField(blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # Nobody: it resolved by itself (the rule held again at a check).
    resolved_by = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolve_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "subject"],
                condition=models.Q(resolved_at__isnull=True),
                name="alert_one_open",
            )
        ]
        indexes = [
            models.Index(
                fields=["-opened_at"], name="alert_open_idx", condition=models.Q(resolved_at__isnull=True)
            ),
        ]

    def __str__(self):
        return f"{self.rule}: {self.value:g} > {self.threshold:g}"

    @property
    def rule(self) -> str:
        """The rule's name, as the metrics label it."""
        return f"{self.kind}:{self.subject}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


class SlaMark(models.Model):
    """The one row saying when the SLA rules were last checked; its row lock makes one server at
    a time check them."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    checked_at = models.DateTimeField()

    def __str__(self):
        return f"SLA rules checked at {self.checked_at:%Y-%m-%d %H:%M:%S}"


class DurationEstimate(models.Model):
    """How long a task (or a recurring job, or any job of a queue) takes, from its recent
    successful runs: the last jobs.predictions.WINDOW run times and their p50, p90, p95 and mean.

    Updated by the servers' roll-up with the runs that finished since the last one
    (jobs/predictions.py), so a page that shows a prediction reads one row.
    """

    class Kind(models.TextChoices):
        TASK = "task", "Task"
        RECURRING = "recurring", "Recurring job"
        QUEUE = "queue", "Queue"

    pk = models.CompositePrimaryKey("kind", "key")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # The task path, the recurring job's id or the queue's name.
    key = models.CharField(max_length=300)
    recent = models.JSONField(default=list)
    runs = models.BigIntegerField(default=0)
    p50 = models.FloatField()
    p90 = models.FloatField()
    p95 = models.FloatField()
    mean = models.FloatField()
    updated_at = models.DateTimeField()

    def __str__(self):
        return f"{self.kind} {self.key}: p50 {self.p50:g} s, p90 {self.p90:g} s"


class TaskInterval(models.Model):
    """One task's finished runs in one 15-minute interval (aligned on UTC, as FinishedCount):
    the console's Performance page reads these rows instead of the Job table (jobs/performance.py).

    Written once per interval by the servers' roll-up, after the interval ended; never changed.
    The histograms are sparse: {bucket index: runs} of jobs.performance.bucket_of, Succeeded and
    Failed runs together. Each row also holds its task's running histograms (sums since its
    first interval), so a window's percentiles need two rows per task, not one per interval.
    """

    pk = models.CompositePrimaryKey("bucket", "task_path")
    bucket = models.DateTimeField()
    task_path = models.CharField(max_length=300)
    succeeded = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    duration_count = models.PositiveIntegerField(default=0)
    duration_max = models.FloatField(default=0.0)
    duration_histogram = models.JSONField(default=dict)
    wait_count = models.PositiveIntegerField(default=0)
    wait_histogram = models.JSONField(default=dict)
    # The task's histograms summed over every interval up to this one (this one included): a
    # window's histogram is the newest row's running one minus the one before the window starts.
    duration_running = models.JSONField(default=dict)
    wait_running = models.JSONField(default=dict)
    # The interval's newest failure (no foreign key: the job may expire before the row does).
    last_failure_id = models.UUIDField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.bucket:%Y-%m-%d %H:%M} UTC {self.task_path}: {self.succeeded} ok, {self.failed} failed"


class PerformanceMark(models.Model):
    """The one row saying up to when finished jobs are rolled up into TaskInterval (excluded);
    its row lock makes one server at a time roll up."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    rolled_until = models.DateTimeField()

    def __str__(self):
        return f"performance rolled up until {self.rolled_until:%Y-%m-%d %H:%M}"


class QueueDepth(models.Model):
    """One queue's backlog at one sampling instant: how many of its jobs were Enqueued, Scheduled
    and Processing. Written by the servers' housekeeping roll-up (jobs/backlog.py), at most one row
    per queue and interval (the first server to sample an interval owns it), forgotten after
    jobs.backlog.KEEP. The queues page draws its backlog-over-time chart from these rows: counting
    the Job table for every point of 24 hours would scan it 288 times.
    """

    pk = models.CompositePrimaryKey("sampled_at", "queue")
    # The interval's start (a multiple of jobs.backlog.INTERVAL in UTC), not the exact clock time.
    sampled_at = models.DateTimeField()
    queue = models.CharField(max_length=50)
    enqueued = models.PositiveIntegerField()
    scheduled = models.PositiveIntegerField()
    processing = models.PositiveIntegerField()

    def __str__(self):
        return f"{self.sampled_at:%Y-%m-%d %H:%M} UTC {self.queue}: {self.enqueued} enqueued"
