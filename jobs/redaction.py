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

_running_secrets: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("jobs_secrets", default=())


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


def scrub(text: str, secrets) -> str:
    """`text` with each secret (at least MIN_SECRET_LENGTH characters) replaced by the mask."""
    if not text:
        return text
    for secret in sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def secrets_of(job) -> list[str]:
    return redact_call(job.task_path, job.args, job.kwargs)[2]


@contextmanager
def bound(job):
    """While the job's task runs: its redacted values are masked in whatever is logged."""
    token = _running_secrets.set(tuple(s for s in secrets_of(job) if len(s) >= MIN_SECRET_LENGTH))
    try:
        yield
    finally:
        _running_secrets.reset(token)


def running_secrets() -> tuple[str, ...]:
    return _running_secrets.get()


@lru_cache(maxsize=64)
def _key_pattern(keys: frozenset[str]):
    if not keys:
        return None
    names = "|".join(re.escape(key) for key in sorted(keys, key=len, reverse=True))
    # key=value, key: value, "key": "value", 'key': 'value' — up to the next separator.
    return re.compile(
        rf"""(?P<key>["']?\b(?:{names})\b["']?\s*[:=]\s*)(?P<value>"[^"]*"|'[^']*'|[^\s,;)}}\]]+)"""
    )


def scrub_keys(text: str) -> str:
    pattern = _key_pattern(global_keys())
    if pattern is None or not text:
        return text
    return pattern.sub(lambda m: m.group("key") + MASK, text)


class RedactingFilter(logging.Filter):
    """On a handler: masks the running job's redacted values and JOBS_REDACT_KEYS values."""

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = running_secrets()
        if not secrets and not global_keys():
            return True
        try:
            message = record.getMessage()
        except Exception:
            return True
        cleaned = scrub_keys(scrub(message, secrets))
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
