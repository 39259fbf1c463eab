"""POST /api/v1/advice/what-if with issue 13's inputs: cache writes, hosting,
lifecycle dates, and the strategies; figures worked by hand (see
tests/advice/test_advisor_world.py and tests/advice/test_strategies.py for the
arithmetic in full).
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal as D

import pytest

from prompts_app.lib.advisor import AdvisorInputs, advise
from prompts_app.lib.strategies import (
    Evidence,
    ModelOffer,
    StrategyInputs,
    compare,
)
from prompts_app.lib.what_if import strategy_inputs_as_what_if
from prompts_app.selectors.advice import PAYBACK_SCHEDULE_MONTHS

pytestmark = pytest.mark.django_db

URL = "/api/v1/advice/what-if"

REFERENCE = {
    "calls_per_month": 1_000_000,
    "avg_input_tokens": 1000,
    "avg_output_tokens": 0,
    "tokens_removable": 800,
    "input_price_per_1m": "2.00",
    "output_price_per_1m": "8",
    "one_time_cost": 10000,
    "approved_examples": 500,
    "versions_last_30_days": 1,
}


def post(actor, body):
    return actor.client.post(URL, body, format="json")


def test_the_reference_case_keeps_its_figures_and_lists_two_strategies(reader):
    body = post(reader, REFERENCE).json()
    assert body["verdict"] == "fine_tune"
    assert body["figures"]["monthly_savings"] == "1600.00"
    assert body["figures"]["payback_months"] == "6.25"
    assert body["figures"]["break_even_calls_per_month"] == "520834"
    assert set(body["checks"]) == {"payback", "volume", "examples", "stability"}
    # keep ($2,000.00 a month) and the fine-tune the inputs describe, with the
    # verdict's figures: 1,600 × 12 − 10,000 = $9,200.00 over the horizon.
    assert [s["key"] for s in body["strategies"]] == ["fine_tune:what-if:what-if", "keep"]
    tune, keep = body["strategies"]
    assert keep["monthly_cost"] == "2000.00" and keep["cost_per_call"] == "0.0020000000"
    assert tune["cost_per_call"] == body["figures"]["fine_tuned_cost_per_call"]
    assert tune["monthly_saving"] == body["figures"]["monthly_savings"]
    assert tune["one_time_cost"] == body["figures"]["one_time_cost"]
    assert tune["payback_months"] == body["figures"]["payback_months"]
    assert tune["net_saving_over_horizon"] == "9200.00"
    assert tune["model"] == "what-if" and tune["evidence"]["status"] == "untested"
    assert "one-time: $10,000.00 (training + data preparation, as given)" in tune["formula"]


def test_three_tier_caching_and_the_tuned_cached_price(reader):
    # 500 reads × $0.20 + 100 writes × $2.50 + 400 × $2.00 = $0.00115 a call today;
    # tuned without 550 tokens (500 reads, 50 writes): 400 × $2 + 50 × $2 = $0.0009;
    # $250.00 a month; 1,500 / 250 = 6.00 months; break-even 1,500 / 0.003 = 500,000.
    body = post(
        reader,
        {
            **REFERENCE,
            "output_price_per_1m": "0",
            "tokens_removable": 550,
            "one_time_cost": 1500,
            "cached_input_share": "0.5",
            "cached_input_price_per_1m": "0.20",
            "cache_write_share": "0.1",
            "cache_write_price_per_1m": "2.50",
            "ft_cached_input_price_per_1m": "0.20",
        },
    ).json()
    assert body["figures"]["current_cost_per_call"] == "0.0011500000"
    assert body["figures"]["fine_tuned_cost_per_call"] == "0.0009000000"
    assert body["figures"]["monthly_savings"] == "250.00"
    assert body["figures"]["payback_months"] == "6.00"
    assert body["figures"]["break_even_calls_per_month"] == "500000"
    assert body["inputs"]["cache_write_share"] == "0.1"
    keep = next(s for s in body["strategies"] if s["key"] == "keep")
    assert keep["formula"][0] == (
        "what-if: (400 uncached × $2.00 + 500 cache reads × $0.20 + 100 cache writes × $2.50) "
        "per 1M tokens = $0.00115/call"
    )


def test_hosting_on_the_api(reader):
    # 1,600 − 100 = $1,500.00; 10,000 / 1,500 = 6.67 months; (10,000 + 1,200) / 0.0192
    # = 583,333.33 → 583,334 calls/month.
    body = post(reader, {**REFERENCE, "ft_fixed_cost_per_month": "100"}).json()
    assert body["figures"]["monthly_savings"] == "1500.00"
    assert body["figures"]["payback_months"] == "6.67"
    assert body["figures"]["break_even_calls_per_month"] == "583334"
    tune = body["strategies"][0]
    assert tune["fixed_monthly_cost"] == "100.00" and tune["monthly_saving"] == "1500.00"


def test_training_closed_keeps_prompting_naming_the_date(reader):
    body = post(
        reader,
        {
            **REFERENCE,
            "as_of": "2027-01-06",
            "training_available_until": "2027-01-06",
        },
    ).json()
    assert body["verdict"] == "keep_prompting"
    assert body["checks"]["lifecycle"] is False
    assert body["reasons"][0].startswith("Training closed on 2027-01-06")
    assert body["figures"]["monthly_savings"] == "1600.00"
    assert body["inputs"]["as_of"] == "2027-01-06"
    tune = next(s for s in body["strategies"] if s["kind"] == "fine_tune")
    assert tune["blockers"] == [
        "Training closed on 2027-01-06: the provider accepts no new training jobs from that day "
        "(as of 2027-01-06)."
    ]
    assert [s["key"] for s in body["strategies"]] == ["keep", "fine_tune:what-if:what-if"]


def test_a_shutdown_before_the_payback_keeps_prompting(reader):
    # $3,120 / $1,600 = 1.95 months → 60 days after 2026-11-29 = 2027-01-28, after
    # the 2027-01-14 shutdown; training (until 2027-01-06) is open.
    body = post(
        reader,
        {
            **REFERENCE,
            "one_time_cost": "3120",
            "as_of": "2026-11-29",
            "training_available_until": "2027-01-06",
            "model_shutdown_date": "2027-01-14",
        },
    ).json()
    assert body["verdict"] == "keep_prompting"
    assert body["reasons"][0] == (
        "The tuned model shuts down on 2027-01-14, before the payback completes on 2027-01-28 "
        "(1.95 months from 2026-11-29): the run would not pay for itself, so keep prompting."
    )
    assert any(r.startswith("New training jobs stop on 2027-01-06") for r in body["reasons"])
    tune = next(s for s in body["strategies"] if s["kind"] == "fine_tune")
    assert "before the payback completes on 2027-01-28" in tune["blockers"][0]
    # A shutdown on 2027-01-29 leaves the payback one day to spare.
    body = post(
        reader,
        {
            **REFERENCE,
            "one_time_cost": "3120",
            "as_of": "2026-11-29",
            "model_shutdown_date": "2027-01-29",
        },
    ).json()
    assert body["verdict"] == "fine_tune" and body["checks"]["lifecycle"] is True


def test_the_current_model_can_carry_the_prices(reader):
    # gpt-4.1-mini's offer in place of the price keys: 3c's prompt, uncached.
    body = post(
        reader,
        {
            "calls_per_month": 1_000_000,
            "avg_input_tokens": 3300,
            "avg_output_tokens": 200,
            "tokens_removable": 2800,
            "one_time_cost": "52.50",
            "approved_examples": 5000,
            "as_of": "2026-11-29",
            "static_tokens": 3000,
            "cacheable_prefix_tokens": 200,
            "breaking_variable": "customer_message",
            "asynchronous": True,
            "current_model": {
                "model": "gpt-4.1-mini",
                "provider": "openai",
                "input": "0.40",
                "cached_input": "0.10",
                "output": "1.60",
                "batch_multiplier": "0.5",
                "min_cacheable_tokens": 1024,
                "shutdown_date": "2027-01-14",
                "training": "5.00",
                "training_available_until": "2027-01-06",
                "ft_input": "0.80",
                "ft_cached_input": "0.20",
                "ft_output": "3.20",
            },
            "candidates": [
                {
                    "model": "gpt-5.6-luna",
                    "provider": "openai",
                    "input": "0.20",
                    "cached_input": "0.02",
                    "cache_write": "0.25",
                    "output": "1.20",
                }
            ],
            "training_tokens": 3_500_000,
            "epochs": 3,
        },
    ).json()
    assert body["inputs"]["input_price_per_1m"] == "0.40"
    assert body["figures"]["monthly_savings"] == "600.00"  # 1,640 − 1,040
    assert body["verdict"] == "fine_tune"
    by_key = {s["key"]: s for s in body["strategies"]}
    assert [s["key"] for s in body["strategies"]] == [
        "batch",
        "cache_prefix",
        "downshift:gpt-5.6-luna",
        "fine_tune:openai:gpt-4.1-mini",
        "keep",
    ]
    assert by_key["batch"]["monthly_cost"] == "820.00"
    assert by_key["cache_prefix"]["monthly_cost"] == "830.00"
    assert by_key["downshift:gpt-5.6-luna"]["monthly_cost"] == "900.00"
    assert by_key["fine_tune:openai:gpt-4.1-mini"]["monthly_cost"] == "1040.00"
    assert by_key["fine_tune:openai:gpt-4.1-mini"]["payback_months"] == "0.09"


@pytest.mark.parametrize(
    "change, field",
    [
        ({"as_of": "2027/01/06"}, "as_of"),
        ({"model_shutdown_date": "2027-02-30"}, "model_shutdown_date"),
        ({"training_available_until": 20270106}, "training_available_until"),
        ({"cached_input_share": "0.9", "cache_write_share": "0.2"}, "cache_write_share"),
        ({"ft_fixed_cost_per_month": -1}, "ft_fixed_cost_per_month"),
        ({"static_tokens": 10, "cacheable_prefix_tokens": 11}, "cacheable_prefix_tokens"),
        ({"static_tokens": "lots"}, "static_tokens"),
        ({"asynchronous": "yes"}, "asynchronous"),
        ({"assumed_cache_hit_rate": "1.5"}, "assumed_cache_hit_rate"),
        ({"current_model": {"model": "m", "input": "3"}}, "current_model.input"),
        ({"current_model": {"input": "2"}}, "current_model.model"),
        ({"current_model": {"model": "m", "colour": "blue"}}, "current_model.colour"),
        ({"candidates": [{"model": "x", "input": "1"}]}, "candidates[0].output"),
        ({"candidates": {"model": "x"}}, "candidates"),
        ({"evidence": {"gpt-5.6-luna": {"status": "passed"}}}, "evidence.gpt-5.6-luna.status"),
        (
            {"evidence": {"gpt-5.6-luna": {"status": "ready", "pass_rate": 2}}},
            "evidence.gpt-5.6-luna.pass_rate",
        ),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_inputs_are_a_400_naming_the_field(reader, change, field):
    response = post(reader, {**REFERENCE, **change})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == field, error
    assert field in error["details"]["errors"]


def test_the_unknown_key_message_lists_the_new_keys(reader):
    error = post(reader, {**REFERENCE, "colour": "blue"}).json()["error"]
    for key in ("model_shutdown_date", "cache_write_share", "current_model", "evidence"):
        assert key in error["message"]


# --------------------------------------------------------------------------- the round trip


def a_prompt() -> tuple[AdvisorInputs, StrategyInputs]:
    """A prompt as the advice service would describe it: 3c's prompt with 40%
    of its input read from the cache, gpt-4.1-mini with OpenAI's lifecycle, three
    candidates (one with a passing eval run), examples to prune, a changing
    prompt, and an odd volume (scaled from 23 observed days)."""
    mini = ModelOffer(
        model="gpt-4.1-mini",
        provider="openai",
        input=D("0.40"),
        cached_input=D("0.10"),
        output=D("1.60"),
        batch_multiplier=D("0.5"),
        min_cacheable_tokens=1024,
        shutdown_date=dt.date(2027, 1, 14),
        training=D("5.00"),
        training_available_until=dt.date(2027, 1, 6),
        ft_input=D("0.80"),
        ft_cached_input=D("0.20"),
        ft_output=D("3.20"),
        source="Langfuse price table",
        source_date=dt.date(2026, 8, 22),
    )
    candidates = [
        ModelOffer(
            model="gpt-5.6-luna",
            provider="openai",
            input=D("0.20"),
            cached_input=D("0.02"),
            cache_write=D("0.25"),
            output=D("1.20"),
            flex_multiplier=D("0.5"),
        ),
        ModelOffer(
            model="gpt-4o-mini",
            provider="openai",
            input=D("0.15"),
            cached_input=D("0.075"),
            output=D("0.60"),
            shutdown_date=dt.date(2027, 1, 14),
            training=D("3.00"),
            ft_input=D("0.30"),
            ft_cached_input=D("0.15"),
            ft_output=D("1.20"),
        ),
        ModelOffer(
            model="claude-lite",
            provider="anthropic",
            input=D("0.10"),
            output=D("0.50"),
            cached_input=D("0.01"),
            cache_write=D("0.125"),
        ),
    ]
    calls = D(742_113) * D(30) / D(23)
    strategy_inputs = StrategyInputs(
        as_of=dt.date(2026, 11, 29),
        calls_per_month=calls,
        avg_input_tokens=D("3312.5"),
        avg_output_tokens=D("187.25"),
        cache_read_share=D("0.4"),
        current=mini,
        candidates=candidates,
        static_tokens=3000,
        cacheable_prefix_tokens=1200,
        breaking_variable="customer_message",
        example_tokens=1800,
        tokens_removable=D(2800),
        training_tokens=3_500_000,
        epochs=3,
        data_preparation_cost=D("250"),
        versions_last_30_days=2,
        approved_examples=1200,
        assumed_cache_hit_rate=D("0.85"),
        evidence={
            "claude-lite": Evidence(
                status="ready",
                run_id=42,
                pass_rate=D("0.96"),
                baseline_run_id=40,
                baseline_pass_rate=D("0.95"),
            )
        },
    )
    advisor_inputs = AdvisorInputs(
        calls_per_month=calls,
        avg_input_tokens=D("3312.5"),
        avg_output_tokens=D("187.25"),
        tokens_removable=D(2800),
        input_price_per_1m=D("0.40"),
        output_price_per_1m=D("1.60"),
        ft_input_price_per_1m=D("0.80"),
        ft_output_price_per_1m=D("3.20"),
        cached_input_share=D("0.4"),
        cached_input_price_per_1m=D("0.10"),
        ft_cached_input_price_per_1m=D("0.20"),
        one_time_cost=D(3_500_000) * D(3) * D("5.00") / D(1_000_000) + D(250),
        approved_examples=1200,
        versions_last_30_days=2,
        as_of=dt.date(2026, 11, 29),
        training_available_until=dt.date(2027, 1, 6),
        model_shutdown_date=dt.date(2027, 1, 14),
        eval_pass_rate=D("0.95"),
    )
    return advisor_inputs, strategy_inputs


def test_a_prompts_what_if_inputs_reproduce_its_verdict_and_strategies(reader):
    advisor_inputs, strategy_inputs = a_prompt()
    expected = advise(advisor_inputs).as_dict(schedule_months=PAYBACK_SCHEDULE_MONTHS)
    expected_strategies = [s.as_dict() for s in compare(strategy_inputs)]
    assert {s["kind"] for s in expected_strategies} == {
        "keep",
        "cache_prefix",
        "prune_examples",
        "downshift",
        "fine_tune",
        "batch",
    }

    body = json.loads(json.dumps(strategy_inputs_as_what_if(strategy_inputs, advisor_inputs)))
    response = post(reader, body)
    assert response.status_code == 200, response.json()
    got = response.json()

    assert got["verdict"] == expected["verdict"]
    assert got["checks"] == expected["checks"]
    assert got["figures"] == expected["figures"]
    assert got["payback_schedule"] == expected["payback_schedule"]
    assert got["strategies"] == expected_strategies
    # Every reason but the eval's (the what-if takes no eval pass rate) is the same.
    assert got["reasons"] == [r for r in expected["reasons"] if "eval run" not in r]
