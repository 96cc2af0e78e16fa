"""`manage.py import_hangfire --dsn postgres://… [--schema hangfire] --map MAPPING [--dry-run]
[--jobs/--no-jobs] [--force] [--json]`: carry a Hangfire.PostgreSql schema's recurring jobs (with
their last and next execution) and, with --jobs, its Scheduled, Enqueued, Awaiting and Failed jobs.

Reads Hangfire in one read-only snapshot and never writes there. Refuses while a Hangfire server's
heartbeat is fresh (under a minute) unless --force. Validates everything first and writes nothing
on any error; a second run imports nothing new.
"""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from jobs.importing import hangfire
from jobs.importing.mapping import MappingError, load_mapping
from jobs.importing.report import WRITES, Entry, as_json, as_table


class Command(BaseCommand):
    help = (
        "Imports a Hangfire.PostgreSql schema: recurring jobs (carrying last/next execution) and, with --jobs, "
        "pending jobs. Read-only on the Hangfire side; writes nothing here on any error."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dsn", required=True, help="The Hangfire database: postgres://… or Host=…;Database=…"
        )
        parser.add_argument("--schema", default="hangfire", help="Hangfire's schema (default: hangfire).")
        parser.add_argument(
            "--map", dest="mapping", required=True, help="The TOML mapping file (Type.Method → task)."
        )
        parser.add_argument("--dry-run", action="store_true", help="Print the report; write nothing.")
        parser.add_argument(
            "--jobs",
            action="store_true",
            default=True,
            help="Also import Scheduled, Enqueued, Awaiting and Failed jobs (the default).",
        )
        parser.add_argument(
            "--no-jobs", dest="jobs", action="store_false", help="Import recurring jobs only."
        )
        parser.add_argument(
            "--force", action="store_true", help="Import although a Hangfire server looks alive."
        )
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")

    def handle(
        self, *args, dsn, schema, mapping, dry_run=False, jobs=True, force=False, json=False, **options
    ):
        try:
            rules = load_mapping(mapping)
        except MappingError as exc:
            raise CommandError(str(exc)) from None
        try:
            source = hangfire.Source(dsn, schema)
        except hangfire.HangfireError as exc:
            raise CommandError(str(exc)) from None
        notes = []
        try:
            version = source.check_schema()
            notes.append(
                f"Read {source.label} (Hangfire.PostgreSql schema version {version or 'unknown'}), read-only."
            )
            live = source.live_servers()
            if live:
                names = ", ".join(f"{name} (heartbeat {beat:%H:%M:%S %Z})" for name, beat in live)
                if not force:
                    raise hangfire.HangfireError(
                        f"A Hangfire server is still running: {names}. Stop every Hangfire server first "
                        "(both would run the same jobs), or pass --force if it is gone and its row is stale."
                    )
                notes.append(f"--force: imported although these servers had a fresh heartbeat: {names}.")
            now = timezone.now()
            entries = hangfire.plan_recurring(source, rules, now)
            if jobs:
                entries += hangfire.plan_jobs(source, rules, now)
                for state, count in sorted(source.finished_counts().items()):
                    entries.append(
                        Entry(
                            source=f"{count} {state} job(s)",
                            kind="job",
                            status="skipped",
                            reason=f"{state} in Hangfire: finished, not carried",
                        )
                    )
        except hangfire.HangfireError as exc:
            raise CommandError(str(exc)) from None
        finally:
            source.close()
        errors = [e for e in entries if e.status == "error"]
        written = False
        if not errors and not dry_run and any(e.status in WRITES for e in entries):
            hangfire.apply(entries)
            written = True
        render = as_json if json else as_table
        self.stdout.write(render(entries, dry_run=dry_run, written=written, notes=notes))
        if errors:
            raise CommandError(
                f"{len(errors)} entr{'y' if len(errors) == 1 else 'ies'} in {source.label} cannot be imported; "
                "nothing was written."
            )
