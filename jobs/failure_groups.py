"""Failed jobs grouped by how they failed: exception class and masked message (jobs/fingerprints.py).

Each Failed job carries its group key (Job.failure_group, set by jobs/states.py when it failed),
so the groups are one GROUP BY over job_failure_group_idx (a partial index of Failed jobs only)
and a group's jobs one range of it: no message is read to group, however many jobs failed.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Max, Min

from jobs import fingerprints
from jobs.models import Job, State

# A group action (retry, delete) touches at most this many of the group's jobs, newest first.
ACTION_CAP = 1000
# The page lists this many groups, the largest first.
MAX_GROUPS = 200
EXAMPLE_FIELDS = (
    "id",
    "task_path",
    "queue",
    "state",
    "state_changed_at",
    "exception_class",
    "exception_message",
)


@dataclass
class FailureGroup:
    key: str
    count: int
    first_seen: datetime
    last_seen: datetime
    example: Job | None = None

    @property
    def exception_class(self) -> str:
        return self.example.exception_class if self.example else ""

    @property
    def exception_name(self) -> str:
        return self.exception_class.rsplit(".", 1)[-1]

    @property
    def fingerprint(self) -> str:
        """The masked message every job of the group shares."""
        return fingerprints.masked(self.example.exception_message) if self.example else ""


def failed_in_group(key: str):
    return Job.objects.filter(state=State.FAILED, failure_group=key)


def _example(key: str) -> Job | None:
    """The group's newest failure: the first entry of its range of the index."""
    return failed_in_group(key).order_by("-state_changed_at").only(*EXAMPLE_FIELDS).first()


def groups(limit: int = MAX_GROUPS) -> list[FailureGroup]:
    """The failure groups of the Failed jobs, the largest first (then the most recent)."""
    rows = (
        Job.objects.filter(state=State.FAILED)
        .exclude(failure_group="")
        .order_by()
        .values_list("failure_group")
        .annotate(n=Count("*"), first=Min("state_changed_at"), last=Max("state_changed_at"))
        .order_by("-n", "-last", "failure_group")[:limit]
    )
    return [
        FailureGroup(key=key, count=n, first_seen=first, last_seen=last, example=_example(key))
        for key, n, first, last in rows
    ]


def group(key: str) -> FailureGroup | None:
    """One group by key, or None when no Failed job is in it (or the key is malformed)."""
    if not fingerprints.is_group_key(key):
        return None
    found = (
        failed_in_group(key)
        .order_by()
        .aggregate(n=Count("*"), first=Min("state_changed_at"), last=Max("state_changed_at"))
    )
    if not found["n"]:
        return None
    return FailureGroup(
        key=key, count=found["n"], first_seen=found["first"], last_seen=found["last"], example=_example(key)
    )


def capped_ids(key: str, cap: int = ACTION_CAP) -> list:
    """The ids a group action takes: the group's newest `cap` Failed jobs."""
    return list(failed_in_group(key).order_by("-state_changed_at", "-id").values_list("id", flat=True)[:cap])
