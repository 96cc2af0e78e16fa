"""The mapping file: which registered task (and arguments) each legacy entry becomes.

    [[map]]
    match = "/usr/local/bin/send-payment-reminders"   # a command, task name, Quartz job key,
    task = "sales.tasks.send_payment_reminders"       # or Hangfire "Type.Method"
    args = []                                          # optional
    kwargs = {}                                        # optional
    id = "send-payment-reminders"                      # optional recurring job id
    queue = "default"                                  # optional; else the task's own queue

TOML, read with the standard library's tomllib. Every rule is checked when the file is loaded
(the task must be a registered @task, args a list, kwargs a table, id a slug) and every problem is
reported at once. A legacy entry that no rule matches is "unmapped": it is listed, never run.
"""

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.tasks import Task

from jobs.creation import validate_arguments
from jobs.registry import UnknownTask, resolve_task

KEYS = {"match", "task", "args", "kwargs", "id", "queue"}


class MappingError(ValueError):
    """The mapping file cannot be used; the message lists every problem."""


@dataclass(frozen=True)
class Rule:
    match: str
    task: Task
    args: list | None
    kwargs: dict | None
    id: str | None
    queue: str | None
    number: int  # the rule's position in the file, for messages

    @property
    def label(self) -> str:
        return f"[[map]] #{self.number} (match = {self.match!r})"


class Mapping:
    def __init__(self, rules: list[Rule], path: str = ""):
        self.rules = rules
        self.path = path
        self._by_match = {rule.match: rule for rule in rules}

    def find(self, *keys: str) -> Rule | None:
        """The rule for the first key that has one (keys go from the most to the least exact)."""
        for key in keys:
            if key and key in self._by_match:
                return self._by_match[key]
        return None


EMPTY = Mapping([])


def load_mapping(path) -> Mapping:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise MappingError(f"The mapping file {path} cannot be read: {exc.strerror or exc}.") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise MappingError(f"The mapping file {path} is not UTF-8 text.") from None
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(f"The mapping file {path} is not valid TOML: {exc}.") from None
    return parse_mapping(data, str(path))


def parse_mapping(data: dict, path: str = "the mapping") -> Mapping:
    extra = sorted(set(data) - {"map"})
    problems = (
        [f"unknown top-level key(s) {', '.join(map(repr, extra))}: write rules as [[map]] tables"]
        if extra
        else []
    )
    entries = data.get("map", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise MappingError(f"{path}: 'map' must be an array of tables ([[map]] ... ).")
    rules = []
    seen: dict[Any, int] = {}
    for number, entry in enumerate(entries, 1):
        where = f"[[map]] #{number}"
        unknown = sorted(set(entry) - KEYS)
        if unknown:
            problems.append(
                f"{where}: unknown key(s) {', '.join(map(repr, unknown))} (allowed: {', '.join(sorted(KEYS))})"
            )
        match, path_ = entry.get("match"), entry.get("task")
        if not isinstance(match, str) or not match.strip():
            problems.append(f"{where}: 'match' must be a non-empty string")
            continue
        where = f"[[map]] #{number} (match = {match!r})"
        if match in seen:
            problems.append(f"{where}: the same match as [[map]] #{seen[match]}")
            continue
        seen[match] = number
        if not isinstance(path_, str):
            problems.append(f"{where}: 'task' must be the dotted path of a registered @task")
            continue
        try:
            task = resolve_task(path_)
        except UnknownTask as exc:
            problems.append(f"{where}: {exc}")
            continue
        args, kwargs = entry.get("args"), entry.get("kwargs")
        if args is not None and not isinstance(args, list):
            problems.append(f"{where}: 'args' must be an array")
            continue
        if kwargs is not None and not isinstance(kwargs, dict):
            problems.append(f"{where}: 'kwargs' must be a table")
            continue
        try:
            validate_arguments(task.name, args or [], kwargs or {})
        except (TypeError, ValueError) as exc:
            problems.append(f"{where}: {exc}")
            continue
        rule_id = entry.get("id")
        if rule_id is not None:
            try:
                if not isinstance(rule_id, str) or len(rule_id) > 100:
                    raise ValidationError("")
                validate_slug(rule_id)
            except ValidationError:
                problems.append(
                    f"{where}: 'id' must be a slug of at most 100 characters (letters, digits, '-', '_')"
                )
                continue
        queue = entry.get("queue")
        if queue is not None and queue not in settings.JOB_QUEUES:
            problems.append(
                f"{where}: unknown queue {queue!r}; the queues are {', '.join(settings.JOB_QUEUES)}"
            )
            continue
        rules.append(Rule(match.strip(), task, args, kwargs, rule_id, queue, number))
    if problems:
        raise MappingError(
            f"{path}: {len(problems)} problem(s), nothing was imported:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )
    return Mapping(rules, path)
