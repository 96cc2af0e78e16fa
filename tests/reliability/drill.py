"""What every drill shares: its size, starting several job servers at once, and the checks that
say "nothing lost, nothing run twice".

`make test` runs each drill small (DRILL_SIZE unset) so the suite stays practical on a laptop;
`make drills` sets DRILL_SIZE=full for the sizes the issue asks for (10,000 jobs, minutes of
recurring). A drill reads its numbers from `SIZE`, never from literals, so both sizes run the
same code.
"""

import os
import re
from dataclasses import dataclass

from django.db.models import Count

from jobs.models import Job, JobState, State
from tests.support.cluster import wait_for
from tests.testapp.models import Execution

FULL = os.environ.get("DRILL_SIZE", "").lower() == "full"


@dataclass(frozen=True)
class Size:
    servers: int
    workers: int
    jobs: int  # exactly-once drill: jobs spread over the three queues
    slow_jobs: int  # crash and graceful-stop drills: jobs running when the fault comes
    restart_jobs: int  # database-restart drill
    recurring_seconds: int  # how long the recurring drill watches its every-second job
    race_rounds: int  # continuation/batch race drill: rounds of "the last two finish together"


SIZE = (
    Size(
        servers=3,
        workers=4,
        jobs=10_000,
        slow_jobs=24,
        restart_jobs=2_000,
        recurring_seconds=90,
        race_rounds=100,
    )
    if FULL
    else Size(
        servers=3, workers=2, jobs=600, slow_jobs=4, restart_jobs=150, recurring_seconds=8, race_rounds=12
    )
)

# What a healthy server never logs: the fence dropping an outcome, or a traceback.
ALARMS = re.compile(r"Traceback|finished after losing its lease|could not be handed to a worker")


def start_servers(cluster_factory, count: int, workers: int, env: dict | None = None) -> list:
    """Start `count` real qcluster servers in parallel (each boot costs ~1 s of CPU); the
    `cluster_factory` fixture stops any still running at teardown."""
    servers = [cluster_factory(workers, env, wait=False) for _ in range(count)]
    for server in servers:
        server.wait_until_ready(60)
    return servers


def unfinished() -> int:
    return Job.objects.exclude(state__in=(State.SUCCEEDED, State.FAILED, State.DELETED)).count()


def wait_until_all_finished(servers, timeout: float, message: str = "every job to finish") -> None:
    def done():
        for server in servers:
            if server.process.poll() is not None:
                raise AssertionError(
                    f"qcluster {server.pid} exited with {server.process.returncode}:\n{server.log()[-3000:]}"
                )
        return unfinished() == 0

    try:
        wait_for(done, timeout, 0.2, message)
    except AssertionError as exc:
        logs = "\n".join(f"--- qcluster {s.pid} ---\n{s.log()[-2500:]}" for s in servers)
        raise AssertionError(f"{exc}\nstates: {state_counts()}\n{logs}") from None


def state_counts() -> dict:
    return dict(Job.objects.values_list("state").annotate(n=Count("id")).order_by())


def assert_executed_exactly_once(keys: set[str]) -> None:
    """Every key ran exactly once: the unique execution log has each key, and nothing else."""
    logged = list(Execution.objects.values_list("key", flat=True))
    assert len(logged) == len(set(logged))  # the unique constraint already guarantees this
    missing = keys - set(logged)
    extra = set(logged) - keys
    assert not missing, f"{len(missing)} job(s) never ran, e.g. {sorted(missing)[:5]}"
    assert not extra, f"unexpected executions: {sorted(extra)[:5]}"


def assert_quiet_logs(servers) -> None:
    """No server logged a traceback or a dropped outcome."""
    for server in servers:
        for line in server.log().splitlines():
            if ALARMS.search(line):
                raise AssertionError(f"qcluster {server.pid} logged: {line}\n{server.log()[-3000:]}")


def history(job: Job) -> list[str]:
    return list(JobState.objects.filter(job=job).order_by("created_at", "id").values_list("name", flat=True))
