"""The server's housekeeping: promote due Scheduled jobs, fire recurring jobs, reap jobs whose
server stopped responding (leases: jobs/server/lease.py), mark dead servers, roll up the
finished-job counters (and the metrics' tallies, and the queues' backlog samples), check the
SLA rules, and expire old jobs.

`Housekeeping.run()` is called by the pusher between claims; each step keeps its own clock so
a busy server does no more work here than an idle one. The reaper takes a PostgreSQL advisory
lock so that one server at a time does it.
"""

import logging
import time
from datetime import timedelta
from typing import Any

from django.db import DatabaseError, connection, transaction
from django.db.models import Min
from django.tasks import task
from django.utils import timezone

from jobs import backlog, performance, recurring, retention, sla, states, statistics, tallies
from jobs.conf import jobs_settings
from jobs.models import Batch, CancelReason, Job, JobState, Server, ServerStatus, State
from jobs.retry import Retry
from jobs.task import ServerStoppedResponding, WorkerKilled, class_path
from jobs.wakeup import notify_servers

logger = logging.getLogger("jobs.maintenance")

REAPER_LOCK = 0x64686A62  # "dhjb": the advisory lock key of the reaper
PROMOTE_BATCH = 500


def promote_due_jobs(now=None, limit: int = PROMOTE_BATCH) -> int:
    """Scheduled jobs whose time has come become Enqueued: states.PROMOTE in bulk (one UPDATE,
    one INSERT of history rows), then states.promoted for the hooks."""
    now = now or timezone.now()
    with transaction.atomic():
        due = list(
            Job.objects.select_for_update(skip_locked=True)
            .filter(state=states.PROMOTE.source, run_at__lte=now)
            .order_by("run_at")
            .values_list("id", "queue")[:limit]
        )
        if not due:
            return 0
        ids = [job_id for job_id, _ in due]
        reason = states.PROMOTE_REASON
        Job.objects.filter(pk__in=ids).update(**states.PROMOTE.orm_values({"now": now, "reason": reason}))
        JobState.objects.bulk_create(
            [
                JobState(job_id=job_id, name=states.PROMOTE.target, reason=reason, created_at=now)
                for job_id in ids
            ]
        )
        notify_servers({queue for _, queue in due})
        states.promoted(ids, reason)
    return len(due)


def next_due_at():
    return Job.objects.filter(state=State.SCHEDULED).aggregate(at=Min("run_at"))["at"]


def _try_reaper_lock() -> bool:
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [REAPER_LOCK])
        return cursor.fetchone()[0]


def reap(now=None, limit: int = 100) -> int:
    """Return Processing jobs whose lease ran out to their queue; mark silent servers dead.

    A job that was running (it has a worker pid) on a server that is still alive lost its lease
    because its worker process died under it: a segfault, os._exit, the OOM killer. Those deaths
    are counted on the job, and at MAX_WORKER_DEATHS it fails rather than kill worker after
    worker until its retries run out. A job whose whole server went silent is not counted: the
    machine, not the job, is the likelier cause.
    """
    now = now or timezone.now()
    with transaction.atomic():
        if not _try_reaper_lock():
            return 0
        states.mark_dead_servers(now)
        alive = set(Server.objects.filter(status__in=states.ALIVE).values_list("pk", flat=True))
        expired = list(
            Job.objects.select_for_update(skip_locked=True)
            .filter(state=State.PROCESSING, lease_until__lt=now)
            .order_by("lease_until")[:limit]
        )
        for job in expired:
            reason = f"Server {job.server_id or '(unknown)'} stopped responding"
            cleared: dict[str, Any] = {
                "fetch_token": None,
                "lease_until": None,
                "worker_pid": None,
                "cancel_requested": False,
            }
            policy = Retry.from_json(job.retry_policy)
            worker_died = job.worker_pid is not None and job.server_id in alive
            if worker_died:
                cleared["worker_deaths"] = job.worker_deaths + 1
                reason = (
                    f"Worker {job.worker_pid} of server {job.server_id} died while running it "
                    f"(worker death {cleared['worker_deaths']}; the job fails at {jobs_settings.MAX_WORKER_DEATHS})"
                )
            if job.cancel_requested and job.cancel_reason == CancelReason.DELETE:
                states.apply_state(
                    job, State.DELETED, f"{reason}; deletion had been requested", now=now, fields=cleared
                )
            elif worker_died and cleared["worker_deaths"] >= jobs_settings.MAX_WORKER_DEATHS:
                killed = (
                    f"Killed its worker {cleared['worker_deaths']} times "
                    f"(last: worker {job.worker_pid} of server {job.server_id})"
                )
                states.apply_state(
                    job,
                    State.FAILED,
                    killed,
                    now=now,
                    fields={
                        **cleared,
                        "exception_class": class_path(WorkerKilled),
                        "exception_message": killed,
                        "exception_traceback": "",
                    },
                )
            elif not policy.should_retry(None, job.attempt):
                states.apply_state(
                    job,
                    State.FAILED,
                    f"{reason}; retry attempts exhausted ({policy.attempts})",
                    now=now,
                    fields={
                        **cleared,
                        "exception_class": class_path(ServerStoppedResponding),
                        "exception_message": reason,
                    },
                )
            else:
                states.apply_state(
                    job, State.ENQUEUED, reason, now=now, fields=cleared, data={"attempt": job.attempt}
                )
        notify_servers({job.queue for job in expired if job.state == State.ENQUEUED})
    if expired:
        logger.warning("Reaped %d job(s) whose lease ran out", len(expired))
    return len(expired)


class Housekeeping:
    """The clocks of the pusher's periodic steps."""

    def __init__(self):
        self.options = jobs_settings
        self._next_schedule = 0.0
        self._next_reap = 0.0
        self._next_rollup = 0.0
        self._next_sla = 0.0
        self._next_due = None  # wall-clock datetime of the earliest Scheduled job, when known

    def run(self, server_id: str | None) -> None:
        mono = time.monotonic()
        now = timezone.now()
        due_now = self._next_due is not None and self._next_due <= now
        if mono >= self._next_schedule or due_now:
            self._next_schedule = mono + self.options.SCHEDULE_POLLING_INTERVAL
            while promote_due_jobs(now) == PROMOTE_BATCH:
                pass
            recurring.fire_due_recurring_jobs(now)
            # Wake for whichever comes first: a Scheduled job or a recurring occurrence.
            due = [at for at in (next_due_at(), recurring.next_due_at()) if at is not None]
            self._next_due = min(due) if due else None
        if mono >= self._next_reap:
            self._next_reap = mono + self.options.SERVER_CHECK_INTERVAL
            reap(now)
        if mono >= self._next_rollup:
            self._next_rollup = mono + self.options.STATS_ROLLUP_INTERVAL
            statistics.roll_up_finished_counts(now)
            _observing("rolling up the metrics' tallies", tallies.roll_up, now)
            _observing("rolling up the performance intervals", performance.roll_up, now)
            _observing("sampling the queues' backlog", backlog.sample, now)
        if mono >= self._next_sla:
            self._next_sla = mono + self.options.SLA_CHECK_INTERVAL
            _observing("checking the SLA rules", sla.check, now)

    def seconds_until_due(self) -> float:
        """How long the pusher may wait before the next step is due."""
        mono = time.monotonic()
        until = min(self._next_schedule, self._next_reap, self._next_rollup, self._next_sla) - mono
        if self._next_due is not None:
            until = min(until, (self._next_due - timezone.now()).total_seconds())
        return max(until, 0.0)

    def job_added(self):
        """A NOTIFY came: a new Scheduled job (or recurring job) may be due sooner than we knew."""
        self._next_schedule = 0.0


def _observing(what: str, step, now) -> None:
    """Run an observability step (metrics, SLA): a bug in one must not stop the pusher from
    claiming jobs. Database errors still go up to the broker, which reconnects."""
    try:
        step(now)
    except DatabaseError:
        raise
    except Exception:
        logger.exception("Failed while %s; jobs keep running", what)


@task(queue_name="low-priority")
def expire_jobs() -> dict:
    """Remove finished jobs past their expiry (their retention policy: jobs/retention.py),
    finished batches past theirs, servers gone for longer than EXPIRATION_SECONDS, and
    finished-job counters and performance intervals older than statistics.KEEP /
    performance.KEEP (31 days).

    History and output rows go with their job. Failed jobs stay until someone acts unless a
    retention time is set for them.
    """
    now = timezone.now()
    # In chunks of short transactions that never hold a row a claim wants (jobs/retention.py).
    removed_jobs = retention.expire(now)
    removed_batches = Batch.objects.filter(expires_at__lte=now).delete()[1].get("jobs.Batch", 0)
    # Servers that stopped or died long ago: their rows only clutter the console.
    gone_before = now - timedelta(seconds=jobs_settings.EXPIRATION_SECONDS)
    removed_servers = Server.objects.filter(
        status__in=(ServerStatus.STOPPED, ServerStatus.DEAD), heartbeat_at__lt=gone_before
    ).delete()[0]
    removed_counters = statistics.forget_old_counts(now) + performance.forget_old_intervals(now)
    return {
        "jobs": removed_jobs,
        "batches": removed_batches,
        "servers": removed_servers,
        "counters": removed_counters,
    }
