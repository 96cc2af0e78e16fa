"""The engine's tables: jobs and their history, batches, recurring jobs, servers, and the
counters of finished jobs that the console's history graph reads.

The Job table is the one source of truth: django-q2 only runs processes, our broker claims
from here (see DESIGN.md). Indexes are shaped after the queries that use them: the claim
(`broker.py`), due scheduled jobs, lease expiry, the console's lists and expiration.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import StrIndex
from django.db.models.lookups import GreaterThan

from jobs.permissions import DECLARED as PERMISSIONS


class State(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    ENQUEUED = "enqueued", "Enqueued"
    PROCESSING = "processing", "Processing"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    DELETED = "deleted", "Deleted"
    AWAITING = "awaiting", "Awaiting"


class ContinuationOn(models.TextChoices):
    """When a continuation of a job (or of a batch) is released."""

    SUCCEEDED = "succeeded", "Parent succeeded"
    ANY_FINISHED = "any finished", "Parent succeeded or was deleted"
    DELETED = "deleted", "Parent was deleted"
    # Batches only: every job of the batch finished, whatever the outcome.
    COMPLETED = "completed", "Batch completed"


class BatchState(models.TextChoices):
    STARTED = "started", "Started"
    SUCCEEDED = "succeeded", "Succeeded"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


class Misfire(models.TextChoices):
    """What a recurring job does about occurrences missed while no server ran."""

    RELAXED = "relaxed", "One job however many runs were missed"
    STRICT = "strict", "One job per missed run"
    IGNORE = "ignore", "None; wait for the next run"


class ServerStatus(models.TextChoices):
    """A server's life, as its heartbeats and the reaper record it (jobs.states.server_status)."""

    RUNNING = "running", "Running"
    STOPPING = "stopping", "Stopping"
    STOPPED = "stopped", "Stopped"
    # No heartbeat for SERVER_TIMEOUT: the reaper gave its jobs to other servers.
    DEAD = "dead", "Dead"


class CancelReason(models.TextChoices):
    """Why a Processing job was asked to stop (Job.cancel_reason)."""

    # A person deleted the running job (or cancelled its batch): it ends Deleted.
    DELETE = "delete", "Deleted while running"
    # Its server is stopping: the job goes back to its queue.
    SHUTDOWN = "shutdown", "Server shutting down"


class Server(models.Model):
    """One `qcluster` process tree, with its heartbeat."""

    id = models.CharField(primary_key=True, max_length=200)
    host = models.CharField(max_length=200)
    pid = models.IntegerField()
    queues = models.JSONField(default=list)
    worker_count = models.PositiveIntegerField(default=0)
    worker_pids = models.JSONField(default=list)
    status = models.CharField(max_length=20, choices=ServerStatus.choices, default=ServerStatus.RUNNING)
    started_at = models.DateTimeField()
    heartbeat_at = models.DateTimeField(db_index=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-heartbeat_at"]

    def __str__(self):
        return self.id


class Batch(models.Model):
    """Many jobs as one unit: counters updated atomically as each job finishes."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    description = models.CharField(max_length=500, blank=True)
    state = models.CharField(max_length=20, choices=BatchState.choices, default=BatchState.STARTED)
    total = models.PositiveIntegerField(default=0)
    succeeded = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    deleted = models.PositiveIntegerField(default=0)
    # A nested batch counts as one unit of its parent.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "batches"
        indexes = [
            models.Index(fields=["-created_at"], name="batch_created_idx"),
            models.Index(
                fields=["expires_at"], name="batch_expiry_idx", condition=Q(expires_at__isnull=False)
            ),
        ]

    def __str__(self):
        return self.description or str(self.id)


class RecurringJob(models.Model):
    """A CRON schedule that creates a job at each occurrence, in its own time zone."""

    id = models.SlugField(primary_key=True, max_length=100)
    task_path = models.CharField(max_length=300)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    cron = models.CharField(max_length=100)
    timezone = models.CharField(max_length=64, default=settings.TIME_ZONE)
    queue = models.CharField(max_length=50, default="default")
    enabled = models.BooleanField(default=True)
    misfire = models.CharField(max_length=10, choices=Misfire.choices, default=Misfire.RELAXED)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_job = models.ForeignKey("Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    next_run_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["next_run_at"], name="recurring_due_idx", condition=Q(enabled=True)),
        ]

    def __str__(self):
        return self.id


class Job(models.Model):
    """One background job: what to run, where it is in its life, and what came of it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    task_path = models.CharField(max_length=300)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    queue = models.CharField(max_length=50, default="default")
    priority = models.SmallIntegerField(default=0)
    state = models.CharField(max_length=20, choices=State.choices)
    state_reason = models.TextField(blank=True)
    state_changed_at = models.DateTimeField()
    created_at = models.DateTimeField()
    # Scheduled: when it becomes Enqueued. Enqueued: the claim order (oldest first).
    run_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Attempts started so far (the first run is attempt 1).
    attempt = models.PositiveIntegerField(default=0)
    # The retry policy and timeout in force, frozen at enqueue so a deploy does not change them.
    retry_policy = models.JSONField(null=True, blank=True)
    timeout = models.FloatField(null=True, blank=True)
    # Claiming: a fresh token per delivery fences stale or duplicate deliveries.
    fetch_token = models.UUIDField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    # No default FK index: for a character key Django adds a second, LIKE-only copy that every
    # claim and outcome would have to write (bench/findings.md, E). job_server_idx serves lookups.
    server = models.ForeignKey(
        Server, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs", db_index=False
    )
    worker_pid = models.IntegerField(null=True, blank=True)
    # Times a worker process died while running this job (counted by the reaper, maintenance.py):
    # at DHANMAN_JOBS["MAX_WORKER_DEATHS"] the job fails instead of killing yet another worker.
    worker_deaths = models.PositiveSmallIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    cancel_reason = models.CharField(max_length=20, blank=True, choices=CancelReason.choices)
    progress = models.SmallIntegerField(null=True, blank=True)
    progress_message = models.CharField(max_length=500, blank=True)
    result = models.JSONField(null=True, blank=True)
    exception_class = models.CharField(max_length=300, blank=True)
    exception_message = models.TextField(blank=True)
    exception_traceback = models.TextField(blank=True)
    # Set when the job becomes Failed (jobs/states.py): a hash of its exception class and masked
    # message (jobs/fingerprints.py). The console groups Failed jobs by it, index-only.
    failure_group = models.CharField(max_length=24, blank=True, default="", db_default="")
    # Continuations: released when `parent` reaches a state that `continuation_on` accepts.
    # The three links below are NULL for almost every job: their indexes are partial (see Meta), so
    # the claim and the outcome of an ordinary job do not write three index entries for NULLs.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="continuations", db_index=False
    )
    continuation_on = models.CharField(max_length=20, choices=ContinuationOn.choices, blank=True)
    # Set (on this job, the parent) when a continuation is attached before it finished: a column of
    # the row itself, so the runner's one-statement success sees it even when continue_with
    # commits while that statement waits for the row (a NOT EXISTS over the children would not).
    has_continuations = models.BooleanField(default=False, db_default=False)
    # Member of a batch, or the continuation of one (awaiting_batch).
    batch = models.ForeignKey(
        Batch, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs", db_index=False
    )
    awaiting_batch = models.ForeignKey(
        Batch, null=True, blank=True, on_delete=models.SET_NULL, related_name="continuations", db_index=False
    )
    recurring_job = models.ForeignKey(
        RecurringJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs", db_index=False
    )
    # Set when the job reaches a final state, from its retention policy (jobs/retention.py);
    # expiry removes it after that. NULL: kept until someone acts.
    expires_at = models.DateTimeField(null=True, blank=True)
    # The job's id in the system it was imported from (`manage.py import_hangfire`:
    # "hangfire:<database>.<schema>:<id>"), so an operator can find it, and a second import skips it.
    external_id = models.CharField(max_length=200, blank=True, default="", db_default="")
    # Flow control (jobs/flow.py), rendered from the task's options at enqueue and frozen there.
    # unique_key is unique among the rows whose state is listed in their unique_states.
    unique_key = models.CharField(max_length=500, null=True, blank=True)  # noqa: DJ001 (NULL: no key, out of the partial indexes)
    unique_states = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001 (NULL: no key, out of the partial indexes)
    # At most concurrency_limit Processing jobs per concurrency_key, held by the claim.
    concurrency_key = models.CharField(max_length=300, null=True, blank=True)  # noqa: DJ001 (NULL: no key, out of the partial indexes)
    concurrency_limit = models.PositiveIntegerField(null=True, blank=True)
    # At most rate_limit claims per rate_per seconds per rate_key (counted on started_at).
    rate_key = models.CharField(max_length=300, null=True, blank=True)  # noqa: DJ001 (NULL: no key, out of the partial indexes)
    rate_limit = models.PositiveIntegerField(null=True, blank=True)
    rate_per = models.FloatField(null=True, blank=True)
    # Times the task raised Snooze: at DHANMAN_JOBS["MAX_SNOOZES"] the next one fails the job.
    snoozes = models.PositiveIntegerField(default=0, db_default=0)
    # Search (jobs/search.py), written at enqueue: the tags rendered from the arguments, and the
    # terms ("v:42", "k:invoice_id=42", "t:billing") that the console's search looks up. On
    # PostgreSQL search_terms has a GIN index (jsonb_path_ops), made by migration 0019 with SQL:
    # Django's GinIndex would be created on SQLite too, which has no GIN.
    tags = models.JSONField(default=list, blank=True, db_default=[])
    search_terms = models.JSONField(default=list, blank=True, db_default=[])

    class Meta:
        ordering = ["-created_at"]
        # One per console action (jobs.permissions); the roles are groups preset with them.
        permissions = PERMISSIONS  # type: ignore[assignment]  # a list of (codename, name); the stubs want lazy names too
        indexes = [
            # The claim: per queue, highest priority first, then oldest.
            models.Index(
                fields=["queue", "-priority", "enqueued_at"],
                name="job_claim_idx",
                condition=Q(state=State.ENQUEUED),
            ),
            models.Index(fields=["run_at"], name="job_due_idx", condition=Q(state=State.SCHEDULED)),
            models.Index(fields=["lease_until"], name="job_lease_idx", condition=Q(state=State.PROCESSING)),
            # The console: jobs by state, newest change first.
            models.Index(fields=["state", "-state_changed_at"], name="job_state_list_idx"),
            models.Index(fields=["task_path", "-state_changed_at"], name="job_task_list_idx"),
            models.Index(fields=["expires_at"], name="job_expiry_idx", condition=Q(expires_at__isnull=False)),
            # Scheduled and Awaiting jobs per queue, counted index-only by /metrics (jobs/metrics.py):
            # the other states have an index with the queue already (claim, server).
            models.Index(
                fields=["state", "queue"],
                name="job_waiting_queue_idx",
                condition=Q(state__in=["scheduled", "awaiting"]),
            ),
            # Jobs waiting for their next attempt (the console's Retries counter and page).
            models.Index(
                fields=["-state_changed_at"],
                name="job_retry_idx",
                condition=Q(state=State.SCHEDULED, attempt__gt=0),
            ),
            # A server's running jobs (lease renewal, shutdown); a recurring job's history.
            models.Index(fields=["server"], name="job_server_idx", condition=Q(state=State.PROCESSING)),
            models.Index(
                fields=["recurring_job", "-created_at"],
                name="job_recurring_idx",
                condition=Q(recurring_job__isnull=False),
            ),
            # Continuations of a job or a batch, members of a batch.
            models.Index(fields=["parent"], name="job_parent_idx", condition=Q(parent__isnull=False)),
            models.Index(fields=["batch"], name="job_batch_idx", condition=Q(batch__isnull=False)),
            models.Index(
                fields=["awaiting_batch"],
                name="job_awaiting_batch_idx",
                condition=Q(awaiting_batch__isnull=False),
            ),
            # Failed jobs by failure group (jobs/fingerprints.py): the console's failure groups are
            # one GROUP BY over this index, and a group's jobs a range of it. Partial: only Failed
            # jobs have an entry, so no other transition writes it.
            models.Index(
                fields=["failure_group", "-state_changed_at"],
                name="job_failure_group_idx",
                condition=Q(state=State.FAILED),
            ),
            # Imported jobs by their old id (empty for every other job, hence partial).
            models.Index(fields=["external_id"], name="job_external_idx", condition=~Q(external_id="")),
            # Flow control's counts inside the claim: Processing jobs per concurrency key, recent
            # starts per rate key. Partial: plain jobs write no entry.
            models.Index(
                fields=["concurrency_key"],
                name="job_concurrency_idx",
                condition=Q(state="processing", concurrency_key__isnull=False),
            ),
            models.Index(
                fields=["rate_key", "started_at"], name="job_rate_idx", condition=Q(rate_key__isnull=False)
            ),
        ]
        constraints = [
            # Unique jobs (River's shape): one row per key among those in one of the states the
            # key was declared for. strpos: no state's name is part of another's.
            models.UniqueConstraint(
                fields=["unique_key"],
                name="job_unique_key",
                condition=Q(unique_key__isnull=False) & Q(GreaterThan(StrIndex("unique_states", "state"), 0)),
            ),
        ]

    # Not a column: set by jobs.creation.insert_jobs on a unique job it did not write because its
    # key was live, to the job that holds the key.
    duplicate_of: "Job | None" = None

    def __str__(self):
        return f"{self.task_name} ({self.id})"

    @property
    def task_name(self):
        return self.task_path.rsplit(".", 1)[-1]


class JobState(models.Model):
    """An append-only history of a job's states: the console's timeline."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="history", db_index=False)
    name = models.CharField(max_length=20, choices=State.choices)
    reason = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["job", "created_at"], name="jobstate_job_idx")]

    def __str__(self):
        return f"{self.job_id}: {self.name}"


class FinishedCount(models.Model):
    """How many jobs reached Succeeded (or Failed) in one 15-minute interval, aligned on UTC.

    Written once per interval and state by jobs.statistics, after the interval ended; never
    changed afterwards, so it keeps counting jobs that expired since (as Hangfire's counters do).
    """

    pk = models.CompositePrimaryKey("bucket", "state")
    # The interval's start: a multiple of 15 minutes in UTC.
    bucket = models.DateTimeField()
    state = models.CharField(
        max_length=20, choices=[(s.value, s.label) for s in (State.SUCCEEDED, State.FAILED)]
    )
    count = models.PositiveIntegerField()

    def __str__(self):
        return f"{self.bucket:%Y-%m-%d %H:%M} UTC {self.state}: {self.count}"


class JobOutput(models.Model):
    """What one attempt of a job printed: `context.log()` lines and the task's own logging
    records, appended in batches by jobs.output while the attempt runs. Deleted with its job."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="outputs", db_index=False)
    attempt = models.PositiveIntegerField()
    text = models.TextField(blank=True, default="")
    # Bytes of text stored (UTF-8), counted against DHANMAN_JOBS["OUTPUT_MAX_BYTES"] per job.
    size = models.PositiveIntegerField(default=0)
    truncated = models.BooleanField(default=False)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["job", "attempt"]
        constraints = [models.UniqueConstraint(fields=["job", "attempt"], name="joboutput_job_attempt_uniq")]

    def __str__(self):
        return f"{self.job_id} attempt {self.attempt}: {self.size} bytes"
