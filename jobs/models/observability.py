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
