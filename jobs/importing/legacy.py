"""`import_schedules`: what the three legacy parsers find, turned into a checked plan, then written.

A parser yields Found items (a schedule in our five-field CRON form and an IANA zone, or a
one-off time, or why the entry cannot be carried). `plan` looks each up in the mapping, derives
recurring ids, validates everything and compares with what is already stored, without writing.
`apply` writes the plan in one transaction through the engine's own entry points
(jobs.recurring.add_or_update, jobs.api.create_job): all of it or, on any error, none of it.
"""

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from jobs import cron
from jobs.api import create_job
from jobs.creation import bind_arguments
from jobs.importing.mapping import Mapping, Rule
from jobs.importing.report import Entry, fill_next_runs
from jobs.models import Job, RecurringJob
from jobs.recurring import CONFIG_FIELDS, InvalidSchedule, Recurring, add_or_update


@dataclass
class Found:
    source: str  # how the operator knows the entry ("line 4: 0 10 * * * /usr/local/bin/x")
    keys: tuple  # what a [[map]] match may name, most exact first
    name: str  # the legacy name a recurring id is derived from
    cron: str = ""  # five-field CRON, already converted from the legacy form
    timezone: str = ""  # IANA; empty: --timezone / settings.TIME_ZONE
    run_at: datetime | None = None  # a one-off (a delayed job) instead of a schedule
    external_id: str = ""  # for one-offs: what makes a second import find the job
    error: str = ""  # wrong input: nothing is written
    skip: str = ""  # valid, but not something we carry


def slugify_id(name: str) -> str:
    """A recurring id from a legacy name: "SendPaymentReminders" → "send-payment-reminders"."""
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", name.strip())
    text = re.sub(r"[^A-Za-z0-9_]+", "-", text).strip("-_").lower()
    return (text or "imported")[:100].rstrip("-")


MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
LONGEST = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # February 29 exists in leap years


def _months(field: str) -> set[int] | None:
    if field == "*":
        return set(range(1, 13))
    months: set[int] = set()
    for part in field.upper().split(","):
        start, _, end = part.partition("-")
        try:
            first = MONTH_NAMES.index(start) + 1 if start in MONTH_NAMES else int(start)
            last = (MONTH_NAMES.index(end) + 1 if end in MONTH_NAMES else int(end)) if end else first
        except ValueError:
            return None
        months.update(range(first, last + 1))
    return months


def impossible_date(expression: str) -> str:
    """Why a schedule naming only days its months never have ("0 0 31 2 *") can never fire, or ""."""
    fields = expression.split()
    if len(fields) != 5 or not re.fullmatch(r"\d+(,\d+)*", fields[2]):
        return ""
    days, months = [int(d) for d in fields[2].split(",")], _months(fields[3])
    if not months or not all(1 <= m <= 12 for m in months):
        return ""
    if all(day > LONGEST[month - 1] for day in days for month in months):
        return (
            f"{expression!r} never fires: no month it names has day {', '.join(map(str, days))}; "
            "nothing would ever run, so it is not imported"
        )
    return ""


def schedule_problem(expression: str) -> str:
    """Why a five-field expression cannot be imported (malformed, or it never fires), or ""."""
    if never := impossible_date(expression):
        return never
    try:
        cron.validate_cron(expression)
    except InvalidSchedule as exc:
        message = str(exc)
        if "never runs" in message:
            return f"{expression!r} never fires: nothing would ever run, so it is not imported ({message})"
        return message
    return ""


def check_arguments(task, args, kwargs) -> str:
    """Why (args, kwargs) cannot call `task`, or "" when they can: the engine's own check at
    enqueue (jobs.creation.bind_arguments), asked before anything is written."""
    try:
        bind_arguments(task, args, kwargs)
    except TypeError as exc:
        given = ", ".join([*map(repr, args), *(f"{k}={v!r}" for k, v in kwargs.items())])
        return f"the arguments ({given}) do not fit: {exc}"
    return ""


def _recurring_values(entry: Entry, rule: Rule) -> dict:
    """RecurringJob field values, validated exactly as a declaration would be."""
    return Recurring(
        entry.id,
        rule.task,
        entry.cron,
        tz=entry.timezone,
        queue=rule.queue,
        args=entry.args,
        kwargs=entry.kwargs,
    ).validate()


def compare_recurring(values: dict) -> str:
    """'create', 'update' or 'unchanged' against the stored row (read only)."""
    row = RecurringJob.objects.filter(pk=values["id"]).first()
    if row is None:
        return "create"
    return "unchanged" if all(getattr(row, name) == values[name] for name in CONFIG_FIELDS) else "update"


def plan(found: list[Found], mapping: Mapping, *, default_tz: str | None = None, now=None) -> list[Entry]:
    now = now or timezone.now()
    default_tz = default_tz or settings.TIME_ZONE
    entries: list[Entry] = []
    used_ids: dict[str, Any] = {}
    for item in found:
        entry = Entry(
            source=item.source,
            kind="job" if item.run_at else "recurring",
            cron=item.cron,
            timezone=item.timezone or default_tz,
        )
        entries.append(entry)
        if item.error:
            entry.fail(item.error)
            continue
        rule = mapping.find(*item.keys)
        if item.skip:
            entry.skip(item.skip)
            if rule:
                entry.task = rule.task.module_path
            continue
        if problem := schedule_problem(entry.cron) if not item.run_at else "":
            entry.fail(problem)  # a wrong line is wrong whether or not it is mapped
            continue
        if rule is None:
            entry.skip(
                f"no [[map]] rule matches {item.keys[0]!r}: not imported (legacy commands are never run)",
                "unmapped",
            )
            continue
        entry.task = rule.task.module_path
        entry.args, entry.kwargs = list(rule.args or []), dict(rule.kwargs or {})
        entry.queue = rule.queue or rule.task.queue_name
        problem = check_arguments(rule.task, entry.args, entry.kwargs)
        if problem:
            entry.fail(f"{rule.label}: {problem}")
            continue
        if item.run_at:
            _plan_one_off(entry, item, rule, now)
            continue
        base = rule.id or slugify_id(item.name)
        entry.id = base
        if base in used_ids:
            if rule.id:
                entry.fail(
                    f"recurring id {base!r} is also used by {used_ids[base]}: give each entry its own [[map]] id"
                )
                continue
            number = 2
            while f"{base}-{number}" in used_ids:
                number += 1
            entry.id = f"{base}-{number}"[:100]
        used_ids[entry.id] = item.source
        try:
            values = _recurring_values(entry, rule)
        except InvalidSchedule as exc:
            entry.fail(str(exc))
            continue
        entry.cron, entry.timezone, entry.queue = values["cron"], values["timezone"], values["queue"]
        entry.status = compare_recurring(values)
        fill_next_runs(entry, now)
    return entries


def _plan_one_off(entry: Entry, item: Found, rule: Rule, now) -> None:
    entry.kind, entry.cron, entry.id = "job", "", item.external_id
    assert item.run_at is not None  # planned as a one-off because it has a run_at
    entry.run_at = item.run_at.astimezone(cron.zone(entry.timezone))
    if item.run_at <= now:
        entry.skip(f"a one-off for {entry.run_at:%Y-%m-%d %H:%M %Z}, which has passed: not imported")
        return
    entry.state = "scheduled"
    if Job.objects.filter(external_id=item.external_id).exists():
        entry.status = "unchanged"


def apply(entries: list[Entry]) -> None:
    """Write every create/update entry in one transaction (the plan must have no errors)."""
    from jobs.registry import resolve_task

    assert not any(e.status == "error" for e in entries), "apply() needs a plan without errors"
    with transaction.atomic():
        for entry in entries:
            if entry.status not in ("create", "update"):
                continue
            task = resolve_task(entry.task)
            if entry.kind == "recurring":
                add_or_update(
                    entry.id,
                    task,
                    entry.cron,
                    args=entry.args,
                    kwargs=entry.kwargs,
                    tz=entry.timezone,
                    queue=entry.queue,
                )
            else:
                if task.queue_name != entry.queue:
                    task = task.using(queue_name=entry.queue)
                create_job(
                    task,
                    entry.args,
                    entry.kwargs,
                    run_after=entry.run_at,
                    external_id=entry.id,
                    reason=f"Imported from {entry.source}",
                )
