"""Input checks shared by the contexts' services: ids, dates and required text.

Services are called from views, management commands and jobs (whose arguments are JSON), so a
date may arrive as a `date` or an ISO string and an id as an int or a string. Each helper
accepts those, and anything else fails with a ValidationError naming the field.
"""

from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError


def as_id(value, *, field: str) -> int:
    if isinstance(value, bool):
        raise ValidationError({field: f"{field} must be an id, not {value!r}."})
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationError({field: f"{field} must be an id, not {value!r}."}) from None
    if number <= 0 or str(number) != str(value).strip():
        raise ValidationError({field: f"{field} must be a positive whole number, not {value!r}."})
    return number


def existing(queryset, value, *, field: str, label: str, lock: bool = False):
    """The row whose pk is `value` (validated as an id), optionally locked, or a
    ValidationError naming the field: 'Unknown <label> <value>.'"""
    if lock:
        queryset = queryset.select_for_update(of=("self",))
    row = queryset.filter(pk=as_id(value, field=field)).first()
    if row is None:
        raise ValidationError({field: f"Unknown {label} {value}."})
    return row


def as_date(value, *, field: str) -> date:
    if isinstance(value, datetime):
        raise ValidationError({field: f"{field} must be a date, not a datetime ({value!r})."})
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValidationError({field: f"{field} must be a date (YYYY-MM-DD), not {value!r}."})


def as_month(value, *, field: str = "period") -> date:
    """A month, given as its first day (date or 'YYYY-MM-DD') or as 'YYYY-MM'."""
    if isinstance(value, str) and len(value.strip()) == 7:
        value = f"{value.strip()}-01"
    month = as_date(value, field=field)
    if month.day != 1:
        raise ValidationError({field: f"{field} is a month and must be given as its first day, not {month}."})
    return month


def required_text(value, *, field: str, max_length: int) -> str:
    text = (value or "").strip() if isinstance(value, str | type(None)) else None
    if text is None:
        raise ValidationError({field: f"{field} must be text, not {value!r}."})
    if not text:
        raise ValidationError({field: f"{field} is required."})
    if len(text) > max_length:
        raise ValidationError({field: f"{field} is {len(text)} characters, over {max_length}."})
    return text


def as_quantity(value, *, field: str, places: int = 3, allow_zero: bool = False) -> Decimal:
    """A quantity of goods (kg, litres, pieces): positive, at most `places` decimals, no floats."""
    if isinstance(value, float | bool) or value is None:
        raise ValidationError({field: f"{field} must be a Decimal or a string, not {value!r}."})
    try:
        quantity = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationError({field: f"{field} {value!r} is not a quantity."}) from None
    if not quantity.is_finite():
        raise ValidationError({field: f"{field} {value!r} is not a quantity."})
    if quantity < 0 or (quantity == 0 and not allow_zero):
        raise ValidationError({field: f"{field} must be more than zero, not {quantity}."})
    step = Decimal(1).scaleb(-places)
    if quantity != quantity.quantize(step):
        raise ValidationError({field: f"{field} {quantity} has more than {places} decimal places."})
    return quantity.quantize(step)
