"""Redacted job arguments: `@task(redact=("card_number", "otp"))` and JOBS_REDACT_KEYS.

A redacted value is shown as ••• wherever the console shows arguments, and in log lines: the
values of the running job's redacted arguments are masked in every record logged while it runs
(RedactingFilter on the log handler), and `key=value` / `"key": value` of a JOBS_REDACT_KEYS key
is masked in any record. Only the job detail's "Reveal arguments" (the view_arguments
permission) shows them, and each reveal is audited. The stored row keeps the real values: the
task needs them.

A key is redacted at any depth (`payment={"card_number": …}`); positional arguments are
matched to the task's parameter names, so `charge.enqueue("4111…")` is redacted like
`charge.enqueue(card_number="4111…")`.
"""

import contextvars
import inspect
import logging
import re
from contextlib import contextmanager
from functools import lru_cache

from jobs.conf import jobs_settings

MASK = "•••"
# Shorter values are not masked inside free text (log lines): "1" or "ok" would mask half a line.
MIN_SECRET_LENGTH = 4

# The running job's Redactor (bound), resolved once per job rather than per logged record.
_running: contextvars.ContextVar["Redactor | None"] = contextvars.ContextVar("jobs_redactor", default=None)


def global_keys() -> frozenset[str]:
    return frozenset(jobs_settings.REDACT_KEYS or ())


def _task(task_path: str):
    from jobs.registry import UnknownTask, resolve_task

    try:
        return resolve_task(task_path)
    except UnknownTask:
        return None
    except Exception:  # its module raises at import: the console still shows the job
        return None


def keys_for(task_path: str) -> frozenset[str]:
    task = _task(task_path)
    return global_keys() | frozenset(getattr(task, "redact", ()) or ())


@lru_cache(maxsize=512)
def _positional_names(task_path: str) -> tuple[str, ...]:
    task = _task(task_path)
    if task is None:
        return ()
    try:
        parameters = list(inspect.signature(task.func).parameters.values())
    except (TypeError, ValueError):
        return ()
    if task.takes_context and parameters:
        parameters = parameters[1:]
    return tuple(p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))


def _mask(value, keys, found):
    """`value` with every dict entry under one of `keys` masked; masked leaves go to `found`."""
    if isinstance(value, dict):
        masked = {}
        for key, item in value.items():
            if key in keys:
                _collect(item, found)
                masked[key] = MASK
            else:
                masked[key] = _mask(item, keys, found)
        return masked
    if isinstance(value, list | tuple):
        return [_mask(item, keys, found) for item in value]
    return value


def _collect(value, found):
    if isinstance(value, dict):
        for item in value.values():
            _collect(item, found)
    elif isinstance(value, list | tuple):
        for item in value:
            _collect(item, found)
    elif value is not None and not isinstance(value, bool):
        found.append(str(value))


def redact_call(task_path: str, args, kwargs) -> tuple[list, dict, list[str]]:
    """(args, kwargs) with redacted values masked, and the masked values as text."""
    keys = keys_for(task_path)
    args, kwargs = list(args or []), dict(kwargs or {})
    if not keys:
        return args, kwargs, []
    found: list[str] = []
    names = _positional_names(task_path)
    masked_args = []
    for index, value in enumerate(args):
        if index < len(names) and names[index] in keys:
            _collect(value, found)
            masked_args.append(MASK)
        else:
            masked_args.append(_mask(value, keys, found))
    return masked_args, _mask(kwargs, keys, found), found


def has_redacted(task_path: str, args, kwargs) -> bool:
    masked_args, masked_kwargs, _ = redact_call(task_path, args, kwargs)
    return masked_args != list(args or []) or masked_kwargs != dict(kwargs or {})


def secrets_of(job) -> list[str]:
    return redact_call(job.task_path, job.args, job.kwargs)[2]


def redactor_of(secrets) -> "Redactor":
    """The Redactor for these redacted values and JOBS_REDACT_KEYS."""
    return Redactor(secrets, global_keys())


@contextmanager
def bound(job):
    """While the job's task runs: its redacted values are masked in whatever is logged."""
    token = _running.set(redactor_of(secrets_of(job)))
    try:
        yield
    finally:
        _running.reset(token)


def current() -> "Redactor":
    """What to mask now: the running job's Redactor, or (outside a job) JOBS_REDACT_KEYS alone."""
    redactor = _running.get()
    return redactor_of(()) if redactor is None else redactor


@lru_cache(maxsize=64)
def _key_pattern(keys: frozenset[str]):
    if not keys:
        return None
    names = "|".join(re.escape(key) for key in sorted(keys, key=len, reverse=True))
    # key=value, key: value, "key": "value", 'key': 'value' — up to the next separator.
    return re.compile(
        rf"""(?P<key>["']?\b(?:{names})\b["']?\s*[:=]\s*)(?P<value>"[^"]*"|'[^']*'|[^\s,;)}}\]]+)"""
    )


def _masked_value(match) -> str:
    return match.group("key") + MASK


class Redactor:
    """What to mask in free text about a job (a log line, its error, its timeline): its redacted
    values (longest first) and the values of JOBS_REDACT_KEYS keys. The running job's is built
    once (in `bound`), not for every record: resolving the settings and the pattern per record
    was a good part of what a captured line cost (bench/findings.md)."""

    __slots__ = ("secrets", "keys", "pattern")

    def __init__(self, secrets=(), keys: frozenset[str] = frozenset()):
        self.secrets = tuple(
            sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
        )
        self.keys = tuple(keys)
        self.pattern = _key_pattern(frozenset(keys))

    def __bool__(self) -> bool:
        return bool(self.secrets) or self.pattern is not None

    def _names_a_key(self, text: str) -> bool:
        # The pattern only matches where a key's name is (case and all): a substring test per
        # key is much cheaper than the pattern's search, and most lines name none.
        return any(key in text for key in self.keys)

    def finds(self, text: str) -> bool:
        """Whether `clean` could change `text`. On lines joined with newlines it is one search
        for the lot: a line that needs masking makes their join match too."""
        for secret in self.secrets:
            if secret in text:
                return True
        return self.pattern is not None and self._names_a_key(text) and self.pattern.search(text) is not None

    def clean(self, text: str) -> str:
        if not text:
            return text
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        if self.pattern is None or not self._names_a_key(text):
            return text
        return self.pattern.sub(_masked_value, text)


class RedactingFilter(logging.Filter):
    """On a handler: masks the running job's redacted values and JOBS_REDACT_KEYS values."""

    def filter(self, record: logging.LogRecord) -> bool:
        redactor = current()
        if not redactor:
            return True
        try:
            message = record.getMessage()
        except Exception:
            return True
        cleaned = redactor.clean(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
