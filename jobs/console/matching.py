"""Acting on every job a filtered list matches ("Select all N matching"): requeue, delete, cancel.

Two requests, as every destructive console action. The first selects the matching jobs (at most
MAX_MATCHING, in the list's order) and shows a confirmation page with how many and in which
states; the selection travels in that page as a signed token (django.core.signing: ids and the
state each was in), so what runs is what the person saw, and a post that did not come from
the page (a forged or edited token, an action other than the one confirmed, an old page) is
refused. The second runs the action through jobs.api, CHUNK jobs at a time, each job in its own
short transaction (never one long one over a thousand rows): a job whose state changed since the
page (it ran, someone else acted) is skipped and said so. One audit entry records it all.
"""

import uuid
from collections import Counter
from dataclasses import dataclass, field

from django.core import signing

from jobs import audit
from jobs.console import actions
from jobs.models import Job, State

MAX_MATCHING = 1000
CHUNK = 100
# A confirmation page older than this is refused: the jobs have moved on.
TOKEN_MAX_AGE = 15 * 60
_SALT = "jobs.console.matching"
STATE_LABELS = dict(State.choices)


class InvalidSelection(ValueError):
    """The selection token is not one this console signed for this action, or it is too old."""


@dataclass
class Selection:
    action: str
    rows: list  # (job id, state it was in when the page was shown)
    more: bool = False  # the filter matched more than MAX_MATCHING jobs
    filters: list = field(default_factory=list)  # (name, value): the list it came from

    def encode(self) -> str:
        return signing.dumps(
            {
                "a": self.action,
                "j": [[pk.hex, state] for pk, state in self.rows],
                "m": self.more,
                "f": self.filters,
            },
            salt=_SALT,
            compress=True,
        )

    @classmethod
    def decode(cls, token: str, action: str) -> "Selection":
        try:
            data = signing.loads(token or "", salt=_SALT, max_age=TOKEN_MAX_AGE)
        except signing.SignatureExpired:
            raise InvalidSelection("This confirmation page is too old: select the jobs again.") from None
        except signing.BadSignature:
            raise InvalidSelection("The selection was not made by this console.") from None
        if data.get("a") != action:
            raise InvalidSelection(f"The selection was confirmed for {data.get('a')!r}, not {action!r}.")
        rows = [(uuid.UUID(hex=pk), state) for pk, state in data["j"]]
        return cls(action, rows, bool(data.get("m")), [tuple(item) for item in data.get("f", [])])


def select(queryset, action: str, *, time_field: str, ascending: bool, filters) -> Selection:
    """The first MAX_MATCHING jobs of a filtered list, in its order, with their states."""
    order = (time_field, "pk") if ascending else (f"-{time_field}", "-pk")
    rows = list(queryset.order_by(*order).values_list("pk", "state")[: MAX_MATCHING + 1])
    return Selection(action, rows[:MAX_MATCHING], more=len(rows) > MAX_MATCHING, filters=list(filters))


def preview(selection: Selection, matches_text: str) -> actions.Preview:
    """The confirmation page: the action, how many jobs, in which states, and the first of them."""
    spec = actions.JOB_ACTIONS[selection.action]
    by_state = Counter(state for _, state in selection.rows)
    count = len(selection.rows)
    notes = [
        "In these states: "
        + ", ".join(f"{n:,} {STATE_LABELS.get(state, state).lower()}" for state, n in by_state.most_common())
        + "."
    ]
    if selection.more:
        notes.append(
            f"The filter matches {matches_text} jobs: this acts on the first {MAX_MATCHING:,} as the list "
            "shows them. Run it again for the next ones."
        )
    notes.append("A job whose state changes before you confirm is skipped, and listed as skipped.")
    ids = [pk for pk, _ in selection.rows[: actions.PREVIEW_ROWS]]
    shown = {job.pk: job for job in Job.objects.filter(pk__in=ids).only("id", "task_path", "state", "queue")}
    consequence = {
        "requeue": "They are enqueued again and run as soon as a worker is free.",
        "delete": "Deleted jobs do not run; they can be requeued from the Deleted list until they expire.",
        "cancel": "The running jobs are asked to stop, and end Deleted when they do.",
    }[selection.action]
    return actions.Preview(
        heading=f"{spec['label']} {count:,} matching job{'' if count == 1 else 's'}?",
        consequence=consequence,
        count=count,
        items=[shown[pk] for pk in ids if pk in shown],
        notes=notes,
        button=f"Yes, {spec['label'].lower()} {count:,}",
    )


@dataclass
class MatchingOutcome:
    verb: str
    done: list = field(default_factory=list)
    skipped: list = field(default_factory=list)  # (job id, why)

    def messages(self) -> list[tuple[str, str]]:
        found = [("success", f"{len(self.done):,} job{'' if len(self.done) == 1 else 's'} {self.verb}.")]
        if self.skipped:
            found.append(
                (
                    "warning",
                    f"{len(self.skipped):,} skipped: their state changed since the confirmation page.",
                )
            )
            for job_id, why in self.skipped[:20]:
                found.append(("warning", f"Job {job_id}: {why}"))
        return found


def run(selection: Selection, *, user, reason: str = "") -> MatchingOutcome:
    """Apply the action to the selected jobs that are still in the state they were shown in."""
    spec = actions.JOB_ACTIONS[selection.action]
    outcome = MatchingOutcome(verb=spec["done"])
    for start in range(0, len(selection.rows), CHUNK):
        chunk = selection.rows[start : start + CHUNK]
        now = dict(Job.objects.filter(pk__in=[pk for pk, _ in chunk]).values_list("pk", "state"))
        still = []
        for pk, state in chunk:
            if pk not in now:
                outcome.skipped.append((pk, "it no longer exists."))
            elif now[pk] != state:
                outcome.skipped.append((pk, f"it is {now[pk]} now (was {state})."))
            else:
                still.append(pk)
        # Each job through jobs.api in its own transaction; the API decides again (the state
        # may change between the read above and the job's row lock).
        done = actions.apply_each(selection.action, still, user=user, reason=reason)
        outcome.done += done.done
        outcome.skipped += done.refused
    audit.record(
        user,
        f"{selection.action}_matching",
        [(audit.JOB, pk) for pk in outcome.done],
        reason=reason,
        summary=f"{spec['label']} all matching: {len(outcome.done)} {outcome.verb}"
        + (f", {len(outcome.skipped)} skipped" if outcome.skipped else ""),
        details={
            "filters": dict(selection.filters),
            "selected": len(selection.rows),
            "skipped": [{"job": str(pk), "reason": why} for pk, why in outcome.skipped],
        },
    )
    actions.forget_cached()
    return outcome
