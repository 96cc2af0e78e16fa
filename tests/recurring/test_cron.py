"""Cron helpers, validation, and runs in a job's own time zone, daylight saving included."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from jobs.cron import (
    Cron,
    InvalidSchedule,
    describe,
    latest_run,
    next_run,
    runs_between,
    upcoming,
    validate_cron,
    validate_timezone,
)

NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
KOLKATA = ZoneInfo("Asia/Kolkata")


def local_runs(expression, tz, start, end):
    """The runs in (start, end] as wall-clock datetimes of `tz` (start/end are wall-clock too)."""
    zone = ZoneInfo(tz)
    found = runs_between(expression, tz, start.replace(tzinfo=zone), end.replace(tzinfo=zone), limit=10_000)
    return [run.astimezone(zone) for run in found]


def wall(runs):
    return [f"{run:%Y-%m-%d %H:%M %Z}" for run in runs]


# --- Helpers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (Cron.minutely(), "* * * * *"),
        (Cron.hourly(), "0 * * * *"),
        (Cron.hourly(minute=15), "15 * * * *"),
        (Cron.daily(), "0 0 * * *"),
        (Cron.daily(hour=2, minute=30), "30 2 * * *"),
        (Cron.weekly(0), "0 0 * * 0"),
        (Cron.weekly("monday", hour=9), "0 9 * * 1"),
        (Cron.weekly("Sat", hour=23, minute=59), "59 23 * * 6"),
        (Cron.monthly(), "0 0 1 * *"),
        (Cron.monthly(day=1, hour=6), "0 6 1 * *"),
        (Cron.last_day_of_month(hour=23, minute=30), "30 23 L * *"),
        (Cron.yearly(), "0 0 1 1 *"),
        (Cron.yearly(month=2, day=29, hour=12), "0 12 29 2 *"),
        (Cron.every_minutes(1), "* * * * *"),
        (Cron.every_minutes(30), "*/30 * * * *"),
        (Cron.every_hours(1), "0 * * * *"),
        (Cron.every_hours(6, minute=5), "5 */6 * * *"),
    ],
)
def test_helpers_write_standard_expressions(expression, expected):
    assert expression == expected
    assert validate_cron(expression) == expected


def test_next_run_of_every_helper():
    tz = "Asia/Kolkata"

    def after(expression, wall_clock):
        return (
            next_run(expression, tz, wall_clock.replace(tzinfo=KOLKATA))
            .astimezone(KOLKATA)
            .replace(tzinfo=None)
        )

    at = datetime(2027, 3, 14, 10, 0, 30)  # a Sunday
    assert after(Cron.minutely(), at) == datetime(2027, 3, 14, 10, 1)
    assert after(Cron.hourly(minute=15), at) == datetime(2027, 3, 14, 10, 15)
    assert after(Cron.hourly(), at) == datetime(2027, 3, 14, 11, 0)
    assert after(Cron.daily(hour=2), at) == datetime(2027, 3, 15, 2, 0)
    assert after(Cron.daily(hour=10, minute=1), at) == datetime(2027, 3, 14, 10, 1)
    assert after(Cron.weekly("monday", hour=9), at) == datetime(2027, 3, 15, 9, 0)
    assert after(Cron.weekly(0, hour=10), at) == datetime(2027, 3, 21, 10, 0)  # 10:00 today has passed
    assert after(Cron.monthly(day=1, hour=6), at) == datetime(2027, 4, 1, 6, 0)
    assert after(Cron.monthly(day=14, hour=11), at) == datetime(2027, 3, 14, 11, 0)
    assert after(Cron.last_day_of_month(hour=23), at) == datetime(2027, 3, 31, 23, 0)
    assert after(Cron.yearly(month=1, day=1), at) == datetime(2028, 1, 1, 0, 0)
    assert after(Cron.yearly(month=2, day=29), at) == datetime(2028, 2, 29, 0, 0)
    assert after(Cron.every_minutes(15), at) == datetime(2027, 3, 14, 10, 15)
    assert after(Cron.every_hours(6, minute=5), at) == datetime(2027, 3, 14, 12, 5)


def test_every_n_counts_its_runs():
    day = (datetime(2027, 5, 3), datetime(2027, 5, 4))
    assert len(local_runs(Cron.every_minutes(15), "UTC", *day)) == 96
    assert wall(local_runs(Cron.every_hours(6, minute=5), "UTC", *day)) == [
        "2027-05-03 00:05 UTC",
        "2027-05-03 06:05 UTC",
        "2027-05-03 12:05 UTC",
        "2027-05-03 18:05 UTC",
    ]


@pytest.mark.parametrize(
    "build",
    [
        lambda: Cron.hourly(minute=60),
        lambda: Cron.daily(hour=24),
        lambda: Cron.daily(hour=True),
        lambda: Cron.daily(hour="2"),
        lambda: Cron.weekly("funday"),
        lambda: Cron.weekly(7),
        lambda: Cron.monthly(day=0),
        lambda: Cron.monthly(day=32),
        lambda: Cron.yearly(month=13),
        lambda: Cron.yearly(month=2, day=30),
        lambda: Cron.yearly(month=4, day=31),
        lambda: Cron.every_minutes(0),
        lambda: Cron.every_minutes(60),
        lambda: Cron.every_hours(24),
    ],
)
def test_helpers_refuse_impossible_values(build):
    with pytest.raises(InvalidSchedule):
        build()


# --- Daylight saving, time zones ---------------------------------------------------------------


def test_new_york_spring_forward_runs_a_missing_time_once_at_the_first_real_minute():
    # 2027-03-14: clocks go from 02:00 EST to 03:00 EDT; 02:30 does not exist.
    runs = local_runs("30 2 * * *", "America/New_York", datetime(2027, 3, 13), datetime(2027, 3, 16))
    assert wall(runs) == ["2027-03-13 02:30 EST", "2027-03-14 03:00 EDT", "2027-03-15 02:30 EDT"]


def test_new_york_fall_back_runs_once():
    # 2027-11-07: clocks go from 02:00 EDT back to 01:00 EST; 01:00-01:59 happens twice.
    days = (datetime(2027, 11, 6), datetime(2027, 11, 9))
    assert wall(local_runs("30 2 * * *", "America/New_York", *days)) == [
        "2027-11-06 02:30 EDT",
        "2027-11-07 02:30 EST",
        "2027-11-08 02:30 EST",
    ]
    # The repeated time runs at its first occurrence only (croniter runs it twice).
    assert wall(local_runs("30 1 * * *", "America/New_York", *days)) == [
        "2027-11-06 01:30 EDT",
        "2027-11-07 01:30 EDT",
        "2027-11-08 01:30 EST",
    ]


def test_started_inside_the_repeated_hour_the_next_run_is_tomorrow():
    inside = datetime(2027, 11, 7, 6, 10, tzinfo=UTC)  # 01:10 EST, after 01:30 EDT has passed
    assert inside.astimezone(NEW_YORK).fold == 1
    assert next_run("30 1 * * *", "America/New_York", inside) == datetime(2027, 11, 8, 6, 30, tzinfo=UTC)
    after_first = datetime(2027, 11, 7, 5, 30, tzinfo=UTC)  # the fall-back day's 01:30 EDT run
    assert next_run("30 1 * * *", "America/New_York", after_first) == datetime(2027, 11, 8, 6, 30, tzinfo=UTC)


def test_hourly_jobs_keep_real_time_across_daylight_saving():
    fall = local_runs("30 * * * *", "America/New_York", datetime(2027, 11, 7, 0), datetime(2027, 11, 7, 3))
    assert wall(fall) == [
        "2027-11-07 00:30 EDT",
        "2027-11-07 01:30 EDT",
        "2027-11-07 01:30 EST",
        "2027-11-07 02:30 EST",
    ]
    in_utc = [run.astimezone(UTC) for run in fall]  # same-zone subtraction would ignore the fold
    assert {b - a for a, b in zip(in_utc, in_utc[1:], strict=False)} == {timedelta(hours=1)}
    spring = local_runs("30 * * * *", "America/New_York", datetime(2027, 3, 14, 0), datetime(2027, 3, 14, 4))
    assert wall(spring) == ["2027-03-14 00:30 EST", "2027-03-14 01:30 EST", "2027-03-14 03:30 EDT"]


def test_london_daylight_saving():
    # 2027-03-28: 01:00 GMT -> 02:00 BST.  2027-10-31: 02:00 BST -> 01:00 GMT.
    spring = local_runs("30 1 * * *", "Europe/London", datetime(2027, 3, 27), datetime(2027, 3, 30))
    assert wall(spring) == ["2027-03-27 01:30 GMT", "2027-03-28 02:00 BST", "2027-03-29 01:30 BST"]
    fall = local_runs("30 1 * * *", "Europe/London", datetime(2027, 10, 30), datetime(2027, 11, 2))
    assert wall(fall) == ["2027-10-30 01:30 BST", "2027-10-31 01:30 BST", "2027-11-01 01:30 GMT"]


def test_kolkata_has_no_daylight_saving():
    runs = local_runs(
        Cron.daily(hour=6), "Asia/Kolkata", datetime(2026, 12, 31, 12), datetime(2027, 12, 31, 12)
    )
    assert len(runs) == 365
    assert {run.astimezone(UTC).strftime("%H:%M") for run in runs} == {"00:30"}


def test_the_same_expression_in_different_zones():
    after = datetime(2027, 7, 1, 12, tzinfo=UTC)
    assert next_run("0 6 * * *", "Asia/Kolkata", after) == datetime(2027, 7, 2, 0, 30, tzinfo=UTC)
    assert next_run("0 6 * * *", "America/New_York", after) == datetime(2027, 7, 2, 10, 0, tzinfo=UTC)
    assert next_run("0 6 * * *", "Europe/London", after) == datetime(2027, 7, 2, 5, 0, tzinfo=UTC)


# --- Days of the month ---------------------------------------------------------------------------


def test_last_day_of_february_in_leap_and_common_years():
    expression = Cron.last_day_of_month(hour=23)
    assert wall(local_runs(expression, "Asia/Kolkata", datetime(2027, 2, 1), datetime(2027, 3, 1))) == [
        "2027-02-28 23:00 IST"
    ]
    assert wall(local_runs(expression, "Asia/Kolkata", datetime(2028, 2, 1), datetime(2028, 3, 1))) == [
        "2028-02-29 23:00 IST"
    ]
    year = local_runs(expression, "UTC", datetime(2028, 1, 1), datetime(2029, 1, 1))
    assert [run.day for run in year] == [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


def test_february_29_runs_in_leap_years_only():
    runs = local_runs(Cron.yearly(month=2, day=29), "UTC", datetime(2026, 1, 1), datetime(2037, 1, 1))
    assert [run.year for run in runs] == [2028, 2032, 2036]


def test_the_31st_skips_shorter_months():
    runs = local_runs(Cron.monthly(day=31), "UTC", datetime(2027, 1, 1), datetime(2028, 1, 1))
    assert [run.month for run in runs] == [1, 3, 5, 7, 8, 10, 12]


def test_step_and_range_forms():
    monday = (datetime(2027, 3, 1), datetime(2027, 3, 2))
    runs = local_runs("0-30/10 9-17/4 * * 1-5", "UTC", *monday)
    assert [f"{run:%H:%M}" for run in runs] == [
        "09:00",
        "09:10",
        "09:20",
        "09:30",
        "13:00",
        "13:10",
        "13:20",
        "13:30",
        "17:00",
        "17:10",
        "17:20",
        "17:30",
    ]
    saturday = (datetime(2027, 3, 6), datetime(2027, 3, 7))
    assert local_runs("0-30/10 9-17/4 * * 1-5", "UTC", *saturday) == []
    assert [f"{run:%H:%M}" for run in local_runs("15,45 8-9 * * *", "UTC", *monday)] == [
        "08:15",
        "08:45",
        "09:15",
        "09:45",
    ]
    assert [
        run.month for run in local_runs("0 0 1 */3 *", "UTC", datetime(2027, 1, 1), datetime(2027, 12, 31))
    ] == [
        4,
        7,
        10,
    ]
    assert [
        run.day for run in local_runs("0 0 * * MON-FRI", "UTC", datetime(2027, 3, 5), datetime(2027, 3, 12))
    ] == [
        8,
        9,
        10,
        11,
        12,
    ]


def test_day_of_month_or_day_of_week_like_cron():
    # Both fields restricted: cron runs on either (the 1st, or any Monday).
    runs = local_runs("0 0 1 * 1", "UTC", datetime(2027, 3, 20), datetime(2027, 4, 10))
    assert [f"{run:%m-%d %a}" for run in runs] == ["03-22 Mon", "03-29 Mon", "04-01 Thu", "04-05 Mon"]


def test_latest_run_looks_back_as_far_as_needed():
    until = datetime(2027, 6, 1, 9, 0, 20, tzinfo=UTC)
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)
    assert latest_run("* * * * *", "UTC", long_ago, until) == datetime(2027, 6, 1, 9, 0, tzinfo=UTC)
    assert latest_run("0 6 * * *", "Asia/Kolkata", long_ago, until) == datetime(2027, 6, 1, 0, 30, tzinfo=UTC)
    assert latest_run(Cron.yearly(2, 29), "UTC", long_ago, until) == datetime(2024, 2, 29, tzinfo=UTC)
    assert latest_run(Cron.yearly(2, 29), "UTC", datetime(2024, 3, 1, tzinfo=UTC), until) is None
    # On the fall-back day the latest 01:30 run is the first one (EDT).
    fall_back = datetime(2027, 11, 7, 7, 0, tzinfo=UTC)
    assert latest_run("30 1 * * *", "America/New_York", long_ago, fall_back) == datetime(
        2027, 11, 7, 5, 30, tzinfo=UTC
    )


def test_runs_between_stops_at_its_limit():
    start = datetime(2027, 1, 1, tzinfo=UTC)
    assert len(runs_between("* * * * *", "UTC", start, start + timedelta(days=30), limit=7)) == 7
    assert upcoming("0 * * * *", "UTC", start, 3) == [start + timedelta(hours=h) for h in (1, 2, 3)]


# --- Validation, description --------------------------------------------------------------------


def test_validate_cron_normalizes_spacing():
    assert validate_cron("  0   6 1 * *\t") == "0 6 1 * *"


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("61 * * * *", "bad minute"),
        ("0 24 * * *", "bad hour"),
        ("0 0 0 * *", "bad day-of-month"),
        ("0 0 1 13 *", "bad month"),
        ("0 0 * * 8", "bad day-of-week"),
        ("*/0 * * * *", "bad minute"),
        ("5-1 * * * *", "bad minute"),
        ("0 0 30 2 *", "bad day-of-month"),
        ("* * *", "five fields"),
        ("*/5 * * * * *", "five fields"),
        ("", "five fields"),
        ("every day", "five fields"),
        (5, "is a string"),
    ],
)
def test_invalid_cron_expressions_are_refused_with_the_reason(expression, message):
    with pytest.raises(InvalidSchedule, match=message):
        validate_cron(expression)


def test_time_zones_are_iana_names():
    assert validate_timezone("America/New_York") == "America/New_York"
    for bad in ("IST", "+05:30", "Mars/Olympus", "", None, "../../etc/passwd"):
        with pytest.raises(InvalidSchedule, match="Unknown time zone"):
            validate_timezone(bad)


def test_next_run_needs_an_aware_start():
    with pytest.raises(ValueError, match="aware"):
        next_run("* * * * *", "UTC", datetime(2027, 1, 1))


def test_descriptions_for_the_console():
    assert describe(Cron.monthly(day=1, hour=6)) == "At 06:00, on day 1 of the month"
    assert describe(Cron.last_day_of_month(hour=23)) == "At 23:00, on the last day of the month"
    assert describe(Cron.every_minutes(30), "Asia/Kolkata") == "Every 30 minutes (Asia/Kolkata)"
    assert describe(Cron.weekly("sunday")) == "At 00:00, only on Sunday"
