"""The pusher's wake-up: a dedicated autocommit connection that LISTENs for the NOTIFY sent when a
job is committed (jobs/creation.py), so an idle server starts a new job within milliseconds
instead of at its next poll. PostgreSQL only; on SQLite the pusher sleeps POLL_INTERVAL.
"""

import contextlib
import logging
import time

from django.db import connection

from jobs.wakeup import NOTIFY_CHANNEL

logger = logging.getLogger("jobs.broker")


class Listener:
    """A dedicated autocommit connection that LISTENs for the NOTIFY sent at enqueue."""

    def __init__(self):
        self.conn = None

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

        params = connection.get_connection_params()
        keep = {
            k: v for k, v in params.items() if k in {"dbname", "user", "password", "host", "port", "sslmode"}
        }
        conn = psycopg.connect(**keep, autocommit=True, connect_timeout=5)
        conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
        return conn

    def close(self):
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
        self.conn = None
