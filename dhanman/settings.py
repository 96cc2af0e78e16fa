"""Settings for Dhanman Jobs, read from the environment (and an optional `.env` file).

Every variable is documented in `.env.example`. The defaults make `make run` work on a fresh
clone: an embedded SQLite database under `var/`, DEBUG on, a development secret key.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from jobs import conf as jobs_conf

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
    # Before staticfiles: `runserver` then serves static files through WhiteNoise too, so the
    # dev server and gunicorn answer /static/ the same way.
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_q",
    # Failed-login throttling (docs/security.md); its lockouts show in the admin.
    "axes",
]
# The test suite's own app (execution logs, probe tasks), also needed by the `qcluster`
# subprocesses that the tests start.
if env.bool("DHANMAN_TEST_APPS", default=False):
    INSTALLED_APPS.append("tests.testapp")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # The Content-Security-Policy header (SECURE_CSP below) on every page Django renders.
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    # Static files from the process itself (gunicorn has no static handler): right after
    # SecurityMiddleware, as WhiteNoise documents, so its responses get the security headers.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes documents: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "dhanman.urls"
WSGI_APPLICATION = "dhanman.wsgi.application"
ASGI_APPLICATION = "dhanman.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # The project's own pages (the login lockout page); the apps' templates come after.
        "DIRS": [BASE_DIR / "dhanman" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                # {{ csp_nonce }} and {% csp_nonce_attr %}: the admin's templates and ours use it.
                "django.template.context_processors.csp",
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
CACHES = {"default": env.cache("CACHE_URL", default="dbcache://dhanman_cache")}

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
# `collectstatic` (in `make run` and the Procfile's release step) writes hashed, compressed copies
# here; WhiteNoise serves them with far-future cache headers. While DEBUG is on, WhiteNoise also
# finds files straight in the apps, so an edited stylesheet shows without collecting again.
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "static")))
# Files browsers ask for at the site's root (favicon.ico), served by WhiteNoise as they are.
WHITENOISE_ROOT = BASE_DIR / "dhanman" / "public"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
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
if _email["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend":
    # One log line per message rather than its whole text (dhanman/mail.py).
    _email["EMAIL_BACKEND"] = "dhanman.mail.LoggingEmailBackend"
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

# --- Logging: stdout, one line per event, stamped in TIME_ZONE (dhanman/logs.py) -----------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "line": {
            "()": "dhanman.logs.ZonedFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s",
            "time_zone": TIME_ZONE,
        },
    },
    # Redacted job arguments never reach a log line (jobs/redaction.py).
    "filters": {"redact": {"()": "jobs.redaction.RedactingFilter"}},
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "formatter": "line",
            "stream": "ext://sys.stdout",
            "filters": ["redact"],
        }
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["stdout"], "level": LOG_LEVEL, "propagate": False},
        # django-axes says "BEGIN version …" at every start of every command; its lockout
        # warnings (axes.handlers) still show.
        "axes.apps": {"handlers": ["stdout"], "level": "WARNING", "propagate": False},
        "django-q": {
            "handlers": ["stdout"],
            "level": env.str("DJANGO_Q_LOG_LEVEL", default="WARNING"),
            "propagate": False,
        },
    },
}

# --- The job system ---------------------------------------------------------------------------
# Every knob, its default and its JOBS_* variable are in jobs/conf.py (the engine reads them through
# jobs.conf.jobs_settings); here they are read from the environment.
DHANMAN_JOBS = jobs_conf.from_environment(env)
# SLA alert mails go through the notification outbox (one mail per dedup key across retries).
DHANMAN_JOBS["ALERT_NOTIFIER"] = DHANMAN_JOBS["ALERT_NOTIFIER"] or "notifications.services.notify"
JOB_QUEUES = DHANMAN_JOBS["QUEUES"]

# --- Domain events over RabbitMQ (jobs/events; docs/events.md) ------------------------------------
# `manage.py consume_events` consumes them and relays the outbox; without RabbitMQ the app still
# runs, events wait in the outbox.
AMQP_URL = env.str("AMQP_URL", default="amqp://guest:guest@127.0.0.1:5672//")
DHANMAN_EVENTS = {
    "AMQP_URL": AMQP_URL,
    # The topic exchange other services publish to; the routing key is the event type.
    "EXCHANGE": env.str("EVENTS_EXCHANGE", default="dhanman.events"),
    # Our queue, bound to the types our handlers declare; its dead letters go to QUEUE + ".dead".
    "QUEUE": env.str("EVENTS_QUEUE", default="dhanman-jobs.events"),
    # A message that fails this many deliveries (bad message, handler error) is dead-lettered.
    "MAX_DELIVERIES": env.int("EVENTS_MAX_DELIVERIES", default=5),
    # Unacknowledged messages a consumer holds at most.
    "PREFETCH": env.int("EVENTS_PREFETCH", default=32),
    # The `source` of the events we publish; our consumer skips its own (their effects happened
    # in the publishing transaction).
    "SOURCE": env.str("EVENTS_SOURCE", default="dhanman-jobs"),
    # Whether consume_events also runs the outbox relay.
    "RELAY": env.bool("EVENTS_RELAY", default=True),
    "RELAY_BATCH": env.int("EVENTS_RELAY_BATCH", default=500),
    "RELAY_POLL_INTERVAL": env.float("EVENTS_RELAY_POLL_INTERVAL", default=0.5),
    "HEARTBEAT_INTERVAL": env.float("EVENTS_HEARTBEAT_INTERVAL", default=5.0),
    "CONNECT_TIMEOUT": env.float("EVENTS_CONNECT_TIMEOUT", default=5.0),
    "RECONNECT_MAX_DELAY": env.float("EVENTS_RECONNECT_MAX_DELAY", default=30.0),
    # Sent outbox rows and processed message ids are deleted after this long, seconds.
    "OUTBOX_RETENTION_SECONDS": env.int("EVENTS_OUTBOX_RETENTION_SECONDS", default=7 * 24 * 3600),
    "PROCESSED_RETENTION_SECONDS": env.int("EVENTS_PROCESSED_RETENTION_SECONDS", default=14 * 24 * 3600),
    # An event's JSON envelope is at most this many bytes.
    "MAX_EVENT_BYTES": env.int("EVENTS_MAX_EVENT_BYTES", default=64 * 1024),
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
    "broker_class": "jobs.server.broker.JobBroker",
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

# --- Security of the console (docs/security.md) ---------------------------------------------------
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
# HTTPS is the deployment's business (the proxy in front terminates TLS), so these are off by
# default: `make run` serves plain http on 127.0.0.1. .env.example lists the production values.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
# Load balancers probe the health endpoints over plain http; a redirect would read as "down".
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# "HTTP_X_FORWARDED_PROTO,https": the header the TLS-terminating proxy sets (and strips from what
# clients send), and the value that means the request came in over https. Unset: no proxy.
_proxy_ssl_header = env.list("SECURE_PROXY_SSL_HEADER", default=[])
if _proxy_ssl_header and len(_proxy_ssl_header) != 2:
    raise ImproperlyConfigured(
        f"SECURE_PROXY_SSL_HEADER={','.join(_proxy_ssl_header)!r}: give the header and its https value, "
        "comma-separated, e.g. HTTP_X_FORWARDED_PROTO,https (or leave it empty)."
    )
SECURE_PROXY_SSL_HEADER = tuple(_proxy_ssl_header) if _proxy_ssl_header else None

# Only our own files: every script is a static file (no inline <script>, no on*= handlers; the
# admin's data blocks are JSON, which CSP does not run), and the nonce covers the <script> and
# <link> tags that the templates mark with {% csp_nonce_attr %}.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

# Failed logins (django-axes): after LOGIN_FAILURE_LIMIT failures for one user from one address,
# that pair is locked out for LOGIN_LOCKOUT_MINUTES; other users and other addresses are not.
AUTHENTICATION_BACKENDS = [
    # First: it refuses a locked-out pair before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# A successful login forgets the pair's earlier failures.
AXES_RESET_ON_SUCCESS = True
# The lockout page, in the admin's chrome (dhanman/lockout.py).
AXES_LOCKOUT_CALLABLE = "dhanman.lockout.lockout_response"
# Behind proxies, the client's address is in X-Forwarded-For (dhanman/client_ip.py).
AXES_CLIENT_IP_CALLABLE = "dhanman.client_ip.client_ip"
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
if AXES_FAILURE_LIMIT < 1 or AXES_COOLOFF_TIME.total_seconds() <= 0 or TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured(
        "LOGIN_FAILURE_LIMIT must be at least 1, LOGIN_LOCKOUT_MINUTES above 0 and TRUSTED_PROXY_COUNT "
        "at least 0."
    )
