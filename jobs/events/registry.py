"""Which function handles which event type: `@handles` in each installed app's `events.py`.

    @handles("sales.invoice_created", data={"invoice_id": int, "due_at": datetime})
    def schedule_invoice_jobs(event): ...

`data` names the fields the handler needs and their types. The consumer checks them before
any handler runs, and the handler sees converted values (an ISO-8601 string becomes an aware
datetime, "12.50" a Decimal); a message without them is a bad message, dead-lettered with the
field named. The consumer binds its queue to exactly the types registered here.
"""

import builtins
import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.apps import apps

from jobs.events.envelope import BadMessage, Event, parse_timestamp, validate_type

logger = logging.getLogger("jobs.events")

_HANDLERS: dict[str, list["Handler"]] = {}
_loaded = False


def _convert(name: str, kind, value):
    if value is None:
        raise BadMessage(f"data.{name} is null.")
    if kind is datetime:
        return parse_timestamp(value, f"data.{name}")
    if kind is date:
        try:
            return date.fromisoformat(value)
        except (TypeError, ValueError):
            raise BadMessage(f"data.{name} {value!r} is not an ISO-8601 date.") from None
    if kind is Decimal:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise BadMessage(f'data.{name} must be a decimal string such as "12.50".')
        try:
            return Decimal(value)
        except InvalidOperation:
            raise BadMessage(f"data.{name} {value!r} is not a decimal number.") from None
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise BadMessage(f"data.{name} must be an integer, not {type(value).__name__}.")
    if kind is float and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise BadMessage(f"data.{name} must be a number, not {type(value).__name__}.")
    if kind in (str, bool, list, dict) and not isinstance(value, kind):
        raise BadMessage(f"data.{name} must be a {kind.__name__}, not {type(value).__name__}.")
    return value


@dataclass(frozen=True)
class Handler:
    type: str
    function: Callable[[Event], object]
    data: tuple[tuple[str, builtins.type], ...] = ()

    @property
    def name(self) -> str:
        return f"{self.function.__module__}.{self.function.__qualname__}"

    def prepare(self, event: Event) -> Event:
        """The event as this handler sees it: its declared fields present and converted."""
        if not self.data:
            return event
        data = dict(event.data)
        for name, kind in self.data:
            if name not in data:
                raise BadMessage(f"data.{name} is missing ({self.name} needs it).")
            data[name] = _convert(name, kind, data[name])
        return replace(event, data=data)


SUPPORTED = (int, str, bool, float, list, dict, datetime, date, Decimal)


def handles(event_type: str, *, data: dict | None = None):
    """Register the decorated function as a handler of `event_type` (see the module's doc)."""
    validate_type(event_type)
    fields = tuple((data or {}).items())
    for name, kind in fields:
        if kind not in SUPPORTED:
            raise TypeError(f"@handles({event_type!r}): data field {name!r} has unsupported type {kind!r}.")

    def decorator(function):
        handler = Handler(event_type, function, fields)
        registered = _HANDLERS.setdefault(event_type, [])
        if all(h.name != handler.name for h in registered):  # a module imported twice
            registered.append(handler)
        return function

    return decorator


def load() -> None:
    """Import every installed app's `events` module (once), which registers its handlers."""
    global _loaded
    if _loaded:
        return
    for app in apps.get_app_configs():
        module = f"{app.name}.events"
        if app.name == "jobs":
            continue  # jobs.events is this package, not handlers
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
    _loaded = True


def handlers_for(event_type: str) -> list[Handler]:
    load()
    return list(_HANDLERS.get(event_type, ()))


def declared_types() -> list[str]:
    load()
    return sorted(t for t, handlers in _HANDLERS.items() if handlers)
