"""`python -m bench.flow_free_cluster`: our `qcluster`, with the claim as it was before flow
control (no pause check, no limit admission), for bench/scenarios/flow.py's "present but
unused" row: the same engine, in the same run, with and without the feature's SQL.

The claim statements are strings built at import; this strips the two flow clauses from them
before the server starts (its workers are forked from this process and inherit them).
"""

import os

import django

# Every statement a server claims with (tests/bench checks that none is missing).
CLAIMING_STATEMENTS = (
    "CLAIM_SQL",
    "WORKER_CLAIM_SQL",
    "WORKER_CLAIM_ASYNC_COMMIT_SQL",
    "SUCCEED_AND_CLAIM_SQL",
    "SUCCEED_MANY_AND_CLAIM_SQL",
    "SUCCEED_MANY_PRINTED_AND_CLAIM_SQL",
)


def strip_flow(sql: str) -> str:
    from jobs import flow
    from jobs.sql import compact

    stripped = sql
    # As written, and as compacted (jobs.sql.compact: the batched success).
    for admits, queue_open in (
        (f" AND {flow.CLAIM_ADMITS}", f"WHERE {flow.CLAIM_QUEUE_OPEN}"),
        (f" AND {compact(flow.CLAIM_ADMITS)}", f"WHERE {compact(flow.CLAIM_QUEUE_OPEN)}"),
    ):
        stripped = stripped.replace(admits, "").replace(queue_open, "")
    if stripped == sql:
        raise RuntimeError(
            "The claim has no flow clauses to strip: bench/flow_free_cluster.py is out of date."
        )
    return stripped


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dhanman.settings")
    django.setup()
    from django.core.management import call_command

    from jobs import sql

    # Read through the module at each call (sql.CLAIM_SQL …), so replacing them here is enough.
    for name in CLAIMING_STATEMENTS:
        setattr(sql, name, strip_flow(getattr(sql, name)))
    call_command("qcluster")


if __name__ == "__main__":
    main()
