"""gunicorn settings, from the environment (PORT, WEB_CONCURRENCY)."""

import os

from django.conf import settings

bind = os.environ.get("GUNICORN_BIND", f"127.0.0.1:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
accesslog = "-"
errorlog = "-"
timeout = 60
graceful_timeout = 20

# Logs in one zone. Django sets TZ to TIME_ZONE when its settings load, which happens in the
# workers only (with the application); the master's own lines were stamped in the machine's zone
# meanwhile. Reading the settings here puts the master, and the workers it forks, on TIME_ZONE.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dhanman.settings")
settings.TIME_ZONE  # noqa: B018  (loading the settings sets TZ and calls time.tzset)
