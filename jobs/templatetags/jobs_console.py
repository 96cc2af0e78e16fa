"""Template filters of the job console (durations, relative times, JSON, short ids).

Every filter returns plain text: autoescaping stays in charge, so a `<script>` in a job's
arguments or error is shown, never run.
"""

import json

from django import template
from django.utils import timezone

from jobs import redaction
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
    return redaction.scrub_keys(redaction.scrub(text or "", redaction.secrets_of(job)))


@register.filter
def short_id(value):
    return str(value)[:8]


@register.filter
def cron_description(expression):
    return humanize.describe_cron(expression)
