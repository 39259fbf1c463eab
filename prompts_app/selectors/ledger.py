"""Ledger reads: calls, tokens and cost per prompt or project over a window, by day,
version or model (from the daily rollups), with each row's cache hit ratio.

The cache hit ratio is cache reads / input tokens (every input token counts, reads
and writes included), the cache write ratio cache writes / input tokens; both are
None (null in the API) when there was no input. A version whose change broke the
cached prefix shows as a drop in its hit ratio against the version before it
(`cache_hit_ratio_by_version`)."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Sum
from django.utils import timezone

from prompts_app.errors import DomainError
from prompts_app.models import (
    ModelPrice,
    Project,
    Prompt,
    UsageEvent,
    UsageRollup,
)
from prompts_app.services.ledger import MAX_LEDGER_DAYS, ROLLUP_SUMS, pico_to_dollars

# --- ledger -------------------------------------------------------------------

LEDGER_GROUPS = {"day": "day", "version": "version_number", "model": "model"}
# Ratios in the API: 4 decimals (0.1234 = 12.34%), rounded half-up.
RATIO_PLACES = Decimal("0.0001")


def token_ratio(part: int, whole: int) -> Decimal | None:
    """`part` / `whole` as an unrounded Decimal (28 significant digits), None when
    `whole` is 0."""
    return Decimal(part) / Decimal(whole) if whole else None


def _ratio_text(part: int, whole: int) -> str | None:
    ratio = token_ratio(part, whole)
    return None if ratio is None else str(ratio.quantize(RATIO_PLACES, rounding=ROUND_HALF_UP))


def rollup_window(*, days: int, today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The first and last day (UTC) of the trailing `days` days, today included:
    the window every ledger view, chart and the advisor read the rollups over."""
    today = today or timezone.now().date()
    return today - dt.timedelta(days=days - 1), today


def _ledger_window(days: Any, today: dt.date | None) -> tuple[int, dt.date, dt.date]:
    try:
        days = int(days)
    except (TypeError, ValueError):
        raise DomainError(
            f"'days' must be a whole number of days, not {days!r}.", field="days"
        ) from None
    if not 1 <= days <= MAX_LEDGER_DAYS:
        raise DomainError(f"'days' must be from 1 to {MAX_LEDGER_DAYS}.", field="days")
    return (days, *rollup_window(days=days, today=today))


def _ledger_row(values: dict) -> dict:
    calls = values["calls"] or 0
    input_tokens = values["input_tokens"] or 0
    cached = values["cached_input_tokens"] or 0
    written = values["cache_write_input_tokens"] or 0
    return {
        "calls": calls,
        "error_calls": values["error_calls"] or 0,
        "unpriced_calls": values["unpriced_calls"] or 0,
        "input_tokens": input_tokens,
        "cached_input_tokens": cached,
        "cache_write_input_tokens": written,
        "output_tokens": values["output_tokens"] or 0,
        "reasoning_tokens": values["reasoning_tokens"] or 0,
        "cache_hit_ratio": _ratio_text(cached, input_tokens),
        "cache_write_ratio": _ratio_text(written, input_tokens),
        "cost": str(pico_to_dollars(values["cost_pico"] or 0)),
        "avg_latency_ms": (
            str((Decimal(values["latency_ms_total"]) / calls).quantize(Decimal("0.1")))
            if calls
            else None
        ),
    }


def _ledger_sums():
    return {name: Sum(name) for name in ROLLUP_SUMS}


def prompt_ledger(
    *, prompt: Prompt, days: Any = 30, group_by: str = "day", today: dt.date | None = None
) -> dict:
    """Calls, tokens and cost (USD) of one prompt over the last `days` days (UTC), grouped."""
    if group_by not in LEDGER_GROUPS:
        raise DomainError("'group_by' must be day, version or model.", field="group_by")
    days, start, end = _ledger_window(days, today)
    rollups = UsageRollup.objects.filter(prompt=prompt, day__gte=start, day__lte=end)
    column = LEDGER_GROUPS[group_by]
    rows = []
    for values in rollups.values(column).annotate(**_ledger_sums()).order_by(column):
        key = values[column]
        rows.append(
            {group_by: key.isoformat() if isinstance(key, dt.date) else key, **_ledger_row(values)}
        )
    return {
        "prompt": prompt.name,
        "days": days,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "group_by": group_by,
        "currency": "USD",
        "rows": rows,
        "totals": _ledger_row(rollups.aggregate(**_ledger_sums())),
    }


def project_ledger(*, project: Project, days: Any = 30, today: dt.date | None = None) -> dict:
    """Per-prompt totals for the whole project over the last `days` days."""
    days, start, end = _ledger_window(days, today)
    rollups = UsageRollup.objects.filter(project=project, day__gte=start, day__lte=end)
    rows = [
        {"prompt": values["prompt__name"], **_ledger_row(values)}
        for values in rollups.values("prompt__name")
        .annotate(**_ledger_sums())
        .order_by("prompt__name")
    ]
    return {
        "project": project.name,
        "days": days,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "currency": "USD",
        "rows": rows,
        "totals": _ledger_row(rollups.aggregate(**_ledger_sums())),
    }


def usage_by_day_and_version(*, prompt: Prompt, days: int = 60, today: dt.date | None = None) -> dict:
    """Calls and cost (USD) per day × version of one prompt over the trailing
    `days` days (`rollup_window`), from the daily rollups, every model summed:
    the one grouping the usage chart needs that `prompt_ledger` does not give."""
    start, end = rollup_window(days=days, today=today)
    rows = (
        UsageRollup.objects.filter(prompt=prompt, day__gte=start, day__lte=end)
        .values("day", "version_number")
        .annotate(calls=Sum("calls"), cost_pico=Sum("cost_pico"))
        .order_by("day", "version_number")
    )
    return {
        "from": start,
        "to": end,
        "rows": [
            {"day": row["day"], "version": row["version_number"], "calls": row["calls"] or 0,
             "cost": pico_to_dollars(row["cost_pico"] or 0)}
            for row in rows
        ],
    }


def _as_day(value: dt.date) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def cache_hit_ratio_by_version(*, prompt: Prompt, since: dt.date, until: dt.date) -> list[dict]:
    """Cache reads and writes of each version of `prompt` with traffic from day
    `since` to day `until` (UTC, both included; a datetime stands for its date),
    every model summed, in version order.

    Each row: `version_number`, `calls`, `input_tokens`, `cached` (cache reads),
    `written` (cache writes), `ratio` (cached / input_tokens, an unrounded Decimal,
    None without input), and against the previous version in the list that had
    input (`previous_version`, None for the first): `drop`, how much lower this
    version's ratio is (previous ratio − ratio, negative when it rose; None
    without a ratio on either side). A change that broke the cached prefix shows
    as a large drop: 0.2 is 20 points.
    """
    rows = (
        UsageRollup.objects.filter(prompt=prompt, day__gte=_as_day(since), day__lte=_as_day(until))
        .values("version_number")
        .annotate(
            calls_sum=Sum("calls"),
            input_sum=Sum("input_tokens"),
            cached_sum=Sum("cached_input_tokens"),
            written_sum=Sum("cache_write_input_tokens"),
        )
        .order_by("version_number")
    )
    result: list[dict] = []
    previous: dict | None = None
    for values in rows:
        if not values["calls_sum"]:
            continue
        input_tokens = values["input_sum"] or 0
        cached = values["cached_sum"] or 0
        ratio = token_ratio(cached, input_tokens)
        row = {
            "version_number": values["version_number"],
            "calls": values["calls_sum"],
            "input_tokens": input_tokens,
            "cached": cached,
            "written": values["written_sum"] or 0,
            "ratio": ratio,
            "previous_version": previous["version_number"] if previous else None,
            "drop": previous["ratio"] - ratio if previous and ratio is not None else None,
        }
        result.append(row)
        if ratio is not None:
            previous = row
    return result


# --- prices -------------------------------------------------------------------


def usage_priced_with(*, price: ModelPrice) -> int:
    """Priced usage events that fell in this price row's period (until the next
    row of the same model in the project): the events it priced."""
    following = (
        ModelPrice.objects.filter(
            project_id=price.project_id, model=price.model, effective_from__gt=price.effective_from
        )
        .order_by("effective_from")
        .values_list("effective_from", flat=True)
        .first()
    )
    events = UsageEvent.objects.filter(
        project_id=price.project_id, model=price.model, priced=True,
        occurred_at__gte=price.effective_from,
    )
    if following is not None:
        events = events.filter(occurred_at__lt=following)
    return events.count()
