"""gunicorn settings, from the environment (PORT, WEB_CONCURRENCY)."""

import os

bind = os.environ.get("GUNICORN_BIND", f"127.0.0.1:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
accesslog = "-"
errorlog = "-"
timeout = 60
graceful_timeout = 20
