"""What an import found and did, entry by entry: a table for people, JSON for scripts.

Every legacy entry becomes one Entry with a status:
  create / update / unchanged  what the import writes (or, with --dry-run, would write);
  skipped                      valid but not carried (a state we do not carry, @reboot, a schedule
                               our Cron cannot express ...), with the reason;
  unmapped                     no [[map]] rule names it: never imported, never run;
  error                        wrong input: the whole import writes nothing.
"""

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime

from django.utils import timezone

from jobs import cron

WRITES = ("create", "update")
STATUSES = ("create", "update", "unchanged", "skipped", "unmapped", "error")


@dataclass
class Entry:
    source: str  # the legacy entry as the operator knows it ("line 3: 0 10 * * * /usr/bin/x")
    kind: str = "recurring"  # "recurring" (a RecurringJob) or "job" (one job: delayed, enqueued ...)
    status: str = "create"
    reason: str = ""
    id: str = ""  # the recurring job id, or the imported job's external id
    cron: str = ""
    timezone: str = ""
    task: str = ""
    args: list = field(default_factory=list)
    kwargs: dict = field(default_factory=dict)
    queue: str = ""
    state: str = ""  # for jobs: the state it is created in
    run_at: datetime | None = None
    next_runs: list = field(default_factory=list)
    details: dict = field(default_factory=dict)  # importer-specific (hangfire ids, carried times ...)

    def fail(self, reason: str) -> "Entry":
        self.status, self.reason = "error", reason
        return self

    def skip(self, reason: str, status: str = "skipped") -> "Entry":
        self.status, self.reason = status, reason
        return self

    def as_json(self) -> dict:
        data = asdict(self)
        data["run_at"] = self.run_at.isoformat() if self.run_at else None
        data["next_runs"] = [run.isoformat() for run in self.next_runs]
        return data


def fill_next_runs(entry: Entry, now: datetime, count: int = 3) -> None:
    """The next `count` fire times, as aware datetimes in the entry's own zone."""
    if entry.cron and entry.timezone:
        zone = cron.zone(entry.timezone)
        entry.next_runs = [
            run.astimezone(zone) for run in cron.upcoming(entry.cron, entry.timezone, now, count)
        ]


def summary(entries: list[Entry]) -> dict:
    counts = {status: 0 for status in STATUSES}
    for entry in entries:
        counts[entry.status] += 1
    return counts


def as_json(entries: list[Entry], *, dry_run: bool, written: bool, notes: Sequence[str] = ()) -> str:
    return json.dumps(
        {
            "dry_run": dry_run,
            "written": written,
            "summary": summary(entries),
            "notes": list(notes),
            "entries": [entry.as_json() for entry in entries],
        },
        indent=2,
        default=str,
    )


def _short(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _when(entry: Entry) -> str:
    if entry.next_runs:
        return ", ".join(run.strftime("%Y-%m-%d %H:%M") for run in entry.next_runs)
    if entry.run_at:
        return timezone.localtime(entry.run_at).strftime("%Y-%m-%d %H:%M %Z")
    return ""


def as_table(entries: list[Entry], *, dry_run: bool, written: bool, notes: Sequence[str] = ()) -> str:
    """legacy entry → recurring id, cron, zone, task, next three fire times (in the zone), status."""
    headers = ("legacy", "→ id", "cron", "time zone", "task", "next runs (local)", "status")
    rows = [
        (
            _short(e.source, 60),
            _short(e.id, 40),
            e.cron or (e.state if e.kind == "job" else ""),
            e.timezone,
            _short(e.task, 45),
            _when(e),
            e.status,
        )
        for e in entries
    ]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for entry, row in zip(entries, rows, strict=True):
        lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
        if entry.reason:
            lines.append(f"    {entry.status}: {entry.reason}")
    counts = summary(entries)
    lines.append("")
    lines.append(", ".join(f"{n} {status}" for status, n in counts.items() if n) or "nothing found")
    lines.extend(notes)
    if counts["error"]:
        lines.append(f"{counts['error']} error(s): nothing was written.")
    elif dry_run:
        lines.append("Dry run: nothing was written.")
    elif written:
        lines.append("Written.")
    return "\n".join(lines)
