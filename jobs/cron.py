"""CRON expressions for recurring jobs: helpers that write them, their validation, the runs
of an expression in a job's own time zone (daylight saving included), and a description for
the console.

Why cronsim and not croniter. Both were run on the same cases (tests/recurring/test_cron.py pins
the behaviour we rely on). On a fall-back day a wall-clock time happens twice; croniter 7.0.0
returns both: a daily 01:30 job in America/New_York runs at 01:30 EDT *and* 01:30 EST on
2027-11-07 (the same in Europe/London on 2027-10-31), so a "daily" invoice run would go out twice.
cronsim 2.8 returns the first one only, as Debian cron does. Both move the 02:30 that does not
exist on a spring-forward day (2027-03-14) to 03:00, once; both keep hourly-and-finer schedules
on real time (01:30 EDT and 01:30 EST are an hour apart, and an hourly job runs at both). cronsim
also knows `LW` and `5L`, refuses an inverted range (`5-1`) that croniter silently wraps, and is
about 3.5 times faster (100,000 minutely runs: 1.5 s against 5.2 s).

One cronsim quirk is handled here: for a fixed-time expression it works on the naive wall clock,
so started inside a repeated hour it can answer with that hour's first occurrence, which is
already past. `_runs_after` drops every answer that is not later than the one before.
"""

import calendar
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cron_descriptor import CasingTypeEnum, ExpressionDescriptor, Options
from cronsim import CronSim, CronSimError

FIELDS = "minute hour day-of-month month day-of-week"
WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")


class InvalidSchedule(ValueError):
    """A cron expression, time zone or recurring-job declaration that cannot be used."""


# --- Helpers that read like the declarations -------------------------------------------------


def _whole(name: str, value, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidSchedule(f"{name} must be a whole number from {low} to {high}, not {value!r}.")
    return value


def _weekday(day) -> int:
    if isinstance(day, str):
        name = day.strip().lower()
        for number, weekday in enumerate(WEEKDAYS):
            if name in (weekday, weekday[:3]):
                return number
        raise InvalidSchedule(f"Unknown day of the week {day!r}: use 'monday'…'sunday' or 0 (Sunday)…6.")
    return _whole("day of the week (0 = Sunday)", day, 0, 6)


class Cron:
    """Cron strings for the common schedules: `Cron.daily(hour=2)` is "0 2 * * *".

    Every helper returns a plain five-field expression, so a declaration can use either form.
    Times are wall-clock times in the recurring job's own time zone.
    """

    @staticmethod
    def minutely() -> str:
        return "* * * * *"

    @staticmethod
    def hourly(minute: int = 0) -> str:
        return f"{_whole('minute', minute, 0, 59)} * * * *"

    @staticmethod
    def daily(hour: int = 0, minute: int = 0) -> str:
        return f"{_whole('minute', minute, 0, 59)} {_whole('hour', hour, 0, 23)} * * *"

    @staticmethod
    def weekly(day=0, hour: int = 0, minute: int = 0) -> str:
        """`day`: 0 (Sunday) … 6 (Saturday), or a name such as "monday" or "mon"."""
        return f"{_whole('minute', minute, 0, 59)} {_whole('hour', hour, 0, 23)} * * {_weekday(day)}"

    @staticmethod
    def monthly(day: int = 1, hour: int = 0, minute: int = 0) -> str:
        """On day `day` of every month that has it (the 31st skips 30-day months, like cron):
        use `last_day_of_month` for month ends."""
        return (
            f"{_whole('minute', minute, 0, 59)} {_whole('hour', hour, 0, 23)} "
            f"{_whole('day of the month', day, 1, 31)} * *"
        )

    @staticmethod
    def last_day_of_month(hour: int = 0, minute: int = 0) -> str:
        return f"{_whole('minute', minute, 0, 59)} {_whole('hour', hour, 0, 23)} L * *"

    @staticmethod
    def yearly(month: int = 1, day: int = 1, hour: int = 0, minute: int = 0) -> str:
        """Once a year; February 29 runs in leap years only."""
        month = _whole("month", month, 1, 12)
        longest = calendar.monthrange(2000, month)[1]  # 2000 is a leap year: Feb has 29 days
        return (
            f"{_whole('minute', minute, 0, 59)} {_whole('hour', hour, 0, 23)} "
            f"{_whole(f'day of month {month}', day, 1, longest)} {month} *"
        )

    @staticmethod
    def every_minutes(n: int) -> str:
        """Every `n` minutes from the top of each hour (cron's */n: with an n that does not divide
        60 the last gap of each hour is shorter)."""
        n = _whole("every_minutes interval", n, 1, 59)
        return "* * * * *" if n == 1 else f"*/{n} * * * *"

    @staticmethod
    def every_hours(n: int, minute: int = 0) -> str:
        """Every `n` hours from midnight, at `minute` past the hour."""
        n = _whole("every_hours interval", n, 1, 23)
        hours = "*" if n == 1 else f"*/{n}"
        return f"{_whole('minute', minute, 0, 59)} {hours} * * *"


# --- Validation -------------------------------------------------------------------------------


def normalize(expression) -> str:
    if not isinstance(expression, str):
        raise InvalidSchedule(f"A cron expression is a string such as '0 6 * * *', not {expression!r}.")
    return " ".join(expression.split())


def validate_cron(expression) -> str:
    """Return the expression with its spacing normalized, or raise InvalidSchedule saying why.

    Five fields only (minute hour day-of-month month day-of-week); an expression must also run at
    least once in the next 50 years ("0 0 30 2 *" never does).
    """
    expr = normalize(expression)
    if len(expr.split()) != 5:
        raise InvalidSchedule(
            f"Invalid cron expression {expression!r}: it needs five fields ({FIELDS}), "
            f"it has {len(expr.split())}."
        )
    try:
        next(CronSim(expr, datetime.now(UTC)))
    except CronSimError as exc:
        raise InvalidSchedule(f"Invalid cron expression {expression!r}: {str(exc).lower()}.") from None
    except StopIteration:
        raise InvalidSchedule(f"Invalid cron expression {expression!r}: it never runs.") from None
    return expr


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def validate_timezone(name) -> str:
    """Return the IANA zone name, or raise InvalidSchedule: "Asia/Kolkata", not "IST" or "+05:30"."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidSchedule(f"Unknown time zone {name!r}: use an IANA name such as 'Asia/Kolkata'.")
    try:
        zone(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidSchedule(
            f"Unknown time zone {name!r}: use an IANA name such as 'Asia/Kolkata'."
        ) from None
    return name


# --- Runs -------------------------------------------------------------------------------------


def _runs_after(expression: str, tz: str, after: datetime) -> Iterator[datetime]:
    """The runs strictly after `after`, in order, as aware UTC datetimes.

    The expression is read on the wall clock of `tz`. Six-field expressions (a leading seconds
    field) are understood here so that tests can drive a real cluster at seconds scale; they are
    never accepted from a declaration or the API (see `validate_cron`).
    """
    if after.tzinfo is None:
        raise ValueError("`after` must be an aware datetime.")
    try:
        runs = CronSim(expression, after.astimezone(zone(tz)))
    except CronSimError as exc:
        raise InvalidSchedule(f"Invalid cron expression {expression!r}: {str(exc).lower()}.") from None
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidSchedule(f"Unknown time zone {tz!r}.") from None
    last = after.astimezone(UTC)
    for local in runs:
        run = local.astimezone(UTC)
        if run > last:
            last = run
            yield run


def next_run(expression: str, tz: str, after: datetime) -> datetime | None:
    """The first run strictly after `after` (aware UTC), or None if there is none in 50 years."""
    return next(_runs_after(expression, tz, after), None)


def runs_between(expression: str, tz: str, after: datetime, until: datetime, limit: int) -> list[datetime]:
    """Up to `limit` runs with after < run <= until, oldest first."""
    runs: list[datetime] = []
    for run in _runs_after(expression, tz, after):
        if run > until or len(runs) >= limit:
            break
        runs.append(run)
    return runs


def latest_run(expression: str, tz: str, after: datetime, until: datetime) -> datetime | None:
    """The latest run with after < run <= until, or None.

    Scans back from `until` through widening windows (an hour, a day, a month, a year, then
    everything), so a minutely job after a month's outage costs sixty runs, not forty thousand.
    """
    windows = (timedelta(hours=1), timedelta(days=1), timedelta(days=32), timedelta(days=366), None)
    for window in windows:
        start = after if window is None else max(after, until - window)
        latest = None
        for run in _runs_after(expression, tz, start):
            if run > until:
                break
            latest = run
        if latest is not None or start == after:
            return latest
    return None


def upcoming(expression: str, tz: str, after: datetime, count: int = 5) -> list[datetime]:
    """The next `count` runs after `after`, for the console."""
    runs = []
    for run in _runs_after(expression, tz, after):
        runs.append(run)
        if len(runs) >= count:
            break
    return runs


# --- Description ------------------------------------------------------------------------------

_DESCRIBE_OPTIONS = Options(
    casing_type=CasingTypeEnum.Sentence, locale_code="en_US", use_24hour_time_format=True, verbose=False
)


@lru_cache(maxsize=1024)
def describe(expression: str, tz: str | None = None) -> str:
    """A sentence for the console: "At 06:00, on day 1 of the month (Asia/Kolkata)"."""
    try:
        text = ExpressionDescriptor(normalize(expression), _DESCRIBE_OPTIONS).get_description()
    except Exception:  # a description is a courtesy: never break a page over it
        text = expression
    return f"{text} ({tz})" if tz else text
