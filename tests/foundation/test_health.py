"""/healthz and /readyz."""

import pytest
from django.utils import timezone

from jobs.models import Server

pytestmark = pytest.mark.django_db


def test_healthz_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_is_503_without_a_live_job_server(client):
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"] == "ok" and body["checks"]["migrations"] == "ok"
    assert body["checks"]["job_servers"] == "none with a fresh heartbeat"


def test_readyz_is_200_with_a_fresh_heartbeat(client):
    now = timezone.now()
    Server.objects.create(id="h:1:x", host="h", pid=1, started_at=now, heartbeat_at=now)
    response = client.get("/readyz")
    assert response.status_code == 200 and response.json()["checks"]["job_servers"] == 1


def test_readyz_is_503_when_the_only_server_is_stale(client):
    old = timezone.now() - timezone.timedelta(minutes=5)
    Server.objects.create(id="h:1:x", host="h", pid=1, started_at=old, heartbeat_at=old)
    assert client.get("/readyz").status_code == 503
