"""django-q2's Cluster and Sentinel, with what a job server needs on top.

- Capacity: one permit per worker (see capacity.py), given back when a busy worker dies.
- Graceful shutdown: on SIGTERM (or Ctrl-C) the server stops claiming, lets running jobs finish
  within DHANMAN_JOBS["SHUTDOWN_GRACE_SECONDS"], then asks the rest to stop and returns
  whatever still runs to its queue at once (rather than after its lease).

- Stop signals sent to the whole process group are safe. honcho (Ctrl-C on `make run`), systemd
  (its default KillMode=control-group) and most supervisors send SIGTERM to every process, not
  only to qcluster's main one. django-q2's Sentinel and everything it forks keep SIGTERM's default
  action, so such a signal killed the workers in the middle of their jobs and left the server row
  "running". Here only the main process acts on SIGTERM/SIGINT (it sets the stop event, and the
  Sentinel stops as above); the Sentinel, pusher, monitor and workers disregard both. We chose this
  over a wrapper that forwards signals to the main pid only: a wrapper cannot shield the children
  from a supervisor that signals every process of a cgroup, and a SIGKILL to the group still takes
  the whole tree down (no orphaned workers). Where django-q2 relied on SIGTERM to end a worker
  (the guard's timeout) we send SIGKILL instead.
"""

import contextlib
import logging
import multiprocessing
import os
import queue
import signal
import time
import uuid
from multiprocessing import Event, Value

from django import db
from django.db import transaction
from django_q.cluster import Cluster, Sentinel, get_mp_context
from django_q.conf import Conf
from django_q.status import Stat

from jobs import states
from jobs.conf import jobs_settings
from jobs.models import CancelReason, Job, State
from jobs.server import capacity, worker

logger = logging.getLogger("jobs.cluster")

# Once stopping, how long cooperative jobs get to notice a cancellation before they are killed.
CANCEL_WAIT_SECONDS = 5.0
# What a supervisor sends to stop the server; only the main process acts on them.
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def _disregard_stop_signal(signum, frame):
    """The Sentinel's and its children's handler of SIGTERM/SIGINT: the main process stops the
    server. A handler rather than SIG_IGN, because an ignored signal stays ignored across exec:
    a program a task runs (pg_dump for the backup job) would then be deaf to SIGTERM too."""


class JobSentinel(Sentinel):
    def start(self):
        # django-q2's __init__ has just set SIGTERM back to its default action (death); disregard
        # both stop signals instead, in this process and every process it forks, then take the
        # signals the main process blocked while forking us.
        for signum in STOP_SIGNALS:
            signal.signal(signum, _disregard_stop_signal)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        super().start()

    def spawn_worker(self):
        # django-q2's worker loop, started through jobs.server.worker so that a worker can claim its
        # next job itself: it needs the server's id, its guard timer and the stop event.
        # (django-q2's spawn_process recognises its own worker function only: do what it does.)
        timer = Value("f", -1)
        process = get_mp_context().Process(
            target=worker.run_worker,
            name=f"Process-{uuid.uuid4().hex}",
            args=(self.task_queue, self.result_queue, timer, self.timeout, self._server_id(), self.event_out),
        )
        process.daemon = Conf.DAEMONIZE_WORKERS
        process.timer = timer
        self.pool.append(process)
        process.start()
        return process

    def reincarnate(self, process):
        if process in self.pool and process.timer.value == 0 and process.is_alive():
            # The guard's timeout: django-q2 ends such a worker with SIGTERM, which workers
            # disregard here (see start), so kill it first.
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
            process.join(5)
        if process in self.pool and process.timer.value >= 0:
            # The worker died while running a job (killed, out of memory, or the guard's
            # timeout): it will never give its permit back, so give it back for it. Its job's
            # lease is no longer renewed (its pid is gone), so the reaper requeues the job.
            capacity.release()
        super().reincarnate(process)

    def stop(self):
        Stat(self).save()
        grace = jobs_settings.SHUTDOWN_GRACE_SECONDS
        logger.info("Server stopping: no new claims; running jobs get %.0f s to finish", grace)
        self.event_out.set()
        while self.pusher.is_alive():
            time.sleep(0.1)
            Stat(self).save()
        # One STOP pill per worker. The local queue is tiny (queue_limit), so a put blocks while
        # every worker is busy: offer the pills against the deadline instead of waiting forever.
        pills = len(self.pool)
        deadline = time.monotonic() + grace
        pills = self._offer_pills(pills, deadline)
        if pills or not self._wait_for_workers(deadline):
            self._cancel_running_jobs()
            deadline = time.monotonic() + CANCEL_WAIT_SECONDS
            pills = self._offer_pills(pills, deadline)
            if pills or not self._wait_for_workers(deadline):
                self._kill_workers()
        self.task_queue.close()
        self.task_queue.cancel_join_thread()  # pills nobody will read must not block the exit
        self._requeue_leftovers()
        self.result_queue.put("STOP")
        self.result_queue.close()
        self.result_queue.join_thread()
        deadline = time.monotonic() + 10
        while self.monitor.is_alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        self._kill_leftover_children()
        self._mark_stopped()

    def _kill_leftover_children(self):
        """On exit, multiprocessing ends daemonic children with SIGTERM and joins them; ours disregard
        SIGTERM, so a child still alive now (a monitor stuck past its wait) would hang the exit."""
        for process in multiprocessing.active_children():
            logger.warning(
                "Killing %s (pid %s), still running at the end of the stop", process.name, process.pid
            )
            process.kill()  # SIGKILL
            process.join(5)

    def _offer_pills(self, pills: int, deadline: float) -> int:
        """Put up to `pills` STOP pills before `deadline`; return how many are still to put."""
        while pills and time.monotonic() < deadline:
            try:
                self.task_queue.put("STOP", timeout=min(0.2, max(deadline - time.monotonic(), 0.01)))
                pills -= 1
            except queue.Full:
                Stat(self).save()
        return pills

    def _wait_for_workers(self, deadline: float) -> bool:
        while time.monotonic() < deadline:
            self.pool = [p for p in self.pool if p.is_alive()]
            if not self.pool:
                return True
            time.sleep(0.1)
            Stat(self).save()
        self.pool = [p for p in self.pool if p.is_alive()]
        return not self.pool

    def _server_id(self):
        return getattr(self.broker, "server_id", None)

    def _cancel_running_jobs(self):
        states.request_cancel(Job.objects.filter(server_id=self._server_id()), CancelReason.SHUTDOWN)
        logger.warning("Grace period over: asked the running jobs to stop")

    def _kill_workers(self):
        for process in self.pool:
            logger.warning("Killing worker %s, still running after the grace period", process.pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
        self._wait_for_workers(time.monotonic() + 5)

    def _requeue_leftovers(self):
        """Jobs of this server still Processing now have no worker: back to their queue."""
        server_id = self._server_id()
        if server_id is None:
            return
        db.close_old_connections()
        with transaction.atomic():
            for job in Job.objects.select_for_update().filter(server_id=server_id, state=State.PROCESSING):
                states.apply_state(
                    job,
                    State.ENQUEUED,
                    f"Server {server_id} shut down before the job finished",
                    fields={
                        "fetch_token": None,
                        "lease_until": None,
                        "worker_pid": None,
                        "cancel_requested": False,
                        "cancel_reason": "",
                    },
                )

    def _mark_stopped(self):
        if self._server_id():
            states.mark_stopped(self._server_id())


class JobCluster(Cluster):
    """django-q2's Cluster, starting our Sentinel."""

    def start(self) -> int:
        self.stop_event = Event()
        self.start_event = Event()
        self.sentinel = get_mp_context().Process(
            target=JobSentinel,
            name=f"Process-{uuid.uuid4().hex}",
            args=(self.stop_event, self.start_event, self.cluster_id, self.broker, self.timeout),
        )
        # A stop signal that arrives while forking would reach the Sentinel before it can disregard
        # it: block them until the fork is done. The child starts with them blocked (the mask
        # is inherited) and unblocks once it disregards them; here a pending one is handled now.
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            self.sentinel.start()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        logger.info("Job server %s starting with %s workers", self.name, Conf.WORKERS)
        while self.start_event and not self.start_event.is_set():
            if not self.sentinel.is_alive():
                if self.sentinel.exitcode == 0:
                    break
                raise RuntimeError(
                    f"Job server {self.name} failed to start (exit code {self.sentinel.exitcode})"
                )
            time.sleep(0.1)
        return self.pid
