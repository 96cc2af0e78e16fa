"""Recurring jobs: declarations, the API (add_or_update, remove, trigger, enable, disable), the
`seed_recurring_jobs` steps, and the firing step that a server runs between claims.

A recurring job is a RecurringJob row: a registered task, its arguments, a five-field cron
expression read on the wall clock of the row's own time zone, and `next_run_at` (stored, indexed).
Firing claims due rows with SKIP LOCKED and, in one transaction per row, creates the job and moves
`next_run_at` on: any number of servers fire each run exactly once.

Who owns `enabled`: a declaration's `enabled` is the state a job is created in; after that the
console and the API (enable/disable) own it, so a deploy that re-seeds does not switch back on a
job that an operator switched off.
"""

import importlib
import importlib.util
import logging
import zlib
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime, timedelta

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import DatabaseError, connection, transaction
from django.db.models import Min
from django.tasks import Task
from django.tasks.exceptions import InvalidTask
from django.utils import timezone

from jobs import cron
from jobs.conf import jobs_settings
from jobs.creation import bind_arguments, existing_job, insert_jobs, new_job, validate_arguments
from jobs.cron import Cron, InvalidSchedule, describe, latest_run, next_run, runs_between
from jobs.models import Job, Misfire, RecurringJob
from jobs.registry import UnknownTask, resolve_task

__all__ = [
    "Cron",
    "InvalidSchedule",
    "Recurring",
    "RecurringJobNotFound",
    "add_or_update",
    "collect_declarations",
    "describe",
    "disable",
    "enable",
    "fire_due_recurring_jobs",
    "next_due_at",
    "remove",
    "seed",
    "trigger",
    "validate_declarations",
]

logger = logging.getLogger("jobs.recurring")

# The fields a declaration sets; comparing them tells "updated" from "unchanged".
CONFIG_FIELDS = ("task_path", "args", "kwargs", "cron", "timezone", "queue", "misfire")
# Seeding and add_or_update take this PostgreSQL advisory lock, so that two deploys seeding at
# once queue up instead of racing to insert the same ids.
SEED_LOCK = zlib.crc32(b"dhanman_jobs.recurring.seed")


class RecurringJobNotFound(LookupError):
    pass


def misfire_grace() -> timedelta:
    """A run found later than this after its time was missed (the server was down)."""
    return timedelta(seconds=jobs_settings.RECURRING_MISFIRE_GRACE_SECONDS)


def strict_misfire_cap() -> int:
    """The most jobs one strict recurring job creates for runs missed during one outage."""
    return jobs_settings.RECURRING_STRICT_MISFIRE_CAP


# --- Declarations -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Recurring:
    """One recurring job, declared in an app's `schedules.py`:

        RECURRING = [Recurring("generate-monthly-invoices", generate_monthly_invoices,
                               Cron.monthly(day=1, hour=6))]

    `queue` defaults to the task's own queue, `tz` to settings.TIME_ZONE. `misfire` says what to
    do about runs missed while no server ran: "relaxed" (one job), "strict" (one per missed run)
    or "ignore" (none). Nothing is checked until `validate()`, so that `seed_recurring_jobs` can
    report every bad declaration at once.
    """

    id: str
    task: Task | str
    cron: str
    _: KW_ONLY
    queue: str | None = None
    tz: str | None = None
    args: tuple | list = ()
    kwargs: dict | None = None
    misfire: str = Misfire.RELAXED
    enabled: bool = True

    def validate(self) -> dict:
        """The RecurringJob field values this declares, or InvalidSchedule naming it."""
        name = f"Recurring job {self.id!r}"
        if not isinstance(self.id, str):
            raise InvalidSchedule(f"Recurring job id {self.id!r} is not a string.")
        try:
            validate_slug(self.id)
        except ValidationError:
            raise InvalidSchedule(
                f"{name}: the id must be a slug (letters, digits, '-' and '_'), such as 'generate-monthly-invoices'."
            ) from None
        id_length = RecurringJob._meta.get_field("id").max_length
        if id_length is not None and len(self.id) > id_length:
            raise InvalidSchedule(f"{name}: the id is longer than {id_length} characters.")
        try:
            task = _registered_task(self.task)
            expr = cron.validate_cron(self.cron)
            tz = cron.validate_timezone(self.tz if self.tz is not None else settings.TIME_ZONE)
        except InvalidSchedule as exc:
            raise InvalidSchedule(f"{name}: {exc}") from None
        queue = self.queue if self.queue is not None else task.queue_name
        if queue not in jobs_settings.QUEUES:
            raise InvalidSchedule(
                f"{name}: unknown queue {queue!r}; the queues are {', '.join(jobs_settings.QUEUES)}."
            )
        if self.misfire not in Misfire.values:
            raise InvalidSchedule(
                f"{name}: unknown misfire policy {self.misfire!r}; use one of {', '.join(Misfire.values)}."
            )
        if not isinstance(self.enabled, bool):
            raise InvalidSchedule(f"{name}: enabled must be True or False, not {self.enabled!r}.")
        if isinstance(self.args, str | bytes | dict) or not isinstance(self.args, tuple | list):
            raise InvalidSchedule(f"{name}: args must be a tuple or list, not {type(self.args).__name__}.")
        if self.kwargs is not None and not isinstance(self.kwargs, dict):
            raise InvalidSchedule(f"{name}: kwargs must be a dict, not {type(self.kwargs).__name__}.")
        try:
            args, kwargs = validate_arguments(task.name, self.args, self.kwargs)
            bind_arguments(task, args, kwargs)
        except (TypeError, ValueError) as exc:
            raise InvalidSchedule(f"{name}: {exc}") from None
        return {
            "id": self.id,
            "task_path": task.module_path,
            "args": args,
            "kwargs": kwargs,
            "cron": expr,
            "timezone": tz,
            "queue": queue,
            "misfire": str(self.misfire),
            "enabled": self.enabled,
        }


def _registered_task(task) -> Task:
    if isinstance(task, Task):
        path = task.module_path
    elif isinstance(task, str):
        path = task
    elif callable(task):
        path = f"{getattr(task, '__module__', '?')}.{getattr(task, '__qualname__', task)!s}"
        raise InvalidSchedule(f"{path} is a plain function, not a task: declare it with django.tasks' @task.")
    else:
        raise InvalidSchedule(f"{task!r} is not a task.")
    try:
        return resolve_task(path)
    except UnknownTask as exc:
        raise InvalidSchedule(str(exc)) from None


# --- The API ------------------------------------------------------------------------------------


def _seed_lock() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEED_LOCK])


def _apply(row: RecurringJob | None, values: dict, *, set_enabled: bool, now: datetime, write: bool) -> str:
    """Create or update one row from validated values: "created", "updated" or "unchanged".

    `next_run_at` is recomputed only when the cron or the zone changed or the job is being
    enabled, so an upsert never skips or repeats a run that is already due.
    """
    if row is None:
        enabled = values["enabled"]
        row = RecurringJob(
            **{name: values[name] for name in ("id", *CONFIG_FIELDS)},
            enabled=enabled,
            next_run_at=next_run(values["cron"], values["timezone"], now) if enabled else None,
        )
        if write:
            row.save(force_insert=True)
        return "created"
    changed = [name for name in CONFIG_FIELDS if getattr(row, name) != values[name]]
    for name in changed:
        setattr(row, name, values[name])
    enabling = set_enabled and values["enabled"] and not row.enabled
    if set_enabled and row.enabled != values["enabled"]:
        row.enabled = values["enabled"]
        changed.append("enabled")
    if not row.enabled:
        if row.next_run_at is not None:
            row.next_run_at = None
            changed.append("next_run_at")
    elif enabling or "cron" in changed or "timezone" in changed or row.next_run_at is None:
        row.next_run_at = next_run(row.cron, row.timezone, now)
        changed.append("next_run_at")
    if not changed:
        return "unchanged"
    if write:
        row.save(update_fields=[*dict.fromkeys(changed), "updated_at"])
    return "updated"


def add_or_update(
    id: str,
    task,
    cron: str,
    *,
    args=(),
    kwargs=None,
    tz: str | None = None,
    queue: str | None = None,
    enabled: bool | None = None,
    misfire: str = Misfire.RELAXED,
    now: datetime | None = None,
) -> RecurringJob:
    """Create the recurring job `id`, or bring it in line with these values (idempotent).

    `enabled=None` keeps an existing job's state (a new one starts enabled).
    """
    values = Recurring(
        id,
        task,
        cron,
        queue=queue,
        tz=tz,
        args=args,
        kwargs=kwargs,
        misfire=misfire,
        enabled=True if enabled is None else enabled,
    ).validate()
    now = now or timezone.now()
    with transaction.atomic():
        _seed_lock()
        row = RecurringJob.objects.select_for_update().filter(pk=id).first()
        _apply(row, values, set_enabled=enabled is not None, now=now, write=True)
    return RecurringJob.objects.get(pk=id)


def remove(id: str) -> bool:
    """Delete the recurring job (its past jobs stay). True if it existed."""
    deleted, _ = RecurringJob.objects.filter(pk=id).delete()
    return bool(deleted)


def _locked(id: str) -> RecurringJob:
    row = RecurringJob.objects.select_for_update().filter(pk=id).first()
    if row is None:
        raise RecurringJobNotFound(f"There is no recurring job {id!r}.")
    return row


def trigger(id: str, *, now: datetime | None = None) -> Job:
    """Create a job now (enabled or not); the next scheduled run is unchanged."""
    now = now or timezone.now()
    with transaction.atomic():
        row = _locked(id)
        try:
            job = _new_job(row, now)
        except (UnknownTask, InvalidTask, TypeError, ValueError) as exc:
            raise InvalidSchedule(f"Recurring job {id!r} cannot run: {exc}") from None
        if not insert_jobs([job], reasons=[f"Triggered from recurring job {id!r}"]):
            job = existing_job(job)  # a unique task whose key is live: that job stands for this run
        row.last_run_at, row.last_job = now, job
        row.save(update_fields=["last_run_at", "last_job"])
    return job


def enable(id: str, *, now: datetime | None = None) -> RecurringJob:
    """Switch the job on; its next run is the first one after now (missed runs are not made up)."""
    now = now or timezone.now()
    with transaction.atomic():
        row = _locked(id)
        if not row.enabled or row.next_run_at is None:
            row.enabled = True
            try:
                row.next_run_at = next_run(row.cron, row.timezone, now)
            except InvalidSchedule as exc:
                raise InvalidSchedule(f"Recurring job {id!r} cannot be enabled: {exc}") from None
            row.save(update_fields=["enabled", "next_run_at", "updated_at"])
    return row


def disable(id: str) -> RecurringJob:
    """Switch the job off without deleting it: it keeps its settings and history, and no run is due."""
    with transaction.atomic():
        row = _locked(id)
        if row.enabled or row.next_run_at is not None:
            row.enabled, row.next_run_at = False, None
            row.save(update_fields=["enabled", "next_run_at", "updated_at"])
    return row


# --- Firing -------------------------------------------------------------------------------------


def _new_job(row: RecurringJob, now: datetime) -> Job:
    task = resolve_task(row.task_path)
    if task.queue_name != row.queue:
        task = task.using(queue_name=row.queue)
    return new_job(task, row.args, row.kwargs, recurring_job=row, now=now)


def next_due_at() -> datetime | None:
    """When the earliest enabled recurring job is due (for a server deciding how long to sleep)."""
    return RecurringJob.objects.filter(enabled=True).aggregate(at=Min("next_run_at"))["at"]


def fire_due_recurring_jobs(now: datetime | None = None, limit: int = 100) -> int:
    """Create the jobs of every recurring job that is due; return how many jobs were created.

    Called by each server's housekeeping every SCHEDULE_POLLING_INTERVAL. When nothing is due it
    costs one query on the partial index over enabled rows' next_run_at.
    """
    now = now or timezone.now()
    due = list(
        RecurringJob.objects.filter(enabled=True, next_run_at__lte=now)
        .order_by("next_run_at")
        .values_list("id", flat=True)[:limit]
    )
    return sum(_fire(id, now) for id in due)


def _fire(id: str, now: datetime) -> int:
    try:
        with transaction.atomic():
            # Another server holding the row is firing it: skip. One that has fired it already
            # has moved next_run_at past now, which the condition re-checks on the locked row.
            row = (
                RecurringJob.objects.select_for_update(skip_locked=True)
                .filter(pk=id, enabled=True, next_run_at__lte=now)
                .first()
            )
            if row is None:
                return 0
            return _fire_row(row, now)
    except DatabaseError:
        raise  # the broker's business: it reconnects
    except Exception as exc:
        # A bug met by one row must not stop the server's pusher (which would meet it again at
        # every poll): its transaction is rolled back, the error is kept, the row moves on.
        logger.exception("Recurring job %r could not be fired", id)
        with transaction.atomic():
            row = (
                RecurringJob.objects.select_for_update(skip_locked=True)
                .filter(pk=id, next_run_at__lte=now)
                .first()
            )
            if row is not None:
                try:
                    following = next_run(row.cron, row.timezone, now)
                except InvalidSchedule:
                    following = None
                _record_error(row, f"Firing failed: {type(exc).__name__}: {exc}", following)
        return 0


def _fire_row(row: RecurringJob, now: datetime) -> int:
    try:
        following = next_run(row.cron, row.timezone, now)
    except InvalidSchedule as exc:
        # Nothing can be computed: take the row out of the due set until someone fixes it.
        return _record_error(row, f"{exc} It is not scheduled until its schedule is fixed.", None)
    plan = _plan(row, now)
    try:
        jobs = [_new_job(row, now) for _ in plan.runs]
    except (UnknownTask, InvalidTask, TypeError, ValueError) as exc:
        return _record_error(row, f"No job was created: {exc}", following)
    if jobs:
        inserted = insert_jobs(jobs, reasons=[_reason(row, at, now, plan.note) for at in plan.runs])
        # A unique task whose key is live inserts nothing: the live job stands for the run.
        row.last_run_at, row.last_job = now, (inserted or [existing_job(jobs[-1])])[-1]
    if plan.warning:
        logger.warning("Recurring job %r: %s", row.id, plan.warning)
    row.next_run_at, row.last_error = following, plan.warning
    row.save(update_fields=["last_run_at", "last_job", "next_run_at", "last_error"])
    return len(jobs)


@dataclass(frozen=True)
class _Plan:
    runs: list[datetime]  # the runs that get a job
    note: str = ""  # added to the job's first history reason (relaxed: how many were missed)
    warning: str = ""  # kept in last_error for the console


def _plan(row: RecurringJob, now: datetime) -> _Plan:
    """Which of the runs in [next_run_at, now] get a job, under the row's misfire policy.

    A run found more than the misfire grace after its time was missed (no server was running).
    """
    due, cap = row.next_run_at, strict_misfire_cap()
    assert due is not None  # only due rows (next_run_at <= now) are planned
    since = _when(row, due)
    # Up to cap + 1 runs from the due one: enough to count or list what strict needs.
    runs = [due, *runs_between(row.cron, row.timezone, due, now, limit=cap)]
    if row.misfire == Misfire.STRICT:
        if len(runs) > cap:
            return _Plan(
                runs[:cap],
                warning=f"More than {cap} runs were missed since {since}: jobs were created for the first "
                f"{cap} only (the strict misfire cap), the others were skipped.",
            )
        return _Plan(runs)
    latest = latest_run(row.cron, row.timezone, due, now) or due
    on_time = now - latest <= misfire_grace()
    if row.misfire == Misfire.IGNORE:
        # Only a run that is on time gets a job; missed ones are dropped.
        return _Plan([latest] if on_time else [])
    missed = len(runs) - (1 if on_time else 0)
    if not missed:
        return _Plan([latest])
    count = f"at least {missed}" if len(runs) > cap else str(missed)
    return _Plan([latest], note=f"{count} missed run(s) since {since}, one job")


def _when(row: RecurringJob, at: datetime) -> str:
    """A run's time on the job's own wall clock ("2027-03-14 03:00 EDT")."""
    local = at.astimezone(cron.zone(row.timezone))
    clock = "%H:%M:%S" if local.second else "%H:%M"
    return local.strftime(f"%Y-%m-%d {clock} %Z")


def _reason(row: RecurringJob, at: datetime, now: datetime, note: str) -> str:
    reason = f"Recurring job {row.id!r}, run of {_when(row, at)}"
    if not note and now - at > misfire_grace():
        note = "missed"
    return f"{reason} ({note})" if note else reason


def _record_error(row: RecurringJob, message: str, following: datetime | None) -> int:
    logger.warning("Recurring job %r: %s", row.id, message)
    row.last_error = message
    row.next_run_at = following
    row.save(update_fields=["last_error", "next_run_at"])
    return 0


# --- Declarations as data: `manage.py seed_recurring_jobs` -------------------------------------


@dataclass
class SeedReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    # Rows in the database that no schedules.py declares (removed only with --prune).
    undeclared: list[str] = field(default_factory=list)


def collect_declarations(app_configs=None) -> list[tuple[str, Recurring]]:
    """(module, declaration) for every `RECURRING` entry of every installed app's schedules.py.

    Apps without a schedules module are skipped; a module that fails to import, has no
    RECURRING list or lists something that is not a Recurring is an InvalidSchedule.
    """
    found = []
    for app_config in app_configs if app_configs is not None else apps.get_app_configs():
        module_name = f"{app_config.name}.schedules"
        try:
            if importlib.util.find_spec(module_name) is None:
                continue
            module = importlib.import_module(module_name)
        except Exception as exc:
            raise InvalidSchedule(
                f"{module_name} could not be imported: {type(exc).__name__}: {exc}"
            ) from exc
        declared = getattr(module, "RECURRING", None)
        if not isinstance(declared, list | tuple):
            raise InvalidSchedule(f"{module_name} has no RECURRING list of Recurring(...) declarations.")
        for item in declared:
            if not isinstance(item, Recurring):
                raise InvalidSchedule(
                    f"{module_name}: RECURRING lists {item!r}, which is not a Recurring(...)."
                )
            found.append((module_name, item))
    return found


def validate_declarations(declared: list[tuple[str, Recurring]]) -> list[dict]:
    """Validate every declaration; raise one InvalidSchedule listing every problem found."""
    problems: list[str] = []
    values: list[dict] = []
    seen: dict[str, str] = {}
    for module_name, declaration in declared:
        try:
            values.append(declaration.validate())
        except InvalidSchedule as exc:
            problems.append(f"{module_name}: {exc}")
            continue
        if declaration.id in seen:
            problems.append(
                f"{module_name}: recurring job {declaration.id!r} is declared twice "
                f"(also in {seen[declaration.id]})."
            )
        seen.setdefault(declaration.id, module_name)
    if problems:
        count = f"{len(problems)} invalid recurring job declaration(s)"
        raise InvalidSchedule(f"{count}; nothing was written:\n" + "\n".join(f"  - {p}" for p in problems))
    return values


def seed(
    declared: list[tuple[str, Recurring]], *, prune: bool = False, dry_run: bool = False, now=None
) -> SeedReport:
    """Upsert every declaration in one transaction (after validating them all)."""
    values = validate_declarations(declared)
    now = now or timezone.now()
    report = SeedReport()
    with transaction.atomic():
        _seed_lock()
        existing = {row.id: row for row in RecurringJob.objects.select_for_update()}
        for item in values:
            outcome = _apply(existing.get(item["id"]), item, set_enabled=False, now=now, write=not dry_run)
            getattr(report, outcome).append(item["id"])
        stale = sorted(set(existing) - {item["id"] for item in values})
        if prune:
            if not dry_run:
                RecurringJob.objects.filter(pk__in=stale).delete()
            report.removed = stale
        else:
            report.undeclared = stale
    return report
