"""Every hand-written SQL statement of the engine, each with its portable (ORM) twin beside it.

Why hand-written at all: each statement here is on the hot path of every job and does in one
round trip what the ORM does in several (a CTE that updates and inserts history together, FOR
UPDATE SKIP LOCKED over a LATERAL join per queue, COPY). They are PostgreSQL-only; the twin is
what runs on SQLite, and what a reader checks the statement against.

Nothing here is a literal name: tables and columns come from the models' _meta, states from
`State`, and the columns a transition sets from its `states.Transition` (CLAIM, SUCCEED), which
is also what the ORM twins apply — so the SQL path and the portable path are one definition.
"""

import json
import re
from datetime import timedelta

from django.db import connection, models, transaction
from django.utils import timezone

from jobs import flow, retention, states
from jobs.conf import jobs_settings
from jobs.models import Job, JobOutput, JobState, RecurringJob, State, TaskInterval
from jobs.states import CLAIM, SUCCEED, Computed, Param, Transition

_q = connection.ops.quote_name
JOB_TABLE = _q(Job._meta.db_table)
HISTORY_TABLE = _q(JobState._meta.db_table)


# psycopg caches the parse of a statement's placeholders only up to this many bytes; past it,
# every execution re-scans the whole text (55 µs for the batched success: bench/findings.md).
PSYCOPG_CACHED_STATEMENT_BYTES = 4096


def compact(statement: str) -> str:
    """The statement with its runs of white space outside quoted literals folded into one space:
    the same SQL, shorter, so that the hot statements stay within PSYCOPG_CACHED_STATEMENT_BYTES."""
    parts = statement.split("'")
    # Even parts are outside quotes (a doubled '' inside a literal splits into an empty odd part).
    return "'".join(re.sub(r"\s+", " ", part) if i % 2 == 0 else part for i, part in enumerate(parts)).strip()


def _column_of(model: type[models.Model], name: str) -> str:
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field) and field.column, f"{model.__name__}.{name} is not a column"
    return field.column


# The history row's columns, in the order the statements below fill them.
HISTORY_COLUMNS = ", ".join(
    _q(_column_of(JobState, name)) for name in ("job", "name", "reason", "data", "created_at")
)


def column(name: str, alias: str = "j") -> str:
    """A Job column by field name (`attempt`, `server` -> j."server_id"), qualified by `alias`."""
    return f"{alias}.{_q(_column_of(Job, name))}" if alias else _q(_column_of(Job, name))


def literal(state: State) -> str:
    """A state as an SQL literal: State values are fixed identifiers, never input."""
    return "'" + str(state).replace("'", "''") + "'"


# Every column of a job, in the model's order: a worker loads the job it starts or claims from the
# statement's answer (load_job), without a second query.
JOB_FIELDS = Job._meta.concrete_fields
JOB_COLUMNS = ", ".join(f"j.{_q(str(field.column))}" for field in JOB_FIELDS)


def _render(spec, transition: Transition, alias: str, row: str = "") -> str:
    """One column's value; with `row`, the parameters are that row's columns (a batch's unnest)."""
    if isinstance(spec, Param):
        if row:
            return f"{row}.{spec.name}"
        return f"%({spec.name})s" + (f"::{spec.cast}" if spec.cast else "")
    now = f"{row}.now" if row else "%(now)s"
    clock = f"GREATEST({now}, {column('state_changed_at', alias)})"
    if spec is Computed.NOW:
        return now
    if spec is Computed.CLOCK:
        return clock
    if spec is Computed.EXPIRY:
        # The task's keep-time for the target state (jobs/retention.py); NULL keeps the job. In a
        # batch each row carries its own: the jobs may be of tasks with different policies.
        keep = f"{row}.expiration" if row else "%(expiration)s::float8"
        return f"{clock} + {keep} * interval '1 second'"
    if spec is Computed.NEW_TOKEN:
        return "gen_random_uuid()"
    if spec is Computed.NEXT_ATTEMPT:
        return f"{column('attempt', alias)} + 1"
    if spec is Computed.PROGRESS_DONE:
        return f"CASE WHEN {column('progress', alias)} IS NULL THEN NULL ELSE 100 END"
    if spec is None:
        return "NULL"
    raise TypeError(f"{transition.name}: no SQL for {spec!r}")


def set_clause(transition: Transition, alias: str = "j", row: str = "") -> str:
    """The SET list of `transition`: its target state and every column it sets (with `row`, its
    parameters taken from that row of the statement, one per job)."""
    items = [f"{column('state', '')} = {literal(transition.target)}"]
    items += [
        f"{column(name, '')} = {_render(spec, transition, alias, row)}"
        for name, spec in transition.sets.items()
    ]
    return ", ".join(items)


# --- The claim: Enqueued -> Processing --------------------------------------------------------------
# Not ORM: the first non-empty queue in the server's order in one statement (one probe of the
# claim index per queue through a LATERAL join; rows of later queues are dropped by ORDER BY +
# LIMIT), with SKIP LOCKED, the UPDATE and the history rows together — one round trip per claim.
# The pusher claims with worker_pid NULL (a job for its local queue); a worker, for itself.
CLAIM_CTES = f"""
picked AS (
    SELECT j.id FROM (
        SELECT name, position FROM unnest(%(queues)s::text[]) WITH ORDINALITY AS q(name, position)
        WHERE {flow.CLAIM_QUEUE_OPEN}
    ) AS q
    CROSS JOIN LATERAL (
        SELECT id FROM {JOB_TABLE} AS c
        WHERE {column("state", "")} = {literal(CLAIM.source)} AND {column("queue", "")} = q.name
          AND {flow.CLAIM_ADMITS}
        ORDER BY {column("priority", "")} DESC, {column("enqueued_at", "")}
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    ) j
    ORDER BY q.position
    LIMIT %(limit)s
), claimed AS (
    UPDATE {JOB_TABLE} AS j SET {set_clause(CLAIM)}
    FROM picked WHERE j.id = picked.id
    RETURNING {JOB_COLUMNS}
), claim_history AS (
    INSERT INTO {HISTORY_TABLE} ({HISTORY_COLUMNS})
    SELECT {column("id", "")}, {literal(CLAIM.target)}, %(claim_reason)s,
           jsonb_strip_nulls(jsonb_build_object('server', %(server)s::text, 'queue', {column("queue", "")},
                                                'worker', %(worker_pid)s::int)),
           {column("state_changed_at", "")}
    FROM claimed
)
"""
# In the claim's own order (queues in the server's order, then priority, then age): an UPDATE's
# RETURNING keeps none, and the pusher hands the jobs to its workers in this order.
CLAIM_ORDER = (
    f"ORDER BY array_position(%(queues)s::text[], {_q(_column_of(Job, 'queue'))}), "
    f"{_q(_column_of(Job, 'priority'))} DESC, {_q(_column_of(Job, 'enqueued_at'))}"
)
CLAIM_SQL = f"WITH {CLAIM_CTES} SELECT id, fetch_token, timeout, task_path FROM claimed {CLAIM_ORDER}"
# A worker claiming its next job for itself: the whole row, to run it without another query.
WORKER_CLAIM_SQL = f"WITH {CLAIM_CTES} SELECT * FROM claimed {CLAIM_ORDER}"
# The same claim, committed without waiting for its WAL flush: for a statement that is its own
# transaction (set_config(…, true) holds for the current transaction only, so it is also safe
# behind a transaction pooler). A claim lost in a crash leaves the job Enqueued; the outcome the
# worker then commits, synchronously, is fenced by the lost token and changes nothing, and the
# job runs again: at least once, and never Succeeded without a run. A later synchronous commit
# flushes this claim's WAL with its own. It is an idle job's claim (runner.perform_next):
# 0.45 ms of its latency (bench/findings.md).
WORKER_CLAIM_ASYNC_COMMIT_SQL = (
    f"WITH {CLAIM_CTES} SELECT claimed.* FROM claimed, "
    f"(SELECT set_config('synchronous_commit', 'off', true)) AS asynchronous {CLAIM_ORDER}"
)


def claim_parameters(
    server_id: str | None, queues, limit: int, worker_pid: int | None = None, now=None
) -> dict:
    now = now or timezone.now()
    return {
        "queues": list(queues),
        "limit": limit,
        "now": now,
        "server": server_id,
        "worker_pid": worker_pid,
        "lease_until": now + timedelta(seconds=jobs_settings.LEASE_SECONDS),
        "claim_reason": states.claim_reason(server_id),
    }


def claim(
    server_id: str | None, queues: list[str], limit: int = 1, worker_pid: int | None = None
) -> list[tuple]:
    """Claim up to `limit` jobs from the first non-empty queue, in the given order.

    Returns (job id, fetch token, timeout, task path) tuples; the jobs are Processing, leased to
    `server_id`, with a history row.
    """
    params = claim_parameters(server_id, queues, limit, worker_pid)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(CLAIM_SQL, params)
            rows = cursor.fetchall()
    else:
        rows = claim_portable(params)
    states.claimed([row[0] for row in rows], params["claim_reason"])
    return rows


def claim_portable(params: dict) -> list[tuple]:
    """The claim's twin for SQLite, where an IMMEDIATE transaction serializes the writers (so
    the flow limits are counted exactly, in Python: jobs/flow.py)."""
    from jobs.queues import paused_queues

    with transaction.atomic():
        paused = paused_queues(params["now"])
        for queue in params["queues"]:
            if queue in paused:
                continue
            ids = flow.admitted_portable(queue, params["limit"], params["now"])
            rows = []
            for job_id in ids:
                values = CLAIM.orm_values(params)
                Job.objects.filter(pk=job_id, state=CLAIM.source).update(**values)
                job = Job.objects.only("timeout", "task_path", "state_changed_at").get(pk=job_id)
                data = {"server": params["server"], "queue": queue, "worker": params["worker_pid"]}
                JobState.objects.create(
                    job_id=job_id,
                    name=CLAIM.target,
                    reason=params["claim_reason"],
                    data={k: v for k, v in data.items() if v is not None},
                    created_at=job.state_changed_at,
                )
                rows.append((job_id, values["fetch_token"], job.timeout, job.task_path))
            if rows:
                return rows
    return []


# --- The start: a worker fences its delivery ------------------------------------------------------
# Not ORM: fence and load in one round trip; the row comes back only if this delivery holds it.
START_SQL = f"""
UPDATE {JOB_TABLE} AS j SET {column("worker_pid", "")} = %s, {column("started_at", "")} = %s
WHERE j.id = %s AND {column("fetch_token")} = %s AND {column("state")} = {literal(State.PROCESSING)}
RETURNING {JOB_COLUMNS}
"""


def start(job_id: str, token: str, worker_pid: int) -> Job | None:
    """Fence the delivery and load the job; None when this delivery no longer holds it."""
    now = timezone.now()
    if connection.vendor != "postgresql":
        return start_portable(job_id, token, worker_pid, now)
    with connection.cursor() as cursor:
        cursor.execute(START_SQL, [worker_pid, now, job_id, token])
        row = cursor.fetchone()
    return None if row is None else load_job(row)


def start_portable(job_id: str, token: str, worker_pid: int, now) -> Job | None:
    fenced = Job.objects.filter(pk=job_id, fetch_token=token, state=State.PROCESSING).update(
        worker_pid=worker_pid, started_at=now
    )
    return Job.objects.get(pk=job_id) if fenced else None


def _converters(field):
    """The field's from-database conversions (JSON decoding), as the ORM would apply them."""
    col = field.get_col(Job._meta.db_table)
    functions = connection.ops.get_db_converters(col) + field.get_db_converters(connection)
    return [(function, col) for function in functions]


_JOB_CONVERTERS = None


def load_job(row) -> Job:
    """A Job from a row of JOB_COLUMNS: the ORM's from_db without the RawQuerySet machinery, which
    cost more than the statement itself on a no-op job (bench/findings.md)."""
    global _JOB_CONVERTERS
    if _JOB_CONVERTERS is None:
        _JOB_CONVERTERS = [_converters(field) for field in JOB_FIELDS]
    values = list(row)
    for index, converters in enumerate(_JOB_CONVERTERS):
        for function, col in converters:
            values[index] = function(values[index], col, connection)
    return Job.from_db(connection.alias, [field.attname for field in JOB_FIELDS], values)


# --- The fast success: Processing -> Succeeded ---------------------------------------------------
# Not ORM: the common outcome (success of a job with no batch, no continuation and no cancel
# request) is one autocommit statement, final state + history row. Every condition is a column of
# the row itself, so if continue_with or a cancel commits while this statement waits for the row,
# PostgreSQL re-checks them on the new row version; when they no longer hold it updates nothing
# and the job takes the general path (`succeed_portable` inside the runner's transaction).
SUCCEED_CTES = f"""
done AS (
    UPDATE {JOB_TABLE} AS j SET {set_clause(SUCCEED)}
    WHERE j.id = %(id)s AND {column("fetch_token")} = %(token)s AND {column("state")} = {literal(SUCCEED.source)}
      AND NOT {column("cancel_requested")} AND NOT {column("has_continuations")} AND {column("batch")} IS NULL
    RETURNING {", ".join(column(name) for name in ("id", "attempt", "server", "state_changed_at", "expires_at"))}
), history AS (
    INSERT INTO {HISTORY_TABLE} ({HISTORY_COLUMNS})
    SELECT {column("id", "")}, {literal(SUCCEED.target)}, %(reason)s,
           jsonb_build_object('duration', %(duration)s::float8, 'attempt', {column("attempt", "")},
                              'server', {column("server", "")}),
           {column("state_changed_at", "")}
    FROM done
)
"""
SUCCEED_SQL = (
    f"WITH {SUCCEED_CTES} SELECT {column('state_changed_at', '')}, {column('expires_at', '')} FROM done"
)
# The same, with this worker's next job claimed in it: one row, its columns NULL for what did not
# happen; split by `split_succeed_and_claim`.
SUCCEED_AND_CLAIM_SQL = f"""
WITH {SUCCEED_CTES}, {CLAIM_CTES}
SELECT {column("state_changed_at", "done")}, {column("expires_at", "done")}, claimed.*
FROM (SELECT 1) AS one LEFT JOIN done ON true LEFT JOIN claimed ON true
"""


# --- Batched successes: many Processing -> Succeeded in one statement ------------------------------
# Not ORM: a worker that ran its job and the one it had prefetched records both successes in one
# statement, with the claim of its next jobs (jobs/server/completer.py). One row of the unnest
# per job carries its own fence (id + fetch token) and its own values (finish time, reason,
# result, duration): each job is fenced exactly as by SUCCEED_SQL, and a job whose conditions no
# longer hold (a continuation attached, a cancel request, a lost lease) is simply not in `done`
# and takes the general path. The portable twin is `succeed_portable`, one job at a time.
# The last lines a job printed (jobs/output.py), appended to its attempt's output row by the same
# statement that records its success: a printing job keeps the batched path, no write of its own.
def _printed_insert() -> str:
    table = _q(JobOutput._meta.db_table)
    job, attempt, text, size, truncated, updated = (
        _q(_column_of(JobOutput, name))
        for name in ("job", "attempt", "text", "size", "truncated", "updated_at")
    )
    return f"""INSERT INTO {table} ({job}, {attempt}, {text}, {size}, {truncated}, {updated})
    SELECT {column("id", "")}, out_attempt, out_text, out_size, out_truncated, {column("state_changed_at", "")}
    FROM done WHERE out_text IS NOT NULL
    ON CONFLICT ({job}, {attempt}) DO UPDATE
    SET {text} = {table}.{text} || excluded.{text}, {size} = {table}.{size} + excluded.{size},
        {truncated} = {table}.{truncated} OR excluded.{truncated}, {updated} = excluded.{updated}"""


_PRINTED_INSERT = _printed_insert()
SUCCEED_MANY_CTES = f"""
outcome AS (
    SELECT * FROM unnest(%(ids)s::uuid[], %(tokens)s::uuid[], %(nows)s::timestamptz[], %(reasons)s::text[],
                         %(results)s::text[]::jsonb[], %(durations)s::float8[],
                         %(starts)s::timestamptz[], %(expirations)s::float8[],
                         %(output_attempts)s::int[], %(output_texts)s::text[], %(output_sizes)s::int[],
                         %(output_truncated)s::bool[])
        AS o(id, token, now, reason, result, duration, started, expiration,
             out_attempt, out_text, out_size, out_truncated)
), done AS (
    UPDATE {JOB_TABLE} AS j SET {set_clause(SUCCEED, row="o")}, {column("started_at", "")} = o.started
    FROM outcome AS o
    WHERE j.id = o.id AND {column("fetch_token")} = o.token AND {column("state")} = {literal(SUCCEED.source)}
      AND NOT {column("cancel_requested")} AND NOT {column("has_continuations")} AND {column("batch")} IS NULL
    RETURNING {", ".join(column(name) for name in ("id", "attempt", "server", "state_changed_at", "expires_at"))},
              o.reason AS outcome_reason, o.duration AS outcome_duration,
              o.out_attempt, o.out_text, o.out_size, o.out_truncated
), history AS (
    INSERT INTO {HISTORY_TABLE} ({HISTORY_COLUMNS})
    SELECT {column("id", "")}, {literal(SUCCEED.target)}, outcome_reason,
           jsonb_build_object('duration', outcome_duration, 'attempt', {column("attempt", "")},
                              'server', {column("server", "")}),
           {column("state_changed_at", "")}
    FROM done
)
"""
# Added to SUCCEED_MANY_CTES only when a job of the batch printed (quiet batches pay nothing).
PRINTED_CTE = f"printed AS ({_PRINTED_INSERT})"
_DONE_ARRAYS = (
    f"SELECT array_agg({column('id', '')}) AS ids, array_agg({column('state_changed_at', '')}) AS changed, "
    f"array_agg({column('expires_at', '')}) AS expires FROM done"
)
# Answer: one row, (ids, state_changed_at, expires_at) arrays of the jobs that succeeded (NULL: none).
SUCCEED_MANY_SQL = f"WITH {SUCCEED_MANY_CTES} {_DONE_ARRAYS}"
SUCCEED_MANY_PRINTED_SQL = f"WITH {SUCCEED_MANY_CTES}, {PRINTED_CTE} {_DONE_ARRAYS}"
# The same with this worker's next jobs claimed in it: one row per claimed job (or one row of
# NULLs), each with the arrays; split by `split_succeed_many_and_claim`.
SUCCEED_MANY_AND_CLAIM_SQL = f"""
WITH {SUCCEED_MANY_CTES}, {CLAIM_CTES}
SELECT d.ids, d.changed, d.expires, claimed.*
FROM ({_DONE_ARRAYS}) AS d LEFT JOIN claimed ON true
ORDER BY array_position(%(queues)s::text[], claimed.{_q(_column_of(Job, "queue"))}),
         claimed.{_q(_column_of(Job, "priority"))} DESC, claimed.{_q(_column_of(Job, "enqueued_at"))}
"""
SUCCEED_MANY_PRINTED_AND_CLAIM_SQL = SUCCEED_MANY_AND_CLAIM_SQL.replace(
    f"WITH {SUCCEED_MANY_CTES}, {CLAIM_CTES}", f"WITH {SUCCEED_MANY_CTES}, {PRINTED_CTE}, {CLAIM_CTES}", 1
)
if PRINTED_CTE not in SUCCEED_MANY_PRINTED_AND_CLAIM_SQL:  # the statement above changed its opening
    raise RuntimeError("SUCCEED_MANY_AND_CLAIM_SQL no longer opens with its CTEs: update jobs/sql.py")
# A busy worker's one statement per two jobs: compacted to stay within psycopg's cache.
SUCCEED_MANY_AND_CLAIM_SQL = compact(SUCCEED_MANY_AND_CLAIM_SQL)
SUCCEED_MANY_PRINTED_AND_CLAIM_SQL = compact(SUCCEED_MANY_PRINTED_AND_CLAIM_SQL)


def succeed_many_statement(*, claim: bool, printed: bool) -> str:
    """The batched success, with this worker's next claim or not, with the printed lines' CTE or not."""
    if claim:
        return SUCCEED_MANY_PRINTED_AND_CLAIM_SQL if printed else SUCCEED_MANY_AND_CLAIM_SQL
    return SUCCEED_MANY_PRINTED_SQL if printed else SUCCEED_MANY_SQL


# The claimed rows come back in the order the worker runs them: the claim's own order (queues in
# the server's order, then priority, then age); an UPDATE's RETURNING keeps no order.


def succeed_many_parameters(outcomes, printed=None) -> dict:
    """The unnest's columns for `outcomes`: (job, token, stored result, duration, finish time);
    `printed`: for each, the parameters of its output's last lines (jobs.output.rest_parameters)
    or None."""
    rests = list(printed) if printed is not None else [None] * len(outcomes)
    return {
        "output_attempts": [rest and rest["output_attempt"] for rest in rests],
        "output_texts": [rest and rest["output_text"] for rest in rests],
        "output_sizes": [rest and rest["output_size"] for rest in rests],
        "output_truncated": [rest and rest["output_truncated"] for rest in rests],
        "ids": [job.pk for job, _, _, _, _ in outcomes],
        "tokens": [token for _, token, _, _, _ in outcomes],
        "nows": [now for _, _, _, _, now in outcomes],
        "reasons": [states.succeed_reason(duration) for _, _, _, duration, _ in outcomes],
        # None is SQL NULL, as the ORM stores it, not JSON null.
        "results": [None if stored is None else json.dumps(stored) for _, _, stored, _, _ in outcomes],
        "durations": [round(duration, 6) for _, _, _, duration, _ in outcomes],
        # When each run began: a prefetched job's claim came earlier (runner._run).
        "starts": [job.started_at for job, _, _, _, _ in outcomes],
        # Each job's keep-time as Succeeded, from its task's retention policy (None: kept).
        "expirations": [
            retention.keep_seconds(job.task_path, SUCCEED.target) for job, _, _, _, _ in outcomes
        ],
    }


def split_succeed_many(rows) -> dict:
    """job id -> (state_changed_at, expires_at) of the jobs SUCCEED_MANY_SQL's `done` holds."""
    ids, changed, expires = rows[0][:3]
    return {} if ids is None else dict(zip(ids, zip(changed, expires, strict=True), strict=True))


def split_succeed_many_and_claim(rows) -> tuple[dict, list[Job]]:
    """SUCCEED_MANY_AND_CLAIM_SQL's answer: the jobs that succeeded, and the jobs claimed."""
    return split_succeed_many(rows), [load_job(row[3:]) for row in rows if row[3] is not None]


def succeed_parameters(job: Job, token: str, stored, duration: float, now) -> dict:
    return {
        "id": job.pk,
        "token": token,
        "reason": states.succeed_reason(duration),
        "now": now,
        "expiration": retention.keep_seconds(job.task_path, SUCCEED.target),
        # None is SQL NULL, as the ORM stores it, not JSON null.
        "result": None if stored is None else json.dumps(stored),
        "duration": round(duration, 6),
    }


def split_succeed_and_claim(row) -> tuple[tuple | None, Job | None]:
    """SUCCEED_AND_CLAIM_SQL's answer: (state_changed_at, expires_at) or None, and the claimed job."""
    done = row[:2] if row[0] is not None else None
    return done, None if row[2] is None else load_job(row[2:])


def succeed_portable(locked: Job, params: dict, data: dict) -> Job:
    """The fast success's twin: SUCCEED through the ORM on a locked row (SQLite, and any job the
    statement leaves to the general path)."""
    return states.apply_transition(SUCCEED, locked, {**params, "result": params["stored"]}, data=data)


# --- Inserting jobs ---------------------------------------------------------------------------------


def insert_one_sql(columns: list[str], notify: bool, on_conflict_do_nothing: bool = False) -> str:
    """Not ORM: one job, its history row and the NOTIFY in one statement, so a single `.enqueue()`
    is one round trip instead of five (BEGIN, two INSERTs, NOTIFY, COMMIT). The twin is
    bulk_create of the Job and the JobState (creation.insert_jobs).

    `on_conflict_do_nothing`: a unique job (jobs/flow.py) whose key is live inserts nothing, no
    history and no NOTIFY; the statement then returns no row (the twin: a savepoint that catches
    the IntegrityError)."""
    placeholders = ", ".join(["%s"] * len(columns))
    conflict = " ON CONFLICT DO NOTHING" if on_conflict_do_nothing else ""
    return (
        f"WITH job AS (INSERT INTO {JOB_TABLE} ({', '.join(_q(c) for c in columns)}) VALUES ({placeholders}){conflict} RETURNING id), "
        f"history AS (INSERT INTO {HISTORY_TABLE} ({HISTORY_COLUMNS}) SELECT id, %s, %s, '{{}}'::jsonb, %s FROM job) "
        + ("SELECT pg_notify(%s, %s) FROM job" if notify else "SELECT id FROM job")
    )


def copy_sql(model, columns: list[str]) -> str:
    """Not ORM: COPY, for bulk inserts; bulk_create spends most of its time compiling SQL and
    preparing each of the 30-odd fields (bench/findings.md). The twin is bulk_create."""
    return f"COPY {_q(model._meta.db_table)} ({', '.join(_q(c) for c in columns)}) FROM STDIN"


HISTORY_COPY_SQL = f"COPY {HISTORY_TABLE} ({HISTORY_COLUMNS}) FROM STDIN"


# --- The Performance page's sums (jobs/performance.py) ---------------------------------------------

_INTERVALS = _q(TaskInterval._meta.db_table)
_IN_WINDOW = "bucket >= %(start)s AND bucket < %(until)s"

# Not ORM: a week of intervals is 672 rows per task; PostgreSQL sums their counts per task and
# per sparkline point (extract(epoch …) / point: a computation on the interval's start that the
# ORM spells differently on each backend), so Python reads one row per task and point instead of
# every interval. The twin is performance._stored_portable, which reads the rows and adds them
# in Python. (The histograms need no sum at all: performance.running_before.)
PERFORMANCE_TOTALS_SQL = f"""
SELECT task_path, sum(succeeded), sum(failed), max(duration_max) FILTER (WHERE duration_count > 0),
       (array_agg(last_failure_id ORDER BY last_failure_at DESC) FILTER (WHERE last_failure_at IS NOT NULL))[1],
       max(last_failure_at)
FROM {_INTERVALS} WHERE {_IN_WINDOW}
GROUP BY task_path
"""
PERFORMANCE_TREND_SQL = f"""
SELECT task_path, floor(extract(epoch FROM bucket - %(start)s) / %(point)s)::int, sum(succeeded + failed), sum(failed)
FROM {_INTERVALS} WHERE {_IN_WINDOW}
GROUP BY 1, 2
"""


# --- Expiry: finished jobs whose retention ran out (jobs/retention.py) ------------------------------
# Not ORM: the ORM's delete() of 1,000 jobs loads them, then deletes and updates what points at them
# in a dozen statements and round trips inside one transaction. This is one statement (its own short
# transaction): it locks only final-state rows (SKIP LOCKED: a row someone holds, say a person
# requeueing it, waits for the next chunk), so a claim, which reads Enqueued rows only, never waits
# on it. The history and output go with the jobs; links to them (a continuation's parent, a recurring
# job's last job) are cleared as the models' SET_NULL would. The twin is the ORM delete in
# retention.expire.
def _expire_chunk_sql() -> str:
    job_id = _q(_column_of(JobState, "job"))
    output_job = _q(_column_of(JobOutput, "job"))
    last_job = _q(_column_of(RecurringJob, "last_job"))
    parent = column("parent", "")
    retained = ", ".join(literal(state) for state in (State.SUCCEEDED, State.DELETED, State.FAILED))
    return f"""
WITH doomed AS MATERIALIZED (
    SELECT id FROM {JOB_TABLE}
    WHERE {column("expires_at", "")} <= %(now)s AND {column("state", "")} IN ({retained})
    ORDER BY {column("expires_at", "")}
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), history AS (
    DELETE FROM {HISTORY_TABLE} WHERE {job_id} IN (SELECT id FROM doomed)
), outputs AS (
    DELETE FROM {_q(JobOutput._meta.db_table)} WHERE {output_job} IN (SELECT id FROM doomed)
), orphans AS (
    UPDATE {JOB_TABLE} SET {parent} = NULL
    WHERE {parent} IN (SELECT id FROM doomed) AND id NOT IN (SELECT id FROM doomed)
), recurring AS (
    UPDATE {_q(RecurringJob._meta.db_table)} SET {last_job} = NULL WHERE {last_job} IN (SELECT id FROM doomed)
), gone AS (
    DELETE FROM {JOB_TABLE} WHERE id IN (SELECT id FROM doomed) RETURNING 1
)
SELECT count(*) FROM gone
"""


EXPIRE_CHUNK_SQL = _expire_chunk_sql()
