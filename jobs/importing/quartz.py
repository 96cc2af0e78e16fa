"""Quartz.NET job scheduling files (quartz_jobs.xml, the XMLSchedulingDataProcessor format):
`<job>` (name, group, job-type) and `<trigger><cron>` (job-name, job-group, cron-expression,
time-zone).

Quartz cron expressions differ from ours: a seconds field first and an optional year last; `?`
for "no specific value" in day-of-month or day-of-week; days of the week numbered 1 (Sunday) to
7 (Saturday) where cron has 0 to 6; `L`, `W`, `LW` and `#`. `to_cron` converts one where our
five-field Cron has the same meaning, and says why not where it has none (a year, seconds,
`15W`, `L-3`): such a trigger is listed and nothing is imported for it.
"""

import re
from typing import Any
from xml.etree import ElementTree

from jobs.cron import InvalidSchedule
from jobs.importing.legacy import Found
from jobs.importing.timezones import to_iana


class Inexpressible(ValueError):
    """A valid Quartz schedule that our five-field Cron cannot express."""


DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_STEP = re.compile(r"^(\*|\d+)/(\d+)$")


def _steps(field: str, low: int, high: int) -> str:
    """Quartz's "start/step" ("0/15") as cron's "start-high/step"; lists are converted item by item."""
    parts = []
    for part in field.split(","):
        match = _STEP.match(part)
        if match and match.group(1) != "*":
            parts.append(f"{match.group(1)}-{high}/{match.group(2)}")
        else:
            parts.append(part)
    return ",".join(parts)


def _day_of_week_number(text: str) -> str:
    """One Quartz day of the week (1 = Sunday … 7 = Saturday, or a name) in cron's numbering."""
    if text.upper() in DAY_NAMES:
        return str(DAY_NAMES.index(text.upper()))
    if not text.isdigit() or not 1 <= int(text) <= 7:
        raise InvalidSchedule(
            f"{text!r} is not a Quartz day of the week (1 = Sunday … 7 = Saturday, or SUN … SAT)"
        )
    return str(int(text) - 1)


def _day_of_week(field: str) -> str:
    if field in ("?", "*"):
        return "*"
    if field.upper() == "L":  # alone, L in day-of-week is the last day of the week: Saturday
        return "6"
    converted = []
    for part in field.split(","):
        upper = part.upper()
        if "#" in upper:
            day, _, nth = upper.partition("#")
            if not nth.isdigit() or not 1 <= int(nth) <= 5:
                raise InvalidSchedule(f"{part!r}: the week after # is 1 to 5")
            converted.append(f"{_day_of_week_number(day)}#{nth}")
        elif upper.endswith("L"):
            converted.append(f"{_day_of_week_number(upper[:-1])}L")
        elif "/" in upper:
            start, _, step = upper.partition("/")
            first = "0" if start == "*" else _day_of_week_number(start)
            converted.append(f"{first}-6/{step}")
        elif "-" in upper:
            start, _, end = upper.partition("-")
            converted.append(f"{_day_of_week_number(start)}-{_day_of_week_number(end)}")
        else:
            converted.append(_day_of_week_number(upper))
    return ",".join(converted)


def _day_of_month(field: str) -> str:
    if field in ("?", "*"):
        return "*"
    upper = field.upper()
    if re.match(r"^L-\d+$", upper):
        raise Inexpressible(
            f"day-of-month {field!r} (the {upper[2:]}th day before the month's last) has no cron form"
        )
    if re.search(r"\d+W", upper):
        raise Inexpressible(
            f"day-of-month {field!r} (the weekday nearest a date) has no cron form here; only LW (last weekday) does"
        )
    return _steps(field, 1, 31)


def to_cron(expression: str) -> str:
    """The five-field CRON for a Quartz cron expression.

    Raises Inexpressible (valid, no equivalent) or InvalidSchedule (not a Quartz expression)."""
    fields = expression.split()
    if len(fields) not in (6, 7):
        raise InvalidSchedule(
            f"{expression!r} is not a Quartz cron expression: it needs six or seven fields "
            "(second minute hour day-of-month month day-of-week [year])"
        )
    second, minute, hour, dom, month, dow = fields[:6]
    if len(fields) == 7 and fields[6] not in ("*", "?"):
        raise Inexpressible(f"it has a year field ({fields[6]!r}); our Cron repeats every year")
    if second not in ("0", "00"):
        raise Inexpressible(
            f"it fires at second {second!r} of the minute; our Cron's finest unit is the minute "
            "(second-level schedules cannot be expressed)"
        )
    if dom != "?" and dow != "?":
        raise InvalidSchedule(f"{expression!r}: Quartz needs '?' in day-of-month or in day-of-week")
    if dom == "?" and dow == "?":
        raise InvalidSchedule(f"{expression!r}: '?' can be in day-of-month or day-of-week, not both")
    return " ".join(
        (
            _steps(minute, 0, 59),
            _steps(hour, 0, 23),
            _day_of_month(dom),
            _steps(month, 1, 12),
            _day_of_week(dow),
        )
    )


# --- The XML file ------------------------------------------------------------------------------


def _local(tag) -> str:
    """An element's name without its namespace ("" for a comment)."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _child(element, name: str) -> str:
    for child in element:
        if _local(child.tag) == name:
            return (child.text or "").strip()
    return ""


def _children(element, name: str):
    return [child for child in element if _local(child.tag) == name]


def read_xml(raw: bytes, what: str):
    """Parse an XML file that must not declare a DTD (no entity tricks in an operator's input)."""
    head = raw[:4096].decode("utf-16" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8", errors="ignore")
    if "<!DOCTYPE" in head or "<!ENTITY" in head:
        raise InvalidSchedule(f"{what}: a DOCTYPE or ENTITY declaration is not accepted")
    parser = ElementTree.XMLParser(target=ElementTree.TreeBuilder(insert_comments=True))
    try:
        return ElementTree.fromstring(raw, parser=parser)
    except ElementTree.ParseError as exc:
        raise InvalidSchedule(f"{what} is not well-formed XML: {exc}") from None


def parse(raw: bytes) -> list[Found]:
    try:
        root = read_xml(raw, "The Quartz file")
    except InvalidSchedule as exc:
        return [Found("the file", ("",), "", error=str(exc))]
    if _local(root.tag) != "job-scheduling-data":
        return [
            Found(
                "the file",
                ("",),
                "",
                error=(
                    f"not a Quartz.NET job scheduling file: its root is <{_local(root.tag)}>, not <job-scheduling-data>"
                ),
            )
        ]
    jobs, triggers = {}, []
    for schedule in _children(root, "schedule"):
        for job in _children(schedule, "job"):
            key = f"{_child(job, 'group') or 'DEFAULT'}.{_child(job, 'name')}"
            jobs[key] = (_child(job, "name"), _child(job, "job-type"))
        for trigger in _children(schedule, "trigger"):
            triggers.extend(trigger)
    per_job: dict[Any, int] = {}
    triggers = [trigger for trigger in triggers if _local(trigger.tag)]
    for trigger in triggers:
        key = f"{_child(trigger, 'job-group') or 'DEFAULT'}.{_child(trigger, 'job-name')}"
        per_job[key] = per_job.get(key, 0) + 1
    found = []
    for key in sorted(set(jobs) - set(per_job)):
        job_name, job_type = jobs[key]
        type_name = job_type.split(",")[0].strip()
        keys = tuple(k for k in (key, type_name, type_name.rsplit(".", 1)[-1]) if k)
        found.append(
            Found(key, keys, job_name, skip="the job has no trigger: it runs only when triggered by hand")
        )
    for trigger in triggers:
        kind = _local(trigger.tag)
        if not kind:
            continue
        job_name = _child(trigger, "job-name")
        key = f"{_child(trigger, 'job-group') or 'DEFAULT'}.{job_name}"
        trigger_name = _child(trigger, "name") or kind
        job_type = jobs.get(key, ("", ""))[1]
        type_name = job_type.split(",")[0].strip()
        keys = tuple(k for k in (key, type_name, type_name.rsplit(".", 1)[-1]) if k)
        name = job_name if per_job[key] == 1 else f"{job_name}-{trigger_name}"
        source = f"{key} trigger {trigger_name}"
        if kind != "cron":
            found.append(
                Found(
                    source,
                    keys,
                    name,
                    skip=(
                        f"a <{kind}> trigger: only <cron> triggers are imported; declare this schedule as a CRON by hand"
                    ),
                )
            )
            continue
        expression = " ".join(_child(trigger, "cron-expression").split())
        source = f"{source}: {expression}"
        if not job_name:
            found.append(Found(source, keys, name, error="the trigger names no <job-name>"))
            continue
        zone = _child(trigger, "time-zone")
        try:
            zone = to_iana(zone) if zone else ""
            found.append(Found(source, keys, name, cron=to_cron(expression), timezone=zone))
        except Inexpressible as exc:
            found.append(
                Found(source, keys, name, skip=f"no cron equivalent: {exc}; nothing imported for it")
            )
        except InvalidSchedule as exc:
            found.append(Found(source, keys, name, error=str(exc)))
    return found
