"""`python -m bench.flow_free_cluster`: our `qcluster`, with the claim as it was before flow
control (no pause check, no limit admission), for bench/scenarios/flow.py's "present but
unused" row: the same engine, in the same run, with and without the feature's SQL.

The claim statements are strings built at import; this strips the two flow clauses from them
before the server starts (its workers are forked from this process and inherit them).
"""

import os

import django


def strip_flow(sql: str) -> str:
    from jobs import flow

    stripped = sql.replace(f" AND {flow.CLAIM_ADMITS}", "").replace(f"WHERE {flow.CLAIM_QUEUE_OPEN}", "")
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
    sql.CLAIM_SQL = strip_flow(sql.CLAIM_SQL)
    sql.SUCCEED_AND_CLAIM_SQL = strip_flow(sql.SUCCEED_AND_CLAIM_SQL)
    sql.WORKER_CLAIM_SQL = strip_flow(sql.WORKER_CLAIM_SQL)
    call_command("qcluster")


if __name__ == "__main__":
    main()
