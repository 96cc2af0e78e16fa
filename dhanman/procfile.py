"""`python -m dhanman.procfile [Procfile.dev]`: run a Procfile with honcho (what `make run` does),
leaving the job server time to stop gracefully.

honcho SIGKILLs every process still running 5 seconds after the first one exits (KILL_WAIT in
honcho.manager; honcho 2.0, the current release, has no option for it). On Ctrl-C gunicorn exits
at once, so qcluster would be killed 5 s later, in the middle of JOBS_SHUTDOWN_GRACE_SECONDS. This
runs honcho with that wait raised to cover the whole of qcluster's stop: the grace period, the
wait for cancelled jobs and a margin for returning leftovers to their queue.

It also runs the whole process set in TIME_ZONE (the TZ variable, inherited by honcho, gunicorn
and qcluster), so that honcho's prefixes, gunicorn's lines and Django's agree on the clock.
"""

import os
import sys

# Beyond the grace period and jobs.server.cluster.CANCEL_WAIT_SECONDS: killing stubborn workers (5 s),
# requeueing what is left and waiting for the monitor (10 s at most), with room to spare.
STOP_MARGIN_SECONDS = 20.0


def kill_wait_seconds() -> float:
    """How long honcho waits, once a process has exited, before it SIGKILLs the others."""
    from django.conf import settings

    from jobs.server.cluster import CANCEL_WAIT_SECONDS

    return settings.DHANMAN_JOBS["SHUTDOWN_GRACE_SECONDS"] + CANCEL_WAIT_SECONDS + STOP_MARGIN_SECONDS


def main(argv: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dhanman.settings")
    import django

    django.setup()  # reads the settings; Django sets TZ=TIME_ZONE, which the children inherit
    import honcho.command
    import honcho.manager

    honcho.manager.KILL_WAIT = kill_wait_seconds()
    procfile = argv[0] if argv else "Procfile.dev"
    honcho.command.main(["start", "-f", procfile, *argv[1:]])


if __name__ == "__main__":
    main(sys.argv[1:])
