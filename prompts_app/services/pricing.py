"""Prices, lifecycle and costs. Money is Decimal end to end; prices are per 1M tokens.

The default catalogue is `fixtures/model_prices.json` (sourced, dated list prices
and lifecycle dates; see fixtures/README.md); every new project gets a copy it
can then edit. `catalogue_import_litellm` refreshes a project's catalogue from
the price map the LLM-tooling ecosystem keeps (LiteLLM's
`model_prices_and_context_window.json`), so prices are refreshed by a command,
not by hand. Rows are per project and per `effective_from`: an import adds a
row dated `as_of` where something changed and never rewrites an older row, so
usage already priced keeps its price and the history stays readable.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db import transaction

from prompts_app.errors import DomainError
from prompts_app.models import ModelPrice, Project

PRICE_SHEET = Path(settings.BASE_DIR) / "fixtures" / "model_prices.json"
ONE_MILLION = Decimal(1_000_000)
PER_1M_PLACES = Decimal("0.000001")  # ModelPrice price fields: decimal_places=6
PER_1M_MAX = Decimal("99999999.999999")  # max_digits=14
MULTIPLIER_PLACES = Decimal("0.0001")  # batch/flex multipliers: decimal_places=4
HOSTING_PLACES = Decimal("0.01")

# Everything a catalogue row says besides its identity and its sources. Two rows
# with equal values here describe the same offer.
CATALOGUE_FIELDS = (
    "provider",
    "input_per_1m",
    "cached_input_per_1m",
    "cache_write_per_1m",
    "cache_write_1h_per_1m",
    "output_per_1m",
    "min_cacheable_tokens",
    "batch_multiplier",
    "flex_multiplier",
    "ft_input_per_1m",
    "ft_cached_input_per_1m",
    "ft_output_per_1m",
    "training_per_1m",
    "ft_hosting_per_month",
    "training_available_until",
    "shutdown_date",
)

# What an import keeps from the latest earlier row of a model when the imported
# file says nothing about it: LiteLLM carries no training prices, hosting costs
# or training cut-offs, and a catalogue must not forget them on a refresh.
CARRIED_FIELDS = (
    "ft_input_per_1m",
    "ft_cached_input_per_1m",
    "ft_output_per_1m",
    "training_per_1m",
    "ft_hosting_per_month",
    "training_available_until",
    "shutdown_date",
    "min_cacheable_tokens",
    "cache_write_1h_per_1m",
    "batch_multiplier",
    "flex_multiplier",
)

# LiteLLM's provider names → the catalogue's (the bundled sheet's vocabulary).
PROVIDER_NAMES = {
    "gemini": "google",
    "vertex_ai-language-models": "google",
    "together_ai": "together",
    "fireworks_ai": "fireworks",
}

DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
SNAPSHOT_SUFFIX_RE = re.compile(r"-\d{4}-\d{2}-\d{2}$")


class PriceImportError(DomainError):
    code = "price_import_invalid"


def _dec(value) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _date(value) -> dt.date | None:
    return None if value in (None, "") else dt.date.fromisoformat(str(value))


def _midnight_utc(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def load_price_sheet(path: Path = PRICE_SHEET) -> dict:
    with path.open() as handle:
        return json.load(handle, parse_float=Decimal)


# --- the bundled catalogue ---------------------------------------------------------


def _sheet_row(entry: dict) -> dict:
    """The ModelPrice fields of one `models[]` entry of the bundled sheet."""
    fine_tune = entry.get("fine_tune") or {}
    sources = [entry.get("source", "")]
    if entry.get("caching_source"):
        sources.append(f"Caching: {entry['caching_source']}")
    if entry.get("tiers_source"):
        sources.append(f"Batch/flex: {entry['tiers_source']}")
    if fine_tune.get("source"):
        sources.append(f"Fine-tuning: {fine_tune['source']} ({fine_tune.get('source_date')})")
    hosting = fine_tune.get("hosting_per_month")
    return {
        "provider": entry.get("provider", ""),
        "input_per_1m": _dec(entry["input"]),
        "cached_input_per_1m": _dec(entry.get("cached_input")),
        "cache_write_per_1m": _dec(entry.get("cache_write")),
        "cache_write_1h_per_1m": _dec(entry.get("cache_write_1h")),
        "output_per_1m": _dec(entry["output"]),
        "min_cacheable_tokens": entry.get("min_cacheable_tokens"),
        "batch_multiplier": _dec(entry.get("batch_multiplier")),
        "flex_multiplier": _dec(entry.get("flex_multiplier")),
        "ft_input_per_1m": _dec(fine_tune.get("input")),
        "ft_cached_input_per_1m": _dec(fine_tune.get("cached_input")),
        "ft_output_per_1m": _dec(fine_tune.get("output")),
        "training_per_1m": _dec(fine_tune.get("training")),
        "ft_hosting_per_month": None if hosting is None else _dec(hosting).quantize(HOSTING_PLACES),
        "training_available_until": _date(entry.get("training_available_until")),
        "shutdown_date": _date(entry.get("shutdown_date")),
        "lifecycle_source": entry.get("lifecycle_source") or "",
        "source": "\n".join(s for s in sources if s),
        "source_date": _date(entry.get("source_date")),
    }


@transaction.atomic
def price_sheet_seed(*, project: Project, path: Path = PRICE_SHEET) -> int:
    """Copy the default sheet into a project; prices it already has are kept. Returns rows added."""
    sheet = load_price_sheet(path)
    added = 0
    for entry in sheet["models"]:
        effective = _midnight_utc(_date(entry["source_date"]))
        _, created = ModelPrice.objects.get_or_create(
            project=project, model=entry["model"], effective_from=effective, defaults=_sheet_row(entry)
        )
        added += created
    return added


# --- import reports ----------------------------------------------------------------


@dataclass
class ImportReport:
    """What an import did, row by row, so a person can check it."""

    source: str
    as_of: dt.date | None
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (entry, reason)
    carried: dict[str, list[str]] = field(default_factory=dict)  # model -> fields kept

    @property
    def counts(self) -> dict[str, int]:
        return {
            "added": len(self.added),
            "updated": len(self.updated),
            "unchanged": len(self.unchanged),
            "skipped": len(self.skipped),
        }

    def skipped_by_reason(self) -> dict[str, int]:
        """Skip reasons without the entry-specific details, with how often each occurred."""
        totals: dict[str, int] = {}
        for _, reason in self.skipped:
            kind = reason.split(":", 1)[0]
            totals[kind] = totals.get(kind, 0) + 1
        return dict(sorted(totals.items(), key=lambda item: (-item[1], item[0])))


def _differs(row: ModelPrice, values: dict) -> bool:
    return any(getattr(row, name) != values.get(name) for name in CATALOGUE_FIELDS)


class _ProjectRows:
    """A project's rows of some models, read in one query, with the write rules on top."""

    def __init__(self, project: Project, models: Iterable[str]) -> None:
        self.project = project
        self.by_model: dict[str, list[ModelPrice]] = {}
        for price in ModelPrice.objects.filter(project=project, model__in=list(models)).order_by(
            "effective_from"
        ):
            self.by_model.setdefault(price.model, []).append(price)

    def at(self, model: str, effective_from: dt.datetime) -> ModelPrice | None:
        return next(
            (p for p in self.by_model.get(model, []) if p.effective_from == effective_from), None
        )

    def before(self, model: str, effective_from: dt.datetime) -> ModelPrice | None:
        earlier = [p for p in self.by_model.get(model, []) if p.effective_from < effective_from]
        return earlier[-1] if earlier else None

    def write(
        self, *, model: str, effective_from: dt.datetime, values: dict, report: ImportReport
    ) -> None:
        """Add the row for (model, effective_from), update it, or leave it as it is."""
        existing = self.at(model, effective_from)
        if existing is not None:
            changed = _differs(existing, values) or any(
                getattr(existing, name) != values[name]
                for name in ("source", "source_date", "lifecycle_source")
            )
            if not changed:
                report.unchanged.append(model)
                return
            for name, value in values.items():
                setattr(existing, name, value)
            existing.save()
            report.updated.append(model)
            return
        earlier = self.before(model, effective_from)
        if earlier is not None and not _differs(earlier, values):
            # Same offer as the row in force: a new row would only repeat it.
            report.unchanged.append(model)
            return
        ModelPrice.objects.create(
            project=self.project, model=model, effective_from=effective_from, **values
        )
        report.added.append(model)


@transaction.atomic
def catalogue_import_bundled(*, project: Project, path: Path = PRICE_SHEET) -> ImportReport:
    """Bring a project's copy of the bundled catalogue up to date with the file.

    Unlike `price_sheet_seed` (which only fills a new project), a row the
    project already has for the same model and date is updated to the file's
    values; rows of other dates are never touched.
    """
    sheet = load_price_sheet(path)
    report = ImportReport(source=str(path), as_of=_date(sheet.get("as_of")))
    rows = _ProjectRows(project, [entry["model"] for entry in sheet["models"]])
    for entry in sheet["models"]:
        rows.write(
            model=entry["model"],
            effective_from=_midnight_utc(_date(entry["source_date"])),
            values=_sheet_row(entry),
            report=report,
        )
    return report


# --- LiteLLM's price map -----------------------------------------------------------


def _not_a_price(entry_name: str, key: str, value) -> PriceImportError:
    return PriceImportError(
        f"Entry '{entry_name}': {key} is {value!r}; a price must be a number of 0 or more. "
        "Fix or remove the entry and import again; nothing was stored.",
        field=key,
    )


class _Unrepresentable(Exception):
    """A price the catalogue cannot store exactly; the entry is skipped, not rounded."""


def _price(entry_name: str, entry: dict, key: str) -> Decimal | None:
    """A per-token price of an entry, as USD per 1M tokens; None when absent.

    Converted exactly (Decimal(str(x)) × 1e6). A value the catalogue cannot hold
    exactly at 6 decimal places (LiteLLM has a few, like 9.499999999999999e-07)
    is refused rather than rounded: `_Unrepresentable`, and the caller skips the
    entry with that reason. A negative or non-numeric value is bad input.
    """
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _not_a_price(entry_name, key, value)
    per_token = Decimal(str(value))
    if not per_token.is_finite() or per_token < 0:
        raise _not_a_price(entry_name, key, value)
    per_1m = per_token * ONE_MILLION
    fitted = per_1m.quantize(PER_1M_PLACES)
    if fitted != per_1m or fitted > PER_1M_MAX:
        raise _Unrepresentable(f"{key} = {value!r} is {per_1m.normalize()} per 1M tokens")
    return fitted


def _tier(entry_name: str, entry: dict, suffix: str, standard: dict) -> Decimal | None:
    """The multiplier of a service tier (suffix `_batches` or `_flex`), or None.

    LiteLLM lists tier prices per token type; the catalogue keeps one multiplier
    on every price, so it is set only when the input and output tier prices are
    both listed, give the same ratio to the standard prices, and that ratio fits
    4 decimal places. A tier price that cannot be stored exactly just leaves the
    multiplier unset: the standard prices are still good.
    """
    ratios = set()
    for kind in ("input", "output"):
        try:
            tiered = _price(entry_name, entry, f"{kind}_cost_per_token{suffix}")
        except _Unrepresentable:
            return None
        base = standard[kind]
        if tiered is None or not base:
            return None
        ratios.add(tiered / base)
    if len(ratios) != 1:
        return None
    ratio = ratios.pop()
    return ratio.quantize(MULTIPLIER_PLACES) if ratio.quantize(MULTIPLIER_PLACES) == ratio else None


def _min_tokens(entry_name: str, entry: dict) -> int | None:
    value = entry.get("prompt_cache_min_tokens")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or value != int(value):
        raise PriceImportError(
            f"Entry '{entry_name}': prompt_cache_min_tokens is {value!r}, not a whole number of "
            "tokens. Fix or remove the entry and import again; nothing was stored.",
            field="prompt_cache_min_tokens",
        )
    return int(value)


def _deprecation(entry_name: str, entry: dict) -> dt.date | None:
    value = entry.get("deprecation_date")
    if value is None:
        return None
    if not isinstance(value, str) or not DATE_RE.match(value):
        raise PriceImportError(
            f"Entry '{entry_name}': deprecation_date is {value!r}, not a YYYY-MM-DD date. Fix or "
            "remove the entry and import again; nothing was stored.",
            field="deprecation_date",
        )
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise PriceImportError(
            f"Entry '{entry_name}': deprecation_date {value!r} is not a real date. Fix or remove "
            "the entry and import again; nothing was stored.",
            field="deprecation_date",
        ) from None


def _model_name(key: str, provider: str) -> str:
    """The name clients send: LiteLLM prefixes many keys with its provider route."""
    return key[len(provider) + 1 :] if key.startswith(provider + "/") else key


@dataclass
class _Parsed:
    key: str
    model: str
    provider: str
    values: dict
    shutdown_source: str


def _parse_entry(key: str, entry: dict, source: str) -> _Parsed:
    provider = entry.get("litellm_provider") or ""
    standard = {
        "input": _price(key, entry, "input_cost_per_token"),
        "output": _price(key, entry, "output_cost_per_token"),
    }
    shutdown = _deprecation(key, entry)
    values = {
        "provider": PROVIDER_NAMES.get(provider, provider)[:50],
        "input_per_1m": standard["input"],
        "cached_input_per_1m": _price(key, entry, "cache_read_input_token_cost"),
        "cache_write_per_1m": _price(key, entry, "cache_creation_input_token_cost"),
        "cache_write_1h_per_1m": _price(key, entry, "cache_creation_input_token_cost_above_1hr"),
        "output_per_1m": standard["output"],
        "min_cacheable_tokens": _min_tokens(key, entry),
        "batch_multiplier": _tier(key, entry, "_batches", standard),
        "flex_multiplier": _tier(key, entry, "_flex", standard),
        "shutdown_date": shutdown,
    }
    shutdown_source = ""
    if shutdown is not None:
        cited = entry.get("deprecation_source")
        shutdown_source = (
            f"shutdown_date {shutdown}: {source}, entry '{key}' (deprecation_date"
            + (f", citing {cited}" if isinstance(cited, str) and cited else "")
            + ")"
        )
    return _Parsed(key=key, model=_model_name(key, provider), provider=provider, values=values,
                   shutdown_source=shutdown_source)


def _tuned_prices(key: str, entry: dict) -> dict:
    return {
        "ft_input_per_1m": _price(key, entry, "input_cost_per_token"),
        "ft_cached_input_per_1m": _price(key, entry, "cache_read_input_token_cost"),
        "ft_output_per_1m": _price(key, entry, "output_cost_per_token"),
    }


@transaction.atomic
def catalogue_import_litellm(
    *,
    project: Project,
    data: dict,
    as_of: dt.date,
    source: str,
    providers: Iterable[str] | None = None,
) -> ImportReport:
    """Import LiteLLM's price map (`model_prices_and_context_window.json`, parsed).

    Chat-mode entries become rows dated `as_of` (per 1M tokens, exact Decimals):
    input, cache read, cache write (default and 1-hour), output, batch and flex
    multipliers (when the tier's input and output prices give one ratio), the
    shortest cacheable prefix, and `deprecation_date` as the shutdown date. An
    `ft:<model>` entry gives the tuned-inference prices of `<model>` (and of
    its undated alias when only one snapshot of that alias is tunable). A row
    for the same model and date is updated; other rows are kept, and a model
    whose offer is unchanged since its latest row gets no new row. Fields the
    file does not know (training prices, hosting, training cut-offs, ...) are
    carried over from the model's latest earlier row and the report says so.

    `providers` limits the import to those LiteLLM provider names. Bad input
    (an entry that is not an object, a negative or non-numeric price, a
    malformed date) raises `PriceImportError` naming the entry, and nothing is
    stored.
    """
    if not isinstance(data, dict):
        raise PriceImportError(
            f"A LiteLLM price map is a JSON object of model name → entry; got {type(data).__name__}.",
            field="data",
        )
    wanted = set(providers) if providers else None
    report = ImportReport(source=source, as_of=as_of)
    effective = _midnight_utc(as_of)

    parsed: dict[str, _Parsed] = {}
    tuned: dict[str, dict] = {}  # base model name -> tuned prices
    for key, entry in data.items():
        if key == "sample_spec":
            continue  # LiteLLM's field documentation, not a model
        if not isinstance(entry, dict):
            raise PriceImportError(
                f"Entry '{key}' is {type(entry).__name__}, not an object. Fix or remove the entry "
                "and import again; nothing was stored.",
                field=key,
            )
        provider = entry.get("litellm_provider") or ""
        if wanted is not None and provider not in wanted:
            continue
        if entry.get("mode") != "chat":
            report.skipped.append((key, f"not a chat model: mode is {entry.get('mode')!r}"))
            continue
        try:
            if key.startswith("ft:"):
                tuned[_model_name(key[3:], provider)] = {"key": key, **_tuned_prices(key, entry)}
                continue
            item = _parse_entry(key, entry, source)
        except _Unrepresentable as exc:
            report.skipped.append((key, f"price not representable at 6 decimal places: {exc}"))
            continue
        if item.values["input_per_1m"] is None or item.values["output_per_1m"] is None:
            report.skipped.append((key, "no price: input or output cost per token missing"))
            continue
        other = parsed.get(item.model)
        if other is not None:
            # Two keys for one model name (with and without the provider prefix):
            # keep the one spelled as clients send it.
            keep, drop = (item, other) if item.key == item.model else (other, item)
            parsed[item.model] = keep
            report.skipped.append((drop.key, f"duplicate model name: entry '{keep.key}' kept"))
            continue
        parsed[item.model] = item

    # Tuned prices apply to the snapshot they name, and to its undated alias when
    # that alias has exactly one tunable snapshot (ft:gpt-4o-mini-2024-07-18 →
    # gpt-4o-mini; gpt-4o has two tunable snapshots, so it gets neither).
    aliases: dict[str, list[str]] = {}
    for base in tuned:
        alias = SNAPSHOT_SUFFIX_RE.sub("", base)
        if alias != base:
            aliases.setdefault(alias, []).append(base)
    for base, prices in tuned.items():
        if base not in parsed:
            report.skipped.append((prices["key"], f"tuned prices without a base model: no entry '{base}'"))
    for alias, bases in aliases.items():
        if len(bases) == 1 and alias in parsed and alias not in tuned:
            tuned[alias] = tuned[bases[0]]

    rows = _ProjectRows(project, parsed)
    for model in sorted(parsed):
        item = parsed[model]
        values = dict(item.values)
        ft_key = None
        for name in ("ft_input_per_1m", "ft_cached_input_per_1m", "ft_output_per_1m"):
            values[name] = None
        if model in tuned:
            ft_key = tuned[model]["key"]
            for name in ("ft_input_per_1m", "ft_cached_input_per_1m", "ft_output_per_1m"):
                values[name] = tuned[model][name]
        for name in ("training_per_1m", "ft_hosting_per_month", "training_available_until"):
            values[name] = None

        earlier = rows.before(model, effective)
        carried = []
        if earlier is not None:
            for name in CARRIED_FIELDS:
                if values.get(name) is None and getattr(earlier, name) is not None:
                    values[name] = getattr(earlier, name)
                    carried.append(name)
        if carried:
            report.carried[model] = carried

        lines = [f"{source}, entry '{item.key}'"]
        if ft_key:
            lines.append(f"Tuned-inference prices: {source}, entry '{ft_key}'")
        if carried:
            lines.append(
                f"Carried over from the row of {earlier.effective_from:%Y-%m-%d} "
                f"({', '.join(carried)}): {earlier.source}"
            )
        values["source"] = "\n".join(lines)
        values["source_date"] = as_of
        lifecycle = [item.shutdown_source] if item.shutdown_source else []
        if {"training_available_until", "shutdown_date"} & set(carried) and earlier.lifecycle_source:
            lifecycle.append(
                f"Carried over from the row of {earlier.effective_from:%Y-%m-%d}: "
                f"{earlier.lifecycle_source}"
            )
        values["lifecycle_source"] = "\n".join(lifecycle)
        rows.write(model=model, effective_from=effective, values=values, report=report)
    return report


def litellm_file_load(path: Path) -> dict:
    """Read a LiteLLM price map from disk; a file that is not a JSON object is refused."""
    try:
        with Path(path).open(encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise PriceImportError(f"No such file: {path}.", field="path") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PriceImportError(
            f"{path} is not valid JSON ({exc}). Download the file again; nothing was stored.",
            field="path",
        ) from None
    if not isinstance(data, dict):
        raise PriceImportError(
            f"{path} holds a JSON {type(data).__name__}; a LiteLLM price map is a JSON object of "
            "model name → entry. Nothing was stored.",
            field="path",
        )
    return data


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
