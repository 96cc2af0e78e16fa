"""`import_hangfire`: read a Hangfire.PostgreSql schema (read-only) and carry its recurring jobs and
its pending jobs over.

What Hangfire 1.8 stores, and where (Hangfire.PostgreSql's tables):
  set "recurring-jobs"            the recurring job ids;
  hash "recurring-job:{id}"       Cron, TimeZoneId (Windows or IANA), Queue, Job (the invocation
                                  payload {"t","m","p","a"} or {"Type","Method",…}),
                                  LastExecution, NextExecution (ISO 8601 or Unix milliseconds);
  job                             invocationdata {"Type","Method","ParameterTypes","Arguments"}
                                  (ParameterTypes and Arguments are JSON text inside the JSON;
                                  every argument is JSON text again), arguments, statename, stateid;
  state                           name, reason, data: Enqueued {Queue}, Scheduled {EnqueueAt},
                                  Awaiting {ParentId, Options}, Failed {ExceptionType,
                                  ExceptionMessage, ExceptionDetails, FailedAt};
  server                          one row per running server with its lastheartbeat.

The connection is opened read-only (every transaction is READ ONLY, REPEATABLE READ, so the
import sees one snapshot): this module cannot write there. A server whose heartbeat is less than
a minute old stops the import unless forced: a running Hangfire would run the same jobs.
"""

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from psycopg import sql

from jobs import cron
from jobs.api import Failure, create_job
from jobs.continuations import decide
from jobs.creation import insert_jobs, new_job
from jobs.cron import InvalidSchedule
from jobs.importing.legacy import _recurring_values, check_arguments, compare_recurring
from jobs.importing.mapping import Mapping
from jobs.importing.report import Entry, fill_next_runs
from jobs.importing.timezones import to_iana
from jobs.models import ContinuationOn, Job, RecurringJob
from jobs.recurring import add_or_update
from jobs.registry import resolve_task

# The tables (and the columns we read) that make a schema Hangfire.PostgreSql's.
REQUIRED = {
    "job": {"id", "stateid", "statename", "invocationdata", "arguments", "createdat"},
    "state": {"id", "jobid", "name", "reason", "createdat", "data"},
    "jobparameter": {"jobid", "name", "value"},
    "jobqueue": {"jobid", "queue"},
    "hash": {"key", "field", "value"},
    "set": {"key", "value", "score"},
    "server": {"id", "lastheartbeat"},
}
# Parameters Hangfire fills in at run time: they are not the job's arguments.
RUNTIME_PARAMETERS = (
    "System.Threading.CancellationToken",
    "Hangfire.IJobCancellationToken",
    "Hangfire.Server.PerformContext",
)
CARRIED_STATES = ("Enqueued", "Scheduled", "Awaiting", "Failed", "Processing")
FINISHED_STATES = ("Succeeded", "Deleted")
CONTINUATION_OPTIONS = {
    "OnlyOnSucceededState": ContinuationOn.SUCCEEDED,
    "OnAnyFinishedState": ContinuationOn.ANY_FINISHED,
    "OnlyOnDeletedState": ContinuationOn.DELETED,
    "1": ContinuationOn.SUCCEEDED,
    "0": ContinuationOn.ANY_FINISHED,
    "2": ContinuationOn.DELETED,
}
HEARTBEAT_FRESH_SECONDS = 60


class HangfireError(RuntimeError):
    """The import cannot start: the DSN does not answer, the schema is not Hangfire's, a server is live."""


class BadInvocation(ValueError):
    pass


class BadArguments(ValueError):
    pass


# --- Reading -------------------------------------------------------------------------------


def libpq_dsn(dsn: str) -> str:
    """A libpq DSN; Npgsql connection strings ("Host=…;Database=…;Username=…"), which is how
    Hangfire's appsettings.json holds it, are translated."""
    if "://" in dsn or ";" not in dsn:
        return dsn
    names = {
        "host": "host",
        "server": "host",
        "port": "port",
        "database": "dbname",
        "username": "user",
        "user id": "user",
        "userid": "user",
        "password": "password",
        "sslmode": "sslmode",
    }
    parts = []
    for item in dsn.split(";"):
        key, _, value = item.partition("=")
        key = key.strip().lower()
        if key in names and value.strip():
            escaped = value.strip().replace("\\", "\\\\").replace("'", "\\'")
            parts.append(f"{names[key]}='{escaped}'")
    return " ".join(parts)


def safe_dsn(dsn: str) -> str:
    """The DSN without its password, for messages."""
    return re.sub(r"(?i)(password\s*=\s*)[^;\s]+", r"\1***", re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", dsn))


class Source:
    """One Hangfire.PostgreSql schema, read in one read-only snapshot."""

    def __init__(self, dsn: str, schema: str = "hangfire"):
        self.schema = schema
        try:
            self.conn = psycopg.connect(
                libpq_dsn(dsn), connect_timeout=5, application_name="dhanman import_hangfire"
            )
        except psycopg.Error as exc:
            raise HangfireError(
                f"The Hangfire database at {safe_dsn(dsn)} does not answer: {str(exc).strip()}"
            ) from None
        self.conn.read_only = True
        self.conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        self.database = self.conn.info.dbname
        self.label = f"{self.database}.{schema}"

    def close(self):
        self.conn.rollback()
        self.conn.close()

    def query(self, text: str, params=(), **tables):
        statement = sql.SQL(text).format(**{k: sql.Identifier(self.schema, v) for k, v in tables.items()})
        with self.conn.cursor() as cursor:
            cursor.execute(statement, params)
            return cursor.fetchall()

    def check_schema(self) -> int | None:
        """Raise HangfireError unless the schema has Hangfire's tables; return its version."""
        rows = self.query(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s",
            [self.schema],
        )
        if not rows:
            raise HangfireError(
                f"There is no schema {self.schema!r} (or it has no tables) in database {self.database!r}."
            )
        columns: dict[str, Any] = {}
        for table, column in rows:
            columns.setdefault(table, set()).add(column)
        problems = []
        for table, wanted in REQUIRED.items():
            if table not in columns:
                problems.append(f"no table {table!r}")
            elif missing := wanted - columns[table]:
                problems.append(f"table {table!r} has no column(s) {', '.join(sorted(missing))}")
        if problems:
            raise HangfireError(
                f"Schema {self.schema!r} in {self.database!r} is not Hangfire.PostgreSql's: {'; '.join(problems)}."
            )
        if "schema" in columns:
            version = self.query("SELECT max(version) FROM {t}", t="schema")
            return version[0][0] if version else None
        return None

    def live_servers(self) -> list[tuple[str, datetime]]:
        return self.query(
            "SELECT id, lastheartbeat FROM {t} WHERE lastheartbeat > now() - make_interval(secs => %s) ORDER BY id",
            [HEARTBEAT_FRESH_SECONDS],
            t="server",
        )

    def recurring_jobs(self) -> list[tuple[str, dict]]:
        ids = [
            row[0]
            for row in self.query(
                "SELECT value FROM {t} WHERE key = 'recurring-jobs' ORDER BY score, value", t="set"
            )
        ]
        hashes: dict[str, dict[str, Any]] = {}
        for key, name, value in self.query(
            "SELECT key, field, value FROM {t} WHERE key LIKE 'recurring-job:%%'", t="hash"
        ):
            hashes.setdefault(key.removeprefix("recurring-job:"), {})[name] = value
        return [(rid, hashes.get(rid, {})) for rid in ids]

    def pending_jobs(self):
        return self.query(
            "SELECT j.id, j.statename, j.invocationdata::text, j.arguments::text, j.createdat, "
            "s.reason, s.data::text, (SELECT q.queue FROM {q} q WHERE q.jobid = j.id LIMIT 1) "
            "FROM {j} j LEFT JOIN {s} s ON s.id = j.stateid "
            "WHERE j.statename IS NOT NULL AND j.statename <> ALL(%s) ORDER BY j.id",
            [list(FINISHED_STATES)],
            j="job",
            s="state",
            q="jobqueue",
        )

    def finished_counts(self) -> dict:
        rows = self.query(
            "SELECT statename, count(*) FROM {j} WHERE statename = ANY(%s) GROUP BY statename",
            [list(FINISHED_STATES)],
            j="job",
        )
        return dict(rows)

    def job_states(self, ids) -> dict:
        if not ids:
            return {}
        return dict(self.query("SELECT id, statename FROM {j} WHERE id = ANY(%s)", [sorted(ids)], j="job"))


# --- Decoding Hangfire's serialization ------------------------------------------------------


@dataclass
class Invocation:
    type_name: str  # "Dhanman.Sales.Services.InvoiceService, Dhanman.Sales"
    method: str
    parameter_types: list
    arguments: list | None  # each item JSON text (or None), as Hangfire stores them
    queue: str = ""

    @property
    def keys(self) -> tuple:
        """What a [[map]] match may name: "InvoiceService.GenerateMonthlyInvoices", then the full name."""
        full = self.type_name.split(",")[0].strip()
        short = full.rsplit(".", 1)[-1].split("+")[-1]
        return (f"{short}.{self.method}", f"{full}.{self.method}")


def _json_list(value, what: str) -> list | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise BadInvocation(f"its {what} is not JSON: {value[:80]!r}") from None
    if value is not None and not isinstance(value, list):
        raise BadInvocation(f"its {what} is not a JSON array")
    return value


def parse_invocation(text: str | None) -> Invocation:
    """Decode invocation data in either of Hangfire's forms (the job table's, or a recurring
    job's compact payload)."""
    if not text:
        raise BadInvocation("it has no invocation data")
    try:
        data = json.loads(text)
    except ValueError:
        raise BadInvocation(f"its invocation data is not JSON: {text[:80]!r}") from None
    if not isinstance(data, dict):
        raise BadInvocation("its invocation data is not a JSON object")
    type_name, method = data.get("t", data.get("Type")), data.get("m", data.get("Method"))
    if not isinstance(type_name, str) or not isinstance(method, str) or not type_name or not method:
        raise BadInvocation('its invocation data has no "Type"/"Method" (nor "t"/"m")')
    parameter_types = _json_list(data.get("p", data.get("ParameterTypes")), "ParameterTypes") or []
    arguments = _json_list(data.get("a", data.get("Arguments")), "Arguments")
    return Invocation(type_name, method, parameter_types, arguments, data.get("q", data.get("Queue")) or "")


def job_arguments(invocation: Invocation, arguments_column: str | None = None) -> list:
    """The call's arguments as JSON values, without the ones Hangfire fills in at run time."""
    raw = invocation.arguments
    if raw is None and arguments_column:
        try:
            raw = json.loads(arguments_column)
        except ValueError:
            raise BadArguments(f"the arguments column is not JSON: {arguments_column[:80]!r}") from None
        if isinstance(raw, str):  # older schemas keep it as JSON text inside a text column
            raw = _json_list(raw, "arguments")
    raw = raw or []
    types = invocation.parameter_types
    if types and len(types) != len(raw):
        raise BadArguments(f"{len(raw)} argument(s) for {len(types)} parameter(s)")
    values: list[Any] = []
    for index, item in enumerate(raw):
        kind = str(types[index]) if types else ""
        if kind.startswith(RUNTIME_PARAMETERS):
            continue
        if item is None:
            values.append(None)
            continue
        if not isinstance(item, str):
            values.append(item)
            continue
        try:
            values.append(json.loads(item))
        except ValueError:
            raise BadArguments(
                f"argument #{index + 1} ({kind or 'unknown type'}) is not JSON: {item[:60]!r}"
            ) from None
    return values


_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_time(value) -> datetime | None:
    """Hangfire's times: ISO 8601 with up to seven fractional digits, or Unix milliseconds."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).strip().strip('"')
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    try:
        parsed = datetime.fromisoformat(_FRACTION.sub(r"\1", text).replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not a time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def hangfire_cron(expression: str) -> str:
    """Hangfire's Cronos expression in our five-field form: a seconds field (six fields) must be 0."""
    fields = (expression or "").replace("?", "*").split()
    if len(fields) == 6:
        if fields[0] not in ("0", "00"):
            raise Inexpressible(
                f"{expression!r} fires at second {fields[0]!r}: our Cron's finest unit is the minute"
            )
        fields = fields[1:]
    return " ".join(fields)


class Inexpressible(ValueError):
    """A valid Hangfire schedule that our five-field Cron cannot express."""


# --- The plan --------------------------------------------------------------------------------


def _queue(rule, hangfire_queue: str) -> str:
    """The [[map]] queue, else Hangfire's when it named one (not its "default"), else the task's."""
    if rule.queue:
        return rule.queue
    if hangfire_queue and hangfire_queue != "default":
        return hangfire_queue
    return rule.task.queue_name


def _validate_queue(entry: Entry) -> None:
    if entry.queue not in settings.JOB_QUEUES:
        entry.fail(
            f"queue {entry.queue!r} is not one of ours ({', '.join(settings.JOB_QUEUES)}): "
            "name one with queue = … in its [[map]] rule"
        )


def plan_recurring(source: Source, mapping: Mapping, now) -> list[Entry]:
    entries = []
    used: dict[str, Any] = {}
    for rid, fields in source.recurring_jobs():
        entry = Entry(source=f"recurring-job:{rid}", kind="recurring", details={"hangfire_id": rid})
        entries.append(entry)
        if not fields:
            entry.fail(f"the set lists {rid!r} but there is no hash recurring-job:{rid}")
            continue
        try:
            invocation = parse_invocation(fields.get("Job"))
        except BadInvocation as exc:
            entry.fail(f"recurring job {rid!r}: {exc}")
            continue
        entry.source = f"recurring-job:{rid} {invocation.keys[0]}"
        try:
            entry.cron = hangfire_cron(fields.get("Cron", ""))
        except Inexpressible as exc:
            entry.skip(f"no cron equivalent: {exc}; nothing imported for it")
            continue
        try:
            entry.timezone = to_iana(fields.get("TimeZoneId") or "UTC")
            last, following = parse_time(fields.get("LastExecution")), parse_time(fields.get("NextExecution"))
        except (InvalidSchedule, ValueError) as exc:
            entry.fail(str(exc))
            continue
        rule = mapping.find(*invocation.keys)
        if rule is None:
            entry.skip(f"unmapped method {invocation.keys[0]}: no [[map]] rule names it", "unmapped")
            continue
        entry.task = rule.task.module_path
        try:
            entry.args = list(rule.args) if rule.args is not None else job_arguments(invocation)
        except (BadArguments, BadInvocation) as exc:
            entry.skip(f"unparsable arguments: {exc}")
            continue
        entry.kwargs = dict(rule.kwargs or {})
        entry.queue = _queue(rule, fields.get("Queue", ""))
        entry.id = rule.id or rid
        if problem := check_arguments(rule.task, entry.args, entry.kwargs):
            entry.fail(f"{rule.label}: {problem}")
            continue
        if entry.id in used:
            entry.fail(f"recurring id {entry.id!r} is also {used[entry.id]}: give each its own [[map]] id")
            continue
        used[entry.id] = entry.source
        try:
            values = _recurring_values(entry, rule)
        except InvalidSchedule as exc:
            entry.fail(str(exc))
            continue
        entry.cron, entry.timezone, entry.queue = values["cron"], values["timezone"], values["queue"]
        entry.status = compare_recurring(values)
        entry.details.update(last_execution=last, next_execution=following)
        if entry.status == "unchanged" and _needs_carry(entry.id, last, following):
            entry.status = "update"
            entry.reason = "execution times carried over from Hangfire"
        if following is not None and (entry.status == "create" or entry.reason):
            # The carried next execution comes first, whether it is still ahead or was due during the cut-over.
            zone = cron.zone(entry.timezone)
            entry.next_runs = [
                run.astimezone(zone)
                for run in [following, *cron.upcoming(entry.cron, entry.timezone, following, 2)]
            ]
        else:
            fill_next_runs(entry, now)
    return entries


def _needs_carry(rid: str, last, following) -> bool:
    """An existing row that never fired here takes Hangfire's last/next execution."""
    row = RecurringJob.objects.filter(pk=rid).first()
    if row is None or row.last_job_id is not None:
        return False
    return (following is not None and row.next_run_at != following) or (
        last is not None and row.last_run_at != last
    )


def plan_jobs(source: Source, mapping: Mapping, now) -> list[Entry]:
    entries, by_hangfire_id = [], {}
    for (
        hid,
        state,
        invocation_text,
        arguments_text,
        created,
        _reason,
        data_text,
        queued,
    ) in source.pending_jobs():
        external = f"hangfire:{source.label}:{hid}"
        entry = Entry(
            source=f"job {hid} ({state})",
            kind="job",
            id=external,
            state=state.lower(),
            details={"hangfire_id": hid, "hangfire_state": state},
        )
        entries.append(entry)
        by_hangfire_id[hid] = entry
        try:
            invocation = parse_invocation(invocation_text)
        except BadInvocation as exc:
            entry.fail(f"job {hid}: {exc}")
            continue
        entry.source = f"job {hid} ({state}) {invocation.keys[0]}"
        if state not in CARRIED_STATES:
            entry.skip(f"a state we do not carry ({state})")
            continue
        rule = mapping.find(*invocation.keys)
        if rule is None:
            entry.skip(f"unmapped method {invocation.keys[0]}: no [[map]] rule names it", "unmapped")
            continue
        entry.task = rule.task.module_path
        try:
            data = json.loads(data_text) if data_text else {}
            if not isinstance(data, dict):
                raise ValueError
        except ValueError:
            entry.fail(f"job {hid}: its {state} state data is not a JSON object")
            continue
        try:
            entry.args = (
                list(rule.args) if rule.args is not None else job_arguments(invocation, arguments_text)
            )
        except (BadArguments, BadInvocation) as exc:
            entry.skip(f"unparsable arguments: {exc}")
            continue
        entry.kwargs = dict(rule.kwargs or {})
        entry.queue = _queue(rule, data.get("Queue") or queued or invocation.queue)
        _validate_queue(entry)
        if entry.status == "error":
            continue
        if problem := check_arguments(rule.task, entry.args, entry.kwargs):
            entry.fail(f"{rule.label}: {problem}")
            continue
        try:
            _plan_state(entry, state, data, created)
        except ValueError as exc:
            entry.fail(f"job {hid}: {exc}")
            continue
    # One query per thousand jobs, not one per job: a second run must be cheap.
    imported = imported_ids([e.id for e in entries if e.status == "create"])
    for entry in entries:
        if entry.status == "create" and entry.id in imported:
            entry.skip("already imported (a job with this Hangfire id exists)", "unchanged")
    _resolve_parents(source, entries, by_hangfire_id)
    return entries


def imported_ids(external_ids) -> dict:
    """external id → our job id, for the ones already imported."""
    found: dict[str, Any] = {}
    external_ids = list(external_ids)
    for start in range(0, len(external_ids), 1000):
        chunk = external_ids[start : start + 1000]
        found.update(Job.objects.filter(external_id__in=chunk).values_list("external_id", "pk"))
    return found


def _plan_state(entry: Entry, state: str, data: dict, created) -> None:
    hid = entry.details["hangfire_id"]
    if state == "Scheduled":
        entry.run_at = parse_time(data.get("EnqueueAt"))
        if entry.run_at is None:
            raise ValueError("its Scheduled state has no EnqueueAt")
        entry.state = "scheduled" if entry.run_at > timezone.now() else "enqueued"
        entry.details["reason"] = (
            f"Imported from Hangfire job {hid} (Scheduled for {entry.run_at.isoformat()})"
        )
    elif state == "Awaiting":
        parent = str(data.get("ParentId") or "")
        if not parent.isdigit():
            raise ValueError("its Awaiting state has no ParentId")
        options = str(data.get("Options") or "OnlyOnSucceededState")
        if options not in CONTINUATION_OPTIONS:
            raise ValueError(f"unknown continuation Options {options!r}")
        entry.details.update(parent=int(parent), on=str(CONTINUATION_OPTIONS[options]))
        entry.details["reason"] = f"Imported from Hangfire job {hid} (Awaiting job {parent}, {options})"
    elif state == "Failed":
        entry.details["failure"] = {
            "exception_class": str(data.get("ExceptionType") or ""),
            "message": str(data.get("ExceptionMessage") or "failed in Hangfire"),
            "traceback": str(data.get("ExceptionDetails") or ""),
            "failed_at": parse_time(data.get("FailedAt")),
        }
        entry.details["reason"] = f"Imported from Hangfire job {hid} (Failed)"
    elif state == "Processing":
        entry.state = "enqueued"
        entry.details["reason"] = (
            f"Imported from Hangfire job {hid}: it was Processing when the Hangfire servers stopped, "
            "so it had not finished; enqueued to run again (as Hangfire would re-run it)"
        )
    else:
        entry.details["reason"] = f"Imported from Hangfire job {hid} (Enqueued)"
    entry.details["created_at"] = created


def _resolve_parents(source: Source, entries: list[Entry], by_hangfire_id: dict) -> None:
    """Decide each continuation against its parent: one imported now, one imported before, or
    one that finished (or is gone) in Hangfire. Parents go before their children."""
    awaiting = [e for e in entries if "parent" in e.details and e.status in ("create",)]
    outside = {e.details["parent"] for e in awaiting if e.details["parent"] not in by_hangfire_id}
    states = source.job_states(outside)
    for entry in awaiting:
        parent_id = entry.details["parent"]
        parent = by_hangfire_id.get(parent_id)
        if parent is not None:
            if parent.status in ("skipped", "unmapped"):
                entry.skip(f"its parent job {parent_id} is not imported ({parent.status})")
            continue
        parent_state = states.get(parent_id)
        if parent_state is None:
            entry.skip(f"its parent job {parent_id} no longer exists in Hangfire: nothing would release it")
            continue
        verdict = decide(entry.details["on"], parent_state.lower())
        if verdict == "release":
            entry.state = "enqueued"
            entry.details.pop("parent")
            entry.details["reason"] += f"; parent {parent_id} {parent_state} in Hangfire, so released"
        else:
            entry.skip(
                f"continuation condition not met: its parent job {parent_id} is {parent_state} in Hangfire"
            )


def order_for_writing(entries: list[Entry]) -> list[Entry]:
    """Parents before their continuations (a chain may list a child before its parent)."""
    done, ordered, pending = set(), [], [e for e in entries if e.kind == "job"]
    ids = {e.details.get("hangfire_id") for e in pending}
    while pending:
        progressed = False
        for entry in list(pending):
            parent = entry.details.get("parent")
            if parent is None or parent in done or parent not in ids:
                ordered.append(entry)
                done.add(entry.details.get("hangfire_id"))
                pending.remove(entry)
                progressed = True
        if not progressed:  # a cycle cannot come from Hangfire; keep what is left in id order
            ordered.extend(pending)
            break
    return ordered


# --- Writing ---------------------------------------------------------------------------------


def apply(entries: list[Entry]) -> None:
    """Write every create/update entry in one transaction (only for a plan without errors)."""
    assert not any(e.status == "error" for e in entries), "apply() needs a plan without errors"
    created_ids = {}
    with transaction.atomic():
        for entry in entries:
            if entry.kind != "recurring" or entry.status not in ("create", "update"):
                continue
            task = resolve_task(entry.task)
            add_or_update(
                entry.id,
                task,
                entry.cron,
                args=entry.args,
                kwargs=entry.kwargs,
                tz=entry.timezone,
                queue=entry.queue,
            )
            row = RecurringJob.objects.select_for_update().get(pk=entry.id)
            last, following = entry.details.get("last_execution"), entry.details.get("next_execution")
            if row.last_job_id is None:
                # Carry Hangfire's clock: a run Hangfire made is not made again, a run it was due to
                # make next (even one due during the cut-over) is made once, by our misfire policy.
                update = {}
                if following is not None and row.enabled:
                    update["next_run_at"] = following
                if last is not None:
                    update["last_run_at"] = last
                if update:
                    RecurringJob.objects.filter(pk=row.pk).update(**update)
        ordered = order_for_writing(entries)
        for external_id, pk in imported_ids(
            [e.id for e in ordered if e.status == "unchanged" and e.id]
        ).items():
            created_ids[int(external_id.rsplit(":", 1)[1])] = pk
        # Enqueued and Scheduled jobs in one bulk insert (COPY from 200 on) through the engine's
        # own creation path; then continuations and failed jobs, one by one, parents first.
        plain = [
            e
            for e in ordered
            if e.status == "create" and "parent" not in e.details and "failure" not in e.details
        ]
        built = [
            new_job(
                _task(entry),
                entry.args,
                entry.kwargs,
                run_after=entry.run_at if entry.details["hangfire_state"] == "Scheduled" else None,
                external_id=entry.id,
            )
            for entry in plain
        ]
        insert_jobs(built, reasons=[entry.details.get("reason", "") for entry in plain])
        for entry, job in zip(plain, built, strict=True):
            created_ids[entry.details["hangfire_id"]] = job.pk
            entry.details["job_id"] = str(job.pk)
        bulk = {id(entry) for entry in plain}
        for entry in ordered:
            if entry.status != "create" or id(entry) in bulk:
                continue
            failure = entry.details.get("failure")
            parent_hid = entry.details.get("parent")
            parent = None
            if parent_hid is not None:
                parent = created_ids.get(parent_hid)
                if parent is None:  # the plan released or skipped every continuation without a parent here
                    raise RuntimeError(
                        f"Hangfire job {parent_hid}, the parent of {entry.id}, was not imported"
                    )
            job = create_job(
                _task(entry),
                entry.args,
                entry.kwargs,
                parent=parent,
                on=entry.details.get("on", ContinuationOn.SUCCEEDED),
                failure=Failure(**failure) if failure else None,
                external_id=entry.id,
                reason=entry.details.get("reason", ""),
            )
            created_ids[entry.details["hangfire_id"]] = job.pk
            entry.details["job_id"] = str(job.pk)


def _task(entry: Entry):
    task = resolve_task(entry.task)
    return task if task.queue_name == entry.queue else task.using(queue_name=entry.queue)
