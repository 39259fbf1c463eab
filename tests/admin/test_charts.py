"""The server-rendered SVG charts: well-formed, escaped, the numbers on them
right, and the one query behind the usage chart."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest

from prompts_app.admin import charts
from prompts_app.lib import advisor
from prompts_app.models import UsageRollup
from prompts_app.selectors.ledger import usage_by_day_and_version
from tests.factories import PromptFactory, make_version

SVG = "{http://www.w3.org/2000/svg}"
START = dt.date(2026, 11, 1)
END = dt.date(2026, 11, 10)


def _parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # raises on anything that is not well-formed XML
    assert root.tag == f"{SVG}svg"
    return root


def _texts(root: ET.Element) -> list[str]:
    return [el.text or "" for el in root.iter(f"{SVG}text")]


def _tips(root: ET.Element, shape: str) -> list[str]:
    return [el.find(f"{SVG}title").text for el in root.iter(f"{SVG}{shape}")
            if el.find(f"{SVG}title") is not None]


def _reference_schedule(months: int = 24) -> tuple[list[dict], str]:
    """DESIGN.md's reference case through the advisor: $1,600 a month, $10,000 once."""
    inputs = advisor.validate_inputs({
        "calls_per_month": 1_000_000, "avg_input_tokens": 1000, "avg_output_tokens": 0, "tokens_removable": 800,
        "input_price_per_1m": 2, "output_price_per_1m": 2, "one_time_cost": 10_000,
    })
    advice = advisor.advise(inputs).as_dict(schedule_months=months)
    return advice["payback_schedule"], advice["figures"]["payback_months"]


# --- formatting and axes ------------------------------------------------------------------------


# Money on the charts is written by lib/formatting.format_money (tests/lib/test_formatting.py).


def test_ticks_are_round_and_cover_the_range():
    assert charts.nice_ticks(0, 34.7, 4) == [0, 10, 20, 30, 40]
    assert charts.nice_ticks(0, 9_300, 4) == [0, 2_500, 5_000, 7_500, 10_000]
    assert charts.nice_ticks(-120, 400, 5) == [-200, 0, 200, 400]
    assert charts.nice_ticks(0, 0) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]  # nothing to show: still an axis


# --- the usage chart ------------------------------------------------------------------------------


def _rows():
    return [
        {"day": START, "version": 1, "calls": 100, "cost": Decimal("0.50")},
        {"day": START + dt.timedelta(days=1), "version": 1, "calls": 80, "cost": Decimal("0.40")},
        {"day": START + dt.timedelta(days=1), "version": 2, "calls": 20, "cost": Decimal("0.30")},
        {"day": END, "version": 2, "calls": 150, "cost": Decimal("1.25")},
    ]


def test_the_usage_chart_stacks_one_bar_segment_per_day_and_version():
    root = _parse(charts.usage_chart(_rows(), start=START, end=END))

    tips = _tips(root, "rect")
    # Four rows, each drawn once on the cost panel and once on the calls panel.
    assert len(tips) == 8
    assert "2026-11-02 · v2: $0.30" in tips
    assert "2026-11-02 · v2: 20 calls" in tips
    assert "2026-11-10 · v2: 150 calls" in tips


def test_the_usage_chart_has_a_legend_and_axes_with_units():
    root = _parse(charts.usage_chart(_rows(), start=START, end=END))

    texts = _texts(root)
    assert "v1" in texts and "v2" in texts
    assert "USD per day" in texts and "calls per day" in texts and "day (UTC)" in texts
    assert "$0.00" in texts  # money ticks carry the dollar sign
    assert "Nov 10" in texts and "Nov 03" in texts  # the last day and every 7th before it
    legend = [el for el in root.iter(f"{SVG}rect") if el.find(f"{SVG}title") is None]
    assert {el.get("fill") for el in legend} == {charts.PALETTE[0], charts.PALETTE[1]}


def test_a_day_stack_reaches_the_sum_of_its_versions():
    rows = [{"day": START, "version": v, "calls": 50, "cost": Decimal(1)} for v in (1, 2)]
    root = _parse(charts.usage_chart(rows, start=START, end=START))

    bars = [el for el in root.iter(f"{SVG}rect") if el.find(f"{SVG}title") is not None]
    cost_bars = [b for b in bars if "$" in b.find(f"{SVG}title").text]
    heights = [float(b.get("height")) for b in cost_bars]
    # Two equal segments, stacked: the second starts where the first ends.
    assert heights[0] == pytest.approx(heights[1])
    first, second = sorted(cost_bars, key=lambda b: float(b.get("y")), reverse=True)
    assert float(second.get("y")) + float(second.get("height")) == pytest.approx(float(first.get("y")), abs=0.02)


def test_an_empty_window_says_so():
    root = _parse(charts.usage_chart([], start=START, end=END))

    assert "No usage reported in this window." in _texts(root)


def test_labels_are_escaped():
    svg = charts.usage_chart(
        [{"day": START, "version": "<script>alert(1)</script>", "calls": 1, "cost": Decimal(1)}],
        start=START, end=START,
    )

    assert "<script>" not in svg
    assert "v&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    _parse(svg)


# --- the payback chart ------------------------------------------------------------------------------


def test_break_even_is_the_month_the_net_turns_non_negative():
    schedule, payback = _reference_schedule()

    found = charts.break_even(schedule, payback)

    assert found["month"] == 7  # 6.25 months: month 6 is still short, month 7 is past it
    assert found["label"] == "break-even ≈ month 7 (6.25 months)"


def test_the_payback_chart_marks_and_labels_the_break_even_point():
    schedule, payback = _reference_schedule()

    root = _parse(charts.payback_chart(schedule, payback_months=payback))

    texts = _texts(root)
    assert "break-even ≈ month 7 (6.25 months)" in texts
    assert "cumulative savings (USD)" in texts and "one-time cost ($10,000.00)" in texts
    assert "USD (cumulative)" in texts and "months after the one-time cost" in texts
    assert len(_tips(root, "circle")) == 24
    assert "month 7: cumulative savings $11,200.00, one-time cost $10,000.00, net $1,200.00" in _tips(root, "circle")
    marker = next(el for el in root.iter(f"{SVG}circle") if el.get("class") == "pl-break-even-point")
    cost_line = next(el for el in root.iter(f"{SVG}line") if el.get("class") == "pl-cost-line")
    assert float(marker.get("cy")) == pytest.approx(float(cost_line.get("y1")))  # on the cost line
    # At 6.25 of 24 months along the x axis (78 → 936 px).
    assert float(marker.get("cx")) == pytest.approx(78 + 6.25 / 24 * (936 - 78), abs=0.01)


def test_a_payback_past_the_schedule_is_named_but_not_drawn():
    schedule, _ = _reference_schedule(months=6)

    root = _parse(charts.payback_chart(schedule, payback_months="6.25"))

    assert "break-even after month 6 (6.25 months)" in _texts(root)
    assert not [el for el in root.iter(f"{SVG}circle") if el.get("class") == "pl-break-even-point"]


def test_no_saving_means_no_break_even():
    schedule = [{"month": m, "cumulative_savings": f"{-5 * m}.00", "one_time_cost": "100.00",
                 "net": f"{-5 * m - 100}.00"} for m in range(1, 13)]

    root = _parse(charts.payback_chart(schedule, payback_months=None))

    assert charts.break_even(schedule, None) is None
    assert "no break-even: fine-tuning saves nothing per month" in _texts(root)
    assert "-$60" in _texts(root) or "-$50" in _texts(root)  # the axis goes below zero


def test_an_empty_schedule_draws_nothing():
    assert charts.payback_chart([], payback_months=None) == ""


# --- the query ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_usage_is_summed_per_day_and_version_across_models(acme):
    prompt = PromptFactory(project=acme, name="counted")
    make_version(prompt)
    day = dt.date(2026, 11, 20)

    def rollup(version, model, calls, cost_pico, when=day):
        UsageRollup.objects.create(project=acme, prompt=prompt, version_number=version, model=model, day=when,
                                   calls=calls, cost_pico=cost_pico)

    rollup(1, "gpt-4o-mini", 10, 2_000_000_000)
    rollup(1, "gpt-4o", 5, 1_500_000_000)
    rollup(2, "gpt-4o-mini", 7, 1_000_000_000)
    rollup(1, "gpt-4o-mini", 99, 1, when=day - dt.timedelta(days=60))  # outside the 60-day window

    usage = usage_by_day_and_version(prompt=prompt, days=60, today=day)

    assert usage["from"] == day - dt.timedelta(days=59) and usage["to"] == day
    assert usage["rows"] == [
        {"day": day, "version": 1, "calls": 15, "cost": Decimal("0.0035")},
        {"day": day, "version": 2, "calls": 7, "cost": Decimal("0.001")},
    ]
