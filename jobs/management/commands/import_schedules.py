"""`manage.py import_schedules SOURCE --format crontab|quartz|schtasks [--map MAPPING] [--dry-run]
[--timezone TZ] [--json]`: legacy schedules become recurring jobs (and one-offs delayed jobs).

Every entry is validated first; on any error nothing is written and the exit status is non-zero.
Entries no [[map]] rule names are listed as unmapped and never imported: nothing here runs a
legacy command. Importing the same file twice changes nothing.
"""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from jobs.cron import InvalidSchedule
from jobs.importing import crontab, quartz, schtasks
from jobs.importing.legacy import apply, plan
from jobs.importing.mapping import EMPTY, MappingError, load_mapping
from jobs.importing.report import WRITES, as_json, as_table
from jobs.importing.timezones import to_iana


class Command(BaseCommand):
    help = (
        "Imports cron, Quartz.NET or Windows Task Scheduler schedules as recurring jobs, through a TOML "
        "mapping to registered tasks. Validates everything first; writes nothing on any error."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "source", help="The crontab file, quartz_jobs.xml, or schtasks /query /xml export."
        )
        parser.add_argument("--format", required=True, choices=("crontab", "quartz", "schtasks"))
        parser.add_argument(
            "--map", dest="mapping", help="The TOML mapping file ([[map]] match/task/args/id)."
        )
        parser.add_argument("--dry-run", action="store_true", help="Print the table; write nothing.")
        parser.add_argument(
            "--timezone",
            help=f"Zone of entries that name none (IANA or Windows id; default {settings.TIME_ZONE}).",
        )
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")

    def handle(
        self, *args, source, format, mapping=None, dry_run=False, timezone=None, json=False, **options
    ):
        try:
            tz = to_iana(timezone) if timezone else settings.TIME_ZONE
        except InvalidSchedule as exc:
            raise CommandError(f"--timezone: {exc}") from None
        try:
            raw = Path(source).read_bytes()
        except OSError as exc:
            raise CommandError(f"{source} cannot be read: {exc.strerror or exc}.") from None
        try:
            rules = load_mapping(mapping) if mapping else EMPTY
        except MappingError as exc:
            raise CommandError(str(exc)) from None
        if format == "crontab":
            try:
                found = crontab.parse(raw.decode("utf-8"))
            except UnicodeDecodeError:
                raise CommandError(f"{source} is not UTF-8 text.") from None
        elif format == "quartz":
            found = quartz.parse(raw)
        else:
            found = schtasks.parse(raw, tz=tz, fallback_name=Path(source).stem)
        entries = plan(found, rules, default_tz=tz)
        errors = [e for e in entries if e.status == "error"]
        written = False
        if not errors and not dry_run and any(e.status in WRITES for e in entries):
            apply(entries)
            written = True
        render = as_json if json else as_table
        self.stdout.write(render(entries, dry_run=dry_run, written=written))
        if errors:
            raise CommandError(
                f"{len(errors)} entr{'y' if len(errors) == 1 else 'ies'} in {source} cannot be imported; nothing was written."
            )
