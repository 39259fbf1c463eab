"""Numbers as a person reads them: money, tokens, percentages, counts.

The one formatter for every page and message (the admin, its charts, the
advisor's reasons). Pure and Django-free.

One rounding rule: Decimal arithmetic, ROUND_HALF_UP, applied once, when the
text is made. Money is written to the cent; an amount under a dollar keeps
four significant digits instead (so `$0.0012202667` reads `$0.00122`, and a
sub-cent cost never shows as `$0.00`), trailing zeros past the cents dropped.

Every function takes a Decimal, an int, a numeric string or a float (read
through its repr, never its binary value) and returns None for None, "" or
anything that is not a finite number, so the caller picks its own "—".
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

ROUNDING = ROUND_HALF_UP
MONEY_SIGNIFICANT_DIGITS = 4  # for amounts under a dollar


def to_decimal(value: object) -> Decimal | None:
    """`value` as a finite Decimal, or None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        number = value
    else:
        text = repr(value) if isinstance(value, float) else str(value).strip()
        if not text:
            return None
        try:
            number = Decimal(text)
        except InvalidOperation:
            return None
    return number if number.is_finite() else None


def round_places(number: Decimal, places: int) -> Decimal:
    """`number` rounded half-up to `places` decimals; never a negative zero."""
    rounded = number.quantize(Decimal(1).scaleb(-places), rounding=ROUNDING)
    return rounded.copy_abs() if rounded == 0 else rounded


def _digits(number: Decimal, *, min_places: int = 0, strip: bool = True) -> str:
    """|number| with thousands separators and no exponent; trailing zeros past
    `min_places` dropped when `strip`."""
    whole, _, fraction = format(number.copy_abs(), ",f").partition(".")
    if strip:
        fraction = fraction.rstrip("0")
    fraction = fraction.ljust(min_places, "0")
    return f"{whole}.{fraction}" if fraction else whole


def _money_places(number: Decimal) -> int:
    if number == 0 or abs(number) >= 1:
        return 2
    # adjusted() is the exponent of the first significant digit: -3 for 0.0012.
    return max(2, MONEY_SIGNIFICANT_DIGITS - 1 - number.adjusted())


def format_money(value: object, *, places: int | None = None, exact: bool = False) -> str | None:
    """Dollars: '$1,600.00', '-$12.50', '$0.50', '$0.00122', '$0.000463'.

    `places` fixes the decimals instead (chart ticks: '$0', '$2.50'); `exact`
    writes every digit the value has, unrounded (for an "exactly …" tooltip).
    """
    number = to_decimal(value)
    if number is None:
        return None
    if exact:
        text = _digits(number, min_places=2)
    else:
        number = round_places(number, _money_places(number) if places is None else places)
        text = _digits(number, min_places=2 if places is None else places, strip=places is None)
    return f"{'-' if number < 0 else ''}${text}"


def format_signed_money(value: object) -> str | None:
    """A difference in dollars: '+$0.000012', '-$0.00005', '±$0.00'."""
    number = to_decimal(value)
    if number is None:
        return None
    text = format_money(number.copy_abs())
    return f"{_sign(round_places(number, _money_places(number)))}{text}"


def format_tokens(value: object, *, signed: bool = False) -> str | None:
    """A token count or average, to 2 decimals: '812.50 tokens', '+12.50 tokens'."""
    number = to_decimal(value)
    if number is None:
        return None
    number = round_places(number, 2)
    sign = _sign(number) if signed else ("-" if number < 0 else "")
    return f"{sign}{_digits(number, min_places=2, strip=False)} tokens"


def format_percent(rate: object) -> str | None:
    """A share (0–1) as a percentage, at most 2 decimals: '0.6667' → '66.67%', 1 → '100%'."""
    number = to_decimal(rate)
    if number is None:
        return None
    number = round_places(number * 100, 2)
    return f"{'-' if number < 0 else ''}{_digits(number)}%"


def format_number(value: object, *, max_places: int = 2) -> str | None:
    """A plain figure with thousands separators: '40,419', '1.96', '12.50'. Its
    decimals as given, rounded to `max_places` when it has more."""
    number = to_decimal(value)
    if number is None:
        return None
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > max_places:
        number = round_places(number, max_places)
    return f"{'-' if number < 0 else ''}{_digits(number, strip=False)}"


def format_count(value: object, *, short: bool = False) -> str | None:
    """A whole count: '9,000'; with `short`, '1.25M' from a million up (axis labels)."""
    number = to_decimal(value)
    if number is None:
        return None
    if short and abs(number) >= 1_000_000:
        millions = round_places(number / 1_000_000, 2)
        return f"{'-' if millions < 0 else ''}{_digits(millions)}M"
    number = round_places(number, 0)
    return f"{'-' if number < 0 else ''}{_digits(number)}"


def format_ms(value: object) -> str | None:
    """Milliseconds, whole: '12,345 ms'."""
    count = format_count(value)
    return None if count is None else f"{count} ms"


def _sign(number: Decimal) -> str:
    return "+" if number > 0 else "-" if number < 0 else "±"
