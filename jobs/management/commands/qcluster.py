"""`manage.py qcluster`: a job server (django-q2's cluster running our broker).

Overrides django_q's command (the jobs app is listed first in INSTALLED_APPS) to install the
worker permits before any process forks and to start our Cluster (graceful shutdown).
"""

from django.conf import settings
from django.core.management.base import BaseCommand
from django_q.conf import Conf

from jobs.server import capacity
from jobs.server.cluster import JobCluster


class Command(BaseCommand):
    help = "Starts a Dhanman job server: claims jobs from the Job table and runs them."

    def add_arguments(self, parser):
        parser.add_argument("--run-once", action="store_true", help="Start, then stop at once (a smoke test).")

    def handle(self, *args, **options):
        settings.SECRET_KEY  # noqa: B018  (signing needs it; fail early like django-q2 does)
        capacity.install(Conf.WORKERS)
        cluster = JobCluster()
        cluster.start()
        if options["run_once"]:
            cluster.stop()
