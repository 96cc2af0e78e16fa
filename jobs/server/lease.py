"""Leases: how a server keeps the jobs it holds, and loses them when it dies.

A claim gives the job `lease_until = now + LEASE_SECONDS` (jobs/sql.py). The Sentinel calls the
broker's `set_stat` every guard cycle; at most every HEARTBEAT_INTERVAL that writes the
server's heartbeat and calls `renew_leases` with the pids of its live workers: the jobs those
workers run, and the jobs still in the server's local queue (worker_pid NULL), get a fresh lease.
A job whose worker died is left out, so its lease runs out and the reaper
(maintenance.reap, one server at a time) returns it to its queue, or fails it when its retries
are spent; a server that stops heartbeating loses all its jobs that way, and is marked dead.
A worker that cannot reach the database for long exits for the same reason (runner
.with_database_retry): a job is never left Processing with a lease renewed forever.
"""

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from jobs.conf import jobs_settings
from jobs.models import Job, State


def renew_leases(server_id: str, worker_pids: list[int], now=None) -> int:
    """Extend the leases of jobs held by this server's live workers (or still in its local queue)."""
    now = now or timezone.now()
    lease_until = now + timedelta(seconds=jobs_settings.LEASE_SECONDS)
    return Job.objects.filter(
        Q(worker_pid__isnull=True) | Q(worker_pid__in=worker_pids),
        server_id=server_id,
        state=State.PROCESSING,
    ).update(lease_until=lease_until)
