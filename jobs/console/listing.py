"""Lists of jobs and batches that stay fast with a million rows: keyset pages, no COUNT(*).

A page is "the next N rows after this (time, id)", read along an index in its own order
(`job_state_list_idx` is (state, state_changed_at DESC)); OFFSET pagination would read and
throw away every earlier row, and a page count would count the table. The cursor is the last
row's sort key, so a page is stable while jobs keep arriving at the top.
"""

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import OperationalError, connection, connections, transaction
from django.db.models import Q, TextField
from django.db.models.functions import Cast

from jobs import search

PAGE_SIZE = 50
# The free-text search (task path, error text) cannot use an index; on PostgreSQL it gets this
# long before it is stopped and the person is asked to narrow it (a filter, or the id).
# Arguments and tags are searched through their GIN-indexed terms (jobs/search.py).
SEARCH_TIMEOUT_MS = 5000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class InvalidCursor(ValueError):
    pass


class SearchTooSlow(Exception):
    pass


@dataclass(frozen=True)
class Cursor:
    at: datetime
    pk: uuid.UUID

    def encode(self) -> str:
        micros = (self.at - _EPOCH) // timedelta(microseconds=1)
        return f"{micros}.{self.pk.hex}"

    @classmethod
    def decode(cls, text: str) -> "Cursor":
        micros, _, pk = (text or "").partition(".")
        try:
            return cls(_EPOCH + timedelta(microseconds=int(micros)), uuid.UUID(hex=pk))
        except (ValueError, OverflowError) as exc:
            raise InvalidCursor(f"{text!r} is not a page cursor.") from exc


@dataclass
class Page:
    items: list
    newer: str | None = None  # cursor for the page before (newer rows)
    older: str | None = None  # cursor for the page after (older rows)
    extra: dict = field(default_factory=dict)

    @property
    def is_first(self) -> bool:
        return self.newer is None


def keyset_page(
    queryset,
    *,
    time_field: str,
    older: str | None = None,
    newer: str | None = None,
    size: int | None = None,
    ascending: bool = False,
) -> Page:
    """The page of `queryset` after/before a cursor: newest first by `time_field` (then id), or
    with `ascending` soonest first (the Scheduled list, by due time). `older` is the cursor of
    the page that follows in that order, `newer` of the page before it."""
    size = size or PAGE_SIZE
    forward, backward = ("gt", "lt") if ascending else ("lt", "gt")
    order = (time_field, "pk") if ascending else (f"-{time_field}", "-pk")
    reverse_order = (f"-{time_field}", "-pk") if ascending else (time_field, "pk")

    def cursor_of(row):
        return Cursor(getattr(row, time_field), row.pk).encode()

    def beyond(cursor, op):
        return queryset.filter(
            Q(**{f"{time_field}__{op}": cursor.at}) | Q(**{time_field: cursor.at, f"pk__{op}": cursor.pk}),
            # Redundant, but a plain range the index can start from (the OR above is not).
            **{f"{time_field}__{op}e": cursor.at},
        )

    if newer:
        rows = list(beyond(Cursor.decode(newer), backward).order_by(*reverse_order)[: size + 1])
        more_before = len(rows) > size
        rows = list(reversed(rows[:size]))
        if not rows:
            # Everything before is gone: show the first page instead of an empty one.
            return keyset_page(queryset, time_field=time_field, size=size, ascending=ascending)
        return Page(rows, newer=cursor_of(rows[0]) if more_before else None, older=cursor_of(rows[-1]))

    if older:
        queryset = beyond(Cursor.decode(older), forward)
    rows = list(queryset.order_by(*order)[: size + 1])
    more_after = len(rows) > size
    rows = rows[:size]
    return Page(
        rows,
        newer=cursor_of(rows[0]) if older and rows else None,
        older=cursor_of(rows[-1]) if more_after else None,
    )


def parse_job_id(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text.strip())
    except (ValueError, AttributeError):
        return None


# The start of a job id as the lists show it (8 hex digits), or more of it, dashes optional.
_ID_PREFIX = re.compile(r"[0-9a-f]{8}[0-9a-f-]{0,28}", re.IGNORECASE)


def id_prefix_range(text: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    """The lowest and highest ids starting with `text` (the short id of a list), or None.

    A range on the primary key: an index scan on PostgreSQL (uuids sort by their bytes, that is
    by their hex digits) and on SQLite (stored as 32 hex characters).
    """
    text = (text or "").strip()
    if not _ID_PREFIX.fullmatch(text):
        return None
    digits = text.replace("-", "").lower()
    if len(digits) > 32:
        return None
    return uuid.UUID(digits.ljust(32, "0")), uuid.UUID(digits.ljust(32, "f"))


def id_prefix_filter(text: str) -> Q | None:
    bounds = id_prefix_range(text)
    return None if bounds is None else Q(pk__gte=bounds[0], pk__lte=bounds[1])


def _terms_text(term: str) -> str:
    """A term as it appears in the JSON text of search_terms (Django writes JSON with
    json.dumps, ASCII-escaped, so this is the same text)."""
    return json.dumps(term)


def with_terms(queryset, wanted: list[str]):
    """The jobs of `queryset` whose search terms hold every one of `wanted` (jobs/search.py).

    On PostgreSQL one containment, `search_terms @> '[...]'`, which the GIN index answers
    (job_search_idx). Elsewhere (SQLite) each term is looked for in the column's JSON text,
    quotes included, so "v:4" does not match "v:42": correct, and a scan.
    """
    if not wanted:
        return queryset
    if connections[queryset.db].vendor == "postgresql":
        return queryset.filter(search_terms__contains=list(wanted))
    queryset = queryset.annotate(_terms_text=Cast("search_terms", TextField()))
    for term in wanted:
        queryset = queryset.filter(_terms_text__contains=_terms_text(term))
    return queryset


def search_jobs(queryset, text: str):
    """Jobs whose id is or starts with `text`, whose task path or error (class or message)
    contains it, or one of whose arguments is it (a value, or `name=value`: jobs/search.py).
    Redacted argument values are not among the terms: they cannot be found."""
    text = (text or "").strip()
    if not text:
        return queryset
    job_id = parse_job_id(text)
    if job_id is not None:
        return queryset.filter(pk=job_id)
    if text.isdigit() or text.startswith(("hangfire:", "schtasks:")):
        # An imported job by its old id: "42" is Hangfire job 42 of whichever schema it came from.
        imported = queryset.exclude(external_id="").filter(
            Q(external_id=text) | Q(external_id__endswith=f":{text}")
        )
        if imported.exists():
            return imported
    found = (
        Q(task_path__icontains=text)
        | Q(exception_class__icontains=text)
        | Q(exception_message__icontains=text)
    )
    wanted = search.query_terms(text)
    if wanted:
        if connections[queryset.db].vendor == "postgresql":
            found |= Q(search_terms__contains=wanted)
        else:
            queryset = queryset.annotate(_terms_text=Cast("search_terms", TextField()))
            by_terms = Q()
            for term in wanted:
                by_terms &= Q(_terms_text__contains=_terms_text(term))
            found |= by_terms
    by_id = id_prefix_filter(text)
    if by_id is not None:
        found = by_id | found
    return queryset.filter(found)


def error_filter(text: str) -> Q:
    return Q(exception_class__icontains=text) | Q(exception_message__icontains=text)


def task_filter(text: str, known_paths) -> Q:
    """The task filter: a full dotted path, or a task's short name (`update_ledger`), which
    matches every stored task of that name (`sales.tasks.update_ledger`).

    Resolved against the known task paths first, so the query is an IN on the task index; a
    name not among them (a task first enqueued since they were cached) is matched by suffix.
    """
    text = text.strip()
    matches = [path for path in known_paths if path == text or path.rsplit(".", 1)[-1] == text]
    if matches:
        return Q(task_path__in=matches)
    if "." in text:
        return Q(task_path=text)
    return Q(task_path=text) | Q(task_path__endswith=f".{text}")


# Counts are exact up to here and shown as "10,000+" above: a filtered list never counts a
# million rows (the COUNT runs over a LIMIT MAX_COUNT + 1 subquery).
MAX_COUNT = 10_000


def capped_count(queryset, cap: int | None = None) -> tuple[int, bool]:
    """How many rows `queryset` has, counted up to `cap` (a COUNT over a LIMIT subquery), and
    whether there are more: a filtered list says how many it found without counting a million."""
    cap = cap or MAX_COUNT
    found = queryset.order_by()[: cap + 1].count()
    return min(found, cap), found > cap


def bounded(fetch, *, timeout_ms: int = SEARCH_TIMEOUT_MS):
    """Run `fetch()` with a statement timeout (PostgreSQL); raise SearchTooSlow when it hits."""
    if connection.vendor != "postgresql":
        return fetch()
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SHOW statement_timeout")
                previous = cursor.fetchone()[0]
                cursor.execute("SELECT set_config('statement_timeout', %s, true)", [str(timeout_ms)])
            result = fetch()
            # SET LOCAL outlives a released savepoint: restore the outer value ourselves.
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('statement_timeout', %s, true)", [previous])
            return result
    except OperationalError as exc:
        if getattr(getattr(exc, "__cause__", None), "sqlstate", None) == "57014":  # query_canceled
            raise SearchTooSlow(
                f"The search ran longer than {timeout_ms / 1000:g} s and was stopped: "
                "narrow it with a queue or task filter, or search by job id."
            ) from exc
        raise
