"""tests/jobs/test_flow.py again on the embedded SQLite default: the claim's ORM path (pauses,
limits counted inside its write transaction) and unique jobs on the same partial index."""

import pytest

from tests.jobs.test_flow import *  # noqa: F403 (the same tests, collected again here)

pytestmark = [pytest.mark.sqlite, pytest.mark.django_db]
