"""The engine's settings, in one place with their defaults and their environment variables.

A project sets `DHANMAN_JOBS` (a dict) in its settings; dhanman/settings.py builds it with
`from_environment`, so each knob is also a `JOBS_*` variable. The engine reads every knob
through `jobs_settings` (typed attributes), never `settings.DHANMAN_JOBS[...]`: a key the
project leaves out gets its default here, and a test's `settings.DHANMAN_JOBS = {...}` or
`override_settings` takes effect at once, because nothing is cached.

The names mirror Hangfire's options in the old setup (WorkerCount, Queues,
SchedulePollingInterval, HeartbeatInterval, ServerCheckInterval).
"""

from dataclasses import dataclass
from typing import Any

from django.conf import settings


@dataclass(frozen=True, slots=True)
class Knob:
    default: Any
    variable: str  # the environment variable of dhanman/settings.py
    meaning: str


KNOBS: dict[str, Knob] = {
    "WORKER_COUNT": Knob(4, "JOBS_WORKER_COUNT", "worker processes per `qcluster` server"),
    "WORKER_CHAIN_LIMIT": Knob(
        100,
        "JOBS_WORKER_CHAIN_LIMIT",
        "jobs a worker claims for itself in a row after finishing one (jobs/server/worker.py); 1 turns that off",
    ),
    "WORKER_PREFETCH": Knob(
        2,
        "JOBS_WORKER_PREFETCH",
        "jobs a busy worker claims at once (1 or 2: the one it runs and at most one prefetched); "
        "with 2 the two successes are recorded in one statement with the next claim (jobs/server/completer.py)",
    ),
    "COMPLETION_FLUSH_SECONDS": Knob(
        0.05,
        "JOBS_COMPLETION_FLUSH_SECONDS",
        "longest a worker keeps a success pending while it runs its prefetched job, seconds",
    ),
    "QUEUES": Knob(
        ["critical", "default", "low-priority"],
        "JOBS_QUEUES",
        "the queues, in priority order: a server always serves the first non-empty one",
    ),
    "SERVER_QUEUES": Knob(
        None,
        "JOBS_SERVER_QUEUES",
        "the queues one server claims: a subset of QUEUES, kept in QUEUES' order (`qcluster --queues` "
        "overrides it; an unknown name stops the server at start); unset: every queue",
    ),
    "MAX_WORKER_DEATHS": Knob(
        3,
        "JOBS_MAX_WORKER_DEATHS",
        "a job whose worker process died under it this many times fails instead of being retried",
    ),
    "MAX_SNOOZES": Knob(
        100,
        "JOBS_MAX_SNOOZES",
        "a job that raises jobs.flow.Snooze more often than this fails (a bug cannot snooze it forever)",
    ),
    "POLL_INTERVAL": Knob(
        1.0,
        "JOBS_POLL_INTERVAL",
        "idle wait between claims when no NOTIFY arrives (SQLite; a transaction pooler without "
        "LISTEN_DATABASE_URL), seconds",
    ),
    "LISTEN_DATABASE_URL": Knob(
        "",
        "JOBS_LISTEN_DATABASE_URL",
        "a direct PostgreSQL URL on which idle servers LISTEN, beside a transaction pooler "
        "(DATABASE_POOLER=transaction); empty: DATABASE_URL's own, or polling behind such a pooler",
    ),
    "SCHEDULE_POLLING_INTERVAL": Knob(
        1.0,
        "JOBS_SCHEDULE_POLLING_INTERVAL",
        "how often due Scheduled and recurring jobs are looked for, seconds",
    ),
    "HEARTBEAT_INTERVAL": Knob(
        5.0, "JOBS_HEARTBEAT_INTERVAL", "how often a server writes its heartbeat, seconds"
    ),
    "SERVER_CHECK_INTERVAL": Knob(
        5.0,
        "JOBS_SERVER_CHECK_INTERVAL",
        "how often the reaper looks for dead servers and expired leases, seconds",
    ),
    "SERVER_TIMEOUT": Knob(
        30.0, "JOBS_SERVER_TIMEOUT", "a server without a heartbeat for this long is dead, seconds"
    ),
    "LEASE_SECONDS": Knob(
        30.0,
        "JOBS_LEASE_SECONDS",
        "a Processing job whose lease is not renewed for this long is requeued, seconds",
    ),
    "EXPIRATION_SECONDS": Knob(
        24 * 3600,
        "JOBS_EXPIRATION_SECONDS",
        "stopped and dead servers are forgotten after this long, and the default of "
        "RETENTION_SUCCEEDED and RETENTION_DELETED, seconds",
    ),
    # The retention policy (jobs/retention.py). Unset, Succeeded and Deleted follow
    # EXPIRATION_SECONDS (the rule before retention policies existed); None keeps jobs until
    # someone acts. A task's @task(retention=Retention(...)) overrides them.
    "RETENTION_SUCCEEDED": Knob(
        24 * 3600,
        "JOBS_RETENTION_SUCCEEDED",
        "Succeeded jobs are removed this long after they finish, seconds (none: kept); "
        "default EXPIRATION_SECONDS",
    ),
    "RETENTION_DELETED": Knob(
        24 * 3600,
        "JOBS_RETENTION_DELETED",
        "Deleted jobs are removed this long after their deletion, seconds (none: kept); "
        "default EXPIRATION_SECONDS",
    ),
    "RETENTION_FAILED": Knob(
        None,
        "JOBS_RETENTION_FAILED",
        "Failed jobs are removed this long after they failed, seconds; unset: kept until someone acts",
    ),
    "STATS_ROLLUP_INTERVAL": Knob(
        60.0,
        "JOBS_STATS_ROLLUP_INTERVAL",
        "how often a server rolls finished jobs up into the console's 15-minute counters, seconds",
    ),
    "BATCH_EXPIRATION_SECONDS": Knob(
        7 * 24 * 3600,
        "JOBS_BATCH_EXPIRATION_SECONDS",
        "batches are removed this long after they finish, seconds",
    ),
    "RECURRING_MISFIRE_GRACE_SECONDS": Knob(
        60,
        "JOBS_RECURRING_MISFIRE_GRACE_SECONDS",
        "a recurring occurrence found later than this counts as missed (its misfire policy applies), seconds",
    ),
    "RECURRING_STRICT_MISFIRE_CAP": Knob(
        100, "JOBS_RECURRING_STRICT_MISFIRE_CAP", "strict misfire policy: at most this many catch-up jobs"
    ),
    "SHUTDOWN_GRACE_SECONDS": Knob(
        25.0,
        "JOBS_SHUTDOWN_GRACE_SECONDS",
        "on SIGTERM, time running jobs get before they are requeued, seconds",
    ),
    "MAX_ARGUMENTS_BYTES": Knob(
        64 * 1024,
        "JOBS_MAX_ARGUMENTS_BYTES",
        "arguments larger than this (JSON bytes) are refused at enqueue",
    ),
    "REDACT_KEYS": Knob(
        ["password", "card_number", "cvv", "otp", "token"],
        "JOBS_REDACT_KEYS",
        "argument keys shown as ••• in the console and logs for every task (jobs/redaction.py)",
    ),
    "OUTPUT_MAX_BYTES": Knob(
        64 * 1024,
        "JOBS_OUTPUT_MAX_BYTES",
        "what one job may print (context.log, its logging records; all attempts, UTF-8 bytes) before "
        "its output is cut with a marker (jobs/output.py)",
    ),
    "DEFAULT_RETRY": Knob(
        {"attempts": 10},
        "JOBS_DEFAULT_RETRY_ATTEMPTS",
        "the jobs.retry.Retry arguments of tasks that set no policy (Hangfire's AutomaticRetry: 10 attempts)",
    ),
    "FILTERS": Knob(
        ["jobs.filters.JobLogger"], "JOBS_FILTERS", "filters run around every job (dotted paths)"
    ),
    "DASHBOARD_TITLE": Knob("Dhanman Jobs Dashboard", "JOBS_DASHBOARD_TITLE", "the console's title"),
    "STATS_POLLING_INTERVAL_MS": Knob(
        2000, "JOBS_STATS_POLLING_INTERVAL_MS", "how often the console's live counters refresh, milliseconds"
    ),
    "METRICS_TOKEN": Knob(
        "", "JOBS_METRICS_TOKEN", "/metrics answers only a request bearing this token; unset, it is a 404"
    ),
    "SLA_CHECK_INTERVAL": Knob(
        60.0, "JOBS_SLA_CHECK_INTERVAL", "how often one server checks the SLA rules (jobs/sla.py), seconds"
    ),
    "ALERT_EMAILS": Knob([], "JOBS_ALERT_EMAILS", "who gets the SLA alerts' mails (on open and on resolve)"),
    "ALERT_NOTIFIER": Knob(
        "",
        "JOBS_ALERT_NOTIFIER",
        "dotted path of a callable(*, dedup_key, recipient, subject, body) that sends an alert's mail "
        "once per dedup key (the project's outbox); empty: Django's send_mail",
    ),
    "SLA_RECURRING_LATE_FACTOR": Knob(
        2.0,
        "JOBS_SLA_RECURRING_LATE_FACTOR",
        "a recurring job is late when it has not succeeded within this many periods (0: off)",
    ),
    "SLA_RECURRING_MAX_START_DELAY": Knob(
        0.0,
        "JOBS_SLA_RECURRING_MAX_START_DELAY",
        "a recurring job is late when it started this many seconds after its due time (0: off)",
    ),
}


RETENTION_KNOBS = ("RETENTION_SUCCEEDED", "RETENTION_DELETED", "RETENTION_FAILED")


def from_environment(env) -> dict[str, Any]:
    """DHANMAN_JOBS from the environment (a django-environ Env): each knob's variable, cast like
    its default, or the default."""
    casts: dict[type, Any] = {
        bool: env.bool,
        int: env.int,
        float: env.float,
        str: env.str,
        list: env.list,
        # The one dict knob, DEFAULT_RETRY: its variable is the number of attempts.
        dict: lambda variable, default: {
            **default,
            "attempts": env.int(variable, default=default["attempts"]),
        },
    }
    values = {
        name: casts[type(knob.default)](knob.variable, default=knob.default)
        for name, knob in KNOBS.items()
        if knob.default is not None and name not in RETENTION_KNOBS
    }
    # Retention: only what the environment sets (unset Succeeded/Deleted follow
    # EXPIRATION_SECONDS); "none" (or empty) keeps the jobs until someone acts.
    for name in RETENTION_KNOBS:
        raw = env.str(KNOBS[name].variable, default=None)
        if raw is not None:
            values[name] = None if raw.strip().lower() in ("", "none") else float(raw)
    # SERVER_QUEUES defaults to every queue.
    values["SERVER_QUEUES"] = env.list(KNOBS["SERVER_QUEUES"].variable, default=values["QUEUES"])
    return values


class JobsSettings:
    """Typed access to DHANMAN_JOBS: `jobs_settings.LEASE_SECONDS`."""

    WORKER_COUNT: int
    WORKER_CHAIN_LIMIT: int
    WORKER_PREFETCH: int
    COMPLETION_FLUSH_SECONDS: float
    QUEUES: list[str]
    SERVER_QUEUES: list[str]
    MAX_WORKER_DEATHS: int
    MAX_SNOOZES: int
    POLL_INTERVAL: float
    LISTEN_DATABASE_URL: str
    SCHEDULE_POLLING_INTERVAL: float
    HEARTBEAT_INTERVAL: float
    SERVER_CHECK_INTERVAL: float
    SERVER_TIMEOUT: float
    LEASE_SECONDS: float
    EXPIRATION_SECONDS: int
    RETENTION_SUCCEEDED: float | None
    RETENTION_DELETED: float | None
    RETENTION_FAILED: float | None
    STATS_ROLLUP_INTERVAL: float
    BATCH_EXPIRATION_SECONDS: int
    RECURRING_MISFIRE_GRACE_SECONDS: int
    RECURRING_STRICT_MISFIRE_CAP: int
    SHUTDOWN_GRACE_SECONDS: float
    MAX_ARGUMENTS_BYTES: int
    OUTPUT_MAX_BYTES: int
    REDACT_KEYS: list[str]
    DEFAULT_RETRY: dict[str, Any]
    FILTERS: list[str]
    DASHBOARD_TITLE: str
    STATS_POLLING_INTERVAL_MS: int
    METRICS_TOKEN: str
    SLA_CHECK_INTERVAL: float
    ALERT_EMAILS: list[str]
    ALERT_NOTIFIER: str
    SLA_RECURRING_LATE_FACTOR: float
    SLA_RECURRING_MAX_START_DELAY: float

    def __getattr__(self, name: str) -> Any:
        try:
            knob = KNOBS[name]
        except KeyError:
            raise AttributeError(f"DHANMAN_JOBS has no setting {name!r}") from None
        options = getattr(settings, "DHANMAN_JOBS", {})
        if name == "SERVER_QUEUES" and options.get(name) is None:
            return options.get("QUEUES", KNOBS["QUEUES"].default)
        if name in ("RETENTION_SUCCEEDED", "RETENTION_DELETED") and name not in options:
            return options.get("EXPIRATION_SECONDS", KNOBS["EXPIRATION_SECONDS"].default)
        return options.get(name, knob.default)


jobs_settings = JobsSettings()
