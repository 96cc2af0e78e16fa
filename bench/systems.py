"""The systems under test, behind one small interface, so every scenario treats them alike.

ours  — Dhanman Jobs: django.tasks `.enqueue()` writes a Job row + history; `manage.py qcluster`
        runs our broker (SKIP LOCKED claim, LISTEN/NOTIFY) and runner (full state history).
stock — django-q2 1.11 with its own ORM broker: `async_task()` writes an OrmQ row; its
        cluster polls the table and deletes the row when the task is acknowledged.
procrastinate — procrastinate 3 (bench/procrastinate_app.py): `defer()` writes a
        procrastinate_jobs row (+ an event row, by trigger) and NOTIFYs; one worker process runs
        `--concurrency` sync tasks in threads; finished jobs stay in the table (status succeeded).
"""

import os
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from bench.servers import Server, python


def server_env(**extra) -> dict[str, str]:
    """The environment of every server the bench starts: the bench's own, plus `extra`."""
    env = os.environ.copy()
    env.update({k: str(v) for k, v in extra.items()})
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Ours:
    key = "ours"
    title = "Dhanman Jobs"

    def __init__(self, root: str | None = None):
        # Another checkout's engine can be measured against this one (BENCH_OURS_ROOT): its
        # servers run from there; enqueueing still uses this checkout's code.
        self.root = root or os.environ.get("BENCH_OURS_ROOT") or None

    def start(self, workers: int, **env) -> Server:
        env = server_env(DJANGO_SETTINGS_MODULE="dhanman.settings", JOBS_WORKER_COUNT=workers, **env)
        return Server(self.key, workers, [python(), "manage.py", "qcluster"], env, cwd=self.root)

    def enqueue(self, label: str, seq: int) -> None:
        from bench.tasks import noop

        noop.enqueue(label, seq)

    def enqueue_bulk(self, label: str, seqs) -> None:
        from bench.tasks import noop
        from jobs.api import enqueue_many

        enqueue_many(noop, [((label, seq), {}) for seq in seqs])

    def enqueue_at(self, label: str, seq: int, at: datetime) -> None:
        from bench.tasks import noop

        noop.using(run_after=at).enqueue(label, seq)

    def pending(self) -> bool:
        """True while a job is not finished yet."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT EXISTS (SELECT 1 FROM jobs_job WHERE state IN ('scheduled', 'enqueued', 'processing'))"
            )
            return cursor.fetchone()[0]

    def worker_pids(self, server: Server) -> list[int]:
        """Our servers publish their worker pids in their Server row (the console shows them)."""
        from jobs.models import Server as ServerRow

        row = ServerRow.objects.filter(pid=server.pid).order_by("-started_at").first()
        return list(row.worker_pids) if row else []


class Stock:
    key = "stock"
    title = "django-q2 (ORM broker)"
    func = "bench.tasks.stock_noop"

    def start(self, workers: int, **env) -> Server:
        env = server_env(DJANGO_SETTINGS_MODULE="bench.settings", BENCH_WORKERS=workers, **env)
        return Server(self.key, workers, [python(), "-m", "bench.stock_cluster"], env)

    def enqueue(self, label: str, seq: int) -> None:
        from django_q.tasks import async_task

        async_task(self.func, label, seq)

    def enqueue_bulk(self, label: str, seqs) -> None:
        """django-q2 has no bulk enqueue: build the packages as `async_task` does, insert in bulk."""
        from django_q.conf import Conf
        from django_q.humanhash import uuid
        from django_q.models import OrmQ
        from django_q.signing import SignedPackage

        now = timezone.now()
        rows = []
        for seq in seqs:
            name, task_id = uuid()
            package = {
                "id": task_id,
                "name": name,
                "func": self.func,
                "args": (label, seq),
                "kwargs": {},
                "started": now,
            }
            if Conf.ACK_FAILURES:
                package["ack_failure"] = True
            rows.append(OrmQ(key=Conf.CLUSTER_NAME, payload=SignedPackage.dumps(package), lock=now))
        with transaction.atomic():
            OrmQ.objects.bulk_create(rows, batch_size=1000)

    def enqueue_at(self, label: str, seq: int, at: datetime) -> None:
        """django-q2's way to run something later: a Schedule of type ONCE."""
        from django_q.models import Schedule
        from django_q.tasks import schedule

        schedule(self.func, label, seq, schedule_type=Schedule.ONCE, next_run=at, name=f"{label}-{seq}")

    def pending(self) -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT EXISTS (SELECT 1 FROM django_q_ormq) OR EXISTS (SELECT 1 FROM django_q_schedule"
                " WHERE repeats <> 0)"
            )
            return cursor.fetchone()[0]

    def worker_pids(self, server: Server) -> list[int]:
        return [proc.pid for proc in server.worker_processes()]


class Procrastinate:
    key = "procrastinate"
    title = "procrastinate"

    def __init__(self):
        self._opened = False

    @staticmethod
    def dsn() -> str:
        from bench.database import _conninfo

        return _conninfo(os.environ["BENCH_PROCRASTINATE_DSN"])

    def _app(self):
        from bench.procrastinate_app import app

        if not self._opened:
            app.open()  # the sync connector, for defer() from the bench process
            self._opened = True
        return app

    def install_schema(self) -> None:
        """procrastinate's own tables, functions and triggers, in the bench database."""
        self._app().schema_manager.apply_schema()

    def start(self, workers: int, **env) -> Server:
        env = server_env(BENCH_PROCRASTINATE_DSN=os.environ["BENCH_PROCRASTINATE_DSN"], **env)
        command = [
            python(),
            "-m",
            "procrastinate",
            "--app=bench.procrastinate_app.app",
            "worker",
            f"--concurrency={workers}",
        ]
        return Server(self.key, workers, command, env, single_process=True)

    def enqueue(self, label: str, seq: int) -> None:
        self._app()
        from bench.procrastinate_app import noop

        noop.defer(label=label, seq=seq)

    def enqueue_bulk(self, label: str, seqs) -> None:
        """procrastinate's batch_defer: one INSERT of every job."""
        self._app()
        from bench.procrastinate_app import noop

        noop.batch_defer(*({"label": label, "seq": seq} for seq in seqs))

    def enqueue_at(self, label: str, seq: int, at: datetime) -> None:
        self._app()
        from bench.procrastinate_app import noop

        noop.configure(schedule_at=at).defer(label=label, seq=seq)

    def pending(self) -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT EXISTS (SELECT 1 FROM procrastinate_jobs WHERE status IN ('todo', 'doing'))"
            )
            return cursor.fetchone()[0]

    def worker_pids(self, server: Server) -> list[int]:
        """Its workers are threads of one process: that process is measured."""
        return [proc.pid for proc in server.worker_processes()]

    def close(self) -> None:
        if self._opened:
            from bench.procrastinate_app import app

            app.close()
            self._opened = False


SYSTEMS = (Ours(), Stock(), Procrastinate())
