import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import Client

from tests.console import factories

# A CSRF secret the test client presents as both cookie and form field, as a browser would
# after loading one of our pages (Django accepts the unmasked secret as the token).
CSRF_SECRET = "c" * 32


class ConsoleClient(Client):
    """A client that enforces CSRF like a real browser session, and can send the token."""

    def __init__(self, user=None):
        super().__init__(enforce_csrf_checks=True)
        self.user = user
        if user is not None:
            self.force_login(user)
        self.cookies[settings.CSRF_COOKIE_NAME] = CSRF_SECRET

    def post_with_csrf(self, path, data=None, **extra):
        data = dict(data or {})
        data["csrfmiddlewaretoken"] = CSRF_SECRET
        return self.post(path, data, **extra)


@pytest.fixture
def client_for(db):
    """client_for("viewer") -> a ConsoleClient logged in with that role (anonymous: not logged in)."""
    # The console caches its counters in the database cache, a table that tests with real servers
    # and browsers commit to and that Django's flush does not empty: start from an empty cache.
    cache.clear()
    made = {}

    def make(role):
        if role not in made:
            made[role] = ConsoleClient(factories.make_user(role))
        return made[role]

    return make


@pytest.fixture
def client_with(db):
    """client_with("view_jobs", "retry_jobs") -> a ConsoleClient of staff in a custom group holding exactly those."""
    cache.clear()

    def make(*codenames):
        return ConsoleClient(factories.make_user_with(*codenames))

    return make
