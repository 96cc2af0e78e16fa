"""Failed logins are throttled (django-axes, dhanman/settings.py): real logins through the admin's
login form, with the real authentication backends and the real AccessAttempt table.

A user+address pair is locked out after LOGIN_FAILURE_LIMIT failures, for LOGIN_LOCKOUT_MINUTES;
the lockout page says so (429, in the admin's chrome); even the right password is refused while
it lasts; it lifts after the cool-off; a success forgets earlier failures; other users and other
addresses are not affected; admins see the attempts in the admin and can lift a lockout.
"""

import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "the-right-password-42"
LIMIT = 3


@pytest.fixture(autouse=True)
def throttle(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.AXES_FAILURE_LIMIT = LIMIT
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)


def staff(username):
    return User.objects.create_user(username, password=PASSWORD, is_staff=True)


def log_in(username, password, address="203.0.113.7", client=None):
    """One POST of the admin's login form from `address`; the response (not followed)."""
    client = client or Client(REMOTE_ADDR=address)
    return client.post(
        reverse("admin:login") + "?next=/admin/",
        {"username": username, "password": password, "next": "/admin/"},
        REMOTE_ADDR=address,
    )


def logged_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == "/admin/"


def locked_out(response) -> bool:
    return response.status_code == 429 and "Too many failed logins" in response.content.decode()


def fail(username, times, address="203.0.113.7"):
    for _ in range(times):
        response = log_in(username, "wrong", address)
        assert response.status_code in (200, 429)
    return response


THROTTLE_PROBE = (
    "import json, django; from django.conf import settings; django.setup();"
    "print(json.dumps([settings.AXES_FAILURE_LIMIT, settings.AXES_COOLOFF_TIME.total_seconds(),"
    " settings.AXES_LOCKOUT_PARAMETERS, settings.TRUSTED_PROXY_COUNT]))"
)


def throttle_settings(**env):
    """The throttle's settings in a fresh interpreter with `env` over the LOGIN_* defaults."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LOGIN_", "TRUSTED_PROXY_COUNT"))}
    return subprocess.run(
        [sys.executable, "-c", THROTTLE_PROBE], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True
    )


def test_throttle_settings_come_from_the_environment_with_defaults():
    default = throttle_settings()
    assert default.returncode == 0, default.stderr
    assert json.loads(default.stdout.splitlines()[-1]) == [5, 900.0, [["username", "ip_address"]], 0]
    chosen = throttle_settings(LOGIN_FAILURE_LIMIT="8", LOGIN_LOCKOUT_MINUTES="2", TRUSTED_PROXY_COUNT="1")
    assert json.loads(chosen.stdout.splitlines()[-1])[:2] == [8, 120.0]
    assert json.loads(chosen.stdout.splitlines()[-1])[3] == 1
    for bad in ({"LOGIN_FAILURE_LIMIT": "0"}, {"LOGIN_LOCKOUT_MINUTES": "0"}, {"TRUSTED_PROXY_COUNT": "-1"}):
        refused = throttle_settings(**bad)
        assert refused.returncode != 0, bad
        assert "LOGIN_FAILURE_LIMIT must be at least 1" in refused.stderr, bad


def test_failures_up_to_the_limit_show_the_form_then_the_pair_is_locked_out():
    staff("priya")
    for attempt in range(1, LIMIT):
        response = log_in("priya", "wrong")
        assert response.status_code == 200, attempt
        assert "Please enter the correct username and password" in response.content.decode()
    response = log_in("priya", "wrong")
    assert locked_out(response)
    html = response.content.decode()
    assert f"after {LIMIT} failed logins" in html
    assert "Try again in 15 minutes" in html
    assert '<div id="site-name"><a href="/admin/">Dhanman</a></div>' in html
    assert 'name="password"' not in html
    # The right password does not get through while the lockout lasts.
    assert locked_out(log_in("priya", PASSWORD))
    assert AccessAttempt.objects.get(username="priya", ip_address="203.0.113.7").failures_since_start >= LIMIT


def test_the_lockout_of_one_pair_does_not_lock_other_users_or_other_addresses():
    staff("priya")
    staff("arjun")
    fail("priya", LIMIT)
    assert locked_out(log_in("priya", PASSWORD))
    # Another user from the same address, and the same user from another address.
    assert logged_in(log_in("arjun", PASSWORD))
    assert logged_in(log_in("priya", PASSWORD, address="198.51.100.20"))
    # And the locked pair is still locked.
    assert locked_out(log_in("priya", PASSWORD))


def test_a_success_before_the_limit_forgets_the_earlier_failures():
    staff("priya")
    fail("priya", LIMIT - 1)
    assert logged_in(log_in("priya", PASSWORD))
    # Counting starts again: LIMIT - 1 more failures still leave the form.
    response = fail("priya", LIMIT - 1)
    assert response.status_code == 200
    assert logged_in(log_in("priya", PASSWORD))


def test_the_lockout_lifts_after_the_cool_off(settings):
    settings.AXES_COOLOFF_TIME = timedelta(seconds=2)
    staff("priya")
    fail("priya", LIMIT)
    assert locked_out(log_in("priya", PASSWORD))
    # Each attempt during the lockout starts the cool-off again, so wait from the last one.
    time.sleep(2.5)
    assert logged_in(log_in("priya", PASSWORD))


def test_behind_a_proxy_the_client_address_comes_from_x_forwarded_for(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    staff("priya")
    proxy = "10.0.0.5"
    client = Client()

    def through_proxy(password, client_address, spoofed=""):
        forwarded = f"{spoofed}, {client_address}" if spoofed else client_address
        return client.post(
            reverse("admin:login"),
            {"username": "priya", "password": password, "next": "/admin/"},
            REMOTE_ADDR=proxy,
            HTTP_X_FORWARDED_FOR=forwarded,
        )

    for _ in range(LIMIT):
        through_proxy("wrong", "203.0.113.7")
    assert locked_out(through_proxy(PASSWORD, "203.0.113.7"))
    # A spoofed left-most entry does not get the locked client out of its lockout ...
    assert locked_out(through_proxy(PASSWORD, "203.0.113.7", spoofed="192.0.2.1"))
    # ... and another client behind the same proxy is not locked out.
    assert logged_in(
        Client().post(
            reverse("admin:login"),
            {"username": "priya", "password": PASSWORD, "next": "/admin/"},
            REMOTE_ADDR=proxy,
            HTTP_X_FORWARDED_FOR="198.51.100.20",
        )
    )
    assert AccessAttempt.objects.filter(ip_address="203.0.113.7").exists()
    assert not AccessAttempt.objects.filter(ip_address=proxy).exists()


def test_admins_see_the_lockouts_in_the_admin_and_can_lift_one():
    staff("priya")
    fail("priya", LIMIT)
    admin_user = User.objects.create_superuser("root", "root@example.com", PASSWORD)
    admin_client = Client()
    admin_client.force_login(admin_user)
    index = admin_client.get(reverse("admin:index")).content.decode()
    assert reverse("admin:axes_accessattempt_changelist") in index
    listing = admin_client.get(reverse("admin:axes_accessattempt_changelist")).content.decode()
    assert "priya" in listing and "203.0.113.7" in listing
    # Lifting it: delete the attempt, as the admin's action does.
    attempt = AccessAttempt.objects.get(username="priya")
    response = admin_client.post(
        reverse("admin:axes_accessattempt_delete", args=[attempt.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    assert logged_in(log_in("priya", PASSWORD))


def test_staff_without_the_permission_do_not_see_the_attempts():
    user = staff("viewer-only")
    client = Client()
    client.force_login(user)
    assert client.get(reverse("admin:axes_accessattempt_changelist")).status_code == 403
