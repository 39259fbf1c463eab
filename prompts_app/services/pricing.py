"""Prices and costs. Money is Decimal end to end; prices are per 1M tokens.

The default sheet is `fixtures/model_prices.json` (sourced, dated list prices;
see fixtures/README.md); every new project gets a copy it can then edit.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db import transaction

from prompts_app.models import ModelPrice, Project

PRICE_SHEET = Path(settings.BASE_DIR) / "fixtures" / "model_prices.json"
ONE_MILLION = Decimal(1_000_000)


def _dec(value) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def load_price_sheet(path: Path = PRICE_SHEET) -> dict:
    with path.open() as handle:
        return json.load(handle, parse_float=Decimal)


@transaction.atomic
def price_sheet_seed(*, project: Project, path: Path = PRICE_SHEET) -> int:
    """Copy the default sheet into a project; prices it already has are kept. Returns rows added."""
    sheet = load_price_sheet(path)
    added = 0
    for entry in sheet["models"]:
        effective = dt.datetime.fromisoformat(entry["source_date"]).replace(tzinfo=dt.UTC)
        fine_tune = entry.get("fine_tune") or {}
        _, created = ModelPrice.objects.get_or_create(
            project=project,
            model=entry["model"],
            effective_from=effective,
            defaults={
                "provider": entry.get("provider", ""),
                "input_per_1m": _dec(entry["input"]),
                "cached_input_per_1m": _dec(entry.get("cached_input")),
                "output_per_1m": _dec(entry["output"]),
                "ft_input_per_1m": _dec(fine_tune.get("input")),
                "ft_cached_input_per_1m": _dec(fine_tune.get("cached_input")),
                "ft_output_per_1m": _dec(fine_tune.get("output")),
                "training_per_1m": _dec(fine_tune.get("training")),
                "source": entry.get("source", ""),
            },
        )
        added += created
    return added


def call_cost(
    price: ModelPrice,
    *,
    input_tokens: int,
    output_tokens: int,
    cached_input_tokens: int = 0,
    cache_write_input_tokens: int = 0,
) -> Decimal:
    """Cost of one call with three input tiers, each priced per 1M tokens.

    `input_tokens` counts every input token; of them `cached_input_tokens` were
    cache reads (at the cached price when the sheet has one) and
    `cache_write_input_tokens` were cache writes (at the cache-write price when
    the sheet has one); the rest are uncached. Reads are counted first, then
    writes, each capped at what is left, so a malformed count never makes a
    tier negative. Reasoning tokens are part of `output_tokens` (billed as output).
    """
    cached = min(cached_input_tokens, input_tokens)
    written = min(cache_write_input_tokens, input_tokens - cached)
    uncached = input_tokens - cached - written
    cached_price = (
        price.cached_input_per_1m if price.cached_input_per_1m is not None else price.input_per_1m
    )
    write_price = (
        price.cache_write_per_1m if price.cache_write_per_1m is not None else price.input_per_1m
    )
    return (
        uncached * price.input_per_1m
        + cached * cached_price
        + written * write_price
        + output_tokens * price.output_per_1m
    ) / ONE_MILLION
