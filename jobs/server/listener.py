"""The pusher's wake-up: a dedicated autocommit connection that LISTENs for the NOTIFY sent when a
job is committed (jobs/creation.py), so an idle server starts a new job within milliseconds
instead of at its next poll. PostgreSQL only; on SQLite the pusher sleeps POLL_INTERVAL.

Behind a pooler in transaction pooling (DATABASE_POOLER=transaction) LISTEN cannot work through
DATABASE_URL: the pooler hands the session that LISTENed to other clients between transactions
(pgbouncer #655), so notifications are lost or go to whoever holds it. The listener then uses
JOBS_LISTEN_DATABASE_URL, a direct connection; without one the server polls, and says so at start.
"""

import contextlib
import logging
import time
from typing import Any

from django.conf import settings
from django.db import connection

from jobs.conf import jobs_settings
from jobs.wakeup import NOTIFY_CHANNEL

logger = logging.getLogger("jobs.broker")


def behind_transaction_pooler() -> bool:
    return getattr(settings, "DATABASE_POOLER", "") == "transaction"


def wake_up_mode() -> str:
    """How an idle server learns of new work: "listen" (on DATABASE_URL's own connection
    parameters), "listen-direct" (on JOBS_LISTEN_DATABASE_URL) or "poll" (SQLite, or a
    transaction pooler with no direct URL)."""
    if connection.vendor != "postgresql":
        return "poll"
    if jobs_settings.LISTEN_DATABASE_URL:
        return "listen-direct"
    return "poll" if behind_transaction_pooler() else "listen"


def startup_warnings() -> list[str]:
    """What a server says once at start about how it waits for work."""
    if connection.vendor == "postgresql" and wake_up_mode() == "poll":
        return [
            "DATABASE_POOLER=transaction and no JOBS_LISTEN_DATABASE_URL: LISTEN/NOTIFY cannot pass "
            f"a transaction pooler, so this server polls every {jobs_settings.POLL_INTERVAL} s "
            "(JOBS_POLL_INTERVAL) and a new job may wait that long. Set JOBS_LISTEN_DATABASE_URL to a "
            "direct PostgreSQL URL for millisecond starts."
        ]
    return []


class Listener:
    """A dedicated autocommit connection that LISTENs for the NOTIFY sent at enqueue: on
    JOBS_LISTEN_DATABASE_URL when given (a direct connection beside a pooler), else with
    DATABASE_URL's own connection parameters."""

    def __init__(self, url: str = ""):
        self.url = url
        self.conn: Any = None

    def wait(self, timeout: float) -> set[str]:
        """Wait up to `timeout` seconds for notifications; return their payloads (queue names)."""
        if timeout <= 0:
            return set()
        try:
            if self.conn is None:
                self.conn = self._connect()
            payloads = {n.payload for n in self.conn.notifies(timeout=timeout, stop_after=1)}
            if payloads:
                # Several commits may have notified: take them all now, so the next wait waits.
                payloads.update(n.payload for n in self.conn.notifies(timeout=0.0))
            return payloads
        except Exception as exc:  # a restarted database: fall back to sleeping, reconnect next time
            logger.warning("LISTEN connection lost (%s); polling until it is back", exc)
            self.close()
            time.sleep(min(timeout, 1.0))
            return set()

    def _connect(self):
        import psycopg

        if self.url:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
        else:
            params = connection.get_connection_params()
            keep = {
                k: v
                for k, v in params.items()
                if k in {"dbname", "user", "password", "host", "port", "sslmode"}
            }
            conn = psycopg.connect(**keep, autocommit=True, connect_timeout=5)
        conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
        return conn

    def close(self):
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
        self.conn = None
