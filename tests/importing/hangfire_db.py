"""A real Hangfire.PostgreSql schema for the import tests, and rows written as Hangfire 1.8 does.

The DDL is ours, written after reading Hangfire.PostgreSql's published install scripts
(Install.v3.sql through Install.v23.sql): the tables as they stand after the last of them —
bigint ids, timestamptz times, jsonb invocation data, arguments and state data, text hash values.
`legacy_text_columns=True` gives the shape before v20, when invocation data was plain text (where
"not JSON" can happen).

Serialization follows Hangfire 1.8 (CompatibilityLevel.Version_180, the simple assembly name type
serializer): the job table's invocation data is {"Type","Method","ParameterTypes","Arguments"}
with ParameterTypes and Arguments JSON text, each argument JSON text again, CancellationToken
arguments null; a recurring job's "Job" field is the compact payload {"t","m","p","a"}; times
in hashes and state data are ISO 8601 with seven fractional digits.
"""

import json
import uuid
from datetime import UTC, datetime

import psycopg
from psycopg import sql

DDL = """
CREATE TABLE {s}."schema" (version integer PRIMARY KEY);
CREATE TABLE {s}.counter (id bigserial PRIMARY KEY, key text NOT NULL, value bigint NOT NULL, expireat timestamptz);
CREATE TABLE {s}.aggregatedcounter (id bigserial PRIMARY KEY, key text NOT NULL UNIQUE, value bigint NOT NULL,
    expireat timestamptz);
CREATE TABLE {s}.hash (id bigserial PRIMARY KEY, key text NOT NULL, field text NOT NULL, value text,
    expireat timestamptz, updatecount integer NOT NULL DEFAULT 0, UNIQUE (key, field));
CREATE TABLE {s}.job (id bigserial PRIMARY KEY, stateid bigint, statename text, invocationdata {payload} NOT NULL,
    arguments {payload} NOT NULL, createdat timestamptz NOT NULL, expireat timestamptz,
    updatecount integer NOT NULL DEFAULT 0);
CREATE INDEX ix_{n}_job_statename ON {s}.job (statename) WHERE statename IS NOT NULL;
CREATE TABLE {s}.state (id bigserial PRIMARY KEY, jobid bigint NOT NULL REFERENCES {s}.job (id)
    ON UPDATE CASCADE ON DELETE CASCADE, name text NOT NULL, reason text, createdat timestamptz NOT NULL,
    data {payload}, updatecount integer NOT NULL DEFAULT 0);
CREATE TABLE {s}.jobqueue (id bigserial PRIMARY KEY, jobid bigint NOT NULL, queue text NOT NULL,
    fetchedat timestamptz, updatecount integer NOT NULL DEFAULT 0);
CREATE TABLE {s}.list (id bigserial PRIMARY KEY, key text NOT NULL, value text, expireat timestamptz,
    updatecount integer NOT NULL DEFAULT 0);
CREATE TABLE {s}.server (id text PRIMARY KEY, data {payload}, lastheartbeat timestamptz NOT NULL,
    updatecount integer NOT NULL DEFAULT 0);
CREATE TABLE {s}."set" (id bigserial PRIMARY KEY, key text NOT NULL, score double precision NOT NULL,
    value text NOT NULL, expireat timestamptz, updatecount integer NOT NULL DEFAULT 0, UNIQUE (key, value));
CREATE TABLE {s}.jobparameter (id bigserial PRIMARY KEY, jobid bigint NOT NULL REFERENCES {s}.job (id)
    ON UPDATE CASCADE ON DELETE CASCADE, name text NOT NULL, value text, updatecount integer NOT NULL DEFAULT 0);
CREATE TABLE {s}.lock (resource text NOT NULL UNIQUE, updatecount integer NOT NULL DEFAULT 0, acquired timestamptz);
INSERT INTO {s}."schema" (version) VALUES (23);
"""

CANCELLATION = "System.Threading.CancellationToken, mscorlib"
INT = "System.Int32, mscorlib"
STRING = "System.String, mscorlib"


def compact(value) -> str:
    return json.dumps(value, separators=(",", ":"))


def hangfire_time(at: datetime) -> str:
    """JobHelper.SerializeDateTime: round-trip ISO 8601, seven fractional digits, UTC."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


def _argument_texts(types, args):
    return [None if t == CANCELLATION or a is None else compact(a) for t, a in zip(types, args, strict=True)]


def invocation_data(type_name: str, method: str, types: list, args: list) -> str:
    return compact(
        {
            "Type": type_name,
            "Method": method,
            "ParameterTypes": compact(types),
            "Arguments": compact(_argument_texts(types, args)),
        }
    )


def recurring_payload(type_name: str, method: str, types: list, args: list) -> str:
    payload = {"t": type_name, "m": method}
    if types:
        payload["p"] = types
        payload["a"] = _argument_texts(types, args)
    return compact(payload)


class HangfireDb:
    """A scratch schema in a scratch database, filled the way a Hangfire server would fill it."""

    def __init__(self, conninfo: dict, schema: str, legacy_text_columns: bool = False):
        self.conninfo, self.schema = conninfo, schema
        self.conn = psycopg.connect(**conninfo, autocommit=True)
        self.conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        ddl = DDL.format(s=f'"{schema}"', n=schema, payload="text" if legacy_text_columns else "jsonb")
        self.conn.execute(ddl)

    @property
    def dsn(self) -> str:
        c = self.conninfo
        return f"postgres://{c['user']}@{c['host']}:{c['port']}/{c['dbname']}"

    def execute(self, text: str, params=()):
        return self.conn.execute(text.replace("{s}", f'"{self.schema}"'), params)

    def drop(self):
        self.conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(self.schema)))
        self.conn.close()

    # --- writes as Hangfire makes them ---

    def add_recurring(
        self,
        rid,
        type_name,
        method,
        cron,
        *,
        tz="UTC",
        queue="default",
        types=(CANCELLATION,),
        args=None,
        last=None,
        next_=None,
        created=None,
        job=None,
    ):
        types = list(types)
        args = list(args) if args is not None else [None] * len(types)
        fields = {
            "Queue": queue,
            "Cron": cron,
            "TimeZoneId": tz,
            "Job": job if job is not None else recurring_payload(type_name, method, types, args),
            "CreatedAt": hangfire_time(created or datetime(2025, 4, 1, tzinfo=UTC)),
            "V": "2",
        }
        if next_:
            fields["NextExecution"] = hangfire_time(next_)
        if last:
            fields["LastExecution"] = hangfire_time(last)
            fields["LastJobId"] = "1"
        self.execute(
            "INSERT INTO {s}.\"set\" (key, score, value) VALUES ('recurring-jobs', %s, %s)",
            [next_.timestamp() if next_ else 0, rid],
        )
        for name, value in fields.items():
            self.execute(
                "INSERT INTO {s}.hash (key, field, value) VALUES (%s, %s, %s)",
                [f"recurring-job:{rid}", name, value],
            )

    def add_job(
        self,
        type_name,
        method,
        types,
        args,
        state,
        data,
        *,
        reason=None,
        created=None,
        queue=None,
        invocation=None,
    ) -> int:
        created = created or datetime.now(UTC)
        types = list(types)
        texts = _argument_texts(types, list(args))
        row = self.execute(
            "INSERT INTO {s}.job (invocationdata, arguments, createdat, statename) VALUES (%s, %s, %s, %s) RETURNING id",
            [
                invocation
                if invocation is not None
                else invocation_data(type_name, method, types, list(args)),
                compact(texts),
                created,
                state,
            ],
        ).fetchone()
        job_id = row[0]
        state_id = self.execute(
            "INSERT INTO {s}.state (jobid, name, reason, createdat, data) VALUES (%s, %s, %s, %s, %s) RETURNING id",
            [job_id, state, reason, created, compact({k: str(v) for k, v in data.items()})],
        ).fetchone()[0]
        self.execute("UPDATE {s}.job SET stateid = %s WHERE id = %s", [state_id, job_id])
        for name, value in (("CurrentCulture", '"en-IN"'), ("CurrentUICulture", '"en-US"')):
            self.execute(
                "INSERT INTO {s}.jobparameter (jobid, name, value) VALUES (%s, %s, %s)", [job_id, name, value]
            )
        if queue:
            self.execute("INSERT INTO {s}.jobqueue (jobid, queue) VALUES (%s, %s)", [job_id, queue])
        return job_id

    def enqueued(self, type_name, method, types, args, queue="default", **kw) -> int:
        return self.add_job(
            type_name,
            method,
            types,
            args,
            "Enqueued",
            {"EnqueuedAt": hangfire_time(datetime.now(UTC)), "Queue": queue},
            queue=queue,
            **kw,
        )

    def scheduled(self, type_name, method, types, args, enqueue_at, **kw) -> int:
        return self.add_job(
            type_name,
            method,
            types,
            args,
            "Scheduled",
            {"EnqueueAt": hangfire_time(enqueue_at), "ScheduledAt": hangfire_time(datetime.now(UTC))},
            **kw,
        )

    def awaiting(
        self, type_name, method, types, args, parent_id, options="OnlyOnSucceededState", **kw
    ) -> int:
        next_state = compact({"$type": "Hangfire.States.EnqueuedState, Hangfire.Core", "Queue": "default"})
        job_id = self.add_job(
            type_name,
            method,
            types,
            args,
            "Awaiting",
            {
                "ParentId": parent_id,
                "NextState": next_state,
                "Options": options,
                "Expiration": "365.00:00:00",
            },
            **kw,
        )
        continuations = self.execute(
            "SELECT value FROM {s}.jobparameter WHERE jobid = %s AND name = 'Continuations'", [parent_id]
        ).fetchone()
        listed = json.loads(continuations[0]) if continuations else []
        listed.append({"JobId": str(job_id), "Options": 1 if options == "OnlyOnSucceededState" else 0})
        self.execute("DELETE FROM {s}.jobparameter WHERE jobid = %s AND name = 'Continuations'", [parent_id])
        self.execute(
            "INSERT INTO {s}.jobparameter (jobid, name, value) VALUES (%s, 'Continuations', %s)",
            [parent_id, compact(listed)],
        )
        return job_id

    def failed(self, type_name, method, types, args, exception_type, message, details, **kw) -> int:
        return self.add_job(
            type_name,
            method,
            types,
            args,
            "Failed",
            {
                "FailedAt": hangfire_time(datetime.now(UTC)),
                "ExceptionType": exception_type,
                "ExceptionMessage": message,
                "ExceptionDetails": details,
            },
            reason="An exception occurred during performance of the job.",
            **kw,
        )

    def finished(self, type_name, method, types, args, state="Succeeded", **kw) -> int:
        data = {"SucceededAt": hangfire_time(datetime.now(UTC)), "PerformanceDuration": "53", "Latency": "12"}
        return self.add_job(
            type_name,
            method,
            types,
            args,
            state,
            data if state == "Succeeded" else {"DeletedAt": hangfire_time(datetime.now(UTC))},
            **kw,
        )

    def heartbeat(self, server_id=None, at=None):
        self.execute(
            "INSERT INTO {s}.server (id, data, lastheartbeat) VALUES (%s, %s, %s)",
            [
                server_id or f"web-01:{uuid.uuid4()}",
                compact(
                    {
                        "WorkerCount": 20,
                        "Queues": ["critical", "default", "low-priority"],
                        "StartedAt": hangfire_time(datetime.now(UTC)),
                    }
                ),
                at or datetime.now(UTC),
            ],
        )

    def snapshot(self) -> dict:
        """Every row of every table, to show an import wrote nothing here."""
        tables = [
            r[0]
            for r in self.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY 1",
                [self.schema],
            )
        ]
        return {
            t: sorted(map(repr, self.execute(f'SELECT * FROM "{self.schema}"."{t}"').fetchall()))
            for t in tables
        }
