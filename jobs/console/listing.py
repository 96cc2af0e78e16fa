"""Lists of jobs and batches that stay fast with a million rows: keyset pages, no COUNT(*).

A page is "the next N rows after this (time, id)", read along an index in its own order
(`job_state_list_idx` is (state, state_changed_at DESC)); OFFSET pagination would read and
throw away every earlier row, and a page count would count the table. The cursor is the last
row's sort key, so a page is stable while jobs keep arriving at the top.
"""

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import OperationalError, connection, transaction
from django.db.models import Q, TextField
from django.db.models.functions import Cast

PAGE_SIZE = 50
# A text search over argument JSON cannot use an index; on PostgreSQL it gets this long
# before it is stopped and the person is asked to narrow it (a filter, or the id).
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


def keyset_page(queryset, *, time_field: str, older: str | None = None, newer: str | None = None,
                size: int | None = None) -> Page:
    """The page of `queryset` (newest first by `time_field`, then id) after/before a cursor."""
    size = size or PAGE_SIZE

    def cursor_of(row):
        return Cursor(getattr(row, time_field), row.pk).encode()

    if newer:
        cursor = Cursor.decode(newer)
        rows = list(
            queryset.filter(
                Q(**{f"{time_field}__gt": cursor.at}) | Q(**{time_field: cursor.at, "pk__gt": cursor.pk}),
                # Redundant, but a plain range the index can start from (the OR above is not).
                **{f"{time_field}__gte": cursor.at},
            ).order_by(time_field, "pk")[: size + 1]
        )
        more_newer = len(rows) > size
        rows = list(reversed(rows[:size]))
        if not rows:
            # Everything newer is gone: show the first page instead of an empty one.
            return keyset_page(queryset, time_field=time_field, size=size)
        return Page(rows, newer=cursor_of(rows[0]) if more_newer else None, older=cursor_of(rows[-1]))

    if older:
        cursor = Cursor.decode(older)
        queryset = queryset.filter(
            Q(**{f"{time_field}__lt": cursor.at}) | Q(**{time_field: cursor.at, "pk__lt": cursor.pk}),
            # Redundant, but a plain range the index can start from (the OR above is not).
            **{f"{time_field}__lte": cursor.at},
        )
    rows = list(queryset.order_by(f"-{time_field}", "-pk")[: size + 1])
    more_older = len(rows) > size
    rows = rows[:size]
    return Page(
        rows,
        newer=cursor_of(rows[0]) if older and rows else None,
        older=cursor_of(rows[-1]) if more_older else None,
    )


def parse_job_id(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text.strip())
    except (ValueError, AttributeError):
        return None


def search_jobs(queryset, text: str):
    """Jobs whose id is `text`, or whose task path or argument JSON contains it."""
    text = (text or "").strip()
    if not text:
        return queryset
    job_id = parse_job_id(text)
    if job_id is not None:
        return queryset.filter(pk=job_id)
    if text.isdigit() or text.startswith(("hangfire:", "schtasks:")):
        # An imported job by its old id: "42" is Hangfire job 42 of whichever schema it came from.
        imported = queryset.exclude(external_id="").filter(Q(external_id=text) | Q(external_id__endswith=f":{text}"))
        if imported.exists():
            return imported
    return queryset.annotate(
        _args_text=Cast("args", TextField()), _kwargs_text=Cast("kwargs", TextField())
    ).filter(
        Q(task_path__icontains=text) | Q(_args_text__icontains=text) | Q(_kwargs_text__icontains=text)
    )


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
