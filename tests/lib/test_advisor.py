"""The fine-tuning advisor against hand-worked cases (pure: no database, no Django).

Every expected figure below is worked out by hand in the comments. Prices are
USD per 1M tokens, so a cost per call is tokens × price / 1,000,000.
"""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal as D

import pytest

from prompts_app.lib.advisor import (
    WHAT_IF_KEYS,
    WHAT_IF_REQUIRED_KEYS,
    AdvisorInputError,
    AdvisorInputs,
    advise,
    training_cost,
    validate_inputs,
)


def reference(**overrides) -> AdvisorInputs:
    """DESIGN.md's reference case: 1,000,000 calls/month, 800 tokens removed,
    $0.002 per 1k input tokens (= $2 per 1M), same price after tuning, a $10,000
    run, 500 approved examples, 1 new version in the last 30 days."""
    fields = dict(
        calls_per_month=D(1_000_000),
        avg_input_tokens=D(1000),
        avg_output_tokens=D(0),
        tokens_removable=D(800),
        input_price_per_1m=D(2),
        output_price_per_1m=D(0),
        one_time_cost=D(10_000),
        approved_examples=500,
        versions_last_30_days=1,
    )
    fields.update(overrides)
    return AdvisorInputs(**fields)


# --------------------------------------------------------------------------- 1. reference case


def test_reference_case_figures_and_verdict():
    # current    = 1000 × $2 / 1M           = $0.002 per call
    # fine-tuned = (1000 − 800) × $2 / 1M   = $0.0004 per call
    # saving     = 0.002 − 0.0004           = $0.0016 per call
    # monthly    = 1,000,000 × 0.0016       = $1,600.00
    # payback    = 10,000 / 1,600           = 6.25 months (≤ 12)
    # break-even = 10,000 / (12 × 0.0016) = 10,000 / 0.0192 = 520,833.33… → 520,834 calls/month
    advice = advise(reference())
    assert advice.current_cost_per_call == D("0.0020000000")
    assert advice.fine_tuned_cost_per_call == D("0.0004000000")
    assert advice.saving_per_call == D("0.0016000000")
    assert advice.monthly_savings == D("1600.00")
    assert str(advice.monthly_savings) == "1600.00"
    assert advice.one_time_cost == D("10000.00")
    assert advice.payback_months == D("6.25")
    assert advice.break_even_calls_per_month == D(520_834)
    assert advice.latency_saved_ms_per_call == D("0.00")
    assert advice.checks == {"payback": True, "volume": True, "examples": True, "stability": True}
    assert advice.verdict == "fine_tune"
    assert advice.reasons[0].startswith(
        "Fine-tuning saves $1,600.00 a month: $0.0016 per call × 1,000,000 calls"
    )
    assert "6.25 months" in advice.reasons[1] and "12-month horizon" in advice.reasons[1]
    assert "520,834 calls/month" in advice.reasons[1]


def test_reference_case_with_equal_output_prices_is_unchanged():
    # 300 output tokens at $8 on both sides add 300 × 8 / 1M = $0.0024 to each:
    # current 0.0020 + 0.0024 = 0.0044; tuned 0.0004 + 0.0024 = 0.0028; saving still 0.0016.
    advice = advise(reference(avg_output_tokens=D(300), output_price_per_1m=D(8)))
    assert advice.current_cost_per_call == D("0.0044")
    assert advice.fine_tuned_cost_per_call == D("0.0028")
    assert advice.monthly_savings == D("1600.00")
    assert advice.payback_months == D("6.25")
    assert advice.verdict == "fine_tune"


def test_reference_case_499_examples_prepares_data():
    # Money, volume and stability pass; 499 < 500 approved examples.
    advice = advise(reference(approved_examples=499))
    assert advice.checks == {"payback": True, "volume": True, "examples": False, "stability": True}
    assert advice.verdict == "prepare_data"
    examples = next(r for r in advice.reasons if "approved example" in r)
    assert "499 approved examples" in examples and "approve 1 more" in examples


def test_reference_case_three_versions_keeps_prompting():
    advice = advise(reference(versions_last_30_days=3))
    assert advice.checks["stability"] is False
    assert advice.verdict == "keep_prompting"
    assert any(
        "3 new versions in the last 30 days" in r and "maximum of 2" in r for r in advice.reasons
    )


def test_reference_case_40k_calls_keeps_prompting():
    # monthly = 40,000 × 0.0016 = $64.00; payback = 10,000 / 64 = 156.25 months.
    advice = advise(reference(calls_per_month=D(40_000)))
    assert advice.monthly_savings == D("64.00")
    assert advice.payback_months == D("156.25")
    assert advice.checks["volume"] is False and advice.checks["payback"] is False
    assert advice.verdict == "keep_prompting"
    floor = "40,000 calls/month, under the 50,000 calls/month floor"
    assert any(floor in r for r in advice.reasons)


def test_volume_alone_keeps_prompting():
    # A $500 run at 40,000 calls: payback = 500 / 64 = 7.8125 → 7.81 months, within 12,
    # so only the volume floor says no.
    advice = advise(reference(calls_per_month=D(40_000), one_time_cost=D(500)))
    assert advice.payback_months == D("7.81")
    assert advice.checks == {"payback": True, "volume": False, "examples": True, "stability": True}
    assert advice.verdict == "keep_prompting"


def test_volume_floor_is_inclusive_and_fractional_calls_just_under_fail():
    assert advise(reference(calls_per_month=D(50_000), one_time_cost=D(0))).checks["volume"] is True
    under = advise(reference(calls_per_month=D("49999.995"), one_time_cost=D(0)))
    assert under.checks["volume"] is False
    # Shown truncated, so it never reads as "50,000" while failing the 50,000 floor.
    assert any("49,999.99 calls/month, under" in r for r in under.reasons)


def test_reference_case_six_month_horizon_keeps_prompting():
    # 6.25 > 6; break-even for 6 months = 10,000 / (6 × 0.0016) = 1,041,666.67 → 1,041,667.
    advice = advise(reference(payback_horizon_months=D(6)))
    assert advice.checks["payback"] is False
    assert advice.verdict == "keep_prompting"
    assert advice.break_even_calls_per_month == D(1_041_667)
    assert "longer than the 6-month horizon" in advice.reasons[1]
    assert "1,041,667 calls/month" in advice.reasons[1]


def test_payback_equal_to_horizon_passes():
    advice = advise(reference(payback_horizon_months=D("6.25")))
    assert advice.checks["payback"] is True and advice.verdict == "fine_tune"


def test_break_even_volume_is_the_exact_switch():
    # At 520,834 calls: monthly = 833.3344, payback = 11.99998… ≤ 12 → passes.
    # At 520,833 calls: monthly = 833.3328, payback = 12.0000048 > 12 → fails, although
    # it rounds to 12.00, so the reason says "just over 12 months" rather than "12.00".
    at = advise(reference(calls_per_month=D(520_834)))
    below = advise(reference(calls_per_month=D(520_833)))
    assert at.checks["payback"] is True and at.verdict == "fine_tune"
    assert below.checks["payback"] is False and below.verdict == "keep_prompting"
    assert below.payback_months == D("12.00")
    assert "just over 12 months" in below.reasons[1]


def test_latency_saved():
    # 0.02 ms per token × 800 tokens = 16.00 ms per call.
    advice = advise(reference(prefill_ms_per_token=D("0.02")))
    assert advice.latency_saved_ms_per_call == D("16.00")
    assert any("16.00 ms" in r and "800 tokens" in r for r in advice.reasons)
    # Removal capped at the input: 0.02 × min(5,000, 1,000) = 20.00 ms.
    capped = advise(reference(prefill_ms_per_token=D("0.02"), tokens_removable=D(5000)))
    assert capped.latency_saved_ms_per_call == D("20.00")
    assert capped.fine_tuned_cost_per_call == D(0)


# --------------------------------------------------------------------------- 2. pricier tuned model

GPT_4O_MINI = dict(
    calls_per_month=D(1_000_000),
    avg_input_tokens=D(1200),
    tokens_removable=D(900),
    input_price_per_1m=D("0.15"),
    output_price_per_1m=D("0.60"),
    ft_input_price_per_1m=D("0.30"),
    ft_output_price_per_1m=D("1.20"),
    one_time_cost=D(1000),
    approved_examples=5000,
    versions_last_30_days=0,
)


def test_pricier_tuned_model_breaks_exactly_even():
    # 150 output tokens:
    # current = (1200 × 0.15 + 150 × 0.60) / 1M = (180 + 90) / 1M = $0.00027
    # tuned   = (300 × 0.30 + 150 × 1.20) / 1M  = (90 + 180) / 1M = $0.00027
    # saving = 0 → never pays back, no break-even volume.
    advice = advise(AdvisorInputs(avg_output_tokens=D(150), **GPT_4O_MINI))
    assert advice.current_cost_per_call == D("0.00027")
    assert advice.fine_tuned_cost_per_call == D("0.00027")
    assert advice.saving_per_call == D(0)
    assert advice.monthly_savings == D("0.00")
    assert advice.payback_months is None
    assert advice.break_even_calls_per_month is None
    assert advice.checks["payback"] is False
    assert advice.verdict == "keep_prompting"
    assert advice.reasons[0].startswith("Fine-tuning saves nothing ($0.00 per call)")
    assert "$0.30 input / $1.20 output" in advice.reasons[0]
    assert "900 tokens removed" in advice.reasons[0]
    assert "never pays back" in advice.reasons[1]


def test_pricier_tuned_model_costs_more():
    # 200 output tokens:
    # current = (180 + 200 × 0.60) / 1M = (180 + 120) / 1M = $0.00030
    # tuned   = (90 + 200 × 1.20) / 1M  = (90 + 240) / 1M  = $0.00033
    # saving = −$0.00003 per call; × 1,000,000 = −$30.00 a month.
    advice = advise(AdvisorInputs(avg_output_tokens=D(200), **GPT_4O_MINI))
    assert advice.saving_per_call == D("-0.00003")
    assert advice.monthly_savings == D("-30.00")
    assert advice.payback_months is None and advice.break_even_calls_per_month is None
    assert advice.verdict == "keep_prompting"
    assert advice.reasons[0].startswith(
        "Fine-tuning would cost $0.00003 more per call ($30.00 more a month at 1,000,000 calls)"
    )
    assert "would cost $30.00 more a month" in advice.reasons[1]


def test_pricier_tuned_model_saving_too_slow():
    # 100 output tokens:
    # current = (180 + 60) / 1M = $0.00024; tuned = (90 + 120) / 1M = $0.00021
    # saving = $0.00003 per call → $30.00 a month; payback = 1,000 / 30 = 33.33 months > 12.
    # break-even = 1,000 / (12 × 0.00003) = 1,000 / 0.00036 = 2,777,777.78 → 2,777,778.
    advice = advise(AdvisorInputs(avg_output_tokens=D(100), **GPT_4O_MINI))
    assert advice.monthly_savings == D("30.00")
    assert advice.payback_months == D("33.33")
    assert advice.break_even_calls_per_month == D(2_777_778)
    assert advice.verdict == "keep_prompting"


# --------------------------------------------------------------------------- 3. prompt cache


def test_cache_shrinks_the_saving():
    # 1,000 input tokens, 50% cached at $1 (half of $2); 800 removable; output 0.
    # cached = 500, uncached = 500
    # current = (500 × 2 + 500 × 1) / 1M = 1,500 / 1M = $0.0015
    # tuned: ft_input = 200, ft_cached = max(0, 500 − 800) = 0, ft_uncached = 200
    #        = 200 × 2 / 1M = $0.0004
    # saving = $0.0011 per call (vs $0.0016 with no cache) → $1,100.00 a month
    # payback = 10,000 / 1,100 = 9.0909… → 9.09 months
    # break-even = 10,000 / (12 × 0.0011) = 10,000 / 0.0132 = 757,575.76 → 757,576
    advice = advise(reference(cached_input_share=D("0.5"), cached_input_price_per_1m=D(1)))
    no_cache = advise(reference())
    assert advice.current_cost_per_call == D("0.0015")
    assert advice.fine_tuned_cost_per_call == D("0.0004")
    assert advice.saving_per_call == D("0.0011")
    assert advice.monthly_savings == D("1100.00") < no_cache.monthly_savings
    assert advice.payback_months == D("9.09")
    assert advice.break_even_calls_per_month == D(757_576)
    cache_reason = advice.reasons[1]
    assert cache_reason.startswith("50% of input tokens (500 of 1,000 per call)")
    assert "$1.00 per 1M instead of $2.00" in cache_reason
    assert "shrinks" in cache_reason
    assert "saves $0.0011 per call" in cache_reason
    assert "$0.0016 per call without it" in cache_reason


def test_cache_larger_than_the_removed_prefix():
    # 90% of 1,000 cached at $1: cached = 900, uncached = 100
    # current = (100 × 2 + 900 × 1) / 1M = 1,100 / 1M = $0.0011
    # tuned: ft_input = 200, ft_cached = 900 − 800 = 100, ft_uncached = 100
    #  with a tuned cached price of $1: (100 × 2 + 100 × 1) / 1M = $0.0003 → saving $0.0008
    #    → $800.00 a month, payback 10,000 / 800 = 12.50 months > 12: the cache flips the verdict.
    #  with the default tuned cached price (= tuned input price, $2): (100×2 + 100×2) / 1M
    #    = $0.0004 → saving $0.0007 → $700.00 a month.
    cheap = advise(
        reference(
            cached_input_share=D("0.9"),
            cached_input_price_per_1m=D(1),
            ft_cached_input_price_per_1m=D(1),
        )
    )
    assert cheap.current_cost_per_call == D("0.0011")
    assert cheap.fine_tuned_cost_per_call == D("0.0003")
    assert cheap.monthly_savings == D("800.00")
    assert cheap.payback_months == D("12.50")
    assert cheap.verdict == "keep_prompting"
    default = advise(reference(cached_input_share=D("0.9"), cached_input_price_per_1m=D(1)))
    assert default.inputs.ft_cached_input_price_per_1m == D(2)
    assert default.fine_tuned_cost_per_call == D("0.0004")
    assert default.monthly_savings == D("700.00")


def test_cache_at_full_price_changes_nothing():
    # No cached price given: cached tokens cost the input price, so the saving is the
    # no-cache $0.0016 per call.
    advice = advise(reference(cached_input_share=D("0.5")))
    assert advice.monthly_savings == D("1600.00")
    assert "at the full input price ($2.00 per 1M)" in advice.reasons[1]


# --------------------------------------------------------------------------- 4. no one-time cost


def test_zero_one_time_cost_pays_back_at_once():
    # payback = 0 / 1,600 = 0; break-even = 0 / (12 × 0.0016) = 0 calls/month.
    advice = advise(reference(one_time_cost=D(0)))
    assert advice.payback_months == D("0.00")
    assert advice.break_even_calls_per_month == D(0)
    assert advice.verdict == "fine_tune"
    assert "0.00 months" in advice.reasons[1]
    # ref: real runs cost $100–$500 and up — a $0 cost is flagged.
    assert any("$100–$500" in r for r in advice.reasons)


def test_zero_calls_never_pays_back_but_has_a_break_even():
    advice = advise(reference(calls_per_month=D(0)))
    assert advice.monthly_savings == D("0.00")
    assert advice.payback_months is None
    assert advice.break_even_calls_per_month == D(520_834)
    assert "never pays back" in advice.reasons[1] and "520,834 calls/month" in advice.reasons[1]


# --------------------------------------------------------------------------- examples & reasons


@pytest.mark.parametrize(
    ("approved", "expected"),
    [
        (150, "Only 150 approved examples, under 200: tuning on so few often makes the model"),
        (300, "300 approved examples, under the 500-example minimum for LoRA-class tuning"),
        (300, "approve 200 more"),
        (600, "600 approved examples meet the 500-example minimum"),
        (2500, "at or above the 2,000 that full fine-tuning typically needs (2,000–10,000)"),
    ],
)
def test_example_count_reasons(approved, expected):
    advice = advise(reference(approved_examples=approved))
    assert any(expected in r for r in advice.reasons)


def test_every_reason_carries_a_figure():
    cases = [
        reference(),
        reference(approved_examples=10, versions_last_30_days=9, calls_per_month=D(10)),
        reference(cached_input_share=D("0.3"), cached_input_price_per_1m=D("0.5")),
        reference(prefill_ms_per_token=D("0.6"), eval_pass_rate=D("0.875"), one_time_cost=D(0)),
        AdvisorInputs(avg_output_tokens=D(200), **GPT_4O_MINI),
    ]
    for inputs in cases:
        advice = advise(inputs)
        assert len(advice.reasons) >= 5  # savings, payback, volume, examples, stability
        for reason in advice.reasons:
            assert any(ch.isdigit() for ch in reason), reason


def test_eval_pass_rate_is_reported():
    advice = advise(reference(eval_pass_rate=D("0.875")))
    assert any("passed 87.5% of cases (12.5% failed)" in r for r in advice.reasons)
    assert advice.verdict == "fine_tune"  # informational only


def test_monthly_money_rounds_half_even():
    # 1,250 tokens removed at $2 / 1M = $0.0025 per call; × 50 calls = $0.125 → $0.12 (half-even);
    # × 54 calls = $0.135 → $0.14.
    base = dict(avg_input_tokens=D(1250), tokens_removable=D(1250), one_time_cost=D(1))
    assert advise(reference(calls_per_month=D(50), **base)).monthly_savings == D("0.12")
    assert advise(reference(calls_per_month=D(54), **base)).monthly_savings == D("0.14")


def test_as_dict_is_json_safe_and_plain():
    advice = advise(reference(avg_output_tokens=D(200), **{
        k: v for k, v in GPT_4O_MINI.items() if k not in ("calls_per_month",)
    }))
    data = json.loads(json.dumps(advice.as_dict(schedule_months=2)))
    assert data["verdict"] == "keep_prompting"
    assert data["figures"]["payback_months"] is None
    assert data["figures"]["saving_per_call"] == "-0.0000300000"
    assert data["figures"]["break_even_calls_per_month"] is None
    assert data["units"]["monthly_savings"] == "USD/month"
    assert data["inputs"]["ft_input_price_per_1m"] == "0.30"
    assert data["payback_schedule"][0]["net"] == "-1030.00"
    ref = advise(reference()).as_dict()
    assert ref["figures"] == {
        "current_cost_per_call": "0.0020000000",
        "fine_tuned_cost_per_call": "0.0004000000",
        "saving_per_call": "0.0016000000",
        "monthly_savings": "1600.00",
        "one_time_cost": "10000.00",
        "payback_months": "6.25",
        "break_even_calls_per_month": "520834",
        "latency_saved_ms_per_call": "0.00",
    }
    tiny = advise(reference(calls_per_month=D(0), tokens_removable=D(0))).as_dict()
    assert all("E" not in v and not v.startswith("-0") for v in tiny["figures"].values() if v)


def test_huge_inputs_do_not_overflow():
    big = D(10) ** 15
    advice = advise(reference(calls_per_month=big, avg_input_tokens=big, tokens_removable=big,
                              input_price_per_1m=big))
    # saving = 1e15 × 1e15 / 1e6 = 1e24 per call; × 1e15 calls = 1e39 a month.
    assert advice.monthly_savings == D(10) ** 39


# --------------------------------------------------------------------------- strict dataclass


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("calls_per_month", 1e6),
        ("input_price_per_1m", "2"),
        ("input_price_per_1m", True),
        ("one_time_cost", D(-1)),
        ("cached_input_share", D("1.5")),
        ("avg_input_tokens", D("NaN")),
        ("approved_examples", D(500)),
        ("approved_examples", -1),
        ("payback_horizon_months", D(0)),
        ("eval_pass_rate", D("1.01")),
    ],
)
def test_dataclass_refuses_bad_values(field, value):
    with pytest.raises(AdvisorInputError) as exc:
        reference(**{field: value})
    assert exc.value.field == field


def test_dataclass_converts_ints():
    inputs = reference(calls_per_month=1_000_000, input_price_per_1m=2)
    assert isinstance(inputs.calls_per_month, D)
    assert advise(inputs).monthly_savings == D("1600.00")


# --------------------------------------------------------------------------- 5. validate_inputs

RAW = {
    "calls_per_month": 1_000_000,
    "avg_input_tokens": 1000,
    "avg_output_tokens": 0,
    "tokens_removable": 800,
    "input_price_per_1m": "2",
    "output_price_per_1m": 0,
    "one_time_cost": 10000,
}


def test_validate_inputs_applies_defaults():
    inputs = validate_inputs(dict(RAW))
    assert inputs.cached_input_share == 0
    assert inputs.payback_horizon_months == 12
    assert inputs.approved_examples == 0 and inputs.versions_last_30_days == 0
    assert inputs.volume_floor_calls_per_month == 50_000 and inputs.min_approved_examples == 500
    advice = advise(inputs)
    assert advice.inputs.ft_input_price_per_1m == D(2)
    assert advice.inputs.ft_output_price_per_1m == D(0)
    assert advice.inputs.cached_input_price_per_1m == D(2)
    assert advice.monthly_savings == D("1600.00")
    assert advice.payback_months == D("6.25")
    # No approved examples yet: the money says yes, the data is not there.
    assert advice.verdict == "prepare_data"


def test_validate_inputs_converts_json_numbers_exactly():
    raw = dict(RAW, input_price_per_1m=0.15, ft_input_price_per_1m="0.30",
               cached_input_share=0.5, approved_examples=500.0, payback_horizon_months=None)
    inputs = validate_inputs(raw)
    assert inputs.input_price_per_1m == D("0.15")  # via str(), not the binary float
    assert inputs.ft_input_price_per_1m == D("0.30")
    assert inputs.cached_input_share == D("0.5")
    assert inputs.approved_examples == 500 and isinstance(inputs.approved_examples, int)
    assert inputs.payback_horizon_months == 12  # null → default
    full = {k: 1 for k in WHAT_IF_KEYS}
    full["cached_input_share"] = 0
    assert isinstance(validate_inputs(full), AdvisorInputs)


def test_validate_inputs_missing_keys():
    with pytest.raises(AdvisorInputError) as exc:
        validate_inputs({})
    assert exc.value.field == "calls_per_month"
    assert exc.value.message == "is required"
    assert set(exc.value.errors) == set(WHAT_IF_REQUIRED_KEYS)
    raw = dict(RAW)
    del raw["one_time_cost"]
    with pytest.raises(AdvisorInputError) as exc:
        validate_inputs(raw)
    assert exc.value.field == "one_time_cost"
    with pytest.raises(AdvisorInputError) as exc:
        validate_inputs(dict(RAW, calls_per_month=None))
    assert exc.value.field == "calls_per_month" and "null" in exc.value.message


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("calls_per_month", -5, "negative"),
        ("one_time_cost", "-0.01", "negative"),
        ("cached_input_share", 1.5, "between 0 and 1"),
        ("cached_input_share", "-0.1", "negative"),
        ("input_price_per_1m", "two dollars", "must be a number"),
        ("avg_input_tokens", "", "must be a number"),
        ("avg_input_tokens", "NaN", "finite"),
        ("avg_input_tokens", "Infinity", "finite"),
        ("avg_output_tokens", [1], "must be a number"),
        ("calls_per_month", True, "boolean"),
        ("approved_examples", False, "boolean"),
        ("approved_examples", 10.5, "whole number"),
        ("versions_last_30_days", "2.5", "whole number"),
        ("payback_horizon_months", 0, "greater than 0"),
        ("tokens_removable", "1e400", "at most"),
    ],
)
def test_validate_inputs_rejects_bad_values(field, value, words):
    with pytest.raises(AdvisorInputError) as exc:
        validate_inputs(dict(RAW, **{field: value}))
    assert exc.value.field == field
    assert words in exc.value.message
    assert str(exc.value).startswith(f"{field}: ")


def test_validate_inputs_rejects_unknown_keys_naming_them():
    with pytest.raises(AdvisorInputError) as exc:
        validate_inputs(dict(RAW, colour="blue", calls=5))
    assert exc.value.field == "calls"
    assert "calls, colour" in exc.value.message


def test_validate_inputs_reports_every_problem():
    with pytest.raises(AdvisorInputError) as exc:
        validate_inputs(dict(RAW, calls_per_month=-1, cached_input_share=2, extra=1))
    assert set(exc.value.errors) == {"extra", "calls_per_month", "cached_input_share"}


def test_validate_inputs_wants_an_object():
    with pytest.raises(AdvisorInputError) as exc:
        validate_inputs([1, 2])
    assert exc.value.field == "inputs"


# --------------------------------------------------------------------------- 6. payback schedule


def test_payback_schedule_crosses_at_the_payback_month():
    # $1,600.00 a month against $10,000: month 6 → 9,600 − 10,000 = −400.00;
    # month 7 → 11,200 − 10,000 = +1,200.00. payback 6.25 → first non-negative month 7 = ceil(6.25).
    advice = advise(reference())
    schedule = advice.payback_schedule()
    assert len(schedule) == 24 and schedule[0]["month"] == 1
    assert schedule[5] == {
        "month": 6,
        "cumulative_savings": D("9600.00"),
        "one_time_cost": D("10000.00"),
        "net": D("-400.00"),
    }
    assert schedule[6]["net"] == D("1200.00")
    first = next(row["month"] for row in schedule if row["net"] >= 0)
    assert first == 7
    assert first - 1 < advice.payback_months <= first


def test_payback_schedule_whole_month_payback_nets_zero():
    # $8,000 / $1,600 = 5.00 months: month 5 nets exactly $0.00.
    advice = advise(reference(one_time_cost=D(8000)))
    assert advice.payback_months == D("5.00")
    assert advice.payback_schedule(6)[4]["net"] == D("0.00")


def test_payback_schedule_never_crosses_without_savings():
    advice = advise(AdvisorInputs(avg_output_tokens=D(200), **GPT_4O_MINI))
    schedule = advice.payback_schedule(12)
    assert all(row["net"] < 0 for row in schedule)
    assert schedule[11]["cumulative_savings"] == D("-360.00")  # 12 × −$30.00
    with pytest.raises(AdvisorInputError):
        advice.payback_schedule(0)


# --------------------------------------------------------------------------- training cost


def test_training_cost():
    # 2,500,000 tokens × 4 epochs × $3.00 / 1M = $30.00; + $1,500 preparation = $1,530.00
    cost = training_cost(
        training_tokens=2_500_000, epochs=4, training_price_per_1m=D("3.00"),
        data_preparation_cost=D(1500),
    )
    assert cost == D("1530.00")
    # Fed into the reference case: payback = 1,530 / 1,600 = 0.95625 → 0.96 months.
    assert advise(reference(one_time_cost=cost)).payback_months == D("0.96")
    with pytest.raises(AdvisorInputError):
        training_cost(training_tokens=1, epochs=1, training_price_per_1m=3.0,
                      data_preparation_cost=D(0))


def test_what_if_keys_are_the_documented_ones():
    assert set(WHAT_IF_KEYS) == {
        "calls_per_month", "avg_input_tokens", "avg_output_tokens", "tokens_removable",
        "input_price_per_1m", "output_price_per_1m", "ft_input_price_per_1m",
        "ft_output_price_per_1m", "cached_input_share", "cached_input_price_per_1m",
        "one_time_cost", "approved_examples", "versions_last_30_days", "payback_horizon_months",
        "prefill_ms_per_token", "volume_floor_calls_per_month", "min_approved_examples",
        "max_versions_last_30_days",
    }
    assert dataclasses.is_dataclass(AdvisorInputs)
