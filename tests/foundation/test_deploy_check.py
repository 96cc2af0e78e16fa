"""`manage.py check --deploy` is clean with the production settings that .env.example documents,
and the SECURE_* settings do what they say (docs/security.md).

The production values are the `# PRODUCTION NAME=value` lines of .env.example, read here, so the
file and the test cannot drift apart: a deployment that copies them passes Django's deployment
checklist. The only placeholder the test fills in is SECRET_KEY (a fresh random key).
"""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client, override_settings

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_LINE = re.compile(r"^# PRODUCTION ([A-Z][A-Z0-9_]*)=(.*)$")
# Variables of this shell that would change what the settings read (the tests' own database,
# DEBUG, anything a developer exported): the check runs on .env.example's values alone. Django's
# own DJANGO_ALLOW_ASYNC_UNSAFE, which the browser tests set for Playwright's event loop in this
# process (tests/browser/conftest.py), is not a production value either.
OURS = re.compile(
    r"^(DEBUG|SECRET_KEY|ALLOWED_HOSTS|CSRF_|DATABASE_|SESSION_|SECURE_|LOGIN_|TRUSTED_PROXY|CACHE_URL|JOBS_|DHANMAN_"
    r"|DJANGO_ALLOW_ASYNC_UNSAFE$)"
)


def production_values() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if match := PRODUCTION_LINE.match(line):
            name, value = match.groups()
            if value.startswith("<"):
                assert name == "SECRET_KEY", f".env.example: no way to fill the placeholder of {name}"
                value = secrets.token_urlsafe(50)
            values[name] = value
    return values


def check_deploy(**env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not OURS.match(k)}
    clean["DJANGO_SETTINGS_MODULE"] = "dhanman.settings"
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_env_example_documents_the_production_values():
    values = production_values()
    for name in (
        "DEBUG",
        "SECRET_KEY",
        "ALLOWED_HOSTS",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SECURE_HSTS_PRELOAD",
        "SECURE_PROXY_SSL_HEADER",
    ):
        assert name in values, name
    # And every one of them is a documented variable, with its default, above the block.
    defaults = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if re.match(r"^[A-Z][A-Z0-9_]*=", line)
    }
    assert set(values) <= defaults, sorted(set(values) - defaults)


def test_check_deploy_is_clean_with_the_production_values():
    result = check_deploy(**production_values())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout, result.stdout + result.stderr
    assert "WARNINGS" not in result.stdout + result.stderr


def test_check_deploy_warns_without_them():
    """The check is not vacuous: the development defaults (make run's) fail it."""
    result = check_deploy()
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016", "security.W018"):
        assert warning in result.stderr, warning


def test_a_malformed_proxy_ssl_header_is_refused_at_start():
    result = check_deploy(SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO")
    assert result.returncode != 0
    assert (
        "SECURE_PROXY_SSL_HEADER='HTTP_X_FORWARDED_PROTO': give the header and its https value"
        in result.stderr
    )


PRODUCTION_HTTPS = {
    "SECURE_SSL_REDIRECT": True,
    "SECURE_HSTS_SECONDS": 31536000,
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
    "SECURE_HSTS_PRELOAD": True,
    "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
    "SESSION_COOKIE_SECURE": True,
    "CSRF_COOKIE_SECURE": True,
}


@pytest.mark.django_db
def test_behind_the_proxy_http_is_redirected_and_https_gets_hsts():
    with override_settings(**PRODUCTION_HTTPS):
        client = Client()
        plain = client.get("/admin/login/")
        assert plain.status_code == 301
        assert plain["Location"] == "https://testserver/admin/login/"
        secure = client.get("/admin/login/", HTTP_X_FORWARDED_PROTO="https")
        assert secure.status_code == 200
        assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
        assert secure.cookies["csrftoken"]["secure"]
        # Load balancers probe health over plain http: no redirect there.
        assert client.get("/healthz").status_code == 200


@pytest.mark.django_db
def test_make_runs_defaults_serve_plain_http():
    """DEBUG on, http on 127.0.0.1: no redirect, no HSTS (the settings' defaults)."""
    from django.conf import settings

    assert not settings.SECURE_SSL_REDIRECT and settings.SECURE_HSTS_SECONDS == 0
    assert settings.SECURE_PROXY_SSL_HEADER is None
    response = Client().get("/admin/login/")
    assert response.status_code == 200
    assert "Strict-Transport-Security" not in response
