"""Template filters of the job console (times, durations, relative times, JSON, short ids).

Every filter returns plain text, or HTML built with format_html from escaped parts: escaping
stays in charge, so a `<script>` in a job's arguments or error is shown, never run.

Times: one zone, labelled. Every time is shown in TIME_ZONE (Django's current time zone, never
the browser's) with its abbreviation, "2026-12-02 04:07:17 IST", and how long ago beside it.
"""

import json

from django import template
from django.utils import dateformat, timezone
from django.utils.html import format_html

from jobs import redaction
from jobs.console import humanize

register = template.Library()


@register.filter
def duration(seconds):
    """850 ms, 12 s, 3 min 5 s …"""
    return humanize.duration(seconds)


@register.filter
def duration_or_dash(seconds):
    """A duration, or a dash where there is none (a task without timed runs)."""
    return "–" if seconds is None else humanize.duration(seconds)


@register.filter
def percent(fraction):
    """0.9876 -> '98.8 %' (a success rate)."""
    return "–" if fraction is None else f"{fraction * 100:.1f} %"


@register.filter
def thousands(value):
    """1234567 -> '1,234,567' (django.contrib.humanize is not installed)."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return value


LOCAL_FORMAT = "Y-m-d H:i:s T"


def local_text(moment, fmt: str = LOCAL_FORMAT) -> str:
    """`moment` in TIME_ZONE, with the zone's abbreviation (IST)."""
    return dateformat.format(timezone.localtime(moment), fmt)


@register.filter
def local(moment, fmt=LOCAL_FORMAT):
    """'2026-12-02 04:07:17 IST' (empty when there is no moment)."""
    if not moment:
        return ""
    return local_text(moment, fmt)


@register.filter
def when(moment):
    """The time in TIME_ZONE with its abbreviation, and the relative time beside it:
    '2026-12-02 04:07:17 IST (3 min ago)'."""
    if not moment:
        return ""
    return format_html(
        '<time datetime="{}">{}</time> <span class="quiet relative">({})</span>',
        moment.isoformat(),
        local_text(moment),
        humanize.relative(moment, timezone.now()),
    )


@register.simple_tag
def zone_abbreviation():
    """The abbreviation of TIME_ZONE now (IST), for labels such as the charts'."""
    return timezone.localtime(timezone.now()).tzname()


@register.filter
def relative(moment):
    """'in 3 min' / '5 s ago', against the time of rendering."""
    return humanize.relative(moment, timezone.now())


@register.filter
def elapsed(start, end):
    """The duration from `start` to `end` (both datetimes), or '' when either is missing."""
    if not start or not end:
        return ""
    return humanize.duration((end - start).total_seconds())


@register.filter
def pretty_json(value):
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


@register.filter
def compact_json(value, limit=120):
    text = json.dumps(value, ensure_ascii=False, default=str)
    limit = int(limit)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@register.filter
def call_signature(job, limit=160):
    """task_name(arg, key=value), cut to `limit` characters; redacted values as •••."""
    args, kwargs, _ = redaction.redact_call(job.task_path, job.args, job.kwargs)
    parts = [json.dumps(a, ensure_ascii=False, default=str) for a in args]
    parts += [f"{k}={json.dumps(v, ensure_ascii=False, default=str)}" for k, v in kwargs.items()]
    text = f"{job.task_name}({', '.join(parts)})"
    limit = int(limit)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@register.filter
def masked_args(row):
    """A job's or recurring job's positional arguments, redacted values as •••."""
    return redaction.redact_call(row.task_path, row.args, row.kwargs)[0]


@register.filter
def masked_kwargs(row):
    return redaction.redact_call(row.task_path, row.args, row.kwargs)[1]


@register.filter
def scrub_for(text, job):
    """Free text about a job (its error) with the job's redacted values masked."""
    return redaction.redactor_of(redaction.secrets_of(job)).clean(text or "")


@register.filter
def without_app(app_list, app_label):
    """The admin's app list without one app (the admin index shows the console's module instead)."""
    return [app for app in app_list or [] if app.get("app_label") != app_label]


@register.filter
def short_id(value):
    return str(value)[:8]


@register.filter
def cron_description(expression):
    return humanize.describe_cron(expression)
