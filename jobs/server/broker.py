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

import logging
import os
import socket
import time
import uuid

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connection
from django.utils import timezone
from django_q.brokers import Broker
from django_q.signing import SignedPackage

from jobs import maintenance, sql, states
from jobs.conf import jobs_settings
from jobs.models import Job, Server, State
from jobs.server import capacity, lease, worker
from jobs.server.listener import Listener, behind_transaction_pooler, wake_up_mode
from jobs.wakeup import SCHEDULED_PAYLOAD

logger = logging.getLogger("jobs.broker")

PERFORM = "jobs.server.runner.perform"
PERFORM_NEXT = "jobs.server.runner.perform_next"
# While a woken worker's claim is on its way, the pusher looks again this often (capacity.py).
WAKE_POLL_SECONDS = 0.002


def serving_queues(names) -> list[str]:
    """The queues a server claims: `names` checked against every queue (QUEUES) and put in their
    priority order. An unknown name, or none at all, is an error at start: a typo would otherwise
    leave a server idle while its jobs wait."""
    wanted = [str(name).strip() for name in names or () if str(name).strip()]
    every = list(jobs_settings.QUEUES)
    unknown = [name for name in wanted if name not in every]
    if unknown:
        raise ImproperlyConfigured(
            f"Unknown queue{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} for this server: "
            f"the queues are {', '.join(every)} (JOBS_QUEUES)."
        )
    if not wanted:
        raise ImproperlyConfigured(f"A server must serve at least one queue of {', '.join(every)}.")
    return [name for name in every if name in wanted]


def claim_jobs(server_id: str | None, queues: list[str], limit: int = 1) -> list[tuple]:
    """The pusher's claim (jobs.sql.claim, worker_pid NULL): (job id, fetch token, timeout,
    task path) tuples of jobs now Processing and leased to `server_id`."""
    return sql.claim(server_id, queues, limit)


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


def _package(package_id: str, name: str, func: str, args: tuple, timeout: float | None) -> dict:
    """A django-q2 task package for a worker: `func(*args)` under the guard of `timeout`."""
    return {
        "id": package_id,
        "name": name,
        "func": func,
        "args": args,
        "kwargs": {},
        "timeout": worker.guard_seconds(timeout),
        "started": timezone.now(),
        "save": False,
    }


class JobBroker(Broker):
    def __init__(self, list_key: str | None = None):
        super().__init__(list_key)
        self.options = jobs_settings
        self.queues = serving_queues(self.options.SERVER_QUEUES)
        self.server_id: str | None = None
        mode = wake_up_mode()
        self.listener = None if mode == "poll" else Listener(self.options.LISTEN_DATABASE_URL)
        self._last_heartbeat = 0.0
        self.housekeeping = maintenance.Housekeeping()
        # A NOTIFY announced a job in one of this server's queues since the last claim.
        self._announced = False

    # django-q2 pickles the broker into its processes on some platforms: keep only what rebuilds.
    def __getstate__(self):
        return self.list_key, self.server_id

    def __setstate__(self, state):
        JobBroker.__init__(self, state[0])
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
            if self._announced:
                # A job was just announced and a worker is free: it claims the job itself.
                self._announced = False
                capacity.wake_sent()
                return [self._wake_up()]
            if capacity.wake_pending():
                capacity.release()
                self._wait_for_work(WAKE_POLL_SECONDS)
                return None
            # As many jobs as there are free workers, in one claim: never more, so nothing
            # fetched ahead can make a later critical job wait.
            permits = 1 + capacity.acquire_more(self.options.WORKER_COUNT - 1)
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
        return _package(
            str(job_id), task_path.rsplit(".", 1)[-1], PERFORM, (str(job_id), str(token)), timeout
        )

    def _wake_up(self) -> tuple[str, bytes]:
        """The package that has a free worker claim its next job itself (capacity.py, the wake-up)."""
        wake_id = f"wake-{uuid.uuid4().hex}"
        # The worker re-arms the guard with its job's own budget once it has claimed one.
        return wake_id, SignedPackage.dumps(_package(wake_id, "claim", PERFORM_NEXT, (), None))

    def _wait_for_work(self, most: float = 0.5):
        wait = min(self.options.POLL_INTERVAL, self.housekeeping.seconds_until_due(), most)
        if self.listener is not None:
            payloads = self.listener.wait(wait)
            if SCHEDULED_PAYLOAD in payloads:
                self.housekeeping.job_added()
            if not payloads.isdisjoint(self.queues):
                self._announced = True
        elif wait > 0:
            time.sleep(wait)

    # --- The Sentinel's guard cycle: heartbeat and lease renewal ------------------------------------

    def set_stat(self, key: str, value: str, timeout: int):
        now = time.monotonic()
        if self.server_id is not None and now - self._last_heartbeat < self.options.HEARTBEAT_INTERVAL:
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
        status = states.server_status_for(stat.status)
        if self.server_id is None:
            self.server_id = (
                f"{stat.host or socket.gethostname()}:{stat.pid}:{uuid.UUID(str(stat.cluster_id)).hex[:8]}"
            )
        Server.objects.update_or_create(
            pk=self.server_id,
            defaults={
                "host": stat.host or socket.gethostname(),
                "pid": stat.pid or os.getpid(),
                "queues": self.queues,
                "worker_count": self.options.WORKER_COUNT,
                "worker_pids": list(stat.workers),
                "status": status,
                "heartbeat_at": now,
            },
            create_defaults={
                "host": stat.host or socket.gethostname(),
                "pid": stat.pid or os.getpid(),
                "queues": self.queues,
                "worker_count": self.options.WORKER_COUNT,
                "worker_pids": list(stat.workers),
                "status": status,
                "heartbeat_at": now,
                "started_at": now,
            },
        )
        lease.renew_leases(self.server_id, list(stat.workers), now)

    def get_stat(self, key):
        return None

    def get_stats(self, pattern):
        return []
