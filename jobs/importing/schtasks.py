"""Windows Task Scheduler exports (`schtasks /query /xml`): one <Task>, or a <Tasks> list whose
tasks are named by the comment before each.

A CalendarTrigger (ScheduleByDay, ScheduleByWeek, ScheduleByMonth, ScheduleByMonthDayOfWeek)
from its StartBoundary, with an optional Repetition Interval, becomes a recurring job when cron
can say the same thing; a TimeTrigger (once) becomes one delayed job. A task or trigger that is
not Enabled is listed and not imported, and so is every other trigger kind (at boot, at logon, on
an event): nothing a job platform sees.
"""

import re
from datetime import datetime, timedelta

from jobs.cron import InvalidSchedule, zone
from jobs.importing.legacy import Found
from jobs.importing.quartz import _child, _children, _local, read_xml

WEEKDAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


def duration(text: str) -> timedelta:
    """An XML duration as Task Scheduler writes them: P1D, PT30M, PT1H30M."""
    match = _DURATION.match(text.strip())
    if not match or not any(match.groups()):
        raise InvalidSchedule(f"{text!r} is not a duration such as PT30M, PT2H or P1D")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def _enabled(element) -> bool:
    return _child(element, "Enabled").lower() != "false"


def _start(trigger, tz: str) -> datetime:
    text = _child(trigger, "StartBoundary")
    if not text:
        raise InvalidSchedule("the trigger has no StartBoundary")
    try:
        start = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidSchedule(f"StartBoundary {text!r} is not a date and time") from None
    # Without an offset it is the machine's wall clock, which the import's zone stands for.
    return start.replace(tzinfo=zone(tz)) if start.tzinfo is None else start.astimezone(zone(tz))


def _names(element, container: str, names: tuple, what: str) -> list[int]:
    found = []
    for holder in _children(element, container):
        for child in holder:
            name = _local(child.tag)
            if not name:
                continue
            if name not in names:
                raise InvalidSchedule(f"unknown {what} <{name}>")
            found.append(names.index(name))
    return found


def _times(trigger, start: datetime) -> tuple[str, str]:
    """(minute, hour) fields: the start time, repeated by Repetition's Interval within its Duration."""
    repetition = next(iter(_children(trigger, "Repetition")), None)
    interval_text = _child(repetition, "Interval") if repetition is not None else ""
    if not interval_text:
        return str(start.minute), str(start.hour)
    interval = duration(interval_text)
    span_text = _child(repetition, "Duration")
    span = duration(span_text) if span_text else timedelta(days=1)
    minutes = int(interval.total_seconds() // 60)
    if interval.total_seconds() % 60 or minutes < 1:
        raise _Inexpressible(f"it repeats every {interval_text}; our Cron's finest unit is the minute")
    if span >= timedelta(days=1):
        hours = "*"
    elif span.total_seconds() % 3600 == 0 and start.minute == 0:
        last = start.hour + int(span.total_seconds() // 3600) - 1
        if last > 23:
            raise _Inexpressible(f"its repetition runs past midnight ({span_text} from {start:%H:%M})")
        hours = f"{start.hour}-{last}" if last > start.hour else str(start.hour)
    else:
        raise _Inexpressible(
            f"its repetition lasts {span_text} from {start:%H:%M}, which is not a whole-hour window"
        )
    if minutes < 60:
        if 60 % minutes:
            raise _Inexpressible(f"it repeats every {minutes} minutes, which does not divide an hour")
        first = start.minute % minutes
        return (f"*/{minutes}" if first == 0 else f"{first}-59/{minutes}"), hours
    if minutes % 60 or 24 % (minutes // 60) or hours != "*":
        raise _Inexpressible(f"it repeats every {interval_text}, which does not divide a day")
    step, first = minutes // 60, start.hour % (minutes // 60)
    return str(start.minute), (f"*/{step}" if first == 0 else f"{first}-23/{step}")


class _Inexpressible(ValueError):
    pass


def _calendar_cron(trigger, start: datetime) -> str:
    minute, hour = _times(trigger, start)
    by_day = next(iter(_children(trigger, "ScheduleByDay")), None)
    by_week = next(iter(_children(trigger, "ScheduleByWeek")), None)
    by_month = next(iter(_children(trigger, "ScheduleByMonth")), None)
    by_mdow = next(iter(_children(trigger, "ScheduleByMonthDayOfWeek")), None)
    if by_day is not None:
        interval = int(_child(by_day, "DaysInterval") or 1)
        if interval != 1:
            raise _Inexpressible(f"it runs every {interval} days; cron's day steps restart every month")
        return f"{minute} {hour} * * *"
    if by_week is not None:
        interval = int(_child(by_week, "WeeksInterval") or 1)
        if interval != 1:
            raise _Inexpressible(f"it runs every {interval} weeks; cron has no week counter")
        days = _names(by_week, "DaysOfWeek", WEEKDAYS, "day of the week") or [(start.weekday() + 1) % 7]
        return f"{minute} {hour} * * {','.join(map(str, sorted(set(days))))}"
    if by_month is not None:
        month_days: list[str] = []
        for holder in _children(by_month, "DaysOfMonth"):
            for day in _children(holder, "Day"):
                text = (day.text or "").strip()
                if text.lower() == "last":
                    month_days.append("L")
                elif text.isdigit() and 1 <= int(text) <= 31:
                    month_days.append(str(int(text)))
                else:
                    raise InvalidSchedule(f"<Day>{text}</Day> is not a day of the month (1-31 or Last)")
        months = _names(by_month, "Months", MONTHS, "month")
        return f"{minute} {hour} {','.join(month_days) or start.day} {_months(months)} *"
    if by_mdow is not None:
        weeks = []
        for holder in _children(by_mdow, "Weeks"):
            for week in _children(holder, "Week"):
                text = (week.text or "").strip()
                if text.lower() != "last" and not (text.isdigit() and 1 <= int(text) <= 4):
                    raise InvalidSchedule(f"<Week>{text}</Week> is not a week of the month (1-4 or Last)")
                weeks.append(text)
        days = _names(by_mdow, "DaysOfWeek", WEEKDAYS, "day of the week")
        if not weeks or not days:
            raise InvalidSchedule("ScheduleByMonthDayOfWeek needs Weeks and DaysOfWeek")
        parts = [f"{d}L" if w.lower() == "last" else f"{d}#{w}" for w in weeks for d in days]
        months = _names(by_mdow, "Months", MONTHS, "month")
        return f"{minute} {hour} * {_months(months)} {','.join(parts)}"
    raise InvalidSchedule(
        "the CalendarTrigger has no ScheduleByDay, ScheduleByWeek, ScheduleByMonth or ScheduleByMonthDayOfWeek"
    )


def _months(months: list[int]) -> str:
    return ",".join(str(m + 1) for m in sorted(set(months))) if months and len(set(months)) < 12 else "*"


def _tasks(root, fallback: str):
    """(name, <Task> element) for a single export or a <Tasks> list."""
    if _local(root.tag) == "Task":
        uri = next((_child(info, "URI") for info in _children(root, "RegistrationInfo")), "")
        yield uri or fallback, root
        return
    comment = ""
    for child in root:
        if not isinstance(child.tag, str):
            comment = (child.text or "").strip()
        elif _local(child.tag) == "Task":
            uri = next((_child(info, "URI") for info in _children(child, "RegistrationInfo")), "")
            yield uri or comment or fallback, child
            comment = ""


def parse(raw: bytes, *, tz: str, fallback_name: str = "task") -> list[Found]:
    try:
        root = read_xml(raw, "The Task Scheduler export")
    except InvalidSchedule as exc:
        return [Found("the file", ("",), "", error=str(exc))]
    if _local(root.tag) not in ("Task", "Tasks"):
        return [
            Found(
                "the file",
                ("",),
                "",
                error=(
                    f"not a Task Scheduler export: its root is <{_local(root.tag)}>, not <Task> or <Tasks>"
                ),
            )
        ]
    found = []
    for name, task in _tasks(root, fallback_name):
        commands = []
        for actions in _children(task, "Actions"):
            for action in _children(actions, "Exec"):
                command = _child(action, "Command")
                arguments = _child(action, "Arguments")
                commands.extend([f"{command} {arguments}".strip(), command])
        short = name.lstrip("\\")
        keys = tuple(dict.fromkeys(k for k in (name, short, short.rsplit("\\", 1)[-1], *commands) if k))
        base = short.rsplit("\\", 1)[-1]
        settings_enabled = all(_enabled(s) for s in _children(task, "Settings"))
        triggers = [t for holder in _children(task, "Triggers") for t in holder if _local(t.tag)]
        if not triggers:
            found.append(
                Found(
                    f"{name}", keys, base, skip="the task has no trigger: it runs only when started by hand"
                )
            )
        for number, trigger in enumerate(triggers, 1):
            kind = _local(trigger.tag)
            source = f"{name} trigger {number} ({kind})"
            item_name = base if len(triggers) == 1 else f"{base}-{number}"
            if not settings_enabled or not _enabled(trigger):
                found.append(
                    Found(
                        source,
                        keys,
                        item_name,
                        skip="disabled in Task Scheduler (Enabled is false): not imported",
                    )
                )
                continue
            try:
                if kind == "TimeTrigger":
                    start = _start(trigger, tz)
                    if _children(trigger, "Repetition") and _child(
                        _children(trigger, "Repetition")[0], "Interval"
                    ):
                        raise _Inexpressible(
                            "a one-off start that then repeats: declare it as a CRON by hand"
                        )
                    found.append(
                        Found(
                            f"{source}: once at {start.isoformat()}",
                            keys,
                            item_name,
                            run_at=start,
                            timezone=tz,
                            external_id=f"schtasks:{name}@{start.isoformat()}",
                        )
                    )
                elif kind == "CalendarTrigger":
                    start = _start(trigger, tz)
                    expression = _calendar_cron(trigger, start)
                    found.append(
                        Found(
                            f"{source}: from {start:%Y-%m-%d %H:%M}",
                            keys,
                            item_name,
                            cron=expression,
                            timezone=tz,
                        )
                    )
                else:
                    found.append(
                        Found(
                            source,
                            keys,
                            item_name,
                            skip=(
                                f"a {kind} runs on a machine event a job platform does not see: not imported"
                            ),
                        )
                    )
            except _Inexpressible as exc:
                found.append(
                    Found(source, keys, item_name, skip=f"no cron equivalent: {exc}; nothing imported for it")
                )
            except (InvalidSchedule, ValueError) as exc:
                found.append(Found(source, keys, item_name, error=str(exc)))
    return found
