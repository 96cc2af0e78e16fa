"""Words for numbers the console shows: cron descriptions, ages and durations."""

from datetime import timedelta


def describe_cron(expression: str) -> str:
    """'At 06:00 AM, on day 1 of the month' for '0 6 1 * *'.

    The recurring-jobs module owns the wording (`jobs.cron.describe`); if it cannot describe an
    expression, fall back to cron-descriptor, then to the expression.
    """
    from jobs.cron import describe

    try:
        return describe(expression)
    except Exception:  # a description is a nicety: the page must render
        pass
    try:
        from cron_descriptor import get_description

        return get_description(expression)
    except Exception:
        return expression


def duration(seconds: float | timedelta | None) -> str:
    """A short duration: '850 ms', '12 s', '3 min 5 s', '2 h 10 min', '3 d 4 h'."""
    if seconds is None:
        return ""
    if isinstance(seconds, timedelta):
        seconds = seconds.total_seconds()
    seconds = max(0.0, float(seconds))
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {sec} s" if sec else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def relative(moment, now) -> str:
    """'in 3 min' or '5 s ago' (empty when there is no moment)."""
    if moment is None:
        return ""
    delta = (moment - now).total_seconds()
    if abs(delta) < 1:
        return "now"
    return f"in {duration(delta)}" if delta > 0 else f"{duration(-delta)} ago"
