"""Time zone names as legacy schedulers write them: Windows ids ("India Standard Time", what
.NET on Windows, Quartz.NET and Hangfire store) or IANA names ("Asia/Kolkata").

The Windows table is CLDR's windowsZones (the "001" territory of each Windows zone), as shipped
by tzlocal; a few of its answers are legacy IANA aliases, which we replace by their current names.
"""

from tzlocal.windows_tz import win_tz

from jobs.cron import InvalidSchedule, validate_timezone

# CLDR keeps the older spelling of these for compatibility; zoneinfo knows both, the console
# should show the current one.
_CURRENT = {
    "Asia/Calcutta": "Asia/Kolkata",
    "Asia/Katmandu": "Asia/Kathmandu",
    "Asia/Rangoon": "Asia/Yangon",
    "Asia/Saigon": "Asia/Ho_Chi_Minh",
    "Etc/UTC": "UTC",
}


def to_iana(name: str) -> str:
    """The IANA name for a Windows or IANA zone name, or InvalidSchedule saying it is unknown."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidSchedule(f"Unknown time zone {name!r}: use an IANA name such as 'Asia/Kolkata'.")
    name = name.strip()
    if name in win_tz:
        return _CURRENT.get(win_tz[name], win_tz[name])
    try:
        return _CURRENT.get(validate_timezone(name), name)
    except InvalidSchedule:
        raise InvalidSchedule(
            f"Unknown time zone {name!r}: neither an IANA name (such as 'Asia/Kolkata') "
            "nor a Windows time zone id (such as 'India Standard Time')."
        ) from None
