"""`python -m bench.stock_cluster`: a stock django-q2 cluster with its own ORM broker.

django-q2's `qcluster` command is shadowed by ours (the jobs app comes first in INSTALLED_APPS
and must stay installed for its models), so this runs the same three lines django-q2's command
runs, with bench.settings' Q_CLUSTER. SIGTERM stops it through django-q2's own signal handler.
"""

import os

import django


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    django.setup()
    from django.conf import settings
    from django_q.cluster import Cluster

    settings.SECRET_KEY  # noqa: B018  (as django-q2's command: signing needs it)
    Cluster().start()
    # Cluster.start() returns once the Sentinel runs; this process then waits for it to end
    # (multiprocessing joins its children at exit), exactly as under django-q2's command.


if __name__ == "__main__":
    main()
