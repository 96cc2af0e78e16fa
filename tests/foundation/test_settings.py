"""Settings come from the environment; each case runs in a fresh interpreter."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import json, django; from django.conf import settings; django.setup();"
    "d = settings.DATABASES['default'];"
    "print(json.dumps({'engine': d['ENGINE'], 'name': str(d['NAME']), 'host': d.get('HOST'),"
    " 'port': d.get('PORT'), 'options': d.get('OPTIONS', {}), 'debug': settings.DEBUG,"
    " 'cache': settings.CACHES['default']['BACKEND'], 'tz': settings.TIME_ZONE,"
    " 'workers': settings.DHANMAN_JOBS['WORKER_COUNT'], 'queues': settings.DHANMAN_JOBS['QUEUES'],"
    " 'broker': settings.Q_CLUSTER['broker_class'], 'tasks': settings.TASKS['default']['BACKEND']}))"
)


def load(**env):
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "DEBUG", "SECRET_KEY", "JOBS_", "CACHE_URL"))
    }
    clean.update(env)
    clean["DJANGO_SETTINGS_MODULE"] = "dhanman.settings"
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=clean, capture_output=True, text=True)
    return out


def loaded(**env):
    out = load(**env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_default_is_an_embedded_sqlite_file_shared_safely_between_processes():
    s = loaded()
    assert s["engine"] == "django.db.backends.sqlite3"
    assert s["name"].endswith("var/dhanman.db")
    assert s["options"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in s["options"]["init_command"]
    assert s["options"]["timeout"] >= 5


@pytest.mark.parametrize(
    "url, engine, name, host, port",
    [
        (
            "postgres://u:p@db.example:5433/dhanman",
            "django.db.backends.postgresql",
            "dhanman",
            "db.example",
            5433,
        ),
        ("postgresql://postgres@127.0.0.1/jobs", "django.db.backends.postgresql", "jobs", "127.0.0.1", ""),
        ("sqlite:////tmp/other.db", "django.db.backends.sqlite3", "/tmp/other.db", "", ""),
    ],
)
def test_database_url_forms(url, engine, name, host, port):
    s = loaded(DATABASE_URL=url)
    assert (s["engine"], s["name"], s["host"] or "", s["port"] or "") == (engine, name, host, port)


def test_defaults_match_the_old_hangfire_setup_and_dhanmans_time_zone():
    s = loaded()
    assert s["tz"] == "Asia/Kolkata"
    assert s["queues"] == ["critical", "default", "low-priority"]
    assert s["broker"] == "jobs.server.broker.JobBroker" and s["tasks"] == "jobs.backend.JobBackend"
    assert s["cache"] == "django.core.cache.backends.db.DatabaseCache"


def test_job_knobs_and_cache_come_from_the_environment():
    s = loaded(JOBS_WORKER_COUNT="7", JOBS_QUEUES="critical,default", CACHE_URL="redis://127.0.0.1:6379/1")
    assert s["workers"] == 7 and s["queues"] == ["critical", "default"]
    assert s["cache"] == "django.core.cache.backends.redis.RedisCache"


def test_debug_off_without_a_secret_key_is_refused():
    out = load(DEBUG="False")
    assert out.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in out.stderr


def test_debug_off_with_a_secret_key_starts():
    s = loaded(DEBUG="False", SECRET_KEY="x" * 50)
    assert s["debug"] is False
