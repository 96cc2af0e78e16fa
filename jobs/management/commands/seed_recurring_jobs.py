"""`manage.py seed_recurring_jobs`: make the RecurringJob table match every app's schedules.py.

Every declaration is validated before anything is written; one bad declaration means a non-zero
exit naming it and no change at all. The upsert runs in one transaction, so running it twice
changes nothing the second time. A declaration's `enabled` applies when the job is created only:
a job switched off in the console stays off across deploys.
"""

from django.core.management.base import BaseCommand, CommandError

from jobs.recurring import InvalidSchedule, collect_declarations, seed


class Command(BaseCommand):
    help = (
        "Creates or updates the recurring jobs declared in each app's schedules.py (RECURRING). "
        "Validates all declarations first and writes nothing if any is invalid."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--prune", action="store_true", help="Also remove recurring jobs that no schedules.py declares."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Report what would change; change nothing."
        )

    def handle(self, *args, prune=False, dry_run=False, **options):
        try:
            report = seed(collect_declarations(), prune=prune, dry_run=dry_run)
        except InvalidSchedule as exc:
            raise CommandError(str(exc)) from None
        for outcome in ("created", "updated", "unchanged", "removed"):
            ids = getattr(report, outcome)
            label = f"would be {outcome}" if dry_run and outcome != "unchanged" else outcome
            listed = f" ({', '.join(ids)})" if ids else ""
            self.stdout.write(f"{label}: {len(ids)}{listed}")
        if report.undeclared:
            self.stdout.write(
                f"not declared in any schedules.py (kept; --prune removes them): {', '.join(report.undeclared)}"
            )
        if dry_run:
            self.stdout.write("Dry run: nothing was changed.")
