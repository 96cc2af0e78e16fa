"""Flow control: unique jobs, concurrency limits per key, rate limits, and snooze.

    from jobs.flow import Unique, Concurrency, RateLimit, Snooze

    @task(unique=Unique(keys=("invoice_id",), period=3600))
    @task(concurrency=Concurrency(key="society:{society_id}", limit=1))
    @task(rate_limit=RateLimit(key="sms-gateway", limit=10, per=1.0))
    raise Snooze(30)

Everything is decided in the database, so it holds across any number of servers:

- Unique: the job row carries its rendered key and the states a duplicate is looked for in; a
  partial unique index over (key) where the row's state is one of those (River's shape) makes a
  second insert of a live key a no-op (INSERT … ON CONFLICT DO NOTHING), and the caller gets the
  existing job. No check-then-insert, so two servers enqueuing at the same instant make one job.
- Concurrency and rate: the rendered keys and limits are frozen on the row at enqueue. The claim
  (jobs/sql.py) admits a keyed job only through `dhanman_flow_admit()`, a PostgreSQL function
  that takes a per-key advisory lock without waiting (a key busy in another server's claim is
  skipped, as SKIP LOCKED skips rows) and counts, with a fresh snapshot, the key's Processing jobs
  or its starts within the window. The limit is therefore held by the claim itself: a job over
  it stays Enqueued, no worker waits on it, and jobs behind it are claimed. A dead server's job
  gives its slot back when the reaper returns it (it is no longer Processing).
- Snooze: the runner puts the job back to Scheduled at now + delay without spending an attempt.

Pausing queues lives in jobs/queues.py; the claim reads it too.
"""

import hashlib
import inspect
import json
import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from django.tasks.exceptions import InvalidTask

# The states a duplicate is looked for in, by default: the job is still to run or running.
LIVE_STATES = ("scheduled", "enqueued", "processing", "awaiting")
ALL_STATES = ("scheduled", "enqueued", "processing", "succeeded", "failed", "deleted", "awaiting")
# A readable key longer than this is stored as the task path plus a hash (the column is 500).
MAX_READABLE_KEY = 400
MAX_KEY = 300


class Snooze(Exception):  # noqa: N818 (the issue's public name)
    """Raise inside a task to run it again in `seconds` without spending an attempt."""

    def __init__(self, seconds: float | timedelta):
        if isinstance(seconds, timedelta):
            seconds = seconds.total_seconds()
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise TypeError(f"Snooze takes seconds (a number or a timedelta), not {type(seconds).__name__}.")
        if not seconds >= 0 or seconds == float("inf"):
            raise ValueError(f"Snooze needs a delay of 0 seconds or more, not {seconds}.")
        self.seconds = float(seconds)
        super().__init__(f"Snoozed for {describe_seconds(self.seconds)}")


def describe_seconds(seconds: float) -> str:
    return f"{seconds:g} s"


def _positive_int(owner: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidTask(f"{owner}: {name} must be a whole number of 1 or more, not {value!r}.")
    return value


def template_fields(owner: str, template) -> tuple[str, ...]:
    if not isinstance(template, str) or not template.strip():
        raise InvalidTask(
            f"{owner}: key must be a non-empty string (a template such as 'society:{{society_id}}')."
        )
    names = []
    try:
        for _, field, _, _ in string.Formatter().parse(template):
            if field is None:
                continue
            name = field.split(".", 1)[0].split("[", 1)[0]
            if not name.isidentifier():
                raise InvalidTask(
                    f"{owner}: key {template!r} has a field {{{field}}} that names no parameter: "
                    "name the task's parameter, as in 'society:{society_id}'."
                )
            names.append(name)
    except ValueError as exc:
        raise InvalidTask(f"{owner}: key {template!r} is not a valid template ({exc}).") from None
    return tuple(names)


@dataclass(frozen=True, slots=True)
class Unique:
    """One live job per key: the task path plus the values of the `keys` arguments.

    `period` (seconds): the key also holds for this long after a job of it was created, even once
    it finished: duplicates are looked for in its window, which is then a fixed bucket of
    `period` seconds (River's ByPeriod). `states`: where duplicates are looked for; by default the
    live states, plus succeeded when a period is given.
    """

    keys: tuple = ()
    period: float | None = None
    states: tuple | None = None

    def __post_init__(self):
        keys = (self.keys,) if isinstance(self.keys, str) else tuple(self.keys or ())
        for key in keys:
            if not isinstance(key, str) or not key.isidentifier():
                raise InvalidTask(f"Unique: keys are parameter names, not {key!r}.")
        object.__setattr__(self, "keys", keys)
        if self.period is not None and (
            isinstance(self.period, bool) or not isinstance(self.period, int | float) or not self.period > 0
        ):
            raise InvalidTask(
                f"Unique: period must be a positive number of seconds or None, not {self.period!r}."
            )
        states = self.states
        if states is None:
            states = LIVE_STATES + (("succeeded",) if self.period is not None else ())
        states = tuple(str(state) for state in states)
        unknown = [state for state in states if state not in ALL_STATES]
        if unknown or not states:
            raise InvalidTask(f"Unique: states must be some of {', '.join(ALL_STATES)}, not {states!r}.")
        object.__setattr__(self, "states", states)

    def check(self, task_name: str, parameters) -> None:
        missing = [key for key in self.keys if key not in parameters]
        if missing:
            raise InvalidTask(
                f"{task_name}: Unique keys {', '.join(map(repr, missing))} name no parameter of the task "
                f"(its parameters: {', '.join(parameters) or 'none'})."
            )

    def render(self, task_path: str, arguments: dict, now: datetime) -> str:
        values = {key: arguments.get(key) for key in self.keys}
        key = task_path
        if values:
            key += ":" + json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)
        if self.period is not None:
            bucket = int(now.timestamp() // self.period)
            key += f"@{bucket}"
        if len(key) > MAX_READABLE_KEY:
            key = f"{task_path}#{hashlib.sha256(key.encode()).hexdigest()}"
        return key

    @property
    def states_text(self) -> str:
        # Matched by strpos(unique_states, state) in the index: no state name is part of another.
        return ",".join(self.states or ())


@dataclass(frozen=True, slots=True)
class Concurrency:
    """At most `limit` jobs with the same rendered `key` Processing at once, across all servers."""

    key: str
    limit: int = 1

    def __post_init__(self):
        template_fields("Concurrency", self.key)
        _positive_int("Concurrency", "limit", self.limit)

    def check(self, task_name: str, parameters) -> None:
        check_template(task_name, "Concurrency", self.key, parameters)

    def render(self, arguments: dict) -> str:
        return _render(self.key, arguments)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `limit` starts per `per` seconds for the rendered `key`, across all servers,
    on a sliding window."""

    key: str
    limit: int
    per: float = 1.0

    def __post_init__(self):
        template_fields("RateLimit", self.key)
        _positive_int("RateLimit", "limit", self.limit)
        if isinstance(self.per, bool) or not isinstance(self.per, int | float) or not self.per > 0:
            raise InvalidTask(f"RateLimit: per must be a positive number of seconds, not {self.per!r}.")

    def check(self, task_name: str, parameters) -> None:
        check_template(task_name, "RateLimit", self.key, parameters)

    def render(self, arguments: dict) -> str:
        return _render(self.key, arguments)


def check_template(task_name: str, owner: str, template: str, parameters) -> None:
    missing = [name for name in template_fields(owner, template) if name not in parameters]
    if missing:
        raise InvalidTask(
            f"{task_name}: {owner} key {template!r} names {', '.join(map(repr, missing))}, which "
            f"{'is not a parameter' if len(missing) == 1 else 'are not parameters'} of the task "
            f"(its parameters: {', '.join(parameters) or 'none'})."
        )


def _render(template: str, arguments: dict) -> str:
    key = template.format_map(arguments)
    if len(key) > MAX_KEY:
        key = f"{key[:200]}#{hashlib.sha256(key.encode()).hexdigest()[:32]}"
    return key


@cache
def _call_signature(func, takes_context: bool) -> inspect.Signature:
    """The parameters a caller passes (a takes_context task's first one is the runner's)."""
    signature = inspect.signature(func)
    if takes_context:
        signature = signature.replace(parameters=list(signature.parameters.values())[1:])
    return signature


def check_declaration(task) -> None:
    """At @task: the options' types, and every key naming a parameter of the function."""
    options = (("unique", Unique), ("concurrency", Concurrency), ("rate_limit", RateLimit))
    declared = [(name, getattr(task, name)) for name, _ in options if getattr(task, name) is not None]
    for name, kind in options:
        value = getattr(task, name)
        if value is not None and not isinstance(value, kind):
            raise InvalidTask(f"{name} must be a jobs.flow.{kind.__name__}, not {type(value).__name__}.")
    if not declared:
        return
    parameters = call_parameters(task)
    for _, option in declared:
        option.check(task.name, parameters)


def call_parameters(task) -> list[str]:
    """The names a key template may use: the task's parameters (not *args / **kwargs)."""
    return [
        p.name
        for p in _call_signature(task.func, bool(task.takes_context)).parameters.values()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


def has_flow(task) -> bool:
    return any(getattr(task, name, None) is not None for name in ("unique", "concurrency", "rate_limit"))


def bound_arguments(task, args, kwargs) -> dict:
    """The call's arguments by parameter name, defaults applied (arguments are already checked)."""
    bound = _call_signature(task.func, bool(task.takes_context)).bind(*args, **kwargs)
    bound.apply_defaults()
    return dict(bound.arguments)


def flow_fields(task, args, kwargs, now: datetime) -> dict:
    """The Job columns the task's flow options give this call (empty for a task without them)."""
    if not has_flow(task):
        return {}
    arguments = bound_arguments(task, args, kwargs)
    fields = {}
    if task.unique is not None:
        fields["unique_key"] = task.unique.render(task.module_path, arguments, now)
        fields["unique_states"] = task.unique.states_text
    if task.concurrency is not None:
        fields["concurrency_key"] = task.concurrency.render(arguments)
        fields["concurrency_limit"] = task.concurrency.limit
    if task.rate_limit is not None:
        fields["rate_key"] = task.rate_limit.render(arguments)
        fields["rate_limit"] = task.rate_limit.limit
        fields["rate_per"] = float(task.rate_limit.per)
    return fields


def snooze_limit() -> int:
    from jobs.conf import jobs_settings

    return jobs_settings.MAX_SNOOZES


# --- The claim's admission (PostgreSQL) -------------------------------------------------------

# Advisory lock classes (the first half of the two-int key): one per kind of limit.
CONCURRENCY_LOCK = 815101
RATE_LOCK = 815102

# Installed by a migration. VOLATILE and plpgsql on purpose: each query inside gets a fresh
# snapshot (READ COMMITTED), so once the key's lock is ours we see every claim committed before
# it. The lock is transaction-scoped and tried without waiting: the claim statement holds it to
# its commit, and a key another server is claiming right now is skipped, never waited for (no
# worker blocks, no deadlock). Each key is locked and counted once per statement; a
# transaction-local setting per key carries the count (with the jobs this statement admitted,
# which the count cannot see yet) or "full", so the jobs of a full key further down the queue
# cost a lookup, not a query.
ADMIT_FUNCTION_SQL = f"""
CREATE OR REPLACE FUNCTION dhanman_flow_count(kind text, key text, lock_class integer, cap integer,
                                              per double precision, now timestamptz) RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    -- What this statement knows of the key: "<statement start>|<count>" (its jobs that count
    -- against the limit, including those this statement admitted), or "<statement start>|-1"
    -- when the key is full or another claim holds its lock. A value of an earlier statement of
    -- the same transaction is stale and ignored.
    setting text := 'dhanman_flow.' || kind || md5(key);
    stamp text := statement_timestamp()::text;
    known text := current_setting(setting, true);
    counted integer;
BEGIN
    IF known IS NOT NULL AND split_part(known, '|', 1) = stamp THEN
        RETURN split_part(known, '|', 2)::integer;
    END IF;
    IF NOT pg_try_advisory_xact_lock(lock_class, hashtext(key)) THEN
        counted := -1;
    ELSIF kind = 'c' THEN
        SELECT count(*) INTO counted FROM jobs_job WHERE concurrency_key = key AND state = 'processing';
    ELSE
        SELECT count(*) INTO counted FROM jobs_job
        WHERE rate_key = key AND started_at > now - make_interval(secs => per);
    END IF;
    IF counted >= cap THEN
        counted := -1;
    END IF;
    PERFORM set_config(setting, stamp || '|' || counted::text, true);
    RETURN counted;
END
$$;

CREATE OR REPLACE FUNCTION dhanman_flow_admit(
    c_key text, c_limit integer, r_key text, r_limit integer, r_per double precision, now timestamptz
) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    c_count integer;
    r_count integer;
BEGIN
    IF c_key IS NOT NULL THEN
        c_count := dhanman_flow_count('c', c_key, {CONCURRENCY_LOCK}, c_limit, NULL, now);
        IF c_count < 0 OR c_count >= c_limit THEN
            RETURN false;
        END IF;
    END IF;
    IF r_key IS NOT NULL THEN
        r_count := dhanman_flow_count('r', r_key, {RATE_LOCK}, r_limit, r_per, now);
        IF r_count < 0 OR r_count >= r_limit THEN
            RETURN false;
        END IF;
        PERFORM set_config('dhanman_flow.r' || md5(r_key), statement_timestamp()::text || '|'
                           || (CASE WHEN r_count + 1 >= r_limit THEN -1 ELSE r_count + 1 END)::text, true);
    END IF;
    IF c_key IS NOT NULL THEN
        PERFORM set_config('dhanman_flow.c' || md5(c_key), statement_timestamp()::text || '|'
                           || (CASE WHEN c_count + 1 >= c_limit THEN -1 ELSE c_count + 1 END)::text, true);
    END IF;
    RETURN true;
END
$$;
"""
DROP_ADMIT_FUNCTION_SQL = """
DROP FUNCTION IF EXISTS dhanman_flow_admit(text, integer, text, integer, double precision, timestamptz);
DROP FUNCTION IF EXISTS dhanman_flow_count(text, text, integer, integer, double precision, timestamptz);
"""

# The claim's condition on a candidate row `j`: a job without limits is admitted without a call
# (CASE evaluates in order), so plain jobs pay one test of two NULL columns.
CLAIM_ADMITS = """(CASE WHEN c.concurrency_key IS NULL AND c.rate_key IS NULL THEN true
      ELSE dhanman_flow_admit(c.concurrency_key, c.concurrency_limit, c.rate_key, c.rate_limit, c.rate_per, %(now)s)
 END)"""
# The claim's condition on a queue `q` of the server's list: no pause in force (jobs/queues.py).
CLAIM_QUEUE_OPEN = """NOT EXISTS (
    SELECT 1 FROM jobs_queuepause AS p WHERE p.queue = q.name AND (p.until IS NULL OR p.until > %(now)s)
)"""


# --- The same admission for SQLite, where the claim runs in a transaction that holds the write lock


def admitted_portable(queue: str, limit: int, now) -> list:
    """The ids the SQLite claim takes from `queue`: in claim order, up to `limit`, skipping the
    jobs over their limits (jobs behind them are taken)."""
    from jobs.models import Job, State

    ids: list = []
    taken: dict = {}
    candidates = (
        Job.objects.filter(state=State.ENQUEUED, queue=queue)
        .order_by("-priority", "enqueued_at")
        .only("id", "concurrency_key", "concurrency_limit", "rate_key", "rate_limit", "rate_per")
    )
    for candidate in candidates.iterator(chunk_size=max(limit, 50)):
        if len(ids) == limit:
            break
        if admits_portable(candidate, now, taken):
            count_taken(candidate, taken)
            ids.append(candidate.id)
    return ids


def admits_portable(job, now, taken: dict) -> bool:
    """Whether the claim may take `job` (SQLite: writers are serialized, so counting is exact).
    `taken` counts what this claim already took, per key."""
    from jobs.models import Job, State

    if job.concurrency_key is not None:
        running = Job.objects.filter(concurrency_key=job.concurrency_key, state=State.PROCESSING).count()
        if running + taken.get(("c", job.concurrency_key), 0) >= job.concurrency_limit:
            return False
    if job.rate_key is not None:
        since = now - timedelta(seconds=job.rate_per)
        started = Job.objects.filter(rate_key=job.rate_key, started_at__gt=since).count()
        if started + taken.get(("r", job.rate_key), 0) >= job.rate_limit:
            return False
    return True


def count_taken(job, taken: dict) -> None:
    if job.concurrency_key is not None:
        taken[("c", job.concurrency_key)] = taken.get(("c", job.concurrency_key), 0) + 1
    if job.rate_key is not None:
        taken[("r", job.rate_key)] = taken.get(("r", job.rate_key), 0) + 1


# --- What the console says about a job's limits -----------------------------------------------


def limit_waiting_reason(job, now=None) -> str | None:
    """'waiting: society:12 is at its limit of 1' for an Enqueued job held back by a limit."""
    from django.utils import timezone

    from jobs.models import Job, State

    if job.state != State.ENQUEUED:
        return None
    now = now or timezone.now()
    if job.concurrency_key is not None:
        running = Job.objects.filter(concurrency_key=job.concurrency_key, state=State.PROCESSING).count()
        if running >= job.concurrency_limit:
            return f"waiting: {job.concurrency_key} is at its limit of {job.concurrency_limit}"
    if job.rate_key is not None:
        since = now - timedelta(seconds=job.rate_per)
        started = Job.objects.filter(rate_key=job.rate_key, started_at__gt=since).count()
        if started >= job.rate_limit:
            return (
                f"waiting: {job.rate_key} is at its rate of {job.rate_limit} per "
                f"{describe_seconds(job.rate_per)}"
            )
    return None
