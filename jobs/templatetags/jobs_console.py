"""Template filters of the job console (durations, relative times, JSON, short ids).

Every filter returns plain text: autoescaping stays in charge, so a `<script>` in a job's
arguments or error is shown, never run.
"""

import json

from django import template
from django.utils import timezone

from jobs.console import humanize

register = template.Library()


@register.filter
def duration(seconds):
    """850 ms, 12 s, 3 min 5 s …"""
    return humanize.duration(seconds)


@register.filter
def thousands(value):
    """1234567 -> '1,234,567' (django.contrib.humanize is not installed)."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return value


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
    """task_name(arg, key=value), cut to `limit` characters."""
    parts = [json.dumps(a, ensure_ascii=False, default=str) for a in job.args or []]
    parts += [f"{k}={json.dumps(v, ensure_ascii=False, default=str)}" for k, v in (job.kwargs or {}).items()]
    text = f"{job.task_name}({', '.join(parts)})"
    limit = int(limit)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@register.filter
def short_id(value):
    return str(value)[:8]


@register.filter
def cron_description(expression):
    return humanize.describe_cron(expression)
