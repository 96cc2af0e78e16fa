"""Settings for Dhanman Jobs, read from the environment (and an optional `.env` file).

Every variable is documented in `.env.example`. The defaults make `make run` work on a fresh
clone: an embedded SQLite database under `var/`, DEBUG on, a development secret key.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=True)

_DEV_SECRET_KEY = "django-insecure-dhanman-development-only"
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = _DEV_SECRET_KEY

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # jobs comes before django_q so that our `qcluster` command (graceful shutdown, job
    # server registration) is the one manage.py runs.
    "jobs",
    "common",
    "notifications",
    "sales",
    "purchase",
    "payroll",
    "community",
    "inventory",
    "demo",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_q",
]
# The test suite's own app (execution logs, probe tasks), also needed by the `qcluster`
# subprocesses that the tests start.
if env.bool("DHANMAN_TEST_APPS", default=False):
    INSTALLED_APPS.append("tests.testapp")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "dhanman.urls"
WSGI_APPLICATION = "dhanman.wsgi.application"
ASGI_APPLICATION = "dhanman.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database --------------------------------------------------------------------------------
# The embedded default is an SQLite file that a web process and a worker can share: WAL
# journal, IMMEDIATE transactions (no lock upgrades that deadlock) and a busy timeout.
VAR_DIR.mkdir(exist_ok=True)
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'dhanman.db'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # A file, not memory, so that the qcluster processes the tests start can share it.
    DATABASES["default"].setdefault("TEST", {"NAME": str(VAR_DIR / "test-dhanman.sqlite3")})
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)

# DATABASE_POOLER=transaction: DATABASE_URL reaches PostgreSQL through a pooler in transaction
# pooling (PgBouncer's pool_mode = transaction), so consecutive transactions of one connection may
# run on different server sessions. Nothing may then rely on session state: no server-side
# prepared statements (PgBouncer < 1.21 cannot route them; Django's default, pinned here so an
# OPTIONS override cannot bring them back), no server-side cursors (`.iterator()` would declare a
# cursor in one session and fetch in another), no session SET, no LISTEN (jobs/broker.py), no
# session-level advisory locks (the engine takes only pg_advisory_xact_lock).
DATABASE_POOLER = env.str("DATABASE_POOLER", default="").strip().lower()
if DATABASE_POOLER not in ("", "transaction"):
    raise ImproperlyConfigured(
        f"DATABASE_POOLER={DATABASE_POOLER!r}: leave it empty (a direct connection, or a session-pooling "
        "pooler) or set it to 'transaction' (PgBouncer in transaction pooling)."
    )
if DATABASE_POOLER and DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    raise ImproperlyConfigured("DATABASE_POOLER is for PostgreSQL; DATABASE_URL names an SQLite file.")
if DATABASE_POOLER == "transaction":
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = None
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache: shared between processes, never the per-process default ---------------------------
CACHES = {
    "default": env.cache(
        "CACHE_URL", default="dbcache://dhanman_cache"
    )
}

# --- Auth, i18n, time -------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Kolkata")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# Files that jobs write (payslip PDFs); served by the web server, never by Django, in production.
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "media/"

# --- Email (the notification outbox delivers through Django's email backend) ------------------
# EMAIL_URL (smtp://user:password@host:587/?tls=True, consolemail://) becomes Django 6.1's MAILERS.
_email = env.email_url("EMAIL_URL", default="consolemail://")
_smtp_options = {
    "host": _email.get("EMAIL_HOST"),
    "port": _email.get("EMAIL_PORT"),
    "username": _email.get("EMAIL_HOST_USER"),
    "password": _email.get("EMAIL_HOST_PASSWORD"),
    "use_tls": _email.get("EMAIL_USE_TLS"),
    "use_ssl": _email.get("EMAIL_USE_SSL"),
}
MAILERS = {
    "default": {
        "BACKEND": _email["EMAIL_BACKEND"],
        "OPTIONS": {k: v for k, v in _smtp_options.items() if v not in (None, "")}
        if _email["EMAIL_BACKEND"].endswith("smtp.EmailBackend")
        else {},
    }
}
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Dhanman <no-reply@dhanman.local>")
ADMINS = [tuple(a.split(":", 1)) for a in env.list("ADMINS", default=[]) if ":" in a]

# --- Logging: stdout, one line per event --------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "line": {"format": "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"},
    },
    "handlers": {"stdout": {"class": "logging.StreamHandler", "formatter": "line", "stream": "ext://sys.stdout"}},
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["stdout"], "level": LOG_LEVEL, "propagate": False},
        "django-q": {"handlers": ["stdout"], "level": env.str("DJANGO_Q_LOG_LEVEL", default="WARNING"), "propagate": False},
    },
}

# --- The job system: every knob in one place ---------------------------------------------------
# The names mirror Hangfire's options in the old setup (WorkerCount, Queues, SchedulePollingInterval,
# HeartbeatInterval, ServerCheckInterval, JobExpirationCheckInterval).
# Every queue there is, in priority order: what `@task(queue_name=...)` is checked against
# (Django's TASKS QUEUES). Which of them one server claims is SERVER_QUEUES below.
JOB_QUEUES = env.list("JOBS_QUEUES", default=["critical", "default", "low-priority"])
DHANMAN_JOBS = {
    # Worker processes per `qcluster` server.
    "WORKER_COUNT": env.int("JOBS_WORKER_COUNT", default=4),
    # A worker that finishes a job claims its next one itself, this many in a row at most, before
    # it goes back to django-q2's loop (jobs/worker.py); 1 turns that off.
    "WORKER_CHAIN_LIMIT": env.int("JOBS_WORKER_CHAIN_LIMIT", default=100),
    # Every queue, in priority order: a server always claims from the first non-empty one it serves.
    "QUEUES": JOB_QUEUES,
    # The queues one server claims: a subset of QUEUES, kept in QUEUES' order whatever order they
    # are given in (`qcluster --queues critical,default` overrides it; an unknown name stops the
    # server at start). The other queues' jobs wait for a server that serves them.
    "SERVER_QUEUES": env.list("JOBS_SERVER_QUEUES", default=JOB_QUEUES),
    # A job whose worker process died under it (segfault, os._exit, the OOM killer) this many
    # times fails ("killed its worker 3 times") instead of being retried until its attempts run out.
    "MAX_WORKER_DEATHS": env.int("JOBS_MAX_WORKER_DEATHS", default=3),
    # Idle wait between claims when no NOTIFY arrives (the only mode on SQLite, and behind a
    # transaction pooler without LISTEN_DATABASE_URL), seconds.
    "POLL_INTERVAL": env.float("JOBS_POLL_INTERVAL", default=1.0),
    # Where idle servers LISTEN for the NOTIFY sent at enqueue: a direct PostgreSQL URL (not
    # through the pooler), needed when DATABASE_POOLER=transaction; empty: DATABASE_URL itself,
    # or, behind a transaction pooler, no LISTEN at all (polling at POLL_INTERVAL, with a warning).
    "LISTEN_DATABASE_URL": env.str("JOBS_LISTEN_DATABASE_URL", default=""),
    # How often due Scheduled jobs and recurring jobs are looked for, seconds.
    "SCHEDULE_POLLING_INTERVAL": env.float("JOBS_SCHEDULE_POLLING_INTERVAL", default=1.0),
    # How often a server writes its heartbeat, seconds.
    "HEARTBEAT_INTERVAL": env.float("JOBS_HEARTBEAT_INTERVAL", default=5.0),
    # How often the reaper looks for dead servers and expired leases, seconds.
    "SERVER_CHECK_INTERVAL": env.float("JOBS_SERVER_CHECK_INTERVAL", default=5.0),
    # A server without a heartbeat for this long is dead, seconds.
    "SERVER_TIMEOUT": env.float("JOBS_SERVER_TIMEOUT", default=30.0),
    # A Processing job whose lease is not renewed for this long is returned to its queue, seconds.
    "LEASE_SECONDS": env.float("JOBS_LEASE_SECONDS", default=30.0),
    # Succeeded and Deleted jobs are removed after this long, seconds (Hangfire: 24 h).
    "EXPIRATION_SECONDS": env.int("JOBS_EXPIRATION_SECONDS", default=24 * 3600),
    # How often a server rolls finished jobs up into the console's 15-minute counters, seconds
    # (jobs/statistics.py; each interval is stored once, 2 minutes after it ended).
    "STATS_ROLLUP_INTERVAL": env.float("JOBS_STATS_ROLLUP_INTERVAL", default=60.0),
    # How often expiration runs, seconds (Hangfire's JobExpirationCheckInterval: 30 min).
    "EXPIRATION_CHECK_INTERVAL": env.int("JOBS_EXPIRATION_CHECK_INTERVAL", default=1800),
    # Batches are removed this long after they finish, seconds.
    "BATCH_EXPIRATION_SECONDS": env.int("JOBS_BATCH_EXPIRATION_SECONDS", default=7 * 24 * 3600),
    # A recurring occurrence found later than this counts as missed (its misfire policy applies).
    "RECURRING_MISFIRE_GRACE_SECONDS": env.int("JOBS_RECURRING_MISFIRE_GRACE_SECONDS", default=60),
    # Strict misfire policy: at most this many catch-up jobs after an outage.
    "RECURRING_STRICT_MISFIRE_CAP": env.int("JOBS_RECURRING_STRICT_MISFIRE_CAP", default=100),
    # On SIGTERM, running jobs get this long to finish before they are cancelled and requeued.
    "SHUTDOWN_GRACE_SECONDS": env.float("JOBS_SHUTDOWN_GRACE_SECONDS", default=25.0),
    # Arguments larger than this (JSON bytes) are refused at enqueue: pass ids instead.
    "MAX_ARGUMENTS_BYTES": env.int("JOBS_MAX_ARGUMENTS_BYTES", default=64 * 1024),
    # The retry policy of tasks that set none: Hangfire's AutomaticRetry (10 attempts).
    "DEFAULT_RETRY": {"attempts": env.int("JOBS_DEFAULT_RETRY_ATTEMPTS", default=10)},
    # Filters run around every job (dotted paths); tasks may add their own.
    "FILTERS": env.list("JOBS_FILTERS", default=["jobs.filters.JobLogger"]),
    # The console.
    "DASHBOARD_TITLE": env.str("JOBS_DASHBOARD_TITLE", default="Dhanman Jobs Dashboard"),
    "STATS_POLLING_INTERVAL_MS": env.int("JOBS_STATS_POLLING_INTERVAL_MS", default=2000),
}

TASKS = {
    "default": {
        "BACKEND": "jobs.backend.JobBackend",
        "QUEUES": JOB_QUEUES,
    }
}

# django-q2 runs the processes (Sentinel, pusher, workers, monitor, guard); our broker claims
# from the Job table, which stays the one source of truth. The broker claims only as many jobs as
# there are free workers (jobs/capacity.py), so the local queue never holds work that could make
# a critical job wait; queue_limit only has to fit those.
Q_CLUSTER = {
    "name": env.str("JOBS_CLUSTER_NAME", default="dhanman"),
    "workers": DHANMAN_JOBS["WORKER_COUNT"],
    "broker_class": "jobs.broker.JobBroker",
    "bulk": 1,
    "queue_limit": DHANMAN_JOBS["WORKER_COUNT"],
    "save_limit": -1,
    "ack_failures": True,
    "max_attempts": 1,
    "timeout": 10**7,  # per job: the broker sets each package's own guard timer
    "retry": 10**9,
    "catch_up": False,
    "scheduler": False,
    "recycle": env.int("JOBS_WORKER_RECYCLE", default=5000),
    "cache": "default",
    "guard_cycle": 0.5,
    "daemonize_workers": True,
    "log_level": env.str("DJANGO_Q_LOG_LEVEL", default="WARNING"),
}

# Auth0-compatible Management API for `sync-auth0-users` (unset: the job is skipped).
AUTH0_DOMAIN = env.str("AUTH0_DOMAIN", default="")
AUTH0_CLIENT_ID = env.str("AUTH0_CLIENT_ID", default="")
AUTH0_CLIENT_SECRET = env.str("AUTH0_CLIENT_SECRET", default="")
AUTH0_AUDIENCE = env.str("AUTH0_AUDIENCE", default="")

# Where `database-backup` writes and how many it keeps; where `cleanup-old-logs` looks.
BACKUP_DIR = Path(env.str("BACKUP_DIR", default=str(VAR_DIR / "backups")))
BACKUP_KEEP = env.int("BACKUP_KEEP", default=7)
LOG_DIR = Path(env.str("LOG_DIR", default=str(VAR_DIR / "log")))
LOG_RETENTION_DAYS = env.int("LOG_RETENTION_DAYS", default=30)
OUTBOX_RETENTION_DAYS = env.int("OUTBOX_RETENTION_DAYS", default=90)

SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
