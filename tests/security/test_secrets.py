"""Secrets: a production process refuses to start without its own SECRET_KEY, and the Auth0
client secret and the database password (inside DATABASE_URL) never reach a log line, a job's
record or a console page — checked on a real job server whose Auth0 sync fails."""

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings
from django.urls import reverse

from common.tasks import sync_auth0_users
from jobs.models import Job, JobState, State
from tests.support.cluster import ROOT, database_url

DB_PASSWORD = "db-pass-7f3a9c1e5b"
CLIENT_SECRET = "auth0-secret-4d8e2b6a0c"
SECRETS = (DB_PASSWORD, CLIENT_SECRET)


def manage(*args, env: dict, timeout: float = 60) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize("command", [["check"], ["qcluster", "--run-once"]], ids=["check", "qcluster"])
def test_debug_off_without_a_secret_key_refuses_to_start(command):
    done = manage(*command, env={"DEBUG": "False", "SECRET_KEY": ""})
    assert done.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in done.stderr


def test_debug_off_with_a_secret_key_starts():
    """The control: the refusal above is about the key, not about DEBUG being off."""
    done = manage("check", env={"DEBUG": "False", "SECRET_KEY": "k" * 50})
    assert done.returncode == 0, done.stderr


class FakeAuth0(BaseHTTPRequestHandler):
    """The token endpoint of a tenant that refuses the client, as Auth0 answers it."""

    received: list[bytes] = []

    def do_POST(self):
        FakeAuth0.received.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        body = json.dumps({"error": "access_denied", "error_description": "Unauthorized"}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_auth0():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeAuth0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeAuth0.received = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def with_password(url: str) -> str:
    scheme, rest = url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user.split(':')[0]}:{DB_PASSWORD}@{host}"


@pytest.mark.django_db(transaction=True)
def test_secrets_stay_out_of_logs_job_records_and_the_console(cluster_factory, fake_auth0, client):
    # The test database trusts local connections, so a password in the URL is accepted and unused.
    server = cluster_factory(
        workers=1,
        env={
            "DATABASE_URL": with_password(database_url()),
            "AUTH0_DOMAIN": fake_auth0,
            "AUTH0_CLIENT_ID": "dhanman-drill",
            "AUTH0_CLIENT_SECRET": CLIENT_SECRET,
            "LOG_LEVEL": "DEBUG",
            "DJANGO_Q_LOG_LEVEL": "DEBUG",
        },
    )
    job_id = sync_auth0_users.enqueue().id
    job = Job.objects.filter(pk=job_id)
    server.wait_for(
        lambda: job.filter(exception_class__isnull=False).exclude(exception_class="").exists(),
        30,
        "the Auth0 sync to fail",
    )
    # The control: the secret was really used (sent to the token endpoint), and the job failed on it.
    assert any(CLIENT_SECRET.encode() in body for body in FakeAuth0.received)
    record = job.values().get()
    assert record["state"] == State.SCHEDULED and "answered 401" in record["exception_message"]

    # The job's record and its history.
    stored = json.dumps(record, default=str) + json.dumps(
        list(JobState.objects.filter(job_id=job_id).values()), default=str
    )
    for secret in SECRETS:
        assert secret not in stored
    server.stop()
    log = server.log()
    assert "Job failed common.tasks.sync_auth0_users" in log  # the failure was logged...
    for secret in SECRETS:
        assert secret not in log  # ...without either secret

    # The console, rendered by a process whose settings hold both secrets.
    from django.contrib.auth.models import User

    client.force_login(User.objects.create_superuser("secrets-admin", "a@example.com", password=None))
    urls = [
        reverse("jobs_console:dashboard"),
        reverse("jobs_console:stats"),
        reverse("jobs_console:servers"),
        reverse("jobs_console:retries"),
        reverse("jobs_console:recurring_list"),
        reverse("jobs_console:job_detail", args=[job_id]),
        "/readyz",
        "/healthz",
    ]
    urls += [reverse("jobs_console:job_list", args=[state]) for state in State.values]
    password = connection.settings_dict.get("PASSWORD")
    connection.settings_dict["PASSWORD"] = DB_PASSWORD
    try:
        with override_settings(AUTH0_CLIENT_SECRET=CLIENT_SECRET, AUTH0_DOMAIN=fake_auth0):
            assert settings.AUTH0_CLIENT_SECRET == CLIENT_SECRET
            for url in urls:
                response = client.get(url)
                assert response.status_code in (200, 503), (url, response.status_code)
                for secret in SECRETS:
                    assert secret not in response.content.decode(), f"{url} shows a secret"
    finally:
        connection.settings_dict["PASSWORD"] = password
