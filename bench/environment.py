"""The bench process's environment, set before Django starts, and inherited by every server.

Production-like for both systems: DEBUG off (Django then keeps no per-query log, which would
grow every worker's memory), logging at WARNING for both (so neither pays for per-job log lines
the other does not write), the project's default connection settings (CONN_MAX_AGE 60 with
health checks), and the bench's own database.
"""

import os
import tempfile

from bench import database

MARKS_PREFIX = "dhanman-bench-marks-"


def owns_marks_dir() -> bool:
    """True when the marks directory is the temporary one `prepare` made (removed at the end)."""
    return os.path.basename(os.environ.get("BENCH_MARKS_DIR", "")).startswith(MARKS_PREFIX)


def prepare() -> str:
    """Point this process (and the servers it starts) at the bench database; start Django."""
    url = database.bench_url()
    marks = os.environ.get("BENCH_MARKS_DIR") or tempfile.mkdtemp(prefix=MARKS_PREFIX)
    os.environ.update(
        {
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "DEBUG": "False",
            "SECRET_KEY": os.environ.get(
                "BENCH_SECRET_KEY", "bench-only-secret-key-not-for-production-0123456789"
            ),
            # The console pages are rendered with django.test.Client, whose host is "testserver".
            "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
            "LOG_LEVEL": "WARNING",
            "DJANGO_Q_LOG_LEVEL": "WARNING",
            # The project's own apps only (var/test.env adds the test suite's app).
            "DHANMAN_TEST_APPS": "0",
            "BENCH_MARKS_DIR": marks,
            # procrastinate (bench/procrastinate_app.py) reaches the same bench database.
            "BENCH_PROCRASTINATE_DSN": url,
        }
    )
    import django

    django.setup()
    return url
