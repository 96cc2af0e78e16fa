"""A task module that imports in the test process but raises while a job server's worker imports
it (DHANMAN_TEST_IMPORT_BOOM set in the server's environment): a missing setting, a broken
deploy, a module-level query that fails — anything but ImportError."""

import os

from django.tasks import task

from jobs.retry import Retry

if os.environ.get("DHANMAN_TEST_IMPORT_BOOM"):
    raise RuntimeError("tests.testapp.import_boom cannot be imported here")


@task(retry=Retry(attempts=1, delays=(0,)))
def boom_on_import():
    return "imported"
