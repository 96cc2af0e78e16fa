"""What a job can be found by: its search terms and tags, computed once at enqueue.

A search for "42" or `invoice_id=42` over a million jobs cannot scan argument JSON. Instead each
job carries `search_terms`, a JSON list of short tokens written with the row, and PostgreSQL
indexes that list with GIN (jsonb_path_ops, migration 0019): "the jobs whose terms contain these
tokens" is then an index lookup (`search_terms @> '["v:42"]'`). The tokens:

- `v:<value>` for every argument value (positional or keyword, at any depth of lists and
  dicts), numbers and strings alike: "42" finds `create_invoice(42)` and `f(ref="42")`;
- `k:<name>=<value>` for every named value: the parameter a positional argument binds to (so
  `invoice_id=42` finds `create_invoice(42)`), a keyword argument, and a key inside a dict;
- `t:<tag>` for every tag (`@task(tags=("billing", "society:{society_id}"))`).

Values are lowercased (a search ignores case) and values longer than MAX_VALUE_LENGTH are not
indexed (free text is what the error filter is for). Redacted values (jobs/redaction.py) are
never indexed: nobody can find a job by its card number, whatever their permissions.

On SQLite there is no such index: the same terms are matched in the column's JSON text
(`jobs.console.listing.with_terms`), correct and unindexed.
"""

import inspect
import shlex
from functools import cache, lru_cache

from django.tasks.exceptions import InvalidTask

from jobs.conf import jobs_settings

VALUE, KEYWORD, TAG = "v:", "k:", "t:"
# Longer values are text, not ids: indexing them would grow the index for searches nobody makes.
MAX_VALUE_LENGTH = 100
# Terms per job, so that one job with a list of ten thousand ids cannot bloat the index.
MAX_TERMS = 64
MAX_TAGS = 20
MAX_TAG_LENGTH = 100
# Nesting followed into arguments; deeper values are not indexed.
MAX_DEPTH = 4


def check_tags(task) -> tuple[str, ...]:
    """At @task: `tags` is a tuple of templates whose fields name parameters of the function
    (jobs.flow's key templates, same rules) and no redacted one. Returns the tags as a tuple."""
    from jobs.flow import call_parameters, check_template, template_fields

    tags = task.tags
    if isinstance(tags, str) or not isinstance(tags, tuple | list):
        raise InvalidTask(
            f'{task.name}: tags must be a tuple of strings, e.g. tags=("billing",), not {tags!r}.'
        )
    tags = tuple(tags)
    if len(tags) > MAX_TAGS:
        raise InvalidTask(f"{task.name}: at most {MAX_TAGS} tags, not {len(tags)}.")
    if not tags:
        return tags
    parameters = call_parameters(task)
    redacted = set(task.redact or ()) | set(jobs_settings.REDACT_KEYS or ())
    for tag in tags:
        check_template(task.name, "Tag", tag, parameters)
        secret = [name for name in template_fields("Tag", tag) if name in redacted]
        if secret:
            raise InvalidTask(
                f"{task.name}: tag {tag!r} shows {', '.join(map(repr, secret))}, a redacted argument: "
                "a tag is shown to everyone and searchable."
            )
    return tags


@lru_cache(maxsize=1024)
def _templated(tags: tuple[str, ...]) -> bool:
    return any("{" in tag for tag in tags)


def render_tags(tags: tuple[str, ...], arguments: dict | None) -> list[str]:
    """Tags for one call, rendered from its arguments by parameter name (None: no tag has a
    field). Once each, in declaration order."""
    rendered: list[str] = []
    for tag in tags:
        text = tag.format_map(arguments) if arguments is not None and "{" in tag else tag
        text = text.strip()[:MAX_TAG_LENGTH]
        if text and text not in rendered:
            rendered.append(text)
    return rendered


def normalize(value) -> str | None:
    """A value as a term holds it, or None when it is not indexed (None, too long, a container)."""
    kind = type(value)
    if kind is int:
        text = str(value)
    elif kind is str:
        text = value.strip()
    elif value is None or isinstance(value, dict | list | tuple):
        return None
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))  # 42.0 is found by "42", as JSON does not tell them apart
    else:
        text = str(value).strip()
    if not text or len(text) > MAX_VALUE_LENGTH:
        return None
    return text.lower()


@cache
def _call_shape(func, takes_context: bool) -> tuple[tuple[str, ...], dict]:
    """(the names positional arguments bind to, the defaults of the parameters that have one);
    a takes_context task's first parameter is the runner's. Cached: this is on every enqueue."""
    try:
        parameters = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return (), {}
    if takes_context and parameters:
        parameters = parameters[1:]
    names = tuple(p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
    defaults = {
        p.name: p.default
        for p in parameters
        if p.default is not p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }
    return names, defaults


@lru_cache(maxsize=1024)
def _redacted(task_keys: tuple[str, ...], global_keys: tuple[str, ...]) -> frozenset[str]:
    return frozenset(task_keys) | frozenset(global_keys)


def redacted_keys(task) -> frozenset[str]:
    return _redacted(tuple(getattr(task, "redact", ()) or ()), tuple(jobs_settings.REDACT_KEYS or ()))


def _walk(found: dict, name: str | None, value, depth: int, redacted: frozenset) -> None:
    """Add the terms of one argument (a value under `name`) to `found`, following containers."""
    if name is not None and name in redacted:
        return
    if isinstance(value, dict):
        if depth < MAX_DEPTH:
            for key, item in value.items():
                _walk(found, str(key), item, depth + 1, redacted)
        return
    if isinstance(value, list | tuple):
        if depth < MAX_DEPTH:
            for item in value:
                _walk(found, name, item, depth + 1, redacted)
        return
    text = normalize(value)
    if text is None or len(found) >= MAX_TERMS:
        return
    found[VALUE + text] = None
    if name is not None and len(found) < MAX_TERMS:
        found[f"{KEYWORD}{name.lower()}={text}"] = None


def terms(args, kwargs, tags=(), *, names=(), redacted=frozenset()) -> list[str]:
    """The search terms of a call: `names` are the positional parameters' names, `redacted`
    the argument names whose values are never indexed (at any depth). Once each, in order."""
    found: dict[str, None] = {}
    for index, value in enumerate(args or ()):
        _walk(found, names[index] if index < len(names) else None, value, 0, redacted)
    for key, value in (kwargs or {}).items():
        _walk(found, str(key), value, 0, redacted)
    for tag in tags:
        if len(found) >= MAX_TERMS:
            break
        found[TAG + tag.lower()] = None
    return list(found)


def search_fields(task, args, kwargs) -> dict:
    """The Job columns `tags` and `search_terms` for one call of `task` (a JobTask)."""
    names, defaults = _call_shape(task.func, bool(task.takes_context))
    tags: list[str] = []
    if task.tags:
        arguments = None
        if _templated(task.tags):
            # By name, as a call binds them (arguments were checked against the signature).
            arguments = {**defaults, **dict(zip(names, args or (), strict=False)), **(kwargs or {})}
        tags = render_tags(task.tags, arguments)
    return {
        "tags": tags,
        "search_terms": terms(args, kwargs, tags, names=names, redacted=redacted_keys(task)),
    }


def stored_search_fields(task_path: str, args, kwargs) -> dict:
    """search_fields of a job already stored (the migration's backfill). Its task is looked up
    to render its tags, name its positional arguments and know its redacted ones; a task no
    longer declared gets values only (JOBS_REDACT_KEYS still honoured), and no tags."""
    from jobs.registry import resolve_task

    try:
        task = resolve_task(task_path)
    except Exception:  # unknown, or its module raises at import: index what can be indexed
        task = None
    if task is not None:
        try:
            return search_fields(task, list(args or ()), dict(kwargs or {}))
        except (TypeError, KeyError, IndexError, ValueError):
            pass  # arguments that no longer fit its signature (it changed since): values only
    return {"tags": [], "search_terms": terms(args, kwargs, redacted=redacted_keys(None))}


def query_terms(text: str) -> list[str]:
    """The terms a search for `text` asks for: each word is a value ("42") or `name=value`
    ("invoice_id=42"), quoted when it has spaces (`ref="flat 12b"`); a job matches when it has
    all of them."""
    try:
        words = shlex.split(text or "")
    except ValueError:  # an unbalanced quote: take the words as typed
        words = (text or "").split()
    wanted = []
    for word in words:
        name, sep, value = word.partition("=")
        if sep and name:
            normalized = normalize(value)
            if normalized is not None:
                wanted.append(f"{KEYWORD}{name.lower()}={normalized}")
        else:
            normalized = normalize(word)
            if normalized is not None:
                wanted.append(VALUE + normalized)
    return wanted


def tag_term(tag: str) -> str | None:
    tag = (tag or "").strip()
    return TAG + tag.lower() if tag else None
