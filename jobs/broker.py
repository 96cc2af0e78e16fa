"""The django-q2 broker over our Job table (`Q_CLUSTER["broker_class"]`).

django-q2 keeps running what it is good at (the Sentinel, the pusher, the workers and the guard
that restarts them); this broker is how its pusher gets work. It does not hold messages: the
Job table is the queue. `dequeue()` claims jobs with SKIP LOCKED in the server's queue order,
and between claims does the server's housekeeping (promote due Scheduled jobs, fire recurring
jobs, reap expired leases). When there is nothing to do on PostgreSQL it waits on LISTEN/NOTIFY
rather than sleeping, so a new job starts within milliseconds of its commit.
`set_stat()` — django-q2's status hook, called by the Sentinel every guard cycle — is the
server's heartbeat and renews the leases of the jobs its live workers hold.
"""

import contextlib
import logging
import os
import socket
import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django_q.brokers import Broker
from django_q.signing import SignedPackage

from jobs import capacity, maintenance, worker
from jobs.creation import NOTIFY_CHANNEL, SCHEDULED_PAYLOAD
from jobs.models import Job, JobState, Server, State

logger = logging.getLogger("jobs.broker")

PERFORM = "jobs.runner.perform"


def serving_queues(names) -> list[str]:
    """The queues a server claims: `names` checked against every queue (JOB_QUEUES) and put in
    their priority order. An unknown name, or none at all, is an error at start: a typo would
    otherwise leave a server idle while its jobs wait."""
    wanted = [str(name).strip() for name in names or () if str(name).strip()]
    every = list(settings.JOB_QUEUES)
    unknown = [name for name in wanted if name not in every]
    if unknown:
        raise ImproperlyConfigured(
            f"Unknown queue{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} for this server: "
            f"the queues are {', '.join(every)} (JOBS_QUEUES)."
        )
    if not wanted:
        raise ImproperlyConfigured(f"A server must serve at least one queue of {', '.join(every)}.")
    return [name for name in every if name in wanted]

# Every column of a job, in the model's order: a worker that claims its own next job loads it
# from the claim's answer (runner.load_job).
JOB_FIELDS = Job._meta.concrete_fields
JOB_COLUMNS = ", ".join(f"j.{connection.ops.quote_name(field.column)}" for field in JOB_FIELDS)

# The claim, as common table expressions: the first non-empty queue in the server's order, in
# one statement (one probe of the claim index per queue; rows of later queues are dropped by the
# ORDER BY + LIMIT), the jobs made Processing with a fresh fetch token, and their history rows.
# The pusher claims with worker_pid NULL (a job in the local queue); a worker, for itself.
CLAIM_CTES = f"""
picked AS (
    SELECT j.id FROM unnest(%(queues)s::text[]) WITH ORDINALITY AS q(name, position)
    CROSS JOIN LATERAL (
        SELECT id FROM jobs_job
        WHERE state = 'enqueued' AND queue = q.name
        ORDER BY priority DESC, enqueued_at
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    ) j
    ORDER BY q.position
    LIMIT %(limit)s
), claimed AS (
    UPDATE jobs_job AS j
    SET state = 'processing', state_reason = %(claim_reason)s, state_changed_at = %(now)s,
        fetch_token = gen_random_uuid(), lease_until = %(lease_until)s, server_id = %(server)s,
        worker_pid = %(worker_pid)s, attempt = j.attempt + 1, started_at = %(now)s, expires_at = NULL
    FROM picked WHERE j.id = picked.id
    RETURNING {JOB_COLUMNS}
), claim_history AS (
    INSERT INTO jobs_jobstate (job_id, name, reason, data, created_at)
    SELECT id, 'processing', %(claim_reason)s,
           jsonb_strip_nulls(jsonb_build_object('server', %(server)s::text, 'queue', queue, 'worker', %(worker_pid)s::int)),
           %(now)s
    FROM claimed
)
"""
CLAIM_SQL = f"WITH {CLAIM_CTES} SELECT id, fetch_token, timeout, task_path FROM claimed"


def claim_parameters(server_id: str | None, queues, limit: int, worker_pid: int | None = None, now=None) -> dict:
    now = now or timezone.now()
    return {
        "queues": list(queues), "limit": limit, "now": now, "server": server_id, "worker_pid": worker_pid,
        "lease_until": now + timedelta(seconds=settings.DHANMAN_JOBS["LEASE_SECONDS"]),
        "claim_reason": f"Claimed by server {server_id}" if server_id else "Claimed",
    }


def claim_jobs(server_id: str | None, queues: list[str], limit: int = 1) -> list[tuple]:
    """Claim up to `limit` jobs from the first non-empty queue, in configured order.

    Returns (job id, fetch token, timeout, task path) tuples; the jobs are Processing, leased
    to `server_id`, with a history row — on PostgreSQL in one statement.
    """
    params = claim_parameters(server_id, queues, limit)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(CLAIM_SQL, params)
            return cursor.fetchall()
    for queue in queues:
        rows = _claim_portable(server_id, queue, limit, params["now"], params["lease_until"], params["claim_reason"])
        if rows:
            return rows
    return []


def release_worker_claims(server_id: str, worker_pid: int, keep=None) -> int:
    """Return to their queue the jobs claimed for this worker, but for `keep` (the job it runs).

    A worker that claimed its next job in a statement whose answer it never got (the connection
    broke after the commit) would otherwise hold that job, its lease renewed, without running it.
    """
    from jobs.states import apply_state

    released = 0
    with transaction.atomic():
        held = Job.objects.select_for_update().filter(server_id=server_id, worker_pid=worker_pid, state=State.PROCESSING)
        for job in held.exclude(pk=keep):
            apply_state(
                job, State.ENQUEUED, "Back to its queue: the worker's claim was cut off by a database error",
                fields={"fetch_token": None, "lease_until": None, "worker_pid": None, "attempt": max(job.attempt - 1, 0)},
            )
            released += 1
    return released


_asynchronous_connection = None


def asynchronous_commit() -> None:
    """The pusher's writes (claims, promotions, reaping, recurring firing) need not wait for
    their WAL flush: each job's outcome is committed synchronously by its worker, which flushes
    them too, and a crash that loses one leaves the job where the next claim or the reaper
    finds it (delivery stays at-least-once, fenced by the token)."""
    global _asynchronous_connection
    if connection.vendor != "postgresql" or behind_transaction_pooler():
        # Behind a transaction pooler a session SET would outlive our transaction on a server
        # session that the next client gets: its worker's outcomes would commit asynchronously.
        return
    connection.ensure_connection()
    if _asynchronous_connection is not connection.connection:
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO OFF")
        _asynchronous_connection = connection.connection


def _claim_portable(server_id, queue, limit, now, lease_until, reason):
    """The same claim for SQLite, where an IMMEDIATE transaction serializes the writers."""
    from django.db.models import F

    with transaction.atomic():
        ids = list(
            Job.objects.filter(state=State.ENQUEUED, queue=queue)
            .order_by("-priority", "enqueued_at")
            .values_list("id", flat=True)[:limit]
        )
        rows = []
        for job_id in ids:
            token = uuid.uuid4()
            Job.objects.filter(pk=job_id, state=State.ENQUEUED).update(
                state=State.PROCESSING, state_reason=reason, state_changed_at=now, fetch_token=token,
                lease_until=lease_until, server_id=server_id, worker_pid=None, attempt=F("attempt") + 1,
                started_at=now, expires_at=None,
            )
            job = Job.objects.only("timeout", "task_path").get(pk=job_id)
            JobState.objects.create(
                job_id=job_id, name=State.PROCESSING, reason=reason,
                data={"server": server_id, "queue": queue}, created_at=now,
            )
            rows.append((job_id, token, job.timeout, job.task_path))
        return rows


def behind_transaction_pooler() -> bool:
    return getattr(settings, "DATABASE_POOLER", "") == "transaction"


def wake_up_mode() -> str:
    """How an idle server learns of new work: "listen" (on DATABASE_URL's own connection
    parameters), "listen-direct" (on JOBS_LISTEN_DATABASE_URL) or "poll" (SQLite; or a transaction
    pooler with no direct URL, where LISTEN cannot work: the pooler hands the session that
    LISTENed to other clients between transactions, pgbouncer #655)."""
    if connection.vendor != "postgresql":
        return "poll"
    if settings.DHANMAN_JOBS["LISTEN_DATABASE_URL"]:
        return "listen-direct"
    return "poll" if behind_transaction_pooler() else "listen"


def startup_warnings() -> list[str]:
    """What a server says once at start about how it is configured to wait for work."""
    if connection.vendor == "postgresql" and wake_up_mode() == "poll":
        return [
            "DATABASE_POOLER=transaction and no JOBS_LISTEN_DATABASE_URL: LISTEN/NOTIFY cannot pass "
            f"a transaction pooler, so this server polls every {settings.DHANMAN_JOBS['POLL_INTERVAL']} s "
            "(JOBS_POLL_INTERVAL) and a new job may wait that long. Set JOBS_LISTEN_DATABASE_URL to a "
            "direct PostgreSQL URL for millisecond starts."
        ]
    return []


class Listener:
    """A dedicated autocommit connection that LISTENs for the NOTIFY sent at enqueue: to
    JOBS_LISTEN_DATABASE_URL when set (a direct connection beside a pooler), else with
    DATABASE_URL's own connection parameters."""

    def __init__(self, url: str = ""):
        self.url = url
        self.conn = None

    def wait(self, timeout: float) -> set[str]:
        """Wait up to `timeout` seconds for notifications; return their payloads (queue names)."""
        if timeout <= 0:
            return set()
        try:
            if self.conn is None:
                self.conn = self._connect()
            payloads = {n.payload for n in self.conn.notifies(timeout=timeout, stop_after=1)}
            if payloads:
                # Several commits may have notified: take them all now, so the next wait waits.
                payloads.update(n.payload for n in self.conn.notifies(timeout=0.0))
            return payloads
        except Exception as exc:  # a restarted database: fall back to sleeping, reconnect next time
            logger.warning("LISTEN connection lost (%s); polling until it is back", exc)
            self.close()
            time.sleep(min(timeout, 1.0))
            return set()

    def _connect(self):
        import psycopg

        if self.url:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
        else:
            params = connection.get_connection_params()
            keep = {k: v for k, v in params.items() if k in {"dbname", "user", "password", "host", "port", "sslmode"}}
            conn = psycopg.connect(**keep, autocommit=True, connect_timeout=5)
        conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
        return conn

    def close(self):
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
        self.conn = None


class JobBroker(Broker):
    def __init__(self, list_key: str | None = None):
        super().__init__(list_key)
        self.options = settings.DHANMAN_JOBS
        self.queues = serving_queues(self.options["SERVER_QUEUES"])
        self.server_id: str | None = None
        mode = wake_up_mode()
        self.listener = None if mode == "poll" else Listener(self.options["LISTEN_DATABASE_URL"])
        self._last_heartbeat = 0.0
        self.housekeeping = maintenance.Housekeeping()

    # django-q2 pickles the broker into its processes on some platforms: keep only what rebuilds.
    def __getstate__(self):
        return self.list_key, self.server_id

    def __setstate__(self, state):
        self.__init__(state[0])
        self.server_id = state[1]

    @staticmethod
    def get_connection(list_key: str | None = None):
        return None

    @staticmethod
    def get_cache():
        return None

    def info(self) -> str:
        return f"Dhanman JobBroker ({connection.vendor})"

    def ping(self) -> bool:
        connection.ensure_connection()
        return True

    def enqueue(self, task):
        raise NotImplementedError(
            "Jobs are enqueued with django.tasks (some_task.enqueue(...)), not django_q's async_task."
        )

    def queue_size(self) -> int:
        return Job.objects.filter(state=State.ENQUEUED, queue__in=self.queues).count()

    def lock_size(self) -> int:
        return Job.objects.filter(state=State.PROCESSING, server_id=self.server_id).count()

    def acknowledge(self, task_id):
        """Nothing to do: the runner already wrote the job's outcome durably."""

    def fail(self, task_id):
        """A package that could not be unpacked: its lease runs out and the reaper requeues it."""
        logger.error("Job %s could not be handed to a worker", task_id)

    def delete(self, task_id):
        pass

    def purge_queue(self):
        pass

    def delete_queue(self):
        pass

    # --- The pusher's loop body -----------------------------------------------------------------

    def dequeue(self):
        try:
            asynchronous_commit()
            self.housekeeping.run(self.server_id)
            if not capacity.acquire(timeout=0.5):
                return None  # every worker busy; returning lets the pusher see a stop request
            # As many jobs as there are free workers, in one claim: never more, so nothing
            # fetched ahead can make a later critical job wait.
            permits = 1 + capacity.acquire_more(self.options["WORKER_COUNT"] - 1)
            try:
                rows = claim_jobs(self.server_id, self.queues, permits)
            except BaseException:
                for _ in range(permits):
                    capacity.release()
                raise
            for _ in range(permits - len(rows)):
                capacity.release()
            if not rows:
                self._wait_for_work()
                return None
            return [(str(row[0]), SignedPackage.dumps(self._package(row))) for row in rows]
        except DatabaseError as exc:
            # The database went away (restart, failover): drop the connection and try again soon.
            logger.warning("Database unavailable in the pusher (%s); retrying", exc)
            connection.close()
            time.sleep(1.0)
            return None

    def _package(self, row) -> dict:
        job_id, token, timeout, task_path = row
        return {
            "id": str(job_id),
            "name": task_path.rsplit(".", 1)[-1],
            "func": PERFORM,
            "args": (str(job_id), str(token)),
            "kwargs": {},
            "timeout": worker.guard_seconds(timeout),
            "started": timezone.now(),
            "save": False,
        }

    def _wait_for_work(self):
        wait = min(self.options["POLL_INTERVAL"], self.housekeeping.seconds_until_due(), 0.5)
        if self.listener is not None:
            if SCHEDULED_PAYLOAD in self.listener.wait(wait):
                self.housekeeping.job_added()
        elif wait > 0:
            time.sleep(wait)

    # --- The Sentinel's guard cycle: heartbeat and lease renewal ------------------------------------

    def set_stat(self, key: str, value: str, timeout: int):
        now = time.monotonic()
        if self.server_id is not None and now - self._last_heartbeat < self.options["HEARTBEAT_INTERVAL"]:
            return
        try:
            stat = SignedPackage.loads(value)
            self._heartbeat(stat)
            self._last_heartbeat = now
        except DatabaseError as exc:
            logger.warning("Heartbeat failed (%s); retrying", exc)
            connection.close()

    def _heartbeat(self, stat):
        now = timezone.now()
        status = {"Stopping": "stopping", "Stopped": "stopped"}.get(str(stat.status), "running")
        if self.server_id is None:
            self.server_id = f"{stat.host or socket.gethostname()}:{stat.pid}:{uuid.UUID(str(stat.cluster_id)).hex[:8]}"
        Server.objects.update_or_create(
            pk=self.server_id,
            defaults={
                "host": stat.host or socket.gethostname(),
                "pid": stat.pid or os.getpid(),
                "queues": self.queues,
                "worker_count": self.options["WORKER_COUNT"],
                "worker_pids": list(stat.workers),
                "status": status,
                "heartbeat_at": now,
            },
            create_defaults={
                "host": stat.host or socket.gethostname(),
                "pid": stat.pid or os.getpid(),
                "queues": self.queues,
                "worker_count": self.options["WORKER_COUNT"],
                "worker_pids": list(stat.workers),
                "status": status,
                "heartbeat_at": now,
                "started_at": now,
            },
        )
        maintenance.renew_leases(self.server_id, list(stat.workers), now)

    def get_stat(self, key):
        return None

    def get_stats(self, pattern):
        return []
