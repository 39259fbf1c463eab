"""Charts for the admin, drawn on the server as inline SVG: no JavaScript, no CDN.

The chart functions are pure: data in, an SVG string out. Every piece of text
in the SVG is escaped here, so a caller may mark the result safe. Geometry is
computed with floats; every number a person reads is formatted from the
Decimal it was given, with its unit. The data comes from the selectors
(`selectors.ledger.usage_by_day_and_version`, the advice's payback schedule);
nothing here reads the database.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from html import escape
from typing import Any

from prompts_app.lib.formatting import format_count, format_money, format_number

# Series colours: mid-tone, so bars read on the admin's light and dark themes.
PALETTE = ("#3b82c4", "#e0823d", "#3aa57a", "#a463c7", "#c9a227", "#d65a5a", "#4fb3c8", "#8c8c8c")
SAVINGS_COLOUR = "#3aa57a"
COST_COLOUR = "#d65a5a"
MARKER_COLOUR = "#3b82c4"

FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif" font-size="11"'

# --- numbers ----------------------------------------------------------------------------------
# Every number a person reads goes through lib/formatting (one rounding rule).


def _decimal(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _tick_places(step: float) -> int:
    """Decimals needed to tell ticks `step` apart (at least 2 for money)."""
    exponent = Decimal(repr(step)).normalize().as_tuple().exponent
    return max(2, -exponent) if isinstance(exponent, int) else 2


def _usd_tick(value: float, step: float) -> str:
    if step >= 1 and float(value).is_integer():
        return format_money(int(value), places=0)
    return format_money(value, places=_tick_places(step))


# --- axes --------------------------------------------------------------------------------------


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering low..high (low ≤ 0 ≤ high is kept), about
    `count` intervals, steps of 1, 2, 2.5 or 5 × a power of ten."""
    low, high = min(low, 0.0), max(high, 0.0)
    if high - low <= 0:
        high = low + 1.0
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.floor(low / step + 1e-9)
    last = math.ceil(high / step - 1e-9)
    return [round(i * step, 10) for i in range(first, last + 1)]


def _svg_open(width: int, height: int, label: str) -> list[str]:
    title = escape(label)
    return [
        (f'<svg xmlns="http://www.w3.org/2000/svg" class="pl-chart" viewBox="0 0 {width} {height}" '
         f'width="{width}" height="{height}" role="img" aria-label="{title}" {FONT}>'),
        f"<title>{title}</title>",
    ]


def _text(x: float, y: float, text: str, *, anchor: str = "start", extra: str = "") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="currentColor"{extra}>'
            f"{escape(text)}</text>")


def _y_axis(ticks: list[float], scale, *, left: float, right: float, label, title: str,
            top: float, bottom: float) -> list[str]:
    """Grid lines and labels for one value axis, with the axis title turned on its side."""
    parts = []
    for tick in ticks:
        y = scale(tick)
        parts.append(f'<line x1="{left:.1f}" y1="{y:.1f}" x2="{right:.1f}" y2="{y:.1f}" stroke="currentColor" '
                     f'stroke-opacity="{0.45 if tick == 0 else 0.12}"/>')
        parts.append(_text(left - 6, y + 4, label(tick), anchor="end", extra=' class="pl-tick"'))
    middle = (top + bottom) / 2
    parts.append(_text(14, middle, title, anchor="middle",
                       extra=f' font-weight="600" transform="rotate(-90 14 {middle:.1f})"'))
    return parts


def _legend(items: Iterable[tuple[str, str, str]], *, x: float, y: float) -> list[str]:
    """(label, colour, shape) swatches in a row; shape is "box" or "line" or "dash"."""
    parts = []
    for label, colour, shape in items:
        if shape == "box":
            parts.append(f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="12" height="12" rx="2" fill="{colour}"/>')
        else:
            dash = ' stroke-dasharray="5 3"' if shape == "dash" else ""
            parts.append(f'<line x1="{x:.1f}" y1="{y - 3:.1f}" x2="{x + 16:.1f}" y2="{y - 3:.1f}" '
                         f'stroke="{colour}" stroke-width="2.5"{dash}/>')
        parts.append(_text(x + 20, y + 1, label))
        x += 34 + 6.5 * len(label)
    return parts


# --- the usage chart ----------------------------------------------------------------------------


def usage_chart(rows: list[dict], *, start: dt.date, end: dt.date, width: int = 960) -> str:
    """Daily cost (USD) and calls, stacked by version, one bar per day from
    `start` to `end`: cost above, calls below, one legend. `rows` hold day
    (a date), version (a number), calls and cost (USD, Decimal)."""
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    index = {day: i for i, day in enumerate(days)}
    versions = sorted({row["version"] for row in rows})
    colour = {v: PALETTE[i % len(PALETTE)] for i, v in enumerate(versions)}
    calls: dict[int, dict[int, int]] = defaultdict(dict)
    cost: dict[int, dict[int, Decimal]] = defaultdict(dict)
    for row in rows:
        if row["day"] in index:
            i = index[row["day"]]
            calls[i][row["version"]] = calls[i].get(row["version"], 0) + int(row["calls"])
            cost[i][row["version"]] = cost[i].get(row["version"], Decimal(0)) + _decimal(row["cost"])

    left, right = 78.0, width - 16.0
    legend_y, top1, height1, gap, height2 = 18.0, 40.0, 150.0, 34.0, 150.0
    top2 = top1 + height1 + gap
    bottom = top2 + height2
    total_height = int(bottom + 44)
    step = (right - left) / max(len(days), 1)
    bar = max(step * 0.72, 1.0)

    label = f"Daily cost (USD) and calls by version, {start.isoformat()} to {end.isoformat()}"
    parts = _svg_open(width, total_height, label)
    parts += _legend([(f"v{v}", colour[v], "box") for v in versions], x=left, y=legend_y)
    if not rows:
        parts.append(_text((left + right) / 2, top1 + height1 / 2, "No usage reported in this window.",
                           anchor="middle", extra=' font-size="13"'))

    panels = [
        ("USD per day", cost, top1, height1, lambda t, s: _usd_tick(t, s), lambda v: format_money(v)),
        ("calls per day", calls, top2, height2, lambda t, s: format_count(t, short=True), lambda v: f"{format_count(v)} calls"),
    ]
    for title, values, top, height, tick_label, value_text in panels:
        peak = max((float(sum(day.values())) for day in values.values()), default=0.0)
        ticks = nice_ticks(0.0, peak, 4)
        tick_step = ticks[1] - ticks[0]
        high = ticks[-1]

        def scale(value, top=top, height=height, high=high):
            return top + height - (float(value) / high) * height

        def axis_label(tick, tick_label=tick_label, tick_step=tick_step):
            return tick_label(tick, tick_step)

        parts += _y_axis(ticks, scale, left=left, right=right, label=axis_label, title=title, top=top,
                         bottom=top + height)
        for i, day in enumerate(days):
            x = left + i * step + (step - bar) / 2
            base = 0.0
            for version in versions:
                value = values.get(i, {}).get(version)
                if not value:
                    continue
                y1, y0 = scale(base + float(value)), scale(base)
                base += float(value)
                tip = f"{day.isoformat()} · v{version}: {value_text(value)}"
                parts.append(f'<rect x="{x:.2f}" y="{y1:.2f}" width="{bar:.2f}" height="{max(y0 - y1, 0.5):.2f}" '
                             f'fill="{colour[version]}"><title>{escape(tip)}</title></rect>')

    # Dates under the lower panel: the last day, and every 7th day before it.
    for i, day in enumerate(days):
        if (len(days) - 1 - i) % 7 == 0:
            x = left + i * step + step / 2
            parts.append(f'<line x1="{x:.1f}" y1="{bottom:.1f}" x2="{x:.1f}" y2="{bottom + 4:.1f}" '
                         'stroke="currentColor" stroke-opacity="0.45"/>')
            parts.append(_text(x, bottom + 16, day.strftime("%b %d"), anchor="middle", extra=' class="pl-tick"'))
    parts.append(_text((left + right) / 2, bottom + 36, "day (UTC)", anchor="middle", extra=' font-weight="600"'))
    parts.append("</svg>")
    return "\n".join(parts)


# --- the payback chart --------------------------------------------------------------------------


def break_even(schedule: list[dict], payback_months: Any) -> dict | None:
    """Where the payback schedule's net first turns ≥ 0: {"month", "months",
    "label"}; `month` is None when that is past the schedule. None when the
    one-time cost never pays back (no payback figure)."""
    if payback_months in (None, ""):
        return None
    months = _decimal(payback_months)
    month = next((row["month"] for row in schedule if _decimal(row["net"]) >= 0), None)
    if month is None:
        last = schedule[-1]["month"] if schedule else 0
        return {"month": None, "months": months,
                "label": f"break-even after month {last} ({format_number(months)} months)"}
    return {"month": month, "months": months, "label": f"break-even ≈ month {month} ({format_number(months)} months)"}


def payback_chart(schedule: list[dict], *, payback_months: Any, width: int = 960) -> str:
    """Cumulative savings month by month against the one-time cost (both USD),
    with the break-even point marked and labelled. `schedule` is the advisor's
    payback_schedule: month, cumulative_savings, one_time_cost, net."""
    if not schedule:
        return ""
    months = [int(row["month"]) for row in schedule]
    savings = [_decimal(row["cumulative_savings"]) for row in schedule]
    cost = _decimal(schedule[0]["one_time_cost"])
    found = break_even(schedule, payback_months)

    left, right, top, height = 78.0, width - 24.0, 40.0, 260.0
    bottom = top + height
    total_height = int(bottom + 46)
    ticks = nice_ticks(float(min(savings + [cost, Decimal(0)])), float(max(savings + [cost])), 5)
    low, high = ticks[0], ticks[-1]
    tick_step = ticks[1] - ticks[0]
    last = months[-1]

    def x_of(month: float) -> float:
        return left + (month / last) * (right - left)

    def y_of(value: float) -> float:
        return top + height - ((float(value) - low) / (high - low)) * height

    label = f"Payback: cumulative savings against the one-time cost of {format_money(cost)}, months 1 to {last}"
    parts = _svg_open(width, total_height, label)
    parts += _legend([("cumulative savings (USD)", SAVINGS_COLOUR, "line"),
                      (f"one-time cost ({format_money(cost)})", COST_COLOUR, "dash")], x=left, y=18)
    parts += _y_axis(ticks, y_of, left=left, right=right, label=lambda t: _usd_tick(t, tick_step),
                     title="USD (cumulative)", top=top, bottom=bottom)
    x_step = 3 if last > 12 else 1
    for month in range(0, last + 1, x_step):
        x = x_of(month)
        parts.append(f'<line x1="{x:.1f}" y1="{bottom:.1f}" x2="{x:.1f}" y2="{bottom + 4:.1f}" '
                     'stroke="currentColor" stroke-opacity="0.45"/>')
        parts.append(_text(x, bottom + 16, str(month), anchor="middle", extra=' class="pl-tick"'))
    parts.append(_text((left + right) / 2, bottom + 36, "months after the one-time cost", anchor="middle",
                       extra=' font-weight="600"'))

    # The one-time cost, then the savings line from month 0 (nothing saved yet).
    parts.append(f'<line class="pl-cost-line" x1="{left:.1f}" y1="{y_of(cost):.2f}" x2="{right:.1f}" '
                 f'y2="{y_of(cost):.2f}" stroke="{COST_COLOUR}" stroke-width="2" stroke-dasharray="6 4"/>')
    points = [(x_of(0), y_of(0))] + [(x_of(m), y_of(s)) for m, s in zip(months, savings)]
    path = " ".join(f"{x:.2f},{y:.2f}" for x, y in points)
    parts.append(f'<polyline class="pl-savings-line" points="{path}" fill="none" stroke="{SAVINGS_COLOUR}" '
                 'stroke-width="2.5" stroke-linejoin="round"/>')
    for row, month, value in zip(schedule, months, savings):
        tip = (f"month {month}: cumulative savings {format_money(value)}, one-time cost {format_money(cost)}, "
               f"net {format_money(row['net'])}")
        parts.append(f'<circle cx="{x_of(month):.2f}" cy="{y_of(value):.2f}" r="3" fill="{SAVINGS_COLOUR}">'
                     f"<title>{escape(tip)}</title></circle>")

    if found is None:
        note = "no break-even: fine-tuning saves nothing per month"
        parts.append(_text(right, top + 14, note, anchor="end", extra=' class="pl-break-even" font-weight="600"'))
    elif found["month"] is None:
        parts.append(_text(right, top + 14, found["label"], anchor="end",
                           extra=' class="pl-break-even" font-weight="600"'))
    else:
        x, y = x_of(float(found["months"])), y_of(cost)
        parts.append(f'<line x1="{x:.2f}" y1="{top:.1f}" x2="{x:.2f}" y2="{bottom:.1f}" stroke="{MARKER_COLOUR}" '
                     'stroke-width="1.5" stroke-dasharray="3 3"/>')
        parts.append(f'<circle class="pl-break-even-point" cx="{x:.2f}" cy="{y:.2f}" r="6" fill="none" '
                     f'stroke="{MARKER_COLOUR}" stroke-width="2.5"/>')
        anchor, dx = ("end", -10) if x > left + 0.6 * (right - left) else ("start", 10)
        # The savings line runs under the cost line before the point and over it
        # after, so below-right and above-left of the point are free of it.
        below, above = y + 20, y - 12
        if anchor == "start":
            label_y = below if below < bottom - 6 else above
        else:
            label_y = above if above > top + 10 else below
        parts.append(_text(x + dx, label_y, found["label"], anchor=anchor,
                           extra=' class="pl-break-even" font-weight="600"'))
    parts.append("</svg>")
    return "\n".join(parts)
