"""Cost strategies for one prompt, compared: explicit inputs in, a ranked list out.

Pure, like ``advisor.py`` (standard library and Decimal only, no Django, no
I/O): the caller gathers the ledger's shares, the renderer's static/prefix
split, the model catalogue and the eval evidence into :class:`StrategyInputs`;
:func:`compare` does the arithmetic and the wording. Money is ``Decimal`` end
to end (floats refused), prices per 1M tokens, full precision internally and
rounded only when reported, like the advisor: money per call to 1E-10,
monthly money and one-time costs to 0.01, months to 0.01 (half-even).

One per-call formula prices every strategy (:func:`call_cost`, built on
``advisor.tier_cost``): input tokens in three tiers, cache reads at the offer's
cached price (its input price if it has none), cache writes at its
cache-write price (input if none), the rest at input, output at output.
Today's tiers per call are

    reads = avg_input × cache_read_share, writes = avg_input × cache_write_share,
    uncached = avg_input − reads − writes.

Every strategy reports its monthly cost (calls × cost per call + hosting +
retraining), the saving against ``keep`` (keep's monthly cost − its own), the
one-time cost, the payback (one-time ÷ monthly saving, when the saving is
positive), the net saving over the horizon (monthly saving × horizon −
one-time), blockers, evidence, the arithmetic (``formula``) and what it
assumes. ``ready`` = no blockers, a positive saving, and evidence that is
``not_needed`` or ``ready``: a change that can be made now and saves money
(so ``keep`` itself is never "ready": it saves nothing).

The kinds:

- ``keep``: today's model and today's tiers. Saving 0; blocked only when the
  model shuts down within the horizon.
- ``cache_prefix``: the static text (template text + few-shot examples) put
  before the first variable, so all ``static_tokens`` can be cached. Predicted
  per call at a hit rate h (``assumed_cache_hit_rate``): reads = static × h,
  writes = static × (1 − h), uncached = avg_input − static. Blocked below the
  provider's ``min_cacheable_tokens``, on a model with no cached price, and
  when it saves nothing ("already cached"). Evidence ``not_needed`` when all
  static tokens already lead the prompt (no variable cuts the prefix early;
  only ``prompt_cache_key`` and a stable prefix are needed), else ``untested``
  (the prompt text moves).
- ``prune_examples`` (only with example tokens): half of the example tokens
  (rounded down to a whole token) go; every input tier shrinks by
  (avg_input − removed) / avg_input; output is unchanged. ``untested``.
- ``downshift:<model>``: a candidate of the current model's provider (every
  candidate when the provider is unknown, as in a bare what-if), or any
  candidate with evidence, still serving at ``as_of`` (as_of < shutdown_date)
  and cheaper per call on today's tiers. At most the 3 cheapest, plus every one
  with evidence. Blocked when it shuts down within the horizon (before
  as_of + horizon, months turned into days as below). Evidence from
  ``evidence[model]``, else ``untested``.
- ``fine_tune:<provider>:<model>``: the current model and every candidate with
  a training price that still serves at ``as_of``. Per call, the advisor's formula on that offer's tuned
  prices: ``tokens_removable`` come off the reads first, then the writes, then
  uncached (``advisor.remove_tokens``); tuned reads at ``ft_cached_input``
  (default ``ft_input``), tuned writes and uncached at ``ft_input`` (default
  ``input``), output at ``ft_output`` (default ``output``). One-time =
  training_tokens × epochs × training / 1M + data_preparation_cost (for the
  current model, ``one_time_cost`` when given: the figure the verdict uses).
  Retraining per month = training_tokens × epochs × training / 1M ×
  versions_last_30_days (every new version means a new run; the last 30 days
  stand for a month). Hosting = ``ft_hosting_per_month``. Blocked when training
  is closed (as_of ≥ training_available_until, the first day without new
  jobs), when the tuned model shuts down before the payback completes
  (payback date = as_of + ceil(payback_months × 30.436875) days, the mean
  Gregorian month, as in ``advisor.payback_date``; no payback at all counts as
  "not before"), with fewer approved examples than the minimum, or more new
  versions than the maximum. Evidence ``untested``: a tuned model can't be
  evaluated before it is trained.
- ``batch`` / ``flex``: when the current model offers the multiplier, keep's
  monthly cost × multiplier. Blocked unless the prompt is marked
  asynchronous. Evidence ``not_needed`` (same model, same prompt).

Ranking: ready strategies first (a change that can be made today and saves
money): those that change neither the prompt nor the model (nothing to test,
so they come first in any plan; a move priced after the caching fix assumes
it), then those an eval run has proven; then the others nothing blocks
(untested ones, and ``keep``); then the blocked. Within each group by net
saving over the horizon (exact, before rounding), highest first; ``keep`` sits at its net of 0. Ties go by kind
(keep, cache_prefix, prune_examples, downshift, fine_tune, batch, flex), then key.

The model's lifecycle: when the current model shuts down within the horizon,
``keep`` is blocked (it stops working on that day) and same-provider
replacements that outlive the horizon are listed as moves even when they cost
more. Moves are priced on the cache-ready tiers (the static prefix cached at
the assumed hit rate) when the static text already leads the prompt and the
candidate caches it, since that caching fix needs no prompt change; otherwise
on today's tiers.

The what-if (``POST /api/v1/advice/what-if``) reads strategy inputs through
``what_if.validate_what_if``; ``what_if.strategy_inputs_as_what_if`` writes a
prompt's inputs in that shape, so posting them reproduces the verdict figures
and the strategies (``prompts_app/lib/what_if.py``, with the keys).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any

from prompts_app.lib import advisor
from prompts_app.lib.advisor import (
    Q_MONEY,
    Q_MONTHS,
    Q_PER_CALL,
    AdvisorInputError,
    _num,
    _plain,
    _q,
    _strict_date,
    _strict_decimal,
    _strict_int,
)
from prompts_app.lib.formatting import format_money, format_percent

__all__ = [
    "EVIDENCE_STATUSES",
    "WHAT_IF",
    "Evidence",
    "ModelOffer",
    "Strategy",
    "StrategyInputs",
    "Tiers",
    "call_cost",
    "compare",
    "tuned_call_cost",
]

# Working precision. Every input is at most advisor.MAX_INPUT (1e15), and the
# largest figure is a retraining cost over the horizon: training tokens × epochs
# × price × versions × horizon months ≈ 1e15^5 / 1e6 = 1e69, plus cents; 120
# significant digits leave room for every intermediate product.
_PRECISION = 120

# The model and provider of the offer a bare what-if describes.
WHAT_IF = "what-if"

# What the eval side reports for a candidate model's run; "ready" means it
# passed as well as production did.
EVIDENCE_STATUSES = ("ready", "failed", "running", "error", "no_baseline")

MAX_DOWNSHIFTS = 3  # cheapest candidates listed (plus every one with evidence)

_KIND_ORDER = {
    "keep": 0,
    "cache_prefix": 1,
    "prune_examples": 2,
    "downshift": 3,
    "fine_tune": 4,
    "batch": 5,
    "flex": 6,
}




def _rank(found: Strategy) -> tuple:
    """Ready moves first: those that change neither prompt nor model (nothing to
    test), then those an eval run has proven; then the rest that nothing blocks
    (untested, or saving nothing, keep among them); then the blocked. Within
    each group the highest net saving over the horizon first."""
    if found.ready:
        tier = 0 if found.evidence.get("status") == "not_needed" else 1
    else:
        tier = 3 if found.blockers else 2
    return (tier, -found._net_exact, _KIND_ORDER[found.kind], found.key)


# --------------------------------------------------------------------------- inputs


_OFFER_DECIMALS = (
    "input",
    "cached_input",
    "cache_write",
    "output",
    "batch_multiplier",
    "flex_multiplier",
    "training",
    "ft_input",
    "ft_cached_input",
    "ft_output",
    "ft_hosting_per_month",
)
_OFFER_REQUIRED = ("input", "output")
_OFFER_DATES = ("shutdown_date", "training_available_until", "source_date")
_OFFER_TEXTS = ("model", "provider", "source")
_OFFER_KEYS = (
    "model",
    "provider",
    "input",
    "cached_input",
    "cache_write",
    "output",
    "batch_multiplier",
    "flex_multiplier",
    "min_cacheable_tokens",
    "shutdown_date",
    "training",
    "training_available_until",
    "ft_input",
    "ft_cached_input",
    "ft_output",
    "ft_hosting_per_month",
    "source",
    "source_date",
)


@dataclass(frozen=True, kw_only=True)
class ModelOffer:
    """One model as the catalogue offers it: prices per 1M tokens, lifecycle
    dates (first day without: new training jobs / serving) and the source.
    None means "not offered" (no cached price: reads cost input; no training
    price: not tunable; no multiplier: no batch/flex)."""

    model: str
    provider: str = ""
    input: Decimal
    cached_input: Decimal | None = None
    cache_write: Decimal | None = None
    output: Decimal
    batch_multiplier: Decimal | None = None
    flex_multiplier: Decimal | None = None
    min_cacheable_tokens: int | None = None
    shutdown_date: dt.date | None = None
    training: Decimal | None = None  # per 1M training tokens (× epochs)
    training_available_until: dt.date | None = None
    ft_input: Decimal | None = None  # default: input
    ft_cached_input: Decimal | None = None  # default: ft_input
    ft_output: Decimal | None = None  # default: output
    ft_hosting_per_month: Decimal | None = None
    source: str = ""
    source_date: dt.date | None = None

    def __post_init__(self) -> None:
        for name in _OFFER_TEXTS:
            if not isinstance(getattr(self, name), str):
                raise AdvisorInputError(name, "must be a string")
        if not self.model:
            raise AdvisorInputError("model", "must not be empty")
        for name in _OFFER_DECIMALS:
            value = getattr(self, name)
            if value is None and name not in _OFFER_REQUIRED:
                continue
            object.__setattr__(self, name, _strict_decimal(name, value))
        if self.min_cacheable_tokens is not None:
            _strict_int("min_cacheable_tokens", self.min_cacheable_tokens)
        for name in _OFFER_DATES:
            _strict_date(name, getattr(self, name))

    @property
    def label(self) -> str:
        if not self.provider or self.provider == self.model:
            return self.model  # a bare what-if names no provider
        return f"{self.model} ({self.provider})"

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe, in the what-if's ``current_model`` / ``candidates`` shape."""
        return _json_fields(self)


@dataclass(frozen=True, kw_only=True)
class Evidence:
    """The latest eval run of the prompt's suite on a candidate model, against
    production's (the baseline). ``status`` is one of :data:`EVIDENCE_STATUSES`."""

    status: str
    run_id: int | None = None
    pass_rate: Decimal | None = None
    format_adherence: Decimal | None = None
    cost_per_call: Decimal | None = None
    baseline_run_id: int | None = None
    baseline_pass_rate: Decimal | None = None
    baseline_format_adherence: Decimal | None = None

    def __post_init__(self) -> None:
        if self.status not in EVIDENCE_STATUSES:
            raise AdvisorInputError(
                "status", f"must be one of {', '.join(EVIDENCE_STATUSES)} (got {self.status!r})"
            )
        for name in ("run_id", "baseline_run_id"):
            if getattr(self, name) is not None:
                _strict_int(name, getattr(self, name))
        for name in (
            "pass_rate",
            "format_adherence",
            "baseline_pass_rate",
            "baseline_format_adherence",
        ):
            value = getattr(self, name)
            if value is not None:
                value = _strict_decimal(name, value)
                if value > 1:
                    raise AdvisorInputError(name, f"must be a share between 0 and 1 (got {value})")
                object.__setattr__(self, name, value)
        if self.cost_per_call is not None:
            object.__setattr__(
                self, "cost_per_call", _strict_decimal("cost_per_call", self.cost_per_call)
            )

    def as_dict(self) -> dict[str, Any]:
        return _json_fields(self)


@dataclass(frozen=True, kw_only=True)
class StrategyInputs:
    """Everything :func:`compare` needs, explicit. Token figures are per call
    (averages may be fractional); shares lie in 0..1."""

    as_of: dt.date
    calls_per_month: Decimal
    avg_input_tokens: Decimal
    avg_output_tokens: Decimal
    cache_read_share: Decimal = Decimal(0)
    cache_write_share: Decimal = Decimal(0)
    current: ModelOffer
    candidates: list[ModelOffer] = field(default_factory=list)
    # Tokens the same on every call (static template text + few-shot examples),
    # and how many of them already come before the first variable.
    static_tokens: int = 0
    cacheable_prefix_tokens: int = 0
    breaking_variable: str | None = None  # the first variable that cuts the static prefix
    example_tokens: int = 0
    tokens_removable: Decimal = Decimal(0)  # what a tuned model no longer needs
    training_tokens: int = 0  # dataset tokens per epoch
    epochs: int = 0
    data_preparation_cost: Decimal = Decimal(0)
    # The current model's fine-tuning one-time cost as given (the verdict's
    # figure); None: training_tokens × epochs × training / 1M + preparation.
    one_time_cost: Decimal | None = None
    versions_last_30_days: int = 0
    approved_examples: int = 0
    min_approved_examples: int = 500
    max_versions_last_30_days: int = 2
    assumed_cache_hit_rate: Decimal = Decimal("0.9")
    horizon_months: Decimal = Decimal(12)
    asynchronous: bool = False
    evidence: dict[str, Evidence] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _strict_date("as_of", self.as_of)
        if self.as_of is None:
            raise AdvisorInputError("as_of", "is required (a datetime.date)")
        for name in (
            "calls_per_month",
            "avg_input_tokens",
            "avg_output_tokens",
            "cache_read_share",
            "cache_write_share",
            "tokens_removable",
            "data_preparation_cost",
            "assumed_cache_hit_rate",
            "horizon_months",
        ):
            object.__setattr__(self, name, _strict_decimal(name, getattr(self, name)))
        if self.one_time_cost is not None:
            object.__setattr__(
                self, "one_time_cost", _strict_decimal("one_time_cost", self.one_time_cost)
            )
        for name in ("cache_read_share", "cache_write_share", "assumed_cache_hit_rate"):
            if getattr(self, name) > 1:
                raise AdvisorInputError(
                    name, f"must be a share between 0 and 1 (got {getattr(self, name)})"
                )
        if self.cache_read_share + self.cache_write_share > 1:
            raise AdvisorInputError(
                "cache_write_share", "cache_read_share + cache_write_share must be at most 1"
            )
        if self.horizon_months == 0:
            raise AdvisorInputError("horizon_months", "must be greater than 0 months")
        for name in (
            "static_tokens",
            "cacheable_prefix_tokens",
            "example_tokens",
            "training_tokens",
            "epochs",
            "versions_last_30_days",
            "approved_examples",
            "min_approved_examples",
            "max_versions_last_30_days",
        ):
            _strict_int(name, getattr(self, name))
        if self.cacheable_prefix_tokens > self.static_tokens:
            raise AdvisorInputError(
                "cacheable_prefix_tokens",
                f"must be at most static_tokens ({self.static_tokens}), got "
                f"{self.cacheable_prefix_tokens}",
            )
        if self.breaking_variable is not None and not isinstance(self.breaking_variable, str):
            raise AdvisorInputError("breaking_variable", "must be a string or None")
        if not isinstance(self.asynchronous, bool):
            raise AdvisorInputError("asynchronous", "must be True or False")
        if not isinstance(self.current, ModelOffer):
            raise AdvisorInputError("current", "must be a ModelOffer")
        for n, offer in enumerate(self.candidates):
            if not isinstance(offer, ModelOffer):
                raise AdvisorInputError(f"candidates[{n}]", "must be a ModelOffer")
        for model, evidence in self.evidence.items():
            if not isinstance(evidence, Evidence):
                raise AdvisorInputError(f"evidence.{model}", "must be an Evidence")


@dataclass(frozen=True)
class Tiers:
    """Tokens of one call by how they are billed."""

    uncached: Decimal
    reads: Decimal
    writes: Decimal
    output: Decimal

    def scaled(self, factor: Decimal) -> Tiers:
        """Every input tier × factor; output unchanged."""
        return Tiers(self.uncached * factor, self.reads * factor, self.writes * factor, self.output)


def call_cost(offer: ModelOffer, tiers: Tiers) -> Decimal:
    """USD per call of ``tiers`` on ``offer``, full precision: reads at the
    cached price (input if none), writes at the cache-write price (input if
    none), the rest at input, output at output."""
    return advisor.tier_cost(
        uncached=tiers.uncached,
        reads=tiers.reads,
        writes=tiers.writes,
        output=tiers.output,
        **_prices(offer),
    )


def tuned_call_cost(offer: ModelOffer, tiers: Tiers) -> Decimal:
    """USD per call of ``tiers`` on the offer's fine-tuned model (the tiers
    already without the removable tokens): reads at ``ft_cached_input``, writes
    and uncached at ``ft_input`` (no tuned write price), output at ``ft_output``."""
    return advisor.tier_cost(
        uncached=tiers.uncached,
        reads=tiers.reads,
        writes=tiers.writes,
        output=tiers.output,
        **_tuned_prices(offer),
    )


def _prices(offer: ModelOffer) -> dict[str, Decimal]:
    return {
        "input_price": offer.input,
        "read_price": offer.cached_input if offer.cached_input is not None else offer.input,
        "write_price": offer.cache_write if offer.cache_write is not None else offer.input,
        "output_price": offer.output,
    }


def _tuned_prices(offer: ModelOffer) -> dict[str, Decimal]:
    ft_input = offer.ft_input if offer.ft_input is not None else offer.input
    return {
        "input_price": ft_input,
        "read_price": offer.ft_cached_input if offer.ft_cached_input is not None else ft_input,
        "write_price": ft_input,
        "output_price": offer.ft_output if offer.ft_output is not None else offer.output,
    }


# --------------------------------------------------------------------------- the result


@dataclass(frozen=True)
class Strategy:
    """One strategy, its figures rounded for display (exact ones kept for ranking)."""

    key: str
    kind: str
    title: str
    model: str
    provider: str
    cost_per_call: Decimal
    monthly_cost: Decimal
    monthly_saving: Decimal
    one_time_cost: Decimal
    fixed_monthly_cost: Decimal
    retraining_monthly_cost: Decimal
    payback_months: Decimal | None
    net_saving_over_horizon: Decimal
    blockers: list[str]
    evidence: dict[str, Any]
    ready: bool
    formula: list[str]
    assumptions: list[str]
    _net_exact: Decimal = field(default=Decimal(0), repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe: figures as plain decimal strings, None as None."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name.startswith("_"):
                continue
            value = getattr(self, f.name)
            if isinstance(value, Decimal):
                value = _plain(value)
            elif isinstance(value, list):
                value = list(value)
            elif isinstance(value, dict):
                value = dict(value)
            out[f.name] = value
        return out


# --------------------------------------------------------------------------- compare


def compare(inputs: StrategyInputs) -> list[Strategy]:
    """Every strategy that applies, ranked (see the module docstring)."""
    if not isinstance(inputs, StrategyInputs):
        raise TypeError("compare() takes a StrategyInputs")
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        ctx.rounding = ROUND_HALF_EVEN
        return _Comparison(inputs).run()


class _Comparison:
    def __init__(self, i: StrategyInputs) -> None:
        self.i = i
        reads = i.avg_input_tokens * i.cache_read_share
        writes = i.avg_input_tokens * i.cache_write_share
        self.today = Tiers(i.avg_input_tokens - reads - writes, reads, writes, i.avg_output_tokens)
        self.keep_per_call = call_cost(i.current, self.today)
        self.keep_monthly = i.calls_per_month * self.keep_per_call
        self.horizon_end = advisor.payback_date(i.as_of, i.horizon_months)
        # When the static text already leads (no prompt change), a model move is
        # priced with its prefix cached at the assumed hit rate: the caching fix
        # is free, so a move is weighed as it would run after it.
        static = self.static = min(Decimal(i.static_tokens), i.avg_input_tokens)
        self.cache_ready = (
            Tiers(
                i.avg_input_tokens - static,
                static * i.assumed_cache_hit_rate,
                static * (1 - i.assumed_cache_hit_rate),
                i.avg_output_tokens,
            )
            if static > 0 and i.cacheable_prefix_tokens >= i.static_tokens
            else None
        )
        self.current_retires = i.current.shutdown_date is not None and self._within_horizon(
            i.current.shutdown_date
        )

    def move_tiers(self, offer: ModelOffer) -> Tiers:
        """The tokens per call a move to `offer` is priced on: cache-ready tiers when
        the prefix is already static-first and `offer` caches it, else today's."""
        tiers = self.cache_ready
        if tiers is None or offer.cached_input is None:
            return self.today
        if offer.min_cacheable_tokens is not None and self.static < offer.min_cacheable_tokens:
            return self.today
        return tiers

    def run(self) -> list[Strategy]:
        found = [self.keep()]
        found += [s for s in (self.cache_prefix(), self.prune_examples()) if s is not None]
        found += self.downshifts()
        found += self.fine_tunes()
        found += [s for s in (self.batch("batch"), self.batch("flex")) if s is not None]
        return sorted(found, key=_rank)

    # --- the kinds

    def keep(self) -> Strategy:
        current = self.i.current
        assumptions = [self._today_assumption()]
        blockers = []
        if self.current_retires:
            days = (current.shutdown_date - self.i.as_of).days
            blockers.append(
                f"{current.model} {self._shuts(current.shutdown_date)} on "
                f"{current.shutdown_date.isoformat()} ({max(days, 0):,} days from "
                f"{self.i.as_of.isoformat()}): keeping it as is stops working then; "
                "move to a replacement that your eval suite passes."
            )
        return self._strategy(
            key="keep",
            kind="keep",
            title=f"Keep as is: {current.label}",
            offer=current,
            per_call=self.keep_per_call,
            formula=[self._tiers_line(current, self.today, self.keep_per_call)],
            blockers=blockers,
            evidence={"status": "not_needed"},
            assumptions=assumptions,
        )

    def cache_prefix(self) -> Strategy | None:
        i, current = self.i, self.i.current
        if i.static_tokens <= 0 or i.avg_input_tokens <= 0:
            return None
        static = min(Decimal(i.static_tokens), i.avg_input_tokens)
        h = i.assumed_cache_hit_rate
        tiers = Tiers(
            i.avg_input_tokens - static, static * h, static * (1 - h), i.avg_output_tokens
        )
        per_call = call_cost(current, tiers)
        blockers = []
        if current.cached_input is None:
            blockers.append(
                f"{current.model} has no cached-input price: a cached prefix costs the same as "
                "uncached input there."
            )
        minimum = current.min_cacheable_tokens
        if minimum is not None and static < minimum:
            blockers.append(
                f"{_tokens(static)} static tokens, below the provider's {minimum:,}-token minimum "
                "for caching a prefix."
            )
        # Compared at the reported precision: shares measured by the ledger carry
        # noise far below a cent per million calls, which is no saving.
        if _q(self.keep_per_call - per_call, Q_PER_CALL) <= 0 and not blockers:
            blockers.append(
                f"already cached: {_pct(i.cache_read_share)} of input tokens are cache reads "
                f"today ({_tokens(self.today.reads)} per call), which saves as much as a static-first "
                f"prompt would at a {_pct(h)} hit rate."
            )
        more = i.static_tokens - i.cacheable_prefix_tokens
        write_price = (
            f"at {_price(current.cache_write)} per 1M"
            if current.cache_write is not None
            else "at the input price (no write fee)"
        )
        assumptions = [
            f"{_pct(h)} of calls find the prefix in a warm cache (assumed_cache_hit_rate); the "
            f"other {_pct(1 - h)} write its {_tokens(static)} tokens to the cache {write_price}.",
            f"The other {_tokens(tiers.uncached)} input tokens per call stay uncached; output as today.",
        ]
        if i.breaking_variable is None or more <= 0:
            title = (
                f"Keep the {i.static_tokens:,} static tokens first and set prompt_cache_key, so "
                "calls share one cached prefix"
            )
            evidence = {"status": "not_needed"}
            assumptions.append(
                "No variable cuts the static prefix today: the prompt text does not change."
                if i.breaking_variable is None
                else f"All {i.static_tokens:,} static tokens already come before the first "
                f"variable ({{{{ {i.breaking_variable} }}}}): the prompt text does not change."
            )
        else:
            var = "{{ " + i.breaking_variable + " }}"
            title = (
                f"Move the static text before {var}: {more:,} more tokens become cacheable "
                f"({i.static_tokens:,} instead of {i.cacheable_prefix_tokens:,})"
            )
            evidence = {
                "status": "untested",
                "note": "The prompt text moves: run the eval suite on the reordered version.",
            }
            assumptions.append(
                f"{var} is the first variable that cuts the static prefix: only "
                f"{i.cacheable_prefix_tokens:,} of the {i.static_tokens:,} static tokens come "
                "before it today."
            )
        return self._strategy(
            key="cache_prefix",
            kind="cache_prefix",
            title=title,
            offer=current,
            per_call=per_call,
            formula=[self._tiers_line(current, tiers, per_call)],
            blockers=blockers,
            evidence=evidence,
            assumptions=assumptions,
        )

    def prune_examples(self) -> Strategy | None:
        i, current = self.i, self.i.current
        removed = min(Decimal(i.example_tokens // 2), i.avg_input_tokens)
        if removed <= 0:
            return None
        factor = (i.avg_input_tokens - removed) / i.avg_input_tokens
        tiers = self.today.scaled(factor)
        per_call = call_cost(current, tiers)
        return self._strategy(
            key="prune_examples",
            kind="prune_examples",
            title=(
                f"Prune the few-shot examples: drop half of the {i.example_tokens:,} example "
                f"tokens ({_tokens(removed)} per call)"
            ),
            offer=current,
            per_call=per_call,
            formula=[
                f"input tokens × ({_tokens(i.avg_input_tokens)} − {_tokens(removed)}) ÷ "
                f"{_tokens(i.avg_input_tokens)} in every tier",
                self._tiers_line(current, tiers, per_call),
            ],
            evidence={
                "status": "untested",
                "note": "The prompt changes: run the eval suite on the pruned version.",
            },
            assumptions=[
                f"Every input tier shrinks alike, by {_tokens(removed)} of "
                f"{_tokens(i.avg_input_tokens)} tokens per call; output as today.",
                "Which examples go is a judgement call: keep the ones that cover the most cases.",
            ],
        )

    def downshifts(self) -> list[Strategy]:
        i, current = self.i, self.i.current
        known_provider = current.provider not in ("", WHAT_IF)
        cheaper: list[tuple[Decimal, ModelOffer]] = []
        seen = {current.model}
        for offer in i.candidates:
            if offer.model in seen:
                continue
            seen.add(offer.model)
            same_provider = not known_provider or offer.provider == current.provider
            if not (same_provider or offer.model in i.evidence):
                continue
            if offer.shutdown_date is not None and i.as_of >= offer.shutdown_date:
                continue  # no longer serves
            per_call = call_cost(offer, self.move_tiers(offer))
            if per_call < self.keep_per_call:
                cheaper.append((per_call, offer))
            elif self.current_retires and not (
                offer.shutdown_date is not None and self._within_horizon(offer.shutdown_date)
            ):
                # the current model retires: a replacement is listed even when it costs more
                cheaper.append((per_call, offer))
        cheaper.sort(key=lambda pair: (pair[0], pair[1].model))
        chosen = [
            pair
            for n, pair in enumerate(cheaper)
            if n < MAX_DOWNSHIFTS or pair[1].model in i.evidence
        ]
        return [self._downshift(offer, per_call) for per_call, offer in chosen]

    def _downshift(self, offer: ModelOffer, per_call: Decimal) -> Strategy:
        i = self.i
        blockers = []
        if offer.shutdown_date is not None and self._within_horizon(offer.shutdown_date):
            blockers.append(
                f"{offer.model} shuts down on {offer.shutdown_date.isoformat()}, within the "
                f"{_tokens(i.horizon_months)}-month horizon{self._horizon_end_text()}."
            )
        found = i.evidence.get(offer.model)
        evidence = (
            found.as_dict()
            if found is not None
            else {
                "status": "untested",
                "note": f"Run the eval suite on {offer.model} (a candidate-model run) before "
                "switching.",
            }
        )
        tiers = self.move_tiers(offer)
        assumptions = [
            f"The same tokens per call as today on {offer.model}: "
            + self._tiers_words(tiers)
            + (
                f" (the static prefix cached at the assumed {_pct(i.assumed_cache_hit_rate)} "
                "hit rate: it already leads the prompt, so caching needs no prompt change)"
                if tiers is not self.today
                else ""
            )
            + ".",
            "Output tokens as today (a model that reasons more would spend more).",
        ]
        if offer.cached_input is None and tiers.reads > 0:
            assumptions.append(
                f"{offer.model} has no cached-input price: today's cache reads cost its input price."
            )
        assumptions += self._source(offer)
        return self._strategy(
            key=f"downshift:{offer.model}",
            kind="downshift",
            title=(
                f"Move to {offer.label}"
                if not self.current_retires
                else f"Move to {offer.label}, replacing {i.current.model} before it shuts down "
                f"on {i.current.shutdown_date.isoformat()}"
            ),
            offer=offer,
            per_call=per_call,
            formula=[self._tiers_line(offer, tiers, per_call)],
            blockers=blockers,
            evidence=evidence,
            assumptions=assumptions,
        )

    def fine_tunes(self) -> list[Strategy]:
        i = self.i
        found = []
        seen: set[str] = set()
        for offer in [i.current, *i.candidates]:
            if offer.model in seen:
                continue
            seen.add(offer.model)
            is_current = offer is i.current
            if offer.training is None and not (is_current and i.one_time_cost is not None):
                continue
            if (
                not is_current
                and offer.shutdown_date is not None
                and i.as_of >= offer.shutdown_date
            ):
                continue  # a candidate that no longer serves (the current one is listed, blocked)
            found.append(self._fine_tune(offer, is_current))
        return found

    def _fine_tune(self, offer: ModelOffer, is_current: bool) -> Strategy:
        i = self.i
        tuned = Tiers(
            *_uncached_first(
                advisor.remove_tokens(
                    reads=self.today.reads,
                    writes=self.today.writes,
                    uncached=self.today.uncached,
                    removable=i.tokens_removable,
                )
            ),
            i.avg_output_tokens,
        )
        per_call = tuned_call_cost(offer, tuned)
        run = (
            Decimal(i.training_tokens) * Decimal(i.epochs) * offer.training / advisor.ONE_MILLION
            if offer.training is not None
            else None
        )
        computed = None if run is None else run + i.data_preparation_cost
        given = i.one_time_cost if is_current else None
        one_time = given if given is not None else computed
        assert one_time is not None  # fine_tunes() lists only offers with one or the other
        retraining = run * i.versions_last_30_days if run is not None else Decimal(0)
        hosting = offer.ft_hosting_per_month or Decimal(0)
        variable = i.calls_per_month * per_call
        monthly = variable + hosting + retraining
        saving = self.keep_monthly - monthly
        payback = one_time / saving if saving > 0 else None

        cost_lines = []
        if run is not None and i.versions_last_30_days:
            cost_lines.append(
                f"retraining: {_usd(run)} per training run × {i.versions_last_30_days:,} new "
                f"version{'' if i.versions_last_30_days == 1 else 's'} in the last 30 days = "
                f"{_usd(retraining)}/month"
            )
        if hosting:
            cost_lines.append(f"hosting the tuned model: {_usd(hosting)}/month")
        if computed is not None and computed == one_time:
            one_time_line = (
                f"one-time: {i.training_tokens:,} training tokens × {i.epochs:,} epochs × "
                f"{_price(offer.training)} per 1M = {_usd(run)} training + "
                f"{_usd(i.data_preparation_cost)} data preparation = {_usd(one_time)}"
            )
        else:
            one_time_line = f"one-time: {_usd(one_time)} (training + data preparation, as given)"

        blockers = []
        until = offer.training_available_until
        if until is not None and i.as_of >= until:
            who = offer.provider if offer.provider not in ("", WHAT_IF) else "the provider"
            blockers.append(
                f"Training closed on {until.isoformat()}: {who} accepts no new training jobs "
                f"from that day (as of {i.as_of.isoformat()})."
            )
        shutdown = offer.shutdown_date
        done = advisor.payback_date(i.as_of, payback) if payback is not None else None
        if shutdown is not None:
            if payback is None:
                blockers.append(
                    f"The tuned model {self._shuts(shutdown)} on {shutdown.isoformat()}, and the "
                    "one-time cost never pays back before it."
                )
            elif done is None or done >= shutdown:
                when = "after 9999-12-31" if done is None else f"on {done.isoformat()}"
                blockers.append(
                    f"The tuned model {self._shuts(shutdown)} on {shutdown.isoformat()}, before "
                    f"the payback completes {when} ({_months(payback)} from "
                    f"{i.as_of.isoformat()})."
                )
        if i.approved_examples < i.min_approved_examples:
            blockers.append(
                f"{i.approved_examples:,} approved examples, under the "
                f"{i.min_approved_examples:,} minimum for LoRA-class tuning."
            )
        if i.versions_last_30_days > i.max_versions_last_30_days:
            blockers.append(
                f"{i.versions_last_30_days:,} new versions in the last 30 days, more than "
                f"{i.max_versions_last_30_days:,}: every change means a new training run."
            )

        assumptions = [
            f"The tuned model drops {_tokens(i.tokens_removable)} static tokens per call "
            "(tokens_removable), taken off the cache reads first, then the writes, then "
            f"uncached: {self._tiers_words(tuned)}.",
            "Tuned cache writes cost the tuned input price (no tuned cache-write price).",
        ]
        if run is None:
            assumptions.append(
                "No training price given: retraining after a prompt change is not priced."
            )
        elif i.versions_last_30_days:
            assumptions.append(
                "Each new version means a new training run; the last 30 days stand for a month."
            )
            if is_current:
                assumptions.append(
                    "The verdict's monthly_savings and payback leave retraining out (the "
                    "seed's rule); these figures count it."
                )
        if (
            shutdown is not None
            and done is not None
            and done < shutdown
            and self._within_horizon(shutdown)
        ):
            assumptions.append(
                f"The tuned model shuts down on {shutdown.isoformat()}, after the payback "
                f"({done.isoformat()}) but within the {_tokens(i.horizon_months)}-month horizon: the "
                "saving over the horizon needs a successor model."
            )
        if until is not None and i.as_of < until:
            assumptions.append(
                f"Training is open until {until.isoformat()} (the first day without new jobs): "
                "start the run before then."
            )
        assumptions += self._source(offer)
        return self._strategy(
            key=f"fine_tune:{offer.provider}:{offer.model}",
            kind="fine_tune",
            title=f"Fine-tune {offer.label}",
            offer=offer,
            per_call=per_call,
            monthly_cost=monthly,
            variable_cost=variable,
            one_time=one_time,
            fixed=hosting,
            retraining=retraining,
            formula=[self._tiers_line(offer, tuned, per_call, tuned=True)],
            cost_lines=cost_lines,
            one_time_line=one_time_line,
            blockers=blockers,
            evidence={
                "status": "untested",
                "note": "A tuned model can't be evaluated before it is trained: train it, then "
                "run the eval suite on it against production before switching.",
            },
            assumptions=assumptions,
        )

    def batch(self, kind: str) -> Strategy | None:
        i, current = self.i, self.i.current
        multiplier = current.batch_multiplier if kind == "batch" else current.flex_multiplier
        if multiplier is None:
            return None
        per_call = self.keep_per_call * multiplier
        monthly = self.keep_monthly * multiplier
        blockers = []
        if not i.asynchronous:
            wait = (
                "batch results come back within 24 hours"
                if kind == "batch"
                else "flex requests can queue or be turned away under load"
            )
            blockers.append(
                f"not marked asynchronous: {wait}; mark the prompt asynchronous if its callers "
                "can wait."
            )
        name = "the Batch API" if kind == "batch" else "the flex service tier"
        return self._strategy(
            key=kind,
            kind=kind,
            title=f"Send the calls through {name} on {current.model} (× {_plain(multiplier)})",
            offer=current,
            per_call=per_call,
            monthly_cost=monthly,
            formula=[
                f"{_usd(self.keep_monthly)}/month × {_plain(multiplier)} = {_usd(monthly)}/month"
            ],
            blockers=blockers,
            evidence={"status": "not_needed"},
            assumptions=[
                f"Every token price × {_plain(multiplier)}, on today's tokens per call; same "
                "model, same prompt.",
            ],
        )

    # --- shared

    def _strategy(
        self,
        *,
        key: str,
        kind: str,
        title: str,
        offer: ModelOffer,
        per_call: Decimal,
        formula: list[str],
        evidence: dict[str, Any],
        assumptions: list[str],
        blockers: list[str] | None = None,
        cost_lines: list[str] | None = None,
        one_time_line: str | None = None,
        monthly_cost: Decimal | None = None,
        variable_cost: Decimal | None = None,
        one_time: Decimal = Decimal(0),
        fixed: Decimal = Decimal(0),
        retraining: Decimal = Decimal(0),
    ) -> Strategy:
        i = self.i
        blockers = list(blockers or [])
        variable = i.calls_per_month * per_call if variable_cost is None else variable_cost
        monthly = variable if monthly_cost is None else monthly_cost
        saving = self.keep_monthly - monthly
        payback = one_time / saving if saving > 0 else None
        net = saving * i.horizon_months - one_time
        formula = list(formula)
        if kind not in ("batch", "flex"):
            formula.append(
                f"{_num(i.calls_per_month)} calls × {_usd_call(per_call)} = {_usd(variable)}/month"
            )
        if cost_lines:
            formula += cost_lines
            formula.append(f"monthly cost: {_usd(monthly)}")
        if kind != "keep":
            formula.append(
                f"saving: {_usd(self.keep_monthly)} − {_usd(monthly)} = {_usd(saving)}/month"
            )
            if one_time_line:
                formula.append(one_time_line)
            if payback is not None and one_time == 0:
                formula.append("payback: at once (no one-time cost)")
            elif payback is not None:
                formula.append(
                    f"payback: {_usd(one_time)} ÷ {_usd(saving)}/month = {_months(payback)}"
                )
            formula.append(
                f"over the {_tokens(i.horizon_months)}-month horizon: {_usd(saving)} × "
                f"{_tokens(i.horizon_months)} − {_usd(one_time)} = {_usd(net)}"
            )
        status = evidence.get("status")
        return Strategy(
            key=key,
            kind=kind,
            title=title,
            model=offer.model,
            provider=offer.provider,
            cost_per_call=_q(per_call, Q_PER_CALL),
            monthly_cost=_q(monthly, Q_MONEY),
            monthly_saving=_q(saving, Q_MONEY),
            one_time_cost=_q(one_time, Q_MONEY),
            fixed_monthly_cost=_q(fixed, Q_MONEY),
            retraining_monthly_cost=_q(retraining, Q_MONEY),
            payback_months=None if payback is None else _q(payback, Q_MONTHS),
            net_saving_over_horizon=_q(net, Q_MONEY),
            blockers=blockers,
            evidence=evidence,
            ready=not blockers and saving > 0 and status in ("not_needed", "ready"),
            formula=formula,
            assumptions=assumptions,
            _net_exact=net,
        )

    def _within_horizon(self, day: dt.date) -> bool:
        return self.horizon_end is None or day < self.horizon_end

    def _horizon_end_text(self) -> str:
        if self.horizon_end is None:
            return ""
        return f" (from {self.i.as_of.isoformat()} to {self.horizon_end.isoformat()})"

    def _shuts(self, day: dt.date) -> str:
        return "shut down" if day <= self.i.as_of else "shuts down"

    def _today_assumption(self) -> str:
        i = self.i
        return (
            f"Today's tokens per call: {self._tiers_words(self.today)} "
            f"({_pct(i.cache_read_share)} cache reads, {_pct(i.cache_write_share)} cache writes)."
        )

    @staticmethod
    def _tiers_words(tiers: Tiers) -> str:
        return (
            f"{_tokens(tiers.uncached)} uncached, {_tokens(tiers.reads)} cache reads, "
            f"{_tokens(tiers.writes)} cache writes, {_tokens(tiers.output)} output"
        )

    @staticmethod
    def _tiers_line(
        offer: ModelOffer, tiers: Tiers, per_call: Decimal, *, tuned: bool = False
    ) -> str:
        prices = _tuned_prices(offer) if tuned else _prices(offer)
        parts = [
            (tiers.uncached, "uncached", prices["input_price"]),
            (tiers.reads, "cache reads", prices["read_price"]),
            (tiers.writes, "cache writes", prices["write_price"]),
            (tiers.output, "output", prices["output_price"]),
        ]
        terms = [f"{_tokens(n)} {what} × {_price(p)}" for n, what, p in parts if n > 0]
        name = f"ft:{offer.model}" if tuned else offer.model
        return (
            f"{name}: ({' + '.join(terms) or '0 tokens'}) per 1M tokens = "
            f"{_usd_call(per_call)}/call"
        )

    @staticmethod
    def _source(offer: ModelOffer) -> list[str]:
        if not offer.source:
            return []
        when = f", as of {offer.source_date.isoformat()}" if offer.source_date else ""
        return [f"{offer.model}'s prices and dates: {offer.source}{when}."]


def _uncached_first(left: tuple[Decimal, Decimal, Decimal]) -> tuple[Decimal, Decimal, Decimal]:
    reads, writes, uncached = left
    return uncached, reads, writes


# --------------------------------------------------------------------------- formatting


def _tokens(value: Decimal) -> str:
    """Tokens per call: rounded to 2 decimals, trailing zeros dropped (a share of
    2,700/3,300 carried at 28 digits reads 300, not 299.99). Calls are truncated
    instead, as the advisor writes them."""
    return _num(_q(Decimal(value), Decimal("0.01")))


def _usd(value: Decimal) -> str:
    return format_money(_q(value, Q_MONEY)) or ""


def _usd_call(value: Decimal) -> str:
    return format_money(_q(value, Q_PER_CALL), exact=True) or ""


def _price(value: Decimal | None) -> str:
    return format_money(value, exact=True) or ""


def _pct(share: Decimal) -> str:
    return format_percent(share) or ""


def _months(value: Decimal) -> str:
    return f"{_num(_q(value, Q_MONTHS), 2, 2)} months"


def _json_fields(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, Decimal):
            value = _plain(value)
        elif isinstance(value, dt.date):
            value = value.isoformat()
        out[f.name] = value
    return out
