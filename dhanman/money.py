"""Money in the bounded contexts: Decimal rupees with two places, never floats.

Services take amounts from forms, APIs and job arguments (where money travels as a string), so
every amount goes through `money()` once, at the edge, and fails with a ValidationError that
names the field instead of a TypeError or a silently rounded value deep inside.
"""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.core.exceptions import ValidationError

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def money(value, *, field: str = "amount", allow_zero: bool = False) -> Decimal:
    """Parse `value` (Decimal, int or str) as a non-negative amount with at most two decimals."""
    if isinstance(value, float):
        # A float has already lost the exact amount (0.1 + 0.2); refuse it rather than guess.
        raise ValidationError({field: f"{field} must be a Decimal or a string, not the float {value!r}."})
    if isinstance(value, bool) or value is None:
        raise ValidationError({field: f"{field} is required."})
    try:
        amount = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError):
        raise ValidationError({field: f"{field} {value!r} is not an amount."}) from None
    if not amount.is_finite():
        raise ValidationError({field: f"{field} {value!r} is not an amount."})
    if amount < 0:
        raise ValidationError({field: f"{field} cannot be negative ({amount})."})
    if amount == 0 and not allow_zero:
        raise ValidationError({field: f"{field} must be more than zero."})
    if amount != amount.quantize(CENT):
        raise ValidationError({field: f"{field} {amount} has more than two decimal places."})
    return amount.quantize(CENT)


def round_money(value: Decimal) -> Decimal:
    """Round a computed amount (a percentage, a pro-rata share) to paise, half up."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def inr(value: Decimal) -> str:
    """An amount as residents read it on a message: ₹1,234.50."""
    return f"₹{Decimal(value):,.2f}"
