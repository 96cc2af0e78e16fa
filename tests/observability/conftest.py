"""The console's logged-in clients, for the alerts pages."""

from tests.console.conftest import client_for  # noqa: F401
