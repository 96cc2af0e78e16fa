"""Waking idle servers: the NOTIFY channel and its payloads.

A transaction that makes a job Enqueued (or adds a Scheduled one) sends a NOTIFY; PostgreSQL
delivers it when the transaction commits and drops it on rollback, and an idle server's
listener (jobs/server/listener.py) claims at once instead of at its next poll. On other
databases servers poll.

Its own module, below everything else: states, batches and continuations wake servers, and
jobs/sql.py (which builds its statements from states' transitions) cannot be their dependency.
"""

from django.db import connection

NOTIFY_CHANNEL = "dhanman_jobs"
# The payload that tells servers a Scheduled job was added (it may be due before they expected).
SCHEDULED_PAYLOAD = "+scheduled"


def notify_servers(payloads) -> None:
    """NOTIFY idle servers (payloads: queue names, or SCHEDULED_PAYLOAD); sent on commit.
    Not ORM: there is none for NOTIFY."""
    if not payloads or connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for payload in sorted(payloads):
            cursor.execute("SELECT pg_notify(%s, %s)", [NOTIFY_CHANNEL, payload])
