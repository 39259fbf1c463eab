"""Ledger reads: calls, tokens and cost per prompt or project over a window, by day,
version or model (from the daily rollups)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
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
    return {
        "calls": calls,
        "error_calls": values["error_calls"] or 0,
        "unpriced_calls": values["unpriced_calls"] or 0,
        "input_tokens": values["input_tokens"] or 0,
        "cached_input_tokens": values["cached_input_tokens"] or 0,
        "output_tokens": values["output_tokens"] or 0,
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
