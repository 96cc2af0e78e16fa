import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

# A CSRF secret the client presents as both cookie and form field, as a browser does after
# loading one of our pages (Django accepts the unmasked secret as the token).
CSRF_SECRET = "s" * 32


class BrowserClient(Client):
    """Enforces CSRF like a real browser session; `post_with_csrf` sends the token."""

    def __init__(self, user=None):
        super().__init__(enforce_csrf_checks=True)
        if user is not None:
            self.force_login(user)
        self.cookies[settings.CSRF_COOKIE_NAME] = CSRF_SECRET

    def post_with_csrf(self, path, data=None, **extra):
        return self.post(path, {**(data or {}), "csrfmiddlewaretoken": CSRF_SECRET}, **extra)


@pytest.fixture
def superuser_client(db):
    user = User.objects.create_superuser("security-admin", "admin@example.com", password=None)
    return BrowserClient(user)
