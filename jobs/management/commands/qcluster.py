"""`manage.py qcluster`: a job server (django-q2's cluster running our broker).

Overrides django_q's command (the jobs app is listed first in INSTALLED_APPS) to install the
worker permits before any process forks and to start our Cluster (graceful shutdown).
"""

import logging

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django_q.conf import Conf

from jobs.conf import jobs_settings
from jobs.server import capacity
from jobs.server.broker import serving_queues
from jobs.server.cluster import JobCluster
from jobs.server.listener import startup_warnings

logger = logging.getLogger("jobs.server")


class Command(BaseCommand):
    help = "Starts a Dhanman job server: claims jobs from the Job table and runs them."

    def add_arguments(self, parser):
        parser.add_argument(
            "--run-once", action="store_true", help="Start, then stop at once (a smoke test)."
        )
        parser.add_argument(
            "--queues",
            help="Comma-separated queues this server claims (default JOBS_SERVER_QUEUES, else every queue); "
            "they keep JOBS_QUEUES' priority order.",
        )

    def handle(self, *args, **options):
        settings.SECRET_KEY  # noqa: B018  (signing needs it; fail early like django-q2 does)
        names = options["queues"].split(",") if options["queues"] is not None else jobs_settings.SERVER_QUEUES
        try:
            queues = serving_queues(names)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        # The broker (built below) and the workers (forked from this process) read it from here.
        settings.DHANMAN_JOBS["SERVER_QUEUES"] = queues
        for warning in startup_warnings():
            logger.warning(warning)
        capacity.install(Conf.WORKERS)
        cluster = JobCluster()
        cluster.start()
        if options["run_once"]:
            cluster.stop()
