"""The what-if body for the strategies: reading it (`validate_what_if`) and
writing a prompt's inputs in its shape (`strategy_inputs_as_what_if`), so that
`POST /api/v1/advice/what-if` reproduces a prompt's advice figure for figure.

Pure, like `strategies` and `advisor` (standard library and Decimal only).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal, localcontext
from typing import Any

from prompts_app.lib import advisor
from prompts_app.lib.advisor import (
    AdvisorInputError,
    AdvisorInputs,
    _check_range,
    _coerce_decimal,
    _coerce_int,
    _plain,
)
from prompts_app.lib.strategies import (
    _OFFER_DATES,
    _OFFER_KEYS,
    _OFFER_REQUIRED,
    _OFFER_TEXTS,
    _PRECISION,
    EVIDENCE_STATUSES,
    WHAT_IF,
    Evidence,
    ModelOffer,
    StrategyInputs,
    _prices,
    _tuned_prices,
)

__all__ = ["STRATEGY_KEYS", "strategy_inputs_as_what_if", "validate_what_if"]

# --------------------------------------------------------------------------- the what-if

# The what-if's strategy keys (all optional), besides the advisor's keys
# (advisor.WHAT_IF_ALL_KEYS), which they share the volume, tokens, shares,
# examples, versions, horizon, one-time cost and lifecycle with.
STRATEGY_KEYS: tuple[str, ...] = (
    "static_tokens",
    "cacheable_prefix_tokens",
    "breaking_variable",
    "example_tokens",
    "assumed_cache_hit_rate",
    "asynchronous",
    "current_model",
    "candidates",
    "evidence",
    "training_tokens",
    "epochs",
    "data_preparation_cost",
)

# current_model's fields that the advisor's keys also carry: given in one place,
# they fill the other; given in both, they must agree.
_SHARED_OFFER_KEYS: tuple[tuple[str, str], ...] = (
    ("input", "input_price_per_1m"),
    ("cached_input", "cached_input_price_per_1m"),
    ("cache_write", "cache_write_price_per_1m"),
    ("output", "output_price_per_1m"),
    ("ft_input", "ft_input_price_per_1m"),
    ("ft_cached_input", "ft_cached_input_price_per_1m"),
    ("ft_output", "ft_output_price_per_1m"),
    ("ft_hosting_per_month", "ft_fixed_cost_per_month"),
    ("shutdown_date", "model_shutdown_date"),
    ("training_available_until", "training_available_until"),
)


def validate_what_if(raw: object) -> tuple[AdvisorInputs, StrategyInputs]:
    """The what-if's JSON body → the verdict's inputs and the strategies' inputs.

    The advisor's keys (``advisor.WHAT_IF_ALL_KEYS``) work as before; the
    strategy keys (:data:`STRATEGY_KEYS`, all optional) are:

    - ``static_tokens``, ``cacheable_prefix_tokens`` (≤ static_tokens),
      ``example_tokens``, ``training_tokens``, ``epochs``: whole numbers ≥ 0
      (default 0);
    - ``breaking_variable``: the variable that cuts the static prefix, or null;
    - ``assumed_cache_hit_rate``: a share, default 0.9;
    - ``asynchronous``: true or false (default false);
    - ``data_preparation_cost``: USD, default 0 (prices candidates' fine-tunes);
    - ``current_model``: a model offer (the :class:`ModelOffer` fields; dates
      "YYYY-MM-DD"). Its prices, hosting and dates are the same figures as
      ``input_price_per_1m`` … ``model_shutdown_date``: either may give them,
      and given twice they must agree. Without it the current model is named
      "what-if" (provider "what-if", so every candidate counts as the same
      provider);
    - ``candidates``: a list of model offers (each needs ``model``, ``input``,
      ``output``);
    - ``evidence``: an object, model → {status (one of
      :data:`EVIDENCE_STATUSES`), run_id, pass_rate, format_adherence,
      cost_per_call, baseline_run_id, baseline_pass_rate,
      baseline_format_adherence}.

    The current model's fine-tune uses ``one_time_cost`` as its one-time cost
    (the verdict's figure). It is listed when no ``current_model`` is given (the
    inputs describe one fine-tune) or when the current model has a training
    price or any tuned price. ``as_of`` defaults to today (UTC).

    Raises :class:`AdvisorInputError` naming the first bad field
    ("candidates[1].input", "evidence.gpt-5.6-luna.status"); ``.errors`` holds
    every problem found.
    """
    if not isinstance(raw, dict):
        raise AdvisorInputError("inputs", f"must be a JSON object, not {type(raw).__name__}")
    errors: dict[str, str] = {}
    seed = {k: v for k, v in raw.items() if k not in STRATEGY_KEYS}

    current_raw = raw.get("current_model")
    current: dict[str, Any] | None = None
    if current_raw is not None:
        current = _offer_fields("current_model", current_raw, errors, require_prices=False)
    if current is not None:
        for offer_key, seed_key in _SHARED_OFFER_KEYS:
            mine, theirs = current.get(offer_key), seed.get(seed_key)
            if mine is None:
                continue
            if theirs is None:
                seed[seed_key] = mine.isoformat() if isinstance(mine, dt.date) else _plain(mine)
                continue
            try:
                other = (
                    advisor.parse_date(seed_key, theirs)
                    if isinstance(mine, dt.date)
                    else _coerce_decimal(seed_key, theirs)
                )
            except AdvisorInputError:
                continue  # the advisor names that field
            if other != mine:
                shown = mine.isoformat() if isinstance(mine, dt.date) else _plain(mine)
                errors[f"current_model.{offer_key}"] = (
                    f"is {shown} but {seed_key} is {theirs}: give the figure once, or the same "
                    "in both"
                )

    advisor_inputs: AdvisorInputs | None = None
    try:
        advisor_inputs = advisor.validate_inputs(seed, other_keys=STRATEGY_KEYS)
    except AdvisorInputError as exc:
        errors = {**errors, **exc.errors}

    values: dict[str, Any] = {}
    for key in (
        "static_tokens",
        "cacheable_prefix_tokens",
        "example_tokens",
        "training_tokens",
        "epochs",
    ):
        if raw.get(key) is not None:
            _collect(errors, key, lambda k=key: _coerce_int(k, raw[k]), values)
    for key in ("assumed_cache_hit_rate", "data_preparation_cost"):
        if raw.get(key) is not None:
            _collect(errors, key, lambda k=key: _share_or_amount(k, raw[k]), values)
    if raw.get("breaking_variable") is not None:
        if isinstance(raw["breaking_variable"], str) and raw["breaking_variable"]:
            values["breaking_variable"] = raw["breaking_variable"]
        else:
            errors["breaking_variable"] = "must be a variable name (a non-empty string) or null"
    if raw.get("asynchronous") is not None:
        if isinstance(raw["asynchronous"], bool):
            values["asynchronous"] = raw["asynchronous"]
        else:
            errors["asynchronous"] = f"must be true or false (got {raw['asynchronous']!r})"
    if "cacheable_prefix_tokens" in values and values["cacheable_prefix_tokens"] > values.get(
        "static_tokens", 0
    ):
        errors["cacheable_prefix_tokens"] = (
            f"must be at most static_tokens ({values.get('static_tokens', 0)}), got "
            f"{values['cacheable_prefix_tokens']}"
        )
    candidates: list[ModelOffer] = []
    if raw.get("candidates") is not None:
        if not isinstance(raw["candidates"], list):
            errors["candidates"] = "must be a list of model offers"
        else:
            for n, item in enumerate(raw["candidates"]):
                fields = _offer_fields(f"candidates[{n}]", item, errors, require_prices=True)
                if fields is not None:
                    candidates.append(ModelOffer(**fields))
    evidence: dict[str, Evidence] = {}
    if raw.get("evidence") is not None:
        if not isinstance(raw["evidence"], dict):
            errors["evidence"] = "must be an object: model → evidence"
        else:
            for model, item in raw["evidence"].items():
                found = _evidence(f"evidence.{model}", item, errors)
                if found is not None:
                    evidence[str(model)] = found

    if errors or advisor_inputs is None:
        first = next(iter(errors))
        raise AdvisorInputError(first, errors[first], errors)

    a = advisor_inputs
    resolved = a.resolved()
    given = current or {}
    offer = ModelOffer(
        model=given.get("model", WHAT_IF),
        provider=given.get("provider", "" if current is not None else WHAT_IF),
        input=a.input_price_per_1m,
        cached_input=a.cached_input_price_per_1m,
        cache_write=a.cache_write_price_per_1m,
        output=a.output_price_per_1m,
        batch_multiplier=given.get("batch_multiplier"),
        flex_multiplier=given.get("flex_multiplier"),
        min_cacheable_tokens=given.get("min_cacheable_tokens"),
        shutdown_date=a.model_shutdown_date,
        training=given.get("training"),
        training_available_until=a.training_available_until,
        ft_input=a.ft_input_price_per_1m,
        ft_cached_input=a.ft_cached_input_price_per_1m,
        ft_output=a.ft_output_price_per_1m,
        ft_hosting_per_month=a.ft_fixed_cost_per_month or given.get("ft_hosting_per_month"),
        source=given.get("source", ""),
        source_date=given.get("source_date"),
    )
    tunable = current is None or _tunable(offer)
    strategy_inputs = StrategyInputs(
        as_of=resolved.as_of or dt.datetime.now(dt.UTC).date(),
        calls_per_month=a.calls_per_month,
        avg_input_tokens=a.avg_input_tokens,
        avg_output_tokens=a.avg_output_tokens,
        cache_read_share=a.cached_input_share,
        cache_write_share=a.cache_write_share,
        current=offer,
        candidates=candidates,
        tokens_removable=a.tokens_removable,
        one_time_cost=a.one_time_cost if tunable else None,
        versions_last_30_days=a.versions_last_30_days,
        approved_examples=a.approved_examples,
        min_approved_examples=a.min_approved_examples,
        max_versions_last_30_days=a.max_versions_last_30_days,
        horizon_months=a.payback_horizon_months,
        evidence=evidence,
        **values,
    )
    return advisor_inputs, strategy_inputs


def _tunable(offer: ModelOffer) -> bool:
    return offer.training is not None or any(
        getattr(offer, name) is not None for name in ("ft_input", "ft_cached_input", "ft_output")
    )


def _collect(errors: dict[str, str], key: str, read: Any, values: dict[str, Any]) -> None:
    try:
        values[key] = read()
    except AdvisorInputError as exc:
        errors[key] = exc.message


def _share_or_amount(name: str, value: object) -> Decimal:
    number = _coerce_decimal(name, value)
    if name == "assumed_cache_hit_rate" and number > 1:
        raise AdvisorInputError(
            name, f"must be a share between 0 and 1, e.g. 0.9 for 90% (got {_plain(number)})"
        )
    return number


def _offer_fields(
    where: str, raw: object, errors: dict[str, str], *, require_prices: bool
) -> dict[str, Any] | None:
    """A model offer's JSON → ModelOffer keyword arguments (None if anything is wrong;
    the problems go into ``errors`` under ``where.field``)."""
    if not isinstance(raw, dict):
        errors[where] = "must be an object with the model offer's fields"
        return None
    found: dict[str, Any] = {}
    bad = False
    unknown = sorted(str(k) for k in raw if k not in _OFFER_KEYS)
    if unknown:
        errors[f"{where}.{unknown[0]}"] = (
            f"unknown key(s): {', '.join(unknown)}; a model offer has {', '.join(_OFFER_KEYS)}"
        )
        bad = True
    for key in _OFFER_KEYS:
        value = raw.get(key)
        name = f"{where}.{key}"
        if value is None:
            if key == "model" or (require_prices and key in _OFFER_REQUIRED):
                errors[name] = "is required"
                bad = True
            continue
        try:
            if key in _OFFER_TEXTS:
                if not isinstance(value, str) or (key == "model" and not value):
                    raise AdvisorInputError(
                        name, "must be a non-empty string" if key == "model" else "must be a string"
                    )
                found[key] = value
            elif key in _OFFER_DATES:
                found[key] = advisor.parse_date(name, value)
            elif key == "min_cacheable_tokens":
                found[key] = _coerce_int(name, value)
            else:
                found[key] = _coerce_decimal(name, value)
        except AdvisorInputError as exc:
            errors[name] = exc.message
            bad = True
    return None if bad else found


def _evidence(where: str, raw: object, errors: dict[str, str]) -> Evidence | None:
    if not isinstance(raw, dict):
        errors[where] = "must be an object with the eval run's figures"
        return None
    names = [f.name for f in dataclasses.fields(Evidence)]
    unknown = sorted(str(k) for k in raw if k not in names)
    if unknown:
        errors[f"{where}.{unknown[0]}"] = (
            f"unknown key(s): {', '.join(unknown)}; evidence has {', '.join(names)}"
        )
        return None
    found: dict[str, Any] = {}
    for key in names:
        value = raw.get(key)
        name = f"{where}.{key}"
        if value is None:
            if key == "status":
                errors[name] = "is required"
                return None
            continue
        try:
            if key == "status":
                if value not in EVIDENCE_STATUSES:
                    raise AdvisorInputError(
                        name, f"must be one of {', '.join(EVIDENCE_STATUSES)} (got {value!r})"
                    )
                found[key] = value
            elif key.endswith("run_id"):
                found[key] = _coerce_int(name, value)
            else:
                number = _coerce_decimal(name, value)
                if key != "cost_per_call":
                    _check_share(name, number)
                found[key] = number
        except AdvisorInputError as exc:
            errors[name] = exc.message
            return None
    return Evidence(**found)


def _check_share(name: str, value: Decimal) -> None:
    if value > 1:
        raise AdvisorInputError(name, f"must be a share between 0 and 1 (got {_plain(value)})")
    _check_range(name, value)


def strategy_inputs_as_what_if(
    strategy_inputs: StrategyInputs, advisor_inputs: AdvisorInputs
) -> dict[str, Any]:
    """A prompt's inputs as a what-if body: posted to ``/api/v1/advice/what-if``
    it gives the same verdict figures and the same strategies.

    The two must describe the same prompt (volume, tokens, shares, examples,
    versions, horizon, as_of, the current model's prices and dates, and the
    current model's fine-tuning one-time cost); a :class:`ValueError` names
    the first figure on which they differ. Reasons that come from inputs the
    what-if does not take (``eval_pass_rate``, ``warn_below_examples``,
    ``full_tuning_examples``) are not carried over.
    """
    s, a = strategy_inputs, advisor_inputs
    offer = s.current
    resolved = a.resolved()
    pairs: list[tuple[str, object, object]] = [
        ("calls_per_month", s.calls_per_month, a.calls_per_month),
        ("avg_input_tokens", s.avg_input_tokens, a.avg_input_tokens),
        ("avg_output_tokens", s.avg_output_tokens, a.avg_output_tokens),
        ("cached_input_share", s.cache_read_share, a.cached_input_share),
        ("cache_write_share", s.cache_write_share, a.cache_write_share),
        ("tokens_removable", s.tokens_removable, a.tokens_removable),
        ("approved_examples", s.approved_examples, a.approved_examples),
        ("versions_last_30_days", s.versions_last_30_days, a.versions_last_30_days),
        ("min_approved_examples", s.min_approved_examples, a.min_approved_examples),
        ("max_versions_last_30_days", s.max_versions_last_30_days, a.max_versions_last_30_days),
        ("payback_horizon_months", s.horizon_months, a.payback_horizon_months),
        ("input_price_per_1m", offer.input, resolved.input_price_per_1m),
        ("output_price_per_1m", offer.output, resolved.output_price_per_1m),
        (
            "cached_input_price_per_1m",
            _prices(offer)["read_price"],
            resolved.cached_input_price_per_1m,
        ),
        (
            "cache_write_price_per_1m",
            _prices(offer)["write_price"],
            resolved.cache_write_price_per_1m,
        ),
        ("model_shutdown_date", offer.shutdown_date, a.model_shutdown_date),
        ("training_available_until", offer.training_available_until, a.training_available_until),
        (
            "ft_fixed_cost_per_month",
            offer.ft_hosting_per_month or Decimal(0),
            a.ft_fixed_cost_per_month,
        ),
    ]
    if resolved.as_of is not None:
        pairs.append(("as_of", s.as_of, resolved.as_of))
    tunable = offer.training is not None or s.one_time_cost is not None
    if tunable:
        tuned = _tuned_prices(offer)
        pairs += [
            ("ft_input_price_per_1m", tuned["input_price"], resolved.ft_input_price_per_1m),
            (
                "ft_cached_input_price_per_1m",
                tuned["read_price"],
                resolved.ft_cached_input_price_per_1m,
            ),
            ("ft_output_price_per_1m", tuned["output_price"], resolved.ft_output_price_per_1m),
        ]
        one_time = s.one_time_cost
        if one_time is None:
            with localcontext() as ctx:
                ctx.prec = _PRECISION
                one_time = (
                    Decimal(s.training_tokens)
                    * Decimal(s.epochs)
                    * offer.training
                    / advisor.ONE_MILLION
                    + s.data_preparation_cost
                )
        pairs.append(("one_time_cost", one_time, a.one_time_cost))
    else:
        for name in (
            "ft_input_price_per_1m",
            "ft_cached_input_price_per_1m",
            "ft_output_price_per_1m",
        ):
            if getattr(a, name) is not None:
                raise ValueError(
                    f"{name}: the current model ({offer.model}) has no training price, so it "
                    "has no fine-tune to price; leave the tuned prices out"
                )
    for name, mine, theirs in pairs:
        if mine != theirs:
            raise ValueError(f"{name}: the strategy inputs say {mine}, the advisor inputs {theirs}")

    body: dict[str, Any] = {
        key: value
        for key, value in a.as_dict().items()
        if key in advisor.WHAT_IF_ALL_KEYS and value is not None
    }
    body["as_of"] = s.as_of.isoformat()
    body.update(
        static_tokens=s.static_tokens,
        cacheable_prefix_tokens=s.cacheable_prefix_tokens,
        breaking_variable=s.breaking_variable,
        example_tokens=s.example_tokens,
        assumed_cache_hit_rate=_plain(s.assumed_cache_hit_rate),
        asynchronous=s.asynchronous,
        current_model={k: v for k, v in offer.as_dict().items() if v is not None},
        candidates=[c.as_dict() for c in s.candidates],
        evidence={model: e.as_dict() for model, e in s.evidence.items()},
        training_tokens=s.training_tokens,
        epochs=s.epochs,
        data_preparation_cost=_plain(s.data_preparation_cost),
    )
    return body
