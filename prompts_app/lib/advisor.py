"""Fine-tuning advice: explicit inputs in, a verdict with every figure and reason out.

A pure module: standard library only (no Django, no I/O), so every number can
be checked by hand and tested without a database. Callers (the ledger job, the
admin, the what-if API) gather the inputs; this module only does arithmetic
and wording.

Money and prices are ``Decimal`` end to end (never float); prices are per 1M
tokens. The rules of thumb behind the thresholds and reasons come from the
domain reference (``/work/shared/reference/000_f687c667e266e588.txt``, quoted
as "ref:" in comments) and DESIGN.md, "Fine-tuning advice".

Formulas, per call (tokens × price / 1,000,000). Input tokens come in three
tiers: cache reads, cache writes and the rest (uncached):

    cached          = avg_input_tokens × cached_input_share          # cache reads
    written         = avg_input_tokens × cache_write_share           # cache writes
    uncached        = avg_input_tokens − cached − written
    current         = (uncached × input_price + cached × cached_price
                       + written × cache_write_price + avg_output × output_price) / 1M
    # the tuned model no longer needs the static prefix, which is what the cache
    # held: removable tokens come off the reads first, then the writes, then uncached
    ft_cached       = max(0, cached − tokens_removable)
    ft_written      = max(0, written − max(0, tokens_removable − cached))
    ft_uncached     = max(0, uncached − max(0, tokens_removable − cached − written))
    ft_input        = ft_uncached + ft_cached + ft_written   # = max(0, avg_input − removable)
    fine_tuned      = ((ft_uncached + ft_written) × ft_input_price   # no tuned write price
                       + ft_cached × ft_cached_price + avg_output × ft_output_price) / 1M
    saving_per_call = current − fine_tuned                 # may be <= 0
    monthly_savings = calls_per_month × saving_per_call − ft_fixed_cost_per_month
    payback_months  = one_time_cost / monthly_savings      # None unless monthly_savings > 0
    break_even      = (one_time_cost / horizon + ft_fixed_cost_per_month) / saving_per_call
                      # calls/month, rounded up; None unless saving > 0
    latency_saved   = prefill_ms_per_token × min(tokens_removable, avg_input_tokens)

Without cache writes and hosting (both default to 0) these are the seed's
formulas, figure for figure.

Lifecycle (all optional; dates are ``datetime.date``, ISO "YYYY-MM-DD" in the
what-if). ``training_available_until`` is the FIRST day the provider accepts
no new training jobs, so training is open iff ``as_of < training_available_until``;
``model_shutdown_date`` is the FIRST day the tuned model no longer serves.
The payback completes on

    payback_date = as_of + ceil(payback_months × 30.436875) days

(30.436875 = 365.2425 / 12, the mean Gregorian month, so "6.25 months" means
the same number of days whatever month it starts in). The check ``lifecycle``
passes when training is open at ``as_of`` and, if there is a shutdown date,
the payback exists and ``payback_date < model_shutdown_date`` (the saving must
be banked while the model still serves). ``as_of`` defaults to today (UTC)
only when a lifecycle date is given. The check and its reasons appear only
when a lifecycle date is given, so inputs without one give exactly the seed's
checks, figures, reasons and verdict.

Verdict: ``fine_tune`` when every check passes; ``prepare_data`` when only
``examples`` fails; ``keep_prompting`` otherwise (a failed lifecycle check
always means ``keep_prompting``, with a reason naming the date).

Full precision is kept internally; only the reported figures are rounded.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import (
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_HALF_EVEN,
    Decimal,
    InvalidOperation,
    localcontext,
)
from enum import StrEnum
from typing import Any

from prompts_app.lib.formatting import format_money, format_percent

__all__ = [
    "DAYS_PER_MONTH",
    "WHAT_IF_ALL_KEYS",
    "WHAT_IF_EXTRA_KEYS",
    "WHAT_IF_KEYS",
    "WHAT_IF_REQUIRED_KEYS",
    "UNITS",
    "Advice",
    "AdvisorInputError",
    "AdvisorInputs",
    "Verdict",
    "advise",
    "parse_date",
    "payback_date",
    "remove_tokens",
    "tier_cost",
    "training_cost",
    "validate_inputs",
]

ONE_MILLION = Decimal(1_000_000)

# Upper bound on any single input. Far beyond any real volume, token count or
# price, and it keeps every intermediate product inside the working precision
# below, so rounding the outputs can never overflow the context.
MAX_INPUT = Decimal(10) ** 15
# Working precision: 1e15 calls × 1e15 tokens × 1e15 $/1M is ~1e45, plus the
# decimal places we keep; 60 significant digits is ample.
_PRECISION = 60

# Output rounding (see the brief): money per call to 10 places, monthly money
# and payback to 0.01, latency to 0.01 ms, break-even calls up to a whole call.
Q_PER_CALL = Decimal("1E-10")
Q_MONEY = Decimal("0.01")
Q_MONTHS = Decimal("0.01")
Q_MS = Decimal("0.01")
Q_WHOLE = Decimal(1)

# ref: "Full fine-tuning typically needs 2,000–10,000 examples." The lower
# bound is a threshold (full_tuning_examples); the upper one is only quoted.
FULL_TUNING_EXAMPLES_HIGH = 10_000

MAX_SCHEDULE_MONTHS = 1200

# The mean Gregorian month (365.2425 days / 12): turns a payback in months into
# a payback date, the same number of days whatever month it starts in.
DAYS_PER_MONTH = Decimal("30.436875")

UNITS: dict[str, str] = {
    "current_cost_per_call": "USD/call",
    "fine_tuned_cost_per_call": "USD/call",
    "saving_per_call": "USD/call",
    "monthly_savings": "USD/month",
    "one_time_cost": "USD",
    "payback_months": "months",
    "break_even_calls_per_month": "calls/month",
    "latency_saved_ms_per_call": "ms/call",
}


class Verdict(StrEnum):
    FINE_TUNE = "fine_tune"
    PREPARE_DATA = "prepare_data"
    KEEP_PROMPTING = "keep_prompting"


class AdvisorInputError(ValueError):
    """A bad input, named. ``errors`` holds every problem found (field → message);
    ``field``/``message`` are the first of them."""

    def __init__(self, field: str, message: str, errors: dict[str, str] | None = None):
        self.field = field
        self.message = message
        self.errors = dict(errors) if errors else {field: message}
        super().__init__(f"{field}: {message}")


# --------------------------------------------------------------------------- inputs

_DECIMAL_FIELDS = (
    "calls_per_month",
    "avg_input_tokens",
    "avg_output_tokens",
    "tokens_removable",
    "input_price_per_1m",
    "output_price_per_1m",
    "ft_input_price_per_1m",
    "ft_output_price_per_1m",
    "cached_input_share",
    "cached_input_price_per_1m",
    "ft_cached_input_price_per_1m",
    "one_time_cost",
    "payback_horizon_months",
    "prefill_ms_per_token",
    "volume_floor_calls_per_month",
    "eval_pass_rate",
    "cache_write_share",
    "cache_write_price_per_1m",
    "ft_fixed_cost_per_month",
)
_DATE_FIELDS = ("as_of", "training_available_until", "model_shutdown_date")
_INT_FIELDS = (
    "approved_examples",
    "versions_last_30_days",
    "min_approved_examples",
    "warn_below_examples",
    "full_tuning_examples",
    "max_versions_last_30_days",
)
_SHARE_FIELDS = ("cached_input_share", "eval_pass_rate", "cache_write_share")  # 0..1


@dataclass(frozen=True)
class AdvisorInputs:
    """Everything the advisor needs, explicit. Decimal fields take ``Decimal`` or
    ``int`` (ints are converted); floats, bools, strings, negatives, NaN and
    infinities are refused with :class:`AdvisorInputError`. Optional prices
    left as None default as documented; see :meth:`resolved`."""

    calls_per_month: Decimal  # may be fractional after scaling to a month
    avg_input_tokens: Decimal
    avg_output_tokens: Decimal
    # static tokens a tuned model no longer needs (net of the residual instruction)
    tokens_removable: Decimal
    input_price_per_1m: Decimal
    output_price_per_1m: Decimal
    ft_input_price_per_1m: Decimal | None = None  # default: input_price_per_1m
    ft_output_price_per_1m: Decimal | None = None  # default: output_price_per_1m
    # 0..1: share of input tokens served from the provider's prompt cache today
    cached_input_share: Decimal = Decimal(0)
    cached_input_price_per_1m: Decimal | None = None  # default: input_price_per_1m (no discount)
    ft_cached_input_price_per_1m: Decimal | None = None  # default: ft_input_price_per_1m
    one_time_cost: Decimal = Decimal(0)  # training + data preparation, or a user figure
    approved_examples: int = 0
    versions_last_30_days: int = 0
    payback_horizon_months: Decimal = Decimal(12)
    prefill_ms_per_token: Decimal = Decimal("0")  # latency saved per removed token
    volume_floor_calls_per_month: Decimal = Decimal(50000)
    min_approved_examples: int = 500
    warn_below_examples: int = 200
    full_tuning_examples: int = 2000
    max_versions_last_30_days: int = 2
    eval_pass_rate: Decimal | None = None  # informational: consistency from the latest eval run
    # 0..1: share of input tokens written to the prompt cache (cached + written <= 1)
    cache_write_share: Decimal = Decimal(0)
    cache_write_price_per_1m: Decimal | None = None  # default: input_price_per_1m (no write fee)
    ft_fixed_cost_per_month: Decimal = Decimal(0)  # hosting the tuned model, per month
    # Lifecycle (see the module docstring): the day the figures are for, the first
    # day without new training jobs, the first day the tuned model no longer serves.
    as_of: dt.date | None = None  # default: today (UTC), only when a lifecycle date is given
    training_available_until: dt.date | None = None
    model_shutdown_date: dt.date | None = None

    def __post_init__(self) -> None:
        for name in _DECIMAL_FIELDS:
            value = getattr(self, name)
            if value is None and name in _OPTIONAL_NONE:
                continue
            object.__setattr__(self, name, _strict_decimal(name, value))
        for name in _INT_FIELDS:
            _strict_int(name, getattr(self, name))
        for name in _DATE_FIELDS:
            _strict_date(name, getattr(self, name))
        if self.payback_horizon_months == 0:
            raise AdvisorInputError(
                "payback_horizon_months", "must be greater than 0 months"
            )
        _check_shares(self.cached_input_share, self.cache_write_share)

    @property
    def has_lifecycle(self) -> bool:
        """Whether a lifecycle date was given (the lifecycle check applies)."""
        return self.training_available_until is not None or self.model_shutdown_date is not None

    def resolved(self) -> AdvisorInputs:
        """A copy with every defaulted price filled in (what the advice used)."""
        ft_input = (
            self.ft_input_price_per_1m
            if self.ft_input_price_per_1m is not None
            else self.input_price_per_1m
        )
        return dataclasses.replace(
            self,
            ft_input_price_per_1m=ft_input,
            ft_output_price_per_1m=(
                self.ft_output_price_per_1m
                if self.ft_output_price_per_1m is not None
                else self.output_price_per_1m
            ),
            cached_input_price_per_1m=(
                self.cached_input_price_per_1m
                if self.cached_input_price_per_1m is not None
                else self.input_price_per_1m
            ),
            ft_cached_input_price_per_1m=(
                self.ft_cached_input_price_per_1m
                if self.ft_cached_input_price_per_1m is not None
                else ft_input
            ),
            cache_write_price_per_1m=(
                self.cache_write_price_per_1m
                if self.cache_write_price_per_1m is not None
                else self.input_price_per_1m
            ),
            as_of=(
                self.as_of
                if self.as_of is not None or not self.has_lifecycle
                else dt.datetime.now(dt.UTC).date()
            ),
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe: Decimals as plain decimal strings, dates as ISO strings
        ("2027-01-14"), ints as ints, None as None."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Decimal):
                value = _plain(value)
            elif isinstance(value, dt.date):
                value = value.isoformat()
            out[f.name] = value
        return out


_OPTIONAL_NONE = frozenset(
    {
        "ft_input_price_per_1m",
        "ft_output_price_per_1m",
        "cached_input_price_per_1m",
        "ft_cached_input_price_per_1m",
        "eval_pass_rate",
        "cache_write_price_per_1m",
    }
)


def _check_range(name: str, value: Decimal) -> Decimal:
    if not value.is_finite():
        raise AdvisorInputError(name, "must be a finite number")
    if value < 0:
        raise AdvisorInputError(name, f"must not be negative (got {_plain(value)})")
    if name in _SHARE_FIELDS and value > 1:
        raise AdvisorInputError(
            name, f"must be a share between 0 and 1, e.g. 0.5 for 50% (got {_plain(value)})"
        )
    if value > MAX_INPUT:
        raise AdvisorInputError(name, f"must be at most {MAX_INPUT:,f} (got {_plain(value)})")
    return value.copy_abs()  # also turns -0 into 0


def _strict_decimal(name: str, value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
        kind = type(value).__name__
        hint = " (convert with Decimal(str(x)))" if isinstance(value, (float, str)) else ""
        raise AdvisorInputError(name, f"must be a Decimal or int, not {kind}{hint}")
    return _check_range(name, Decimal(value))


def _strict_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise AdvisorInputError(name, f"must be a whole number (int), not {type(value).__name__}")
    _check_range(name, Decimal(value))


def _strict_date(name: str, value: object) -> None:
    # A datetime is a date subclass; refuse it so a time of day never sneaks in.
    if value is not None and (not isinstance(value, dt.date) or isinstance(value, dt.datetime)):
        raise AdvisorInputError(
            name, f"must be a datetime.date or None, not {type(value).__name__}"
        )


def _check_shares(cached: Decimal, written: Decimal) -> None:
    if cached + written > 1:
        raise AdvisorInputError(
            "cache_write_share",
            "cache reads and writes are shares of the same input tokens: cached_input_share "
            f"+ cache_write_share must be at most 1 (got {_plain(cached)} + {_plain(written)} "
            f"= {_plain(cached + written)})",
        )


# What-if API (validate_inputs): exactly these keys.
WHAT_IF_REQUIRED_KEYS: tuple[str, ...] = (
    "calls_per_month",
    "avg_input_tokens",
    "avg_output_tokens",
    "tokens_removable",
    "input_price_per_1m",
    "output_price_per_1m",
    "one_time_cost",
)
WHAT_IF_OPTIONAL_KEYS: tuple[str, ...] = (
    "ft_input_price_per_1m",
    "ft_output_price_per_1m",
    "cached_input_share",
    "cached_input_price_per_1m",
    "approved_examples",
    "versions_last_30_days",
    "payback_horizon_months",
    # threshold keys
    "prefill_ms_per_token",
    "volume_floor_calls_per_month",
    "min_approved_examples",
    "max_versions_last_30_days",
)
WHAT_IF_KEYS: tuple[str, ...] = WHAT_IF_REQUIRED_KEYS + WHAT_IF_OPTIONAL_KEYS
# Issue 13's keys: cache writes, the tuned model's cached price, hosting and the
# lifecycle dates (ISO "YYYY-MM-DD"). All optional; absent, the seed's behaviour.
# Kept apart from WHAT_IF_KEYS, which stays the seed's set (the admin's what-if
# form lists exactly those).
WHAT_IF_EXTRA_KEYS: tuple[str, ...] = (
    "cache_write_share",
    "cache_write_price_per_1m",
    "ft_cached_input_price_per_1m",
    "ft_fixed_cost_per_month",
    "as_of",
    "training_available_until",
    "model_shutdown_date",
)
WHAT_IF_ALL_KEYS: tuple[str, ...] = WHAT_IF_KEYS + WHAT_IF_EXTRA_KEYS

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _coerce_decimal(name: str, value: object) -> Decimal:
    """JSON value → Decimal: numbers and numeric strings; never bools."""
    if isinstance(value, bool):
        raise AdvisorInputError(name, f"must be a number, not a boolean ({str(value).lower()})")
    if isinstance(value, (int, float, Decimal)):
        try:
            number = Decimal(str(value))
        except InvalidOperation:  # pragma: no cover - str() of a number always parses
            raise AdvisorInputError(name, f"must be a number (got {value!r})") from None
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise AdvisorInputError(name, f"must be a number (got {value!r})") from None
    else:
        raise AdvisorInputError(name, f"must be a number (got {type(value).__name__})")
    return _check_range(name, number)


def _coerce_int(name: str, value: object) -> int:
    number = _coerce_decimal(name, value)
    if number != number.to_integral_value():
        raise AdvisorInputError(name, f"must be a whole number (got {_plain(number)})")
    return int(number)


def parse_date(name: str, value: object) -> dt.date:
    """An ISO date string, exactly "YYYY-MM-DD", as a ``datetime.date``; anything
    else (other ISO forms, a time, a number) is refused naming ``name``."""
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise AdvisorInputError(name, f"is not a real date (got {value!r})") from None
    raise AdvisorInputError(name, f"must be a date written YYYY-MM-DD, e.g. 2027-01-14 (got {value!r})")


def validate_inputs(raw: object, *, other_keys: tuple[str, ...] = ()) -> AdvisorInputs:
    """Build :class:`AdvisorInputs` from a JSON-like dict (the what-if API).

    Accepts exactly :data:`WHAT_IF_ALL_KEYS` (the seed's :data:`WHAT_IF_KEYS`
    plus :data:`WHAT_IF_EXTRA_KEYS`) and ``other_keys``, which the caller reads
    and this function ignores (the strategy keys of the what-if); required keys
    are :data:`WHAT_IF_REQUIRED_KEYS`. Numbers may be JSON numbers or numeric
    strings (floats are converted through ``Decimal(str(x))``); dates are ISO
    strings "YYYY-MM-DD"; an optional key given as null takes its default.
    Raises :class:`AdvisorInputError` naming the first bad field; ``.errors``
    lists every problem found.
    """
    if not isinstance(raw, dict):
        raise AdvisorInputError("inputs", f"must be a JSON object, not {type(raw).__name__}")
    accepted = WHAT_IF_ALL_KEYS + tuple(other_keys)
    errors: dict[str, str] = {}
    unknown = sorted(str(k) for k in raw if k not in accepted)
    if unknown:
        errors[unknown[0]] = (
            f"unknown key(s): {', '.join(unknown)}; accepted keys are {', '.join(accepted)}"
        )
    values: dict[str, object] = {}
    for key in WHAT_IF_ALL_KEYS:
        value = raw.get(key)
        if value is None:
            if key in WHAT_IF_REQUIRED_KEYS:
                errors[key] = "is required" if key not in raw else "is required (got null)"
            continue
        try:
            if key in _INT_FIELDS:
                values[key] = _coerce_int(key, value)
            elif key in _DATE_FIELDS:
                values[key] = parse_date(key, value)
            else:
                values[key] = _coerce_decimal(key, value)
        except AdvisorInputError as exc:
            errors[key] = exc.message
    if not errors and values.get("payback_horizon_months") == 0:
        errors["payback_horizon_months"] = "must be greater than 0 months"
    if not errors:
        try:
            _check_shares(
                values.get("cached_input_share", Decimal(0)),  # type: ignore[arg-type]
                values.get("cache_write_share", Decimal(0)),  # type: ignore[arg-type]
            )
        except AdvisorInputError as exc:
            errors[exc.field] = exc.message
    if errors:
        first = next(iter(errors))
        raise AdvisorInputError(first, errors[first], errors)
    return AdvisorInputs(**values)  # type: ignore[arg-type]


def training_cost(
    *,
    training_tokens: int,
    epochs: int,
    training_price_per_1m: Decimal,
    data_preparation_cost: Decimal,
) -> Decimal:
    """One-time cost of a run: training tokens × epochs × training price / 1M
    + data preparation. Full precision (round for display only)."""
    _strict_int("training_tokens", training_tokens)
    _strict_int("epochs", epochs)
    price = _strict_decimal("training_price_per_1m", training_price_per_1m)
    prep = _strict_decimal("data_preparation_cost", data_preparation_cost)
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return Decimal(training_tokens) * Decimal(epochs) * price / ONE_MILLION + prep


# --------------------------------------------------------------------------- advice


@dataclass(frozen=True)
class Advice:
    """The verdict, the reasons (each with its figure and unit), the pass/fail
    of each criterion, the inputs used (defaults filled in) and the figures,
    rounded for display (``UNITS`` gives each figure's unit)."""

    verdict: str
    reasons: list[str]
    checks: dict[str, bool]
    inputs: AdvisorInputs
    current_cost_per_call: Decimal
    fine_tuned_cost_per_call: Decimal
    saving_per_call: Decimal
    monthly_savings: Decimal
    one_time_cost: Decimal
    payback_months: Decimal | None
    break_even_calls_per_month: Decimal | None
    latency_saved_ms_per_call: Decimal
    # Unrounded monthly savings, so the schedule agrees with payback_months.
    _monthly_savings_exact: Decimal = field(default=Decimal(0), repr=False, compare=False)

    def payback_schedule(self, months: int = 24) -> list[dict[str, Any]]:
        """Month by month, 1..months: cumulative savings (m × monthly savings),
        the one-time cost and the net (savings − cost), in USD rounded to cents.
        Net turns non-negative from month ceil(payback_months) on."""
        if isinstance(months, bool) or not isinstance(months, int) or not (
            1 <= months <= MAX_SCHEDULE_MONTHS
        ):
            raise AdvisorInputError(
                "months", f"must be a whole number from 1 to {MAX_SCHEDULE_MONTHS}"
            )
        cost = self.inputs.one_time_cost
        rows = []
        with localcontext() as ctx:
            ctx.prec = _PRECISION
            for m in range(1, months + 1):
                cumulative = m * self._monthly_savings_exact
                rows.append(
                    {
                        "month": m,
                        "cumulative_savings": _q(cumulative, Q_MONEY),
                        "one_time_cost": _q(cost, Q_MONEY),
                        "net": _q(cumulative - cost, Q_MONEY),
                    }
                )
        return rows

    def figures(self) -> dict[str, Decimal | None]:
        return {name: getattr(self, name) for name in UNITS}

    def as_dict(self, *, schedule_months: int | None = None) -> dict[str, Any]:
        """JSON-safe: every Decimal figure as a plain decimal string, None as None."""
        out: dict[str, Any] = {
            "verdict": str(self.verdict),
            "reasons": list(self.reasons),
            "checks": dict(self.checks),
            "figures": {
                name: None if value is None else _plain(value)
                for name, value in self.figures().items()
            },
            "units": dict(UNITS),
            "inputs": self.inputs.as_dict(),
        }
        if schedule_months is not None:
            out["payback_schedule"] = [
                {k: (_plain(v) if isinstance(v, Decimal) else v) for k, v in row.items()}
                for row in self.payback_schedule(schedule_months)
            ]
        return out


def tier_cost(
    *,
    uncached: Decimal,
    reads: Decimal,
    writes: Decimal,
    output: Decimal,
    input_price: Decimal,
    read_price: Decimal,
    write_price: Decimal,
    output_price: Decimal,
) -> Decimal:
    """Cost of one call in USD, full precision: each token tier × its price per
    1M tokens. The one per-call formula of the advisor and the strategies."""
    return (
        uncached * input_price + reads * read_price + writes * write_price + output * output_price
    ) / ONE_MILLION


def remove_tokens(
    *, reads: Decimal, writes: Decimal, uncached: Decimal, removable: Decimal
) -> tuple[Decimal, Decimal, Decimal]:
    """The (reads, writes, uncached) tiers left when a tuned model drops
    ``removable`` static tokens. The static prefix is what the cache holds, so
    they come off the cache reads first, then the writes, then the uncached
    tokens; no tier goes below 0."""
    left_reads = max(Decimal(0), reads - removable)
    rest = max(Decimal(0), removable - reads)
    left_writes = max(Decimal(0), writes - rest)
    rest = max(Decimal(0), rest - writes)
    return left_reads, left_writes, max(Decimal(0), uncached - rest)


def payback_date(as_of: dt.date, payback_months: Decimal) -> dt.date | None:
    """``as_of`` + ceil(payback_months × 30.436875) days (the mean Gregorian
    month); None when that falls after 9999-12-31 (never, in practice)."""
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        days = (payback_months * DAYS_PER_MONTH).to_integral_value(rounding=ROUND_CEILING)
    if days > (dt.date.max - as_of).days:
        return None
    return as_of + dt.timedelta(days=int(days))


@dataclass(frozen=True)
class _PerCall:
    cached: Decimal
    written: Decimal
    uncached: Decimal
    ft_cached: Decimal
    ft_written: Decimal
    ft_uncached: Decimal
    current: Decimal
    fine_tuned: Decimal

    @property
    def saving(self) -> Decimal:
        return self.current - self.fine_tuned


def _per_call(i: AdvisorInputs, cached_share: Decimal, write_share: Decimal) -> _PerCall:
    """Per-call costs; ``i`` must be resolved (no None prices)."""
    cached = i.avg_input_tokens * cached_share
    written = i.avg_input_tokens * write_share
    uncached = i.avg_input_tokens - cached - written
    ft_cached, ft_written, ft_uncached = remove_tokens(
        reads=cached, writes=written, uncached=uncached, removable=i.tokens_removable
    )
    current = tier_cost(
        uncached=uncached,
        reads=cached,
        writes=written,
        output=i.avg_output_tokens,
        input_price=i.input_price_per_1m,
        read_price=i.cached_input_price_per_1m,
        write_price=i.cache_write_price_per_1m,
        output_price=i.output_price_per_1m,
    )
    # The tuned side has no cache-write price: its writes cost plain tuned input.
    fine_tuned = tier_cost(
        uncached=ft_uncached,
        reads=ft_cached,
        writes=ft_written,
        output=i.avg_output_tokens,
        input_price=i.ft_input_price_per_1m,
        read_price=i.ft_cached_input_price_per_1m,
        write_price=i.ft_input_price_per_1m,
        output_price=i.ft_output_price_per_1m,
    )
    return _PerCall(
        cached, written, uncached, ft_cached, ft_written, ft_uncached, current, fine_tuned
    )


def advise(inputs: AdvisorInputs) -> Advice:
    """The fine-tuning verdict for these inputs, with every figure and reason."""
    if not isinstance(inputs, AdvisorInputs):
        raise TypeError("advise() takes an AdvisorInputs; use validate_inputs() for a dict")
    i = inputs.resolved()
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        ctx.rounding = ROUND_HALF_EVEN
        return _advise(i)


def _advise(i: AdvisorInputs) -> Advice:
    pc = _per_call(i, i.cached_input_share, i.cache_write_share)
    saving = pc.saving
    fixed = i.ft_fixed_cost_per_month
    monthly = i.calls_per_month * saving - fixed
    cost = i.one_time_cost
    horizon = i.payback_horizon_months

    payback = cost / monthly if monthly > 0 else None
    # = (cost / horizon + fixed) / saving, written so that with no hosting it is
    # the seed's expression, digit for digit.
    break_even = (cost + fixed * horizon) / (horizon * saving) if saving > 0 else None
    removed = min(i.tokens_removable, i.avg_input_tokens)
    latency = i.prefill_ms_per_token * removed

    checks = {
        "payback": payback is not None and payback <= horizon,
        "volume": i.calls_per_month >= i.volume_floor_calls_per_month,
        "examples": i.approved_examples >= i.min_approved_examples,
        "stability": i.versions_last_30_days <= i.max_versions_last_30_days,
    }
    lifecycle = _lifecycle(i, payback) if i.has_lifecycle else None
    if lifecycle is not None:
        checks["lifecycle"] = lifecycle.ok
    if all(checks.values()):
        verdict = Verdict.FINE_TUNE.value
    elif (
        checks["payback"]
        and checks["volume"]
        and checks["stability"]
        and checks.get("lifecycle", True)
    ):
        verdict = Verdict.PREPARE_DATA.value  # the money says yes, the data is not there yet
    else:
        verdict = Verdict.KEEP_PROMPTING.value

    reasons: list[str] = []
    if lifecycle is not None:
        reasons.extend(lifecycle.failed)  # a date that decides comes first
    reasons.append(_savings_reason(i, pc, monthly, removed))
    if i.cached_input_share > 0:
        reasons.append(_cache_reason(i, pc))
    if i.cache_write_share > 0:
        reasons.append(_cache_write_reason(i, pc))
    reasons.append(_payback_reason(i, monthly, saving, payback, break_even, checks["payback"]))
    if lifecycle is not None:
        reasons.extend(lifecycle.passed)
    reasons.append(_volume_reason(i, checks["volume"]))
    reasons.append(_examples_reason(i))
    reasons.append(_stability_reason(i, checks["stability"]))
    if i.prefill_ms_per_token > 0 and removed > 0:
        # ref: "Shorter prompts mean faster time-to-first-token."
        reasons.append(
            f"Dropping {_num(removed)} tokens per call saves about "
            f"{_num(_q(latency, Q_MS), 2, 2)} ms "
            f"of prefill per call ({_num(i.prefill_ms_per_token, 4)} ms per token), "
            "cutting time-to-first-token."
        )
    if i.eval_pass_rate is not None:
        reasons.append(_eval_reason(i.eval_pass_rate))
    if cost == 0:
        # ref: "a small training run costs $100–$500 ... $2,000–$20,000" and
        # "Add 1–2 weeks for data preparation, evaluation" — a zero one-time cost
        # is almost certainly a missing figure, so say what it usually is.
        reasons.append(
            "The one-time cost given is $0.00; real runs typically cost $100–$500 for a small "
            "API training run and $2,000–$20,000 for larger models and datasets, plus 1–2 weeks "
            "of data preparation and evaluation."
        )

    return Advice(
        verdict=verdict,
        reasons=reasons,
        checks=checks,
        inputs=i,
        current_cost_per_call=_q(pc.current, Q_PER_CALL),
        fine_tuned_cost_per_call=_q(pc.fine_tuned, Q_PER_CALL),
        saving_per_call=_q(saving, Q_PER_CALL),
        monthly_savings=_q(monthly, Q_MONEY),
        one_time_cost=_q(cost, Q_MONEY),
        payback_months=None if payback is None else _q(payback, Q_MONTHS),
        break_even_calls_per_month=(
            None if break_even is None else _q(break_even, Q_WHOLE, ROUND_CEILING)
        ),
        latency_saved_ms_per_call=_q(latency, Q_MS),
        _monthly_savings_exact=monthly,
    )


# --------------------------------------------------------------------------- reasons


def _savings_reason(i: AdvisorInputs, pc: _PerCall, monthly: Decimal, removed: Decimal) -> str:
    saving = pc.saving
    calls = _calls(i.calls_per_month)
    capped = (
        f" (capped at the {_num(i.avg_input_tokens)} input tokens per call)"
        if i.tokens_removable > i.avg_input_tokens
        else ""
    )
    fixed = i.ft_fixed_cost_per_month
    if saving > 0:
        source = (
            f"from dropping {_num(removed)} tokens per call{capped}"
            if removed > 0
            else "from the tuned model's lower prices (no tokens dropped)"
        )
        if fixed > 0:
            gross = monthly + fixed
            hosting = f"{_money(fixed)} a month of hosting the tuned model"
            if monthly > 0:
                return (
                    f"Fine-tuning saves {_money(monthly)} a month: {_money(saving)} per call "
                    f"× {calls} calls = {_money(gross)}, {source}, less {hosting}."
                )
            net = "nothing" if monthly == 0 else f"{_money(-monthly)} a month more than it saves"
            return (
                f"Fine-tuning saves {_money(saving)} per call ({_money(gross)} a month at "
                f"{calls} calls, {source}), but {hosting} leaves {net}."
            )
        if monthly > 0:
            return (
                f"Fine-tuning saves {_money(monthly)} a month: {_money(saving)} per call "
                f"× {calls} calls, {source}."
            )
        return (
            f"Fine-tuning saves {_money(saving)} per call, but at {calls} calls/month "
            f"that is {_money(monthly)} a month."
        )
    if removed == 0:
        why = "the tuned model would drop no tokens (0 per call), so there is nothing to save"
    else:
        base = f"{_money(i.input_price_per_1m)} input / {_money(i.output_price_per_1m)} output"
        tuned = (
            f"{_money(i.ft_input_price_per_1m)} input / "
            f"{_money(i.ft_output_price_per_1m)} output"
        )
        if i.cached_input_share > 0:
            base += f" / {_money(i.cached_input_price_per_1m)} cached input"
            tuned += f" / {_money(i.ft_cached_input_price_per_1m)} cached input"
        why = (
            f"the tuned model's prices ({tuned} per 1M tokens, against {base} for the base "
            f"model) outweigh the {_num(removed)} tokens removed per call{capped}"
        )
    hosting = (
        f"; hosting the tuned model would add {_money(fixed)} a month" if fixed > 0 else ""
    )
    if saving == 0:
        return f"Fine-tuning saves nothing ($0.00 per call): {why}{hosting}."
    return (
        f"Fine-tuning would cost {_money(-saving)} more per call "
        f"({_money(-(monthly + fixed))} more a month at {calls} calls): {why}{hosting}."
    )


def _cache_reason(i: AdvisorInputs, pc: _PerCall) -> str:
    # DESIGN: "a long static prefix is often cached, which shrinks what tuning can save".
    without = _per_call(i, Decimal(0), Decimal(0)).saving
    head = (
        f"{_pct(i.cached_input_share)} of input tokens ({_num(pc.cached)} of "
        f"{_num(i.avg_input_tokens)} per call) are served from the prompt cache"
    )
    compare = (
        f"with the cache tuning {_saving_phrase(pc.saving)}, "
        f"against {_saving_phrase(without, verb=False)} without it"
    )
    if i.cached_input_price_per_1m < i.input_price_per_1m:
        head += (
            f" at {_money(i.cached_input_price_per_1m)} per 1M instead of "
            f"{_money(i.input_price_per_1m)}"
        )
        if pc.saving < without:
            return (
                f"{head}: the cache already discounts the static prefix, which shrinks what "
                f"tuning can save — {compare}."
            )
        return f"{head}: {compare}."
    return f"{head} at the full input price ({_money(i.input_price_per_1m)} per 1M): {compare}."


def _cache_write_reason(i: AdvisorInputs, pc: _PerCall) -> str:
    head = (
        f"{_pct(i.cache_write_share)} of input tokens ({_num(pc.written)} of "
        f"{_num(i.avg_input_tokens)} per call) are written to the prompt cache"
    )
    price = (
        f"at {_money(i.cache_write_price_per_1m)} per 1M "
        f"({_money(i.input_price_per_1m)} uncached)"
    )
    dropped = pc.written - pc.ft_written
    tuned = (
        f"the tuned model would write {_num(dropped)} fewer per call and bills the rest "
        f"({_num(pc.ft_written)}) at its input price ({_money(i.ft_input_price_per_1m)} per 1M)"
    )
    return f"{head} {price}: {tuned}."


@dataclass(frozen=True)
class _Lifecycle:
    passed: list[str]
    failed: list[str]

    @property
    def ok(self) -> bool:
        return not self.failed


def _lifecycle(i: AdvisorInputs, payback: Decimal | None) -> _Lifecycle:
    """Training open at as_of, and the payback done before the tuned model's
    shutdown; ``i`` resolved, so ``as_of`` is set."""
    as_of = i.as_of
    assert as_of is not None  # resolved() fills it whenever a lifecycle date is given
    passed: list[str] = []
    failed: list[str] = []
    until = i.training_available_until
    if until is not None:
        if as_of < until:
            passed.append(
                f"New training jobs stop on {until.isoformat()}: as of {as_of.isoformat()} "
                "training is open, so a run must start before then."
            )
        else:
            failed.append(
                f"Training closed on {until.isoformat()} (no new training jobs from that day; "
                f"as of {as_of.isoformat()}): there is nothing to tune, so keep prompting."
            )
    shutdown = i.model_shutdown_date
    if shutdown is not None:
        shuts = "shut down" if shutdown <= as_of else "shuts down"
        if payback is None:
            failed.append(
                f"The tuned model {shuts} on {shutdown.isoformat()}, and the one-time cost "
                "never pays back before it: keep prompting."
            )
        else:
            done = payback_date(as_of, payback)
            months = f"{_num(_q(payback, Q_MONTHS), 2, 2)} months from {as_of.isoformat()}"
            when = "after 9999-12-31" if done is None else f"on {done.isoformat()}"
            if done is not None and done < shutdown:
                passed.append(
                    f"The tuned model shuts down on {shutdown.isoformat()}; the payback "
                    f"completes {when} ({months}), before it."
                )
            else:
                failed.append(
                    f"The tuned model {shuts} on {shutdown.isoformat()}, before the payback "
                    f"completes {when} ({months}): the run would not pay for itself, so keep "
                    "prompting."
                )
    return _Lifecycle(passed, failed)


def _saving_phrase(value: Decimal, *, verb: bool = True) -> str:
    """'saves $0.0011 per call' / 'costs $0.00003 more per call' (or the bare amounts)."""
    if value > 0:
        return f"{'saves ' if verb else ''}{_money(value)} per call"
    if value < 0:
        return f"{'costs ' if verb else ''}{_money(-value)} more per call"
    return f"{'saves ' if verb else ''}nothing ($0.00 per call)"


def _payback_reason(
    i: AdvisorInputs,
    monthly: Decimal,
    saving: Decimal,
    payback: Decimal | None,
    break_even: Decimal | None,
    ok: bool,
) -> str:
    cost = i.one_time_cost
    horizon = f"{_num(i.payback_horizon_months, 2)}-month horizon"
    be = (
        ""
        if break_even is None
        else f"{_num(_q(break_even, Q_WHOLE, ROUND_CEILING))} calls/month"
    )
    if payback is None:
        if monthly < 0:
            why = f"fine-tuning would cost {_money(-monthly)} more a month"
        else:
            why = f"the monthly saving is {_money(monthly)}"
        tail = (
            f"; with {_money(saving)} saved per call it would need {be} to pay back "
            f"within the {horizon}"
            if break_even is not None
            else ", so there is no break-even volume"
        )
        subject = (
            f"The {_money(cost)} one-time cost never pays back"
            if cost > 0
            else "Even with no one-time cost ($0.00), fine-tuning never pays back"
        )
        return f"{subject}: {why}{tail}."
    if cost == 0:
        return (
            f"With no one-time cost ($0.00), fine-tuning pays back at once (0.00 months), "
            f"within the {horizon}."
        )
    shown = _q(payback, Q_MONTHS)
    months = f"{_num(shown, 2, 2)} months"
    if not ok and shown <= i.payback_horizon_months:
        months = f"just over {_num(i.payback_horizon_months, 2)} months"  # rounding would hide it
    sums = f"({_money(cost)} ÷ {_money(monthly)} a month)"
    if ok:
        return (
            f"The {_money(cost)} one-time cost pays back in {months} {sums}, within the "
            f"{horizon}; break-even for that horizon is {be}."
        )
    return (
        f"The {_money(cost)} one-time cost takes {months} to pay back {sums}, longer than "
        f"the {horizon}; it would pay back within the horizon at {be} or more."
    )


def _volume_reason(i: AdvisorInputs, ok: bool) -> str:
    calls = _calls(i.calls_per_month)
    floor = _num(i.volume_floor_calls_per_month, 2)
    if ok:
        return f"Volume is {calls} calls/month, at or above the {floor} calls/month floor."
    # ref: "Under 50,000 calls per month, the infrastructure and data overhead of
    # fine-tuning rarely pays off."
    return (
        f"Volume is {calls} calls/month, under the {floor} calls/month floor: below it, "
        "the data and training overhead of fine-tuning rarely pays off."
    )


def _examples_reason(i: AdvisorInputs) -> str:
    n = i.approved_examples
    low = i.full_tuning_examples
    full = f"{low:,}–{max(low, FULL_TUNING_EXAMPLES_HIGH):,}"
    count = f"{n:,} approved example{'' if n == 1 else 's'}"
    minimum = i.min_approved_examples
    if n >= minimum:
        if n >= low:
            return (
                f"{count}: enough for LoRA-class (parameter-efficient) tuning (minimum "
                f"{minimum:,}) and at or above the {low:,} that full fine-tuning typically "
                f"needs ({full})."
            )
        return (
            f"{count} meet the {minimum:,}-example minimum for LoRA-class (parameter-efficient) "
            f"tuning; full fine-tuning would typically need {full}."
        )
    more = minimum - n
    if n < i.warn_below_examples:
        # ref: "Fine-tuning on too little data (under 200 examples) often makes
        # models worse, not better. The model overfits to your small dataset."
        return (
            f"Only {count}, under {i.warn_below_examples:,}: tuning on so few often makes the "
            f"model worse, not better (it overfits); approve {more:,} more to reach the "
            f"{minimum:,}-example minimum for LoRA-class tuning."
        )
    return (
        f"{count}, under the {minimum:,}-example minimum for LoRA-class tuning: approve "
        f"{more:,} more (quality and diversity matter more than count)."
    )


def _stability_reason(i: AdvisorInputs, ok: bool) -> str:
    n = i.versions_last_30_days
    versions = f"{n:,} new version{'' if n == 1 else 's'} in the last 30 days"
    limit = i.max_versions_last_30_days
    if ok:
        return f"{versions}, within the maximum of {limit:,}: the prompt is stable enough to tune."
    # ref: "You need to update behavior frequently ... impossible without
    # retraining a fine-tuned model."
    return (
        f"{versions}, more than the maximum of {limit:,}: the prompt is still changing, and "
        "every change would need a new training run."
    )


def _eval_reason(rate: Decimal) -> str:
    if rate >= 1:
        return (
            f"The latest eval run passed {_pct(rate)} of cases: the prompt is already "
            "consistent, so the case for tuning rests on cost and latency."
        )
    # ref: "Behavioral consistency: fine-tuning very high, prompting moderate —
    # model can drift" and "Fine-tune only when you can measure what you're gaining."
    return (
        f"The latest eval run passed {_pct(rate)} of cases ({_pct(1 - rate)} failed): tuning "
        "can make format and style more consistent; measure the tuned model against this "
        "baseline on the same eval set."
    )


# --------------------------------------------------------------------------- formatting


def _q(value: Decimal, quantum: Decimal, rounding: str = ROUND_HALF_EVEN) -> Decimal:
    out = value.quantize(quantum, rounding=rounding)
    return out.copy_abs() if out == 0 else out  # never "-0.00"


def _plain(value: Decimal) -> str:
    """Decimal → plain decimal string, never scientific notation."""
    return format(value, "f")


def _num(value: Decimal | int, max_places: int = 2, min_places: int = 0) -> str:
    """Thousands separators, at most ``max_places`` decimals, trailing zeros dropped
    down to ``min_places``. Truncates (never rounds up across a threshold)."""
    d = Decimal(value)
    d = d.quantize(Decimal(1).scaleb(-max_places), rounding=ROUND_DOWN)
    if d == 0:
        d = d.copy_abs()
    text = format(d, ",f")
    if "." in text:
        whole, frac = text.split(".")
        frac = frac.rstrip("0").ljust(min_places, "0")
        text = f"{whole}.{frac}" if frac else whole
    elif min_places:
        text += "." + "0" * min_places
    return text


def _money(value: Decimal) -> str:
    """Money in a reason: the shared formatter's rule ($1,600.00; $0.0016; -$0.00003)."""
    return format_money(value)


def _pct(share: Decimal) -> str:
    return format_percent(share)


def _calls(value: Decimal) -> str:
    # Truncated to 2 decimals so a fractional volume just under a floor never shows as equal.
    return _num(value, 2)
