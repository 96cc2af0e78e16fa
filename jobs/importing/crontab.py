"""Crontab files, as cron(8) reads them: five time fields and a command, or an @keyword and a
command; `VAR=value` lines (environment, which we do not carry) and `CRON_TZ=` (the zone of the
lines after it, as cronie has it); comments; a backslash at the end of a line continues it.
Ranges, steps and names (MON-FRI, JAN) are read by our Cron as they are.
"""

import os.path
import re
import shlex

from jobs.cron import InvalidSchedule
from jobs.importing.legacy import Found
from jobs.importing.timezones import to_iana

KEYWORDS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")
TIME_FIELD = re.compile(r"^[0-9A-Za-z*/,\-?LW#]+$")


def _logical_lines(text: str):
    """(first physical line number, text) with continuation lines joined."""
    pending, start = [], None
    for number, raw in enumerate(text.splitlines(), 1):
        if start is None:
            start = number
        if raw.endswith("\\") and not raw.endswith("\\\\"):
            pending.append(raw[:-1])
            continue
        pending.append(raw)
        yield start, " ".join(part.strip() for part in pending)
        pending, start = [], None
    if pending:
        yield start, " ".join(part.strip() for part in pending)


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _keys(command: str) -> tuple:
    """The command as written, then its program alone (a rule may name either)."""
    command = re.split(r"(?<!\\)%", command, maxsplit=1)[
        0
    ].strip()  # cron feeds what follows an unescaped % to stdin
    try:
        program = shlex.split(command)[0]
    except (ValueError, IndexError):
        program = command.split()[0] if command.split() else command
    return (command, program) if program != command else (command,)


def _name(program: str) -> str:
    base = os.path.basename(program.rstrip("/")) or program
    return os.path.splitext(base)[0] if base.endswith((".sh", ".py", ".pl")) else base


def parse(text: str) -> list[Found]:
    found, zone = [], ""
    for number, line in _logical_lines(text):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        source = f"line {number}: {stripped}"
        assignment = ASSIGNMENT.match(stripped)
        if assignment and not stripped.startswith("@"):
            name, value = assignment.group(1), _unquote(assignment.group(2))
            if name == "CRON_TZ":
                try:
                    zone = to_iana(value)
                except InvalidSchedule as exc:
                    found.append(Found(source, (stripped,), name, error=f"CRON_TZ: {exc}"))
                    zone = ""
            continue  # other variables are the commands' environment: nothing to carry
        if stripped.startswith("@"):
            keyword, _, command = stripped.partition(" ")
            keyword, command = keyword.lower(), command.strip()
            if not command:
                found.append(Found(source, (stripped,), keyword, error=f"{keyword} needs a command after it"))
                continue
            keys = _keys(command)
            if keyword == "@reboot":
                found.append(
                    Found(
                        source,
                        keys,
                        _name(keys[-1]),
                        skip=(
                            "@reboot runs when a machine starts, and a job platform has no such moment: "
                            "refused (start it from the service's own start-up instead)"
                        ),
                    )
                )
                continue
            if keyword not in KEYWORDS:
                found.append(
                    Found(
                        source,
                        keys,
                        _name(keys[-1]),
                        error=(
                            f"unknown keyword {keyword}: use five time fields or one of "
                            f"{', '.join(sorted(KEYWORDS))}, @reboot"
                        ),
                    )
                )
                continue
            found.append(Found(source, keys, _name(keys[-1]), cron=KEYWORDS[keyword], timezone=zone))
            continue
        parts = stripped.split(None, 5)
        if len(parts) < 6 or not all(TIME_FIELD.match(p) for p in parts[:5]):
            found.append(
                Found(
                    source,
                    (stripped,),
                    "",
                    error=(
                        "malformed crontab line: it needs five time fields (minute hour day-of-month month "
                        "day-of-week) and then a command, or an @keyword and a command"
                    ),
                )
            )
            continue
        keys = _keys(parts[5])
        found.append(Found(source, keys, _name(keys[-1]), cron=" ".join(parts[:5]), timezone=zone))
    return found
