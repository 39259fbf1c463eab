"""Strategies compared (issue 13, item 3), every figure worked by hand.

Pure: no database. The prompt is the one of the cost reference's worked example
(cost-and-formats-2026.md, 3c): 1,000,000 calls a month, 3,000 static tokens
(system prompt + few-shot) and 300 dynamic ones, 200 output tokens, on
gpt-4.1-mini ($0.40 input / $0.10 cached / $1.60 output per 1M; no cache-write
fee). A cost per call is tokens × price / 1,000,000; a payback date is
as_of + ceil(months × 30.436875) days.

gpt-4.1-mini's training price ($5.00 per 1M training tokens) is a test figure:
the reference could not confirm the gpt-4.1 family's rates.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from decimal import Decimal as D

import pytest

from prompts_app.lib.advisor import AdvisorInputError, AdvisorInputs, advise, payback_date
from prompts_app.lib.strategies import (
    Evidence,
    ModelOffer,
    StrategyInputs,
    Tiers,
    call_cost,
    compare,
)
from prompts_app.lib.what_if import strategy_inputs_as_what_if

AS_OF = dt.date(2026, 11, 29)

MINI = ModelOffer(
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
)
LUNA = ModelOffer(
    model="gpt-5.6-luna",
    provider="openai",
    input=D("0.20"),
    cached_input=D("0.02"),
    cache_write=D("0.25"),  # 1.25 × input
    output=D("1.20"),
    flex_multiplier=D("0.5"),
    min_cacheable_tokens=1024,
)
GPT_4O_MINI = ModelOffer(
    model="gpt-4o-mini",
    provider="openai",
    input=D("0.15"),
    cached_input=D("0.075"),
    output=D("0.60"),
    shutdown_date=dt.date(2027, 1, 14),
)
NANO = ModelOffer(
    model="gpt-4.1-nano",
    provider="openai",
    input=D("0.10"),
    cached_input=D("0.025"),
    output=D("0.40"),
    shutdown_date=dt.date(2026, 10, 23),
)
TERRA = ModelOffer(
    model="gpt-5.6-terra",
    provider="openai",
    input=D("2.00"),
    cached_input=D("0.20"),
    cache_write=D("2.50"),
    output=D("12.00"),
)


def worked(**overrides) -> StrategyInputs:
    """3c's prompt, uncached today: the first variable ({{ customer_message }})
    comes after 200 of the 3,000 static tokens. A tuned model keeps a 200-token
    instruction, so 2,800 tokens are removable; 5,000 approved examples of 700
    tokens, 3 epochs (10.5M training tokens); a stable prompt."""
    fields = dict(
        as_of=AS_OF,
        calls_per_month=D(1_000_000),
        avg_input_tokens=D(3300),
        avg_output_tokens=D(200),
        current=MINI,
        candidates=[LUNA],
        static_tokens=3000,
        cacheable_prefix_tokens=200,
        breaking_variable="customer_message",
        tokens_removable=D(2800),
        training_tokens=3_500_000,
        epochs=3,
        approved_examples=5000,
        versions_last_30_days=0,
    )
    fields.update(overrides)
    return StrategyInputs(**fields)


def by_key(inputs: StrategyInputs) -> dict:
    return {s.key: s for s in compare(inputs)}


def keys(inputs: StrategyInputs) -> list[str]:
    return [s.key for s in compare(inputs)]


# --------------------------------------------------------------------------- 3c, row by row


def test_the_reference_table_uncached_cache_friendly_and_fine_tuned():
    found = by_key(worked())

    # Row 1, no caching: 3,300 × $0.40 + 200 × $1.60 = 1,320 + 320 = 1,640 per 1M
    # → $0.00164 per call → $1,640.00 a month.
    keep = found["keep"]
    assert (keep.cost_per_call, keep.monthly_cost) == (D("0.0016400000"), D("1640.00"))
    assert keep.monthly_saving == D("0.00") and keep.ready is False
    # gpt-4.1-mini shuts down inside the 12-month horizon: keeping it is no plan.
    assert keep.blockers == [
        "gpt-4.1-mini shuts down on 2027-01-14 (46 days from 2026-11-29): keeping it as is "
        "stops working then; move to a replacement that your eval suite passes."
    ]

    # Row 2, 90% hits on the 3,000-token static prefix: 2,700 reads × $0.10 + 300
    # writes × $0.40 (no write fee before GPT-5.6) + 300 uncached × $0.40 + 200 × $1.60
    # = 270 + 120 + 120 + 320 = 830 → $0.00083 → $830.00; saving $810.00 (−49%);
    # nothing to pay up front, so over 12 months 810 × 12 = $9,720.00.
    cache = found["cache_prefix"]
    assert (cache.cost_per_call, cache.monthly_cost) == (D("0.0008300000"), D("830.00"))
    assert cache.monthly_saving == D("810.00")
    assert cache.one_time_cost == D("0.00") and cache.payback_months == D("0.00")
    assert cache.net_saving_over_horizon == D("9720.00")
    assert cache.blockers == []
    assert cache.title == (
        "Move the static text before {{ customer_message }}: 2,800 more tokens become "
        "cacheable (3,000 instead of 200)"
    )
    assert cache.evidence["status"] == "untested" and cache.ready is False
    assert cache.formula[:2] == [
        "gpt-4.1-mini: (300 uncached × $0.40 + 2,700 cache reads × $0.10 + 300 cache writes "
        "× $0.40 + 200 output × $1.60) per 1M tokens = $0.00083/call",
        "1,000,000 calls × $0.00083 = $830.00/month",
    ]

    # Row 3, ft:gpt-4.1-mini with the prompt cut to 200 static tokens: 500 input ×
    # $0.80 + 200 × $3.20 = 400 + 640 = 1,040 → $0.00104 → $1,040.00; saving $600.00.
    # Training 3,500,000 × 3 epochs × $5.00 / 1M = $52.50; payback 52.50 / 600 =
    # 0.0875 months → 0.0875 × 30.436875 = 2.66 → 3 days ("about 3 days against
    # uncached"); over 12 months 600 × 12 − 52.50 = $7,147.50.
    tune = found["fine_tune:openai:gpt-4.1-mini"]
    assert (tune.cost_per_call, tune.monthly_cost) == (D("0.0010400000"), D("1040.00"))
    assert tune.monthly_saving == D("600.00")
    assert tune.one_time_cost == D("52.50")
    assert tune.payback_months == D("0.09")
    assert payback_date(AS_OF, D("52.50") / D(600)) == dt.date(2026, 12, 2)
    assert tune.net_saving_over_horizon == D("7147.50")
    assert tune.blockers == []  # training open until 2027-01-06, paid back long before 2027-01-14
    assert tune.evidence["status"] == "untested"
    assert "can't be evaluated before it is trained" in tune.evidence["note"]
    assert any("shuts down on 2027-01-14" in a for a in tune.assumptions)
    assert (
        "one-time: 3,500,000 training tokens × 3 epochs × $5.00 per 1M = $52.50 training + "
        "$0.00 data preparation = $52.50" in tune.formula
    )

    # Luna on today's uncached tokens: 3,300 × $0.20 + 200 × $1.20 = 660 + 240 = 900.
    luna = found["downshift:gpt-5.6-luna"]
    assert (luna.cost_per_call, luna.monthly_cost) == (D("0.0009000000"), D("900.00"))
    assert luna.monthly_saving == D("740.00") and luna.net_saving_over_horizon == D("8880.00")

    assert keys(worked()) == [
        "cache_prefix",  # 9,720.00
        "downshift:gpt-5.6-luna",  # 8,880.00
        "fine_tune:openai:gpt-4.1-mini",  # 7,147.50
        "batch",  # blocked: not asynchronous; 7,872.00 before keep's 0
        "keep",  # blocked: gpt-4.1-mini shuts down on 2027-01-14
    ]


def cached_today(**overrides) -> StrategyInputs:
    """The same prompt after the fix: static text first, 90% of calls hit. The
    ledger measures shares as ratios of its token totals: reads 2,700 / 3,300 and
    writes 300 / 3,300 per call, carried at 28 digits (0.8181…82, 0.0909…091)."""
    fields = dict(
        cache_read_share=D(2700) / D(3300),
        cache_write_share=D(300) / D(3300),
        cacheable_prefix_tokens=3000,
        breaking_variable=None,
    )
    fields.update(overrides)
    return worked(**fields)


def test_the_reference_table_cached_and_downshifted():
    found = by_key(cached_today())
    # Row 2 again, now measured: the 28-digit shares are off by ~1e-26 tokens,
    # far below the reported 1E-10 dollars per call: $0.00083, $830.00.
    assert found["keep"].cost_per_call == D("0.0008300000")
    assert found["keep"].monthly_cost == D("830.00")

    # Row 4, gpt-5.6-luna on those tokens, writes at $0.25 (1.25 × $0.20):
    # 2,700 × $0.02 + 300 × $0.25 + 300 × $0.20 + 200 × $1.20 = 54 + 75 + 60 + 240
    # = 429 → $0.000429 (the table rounds it to 0.00043) → $429.00 a month, −74%
    # against $1,640; $401.00 a month against today's $830.00.
    luna = found["downshift:gpt-5.6-luna"]
    assert (luna.cost_per_call, luna.monthly_cost) == (D("0.0004290000"), D("429.00"))
    assert luna.monthly_saving == D("401.00")
    assert luna.formula[0] == (
        "gpt-5.6-luna: (300 uncached × $0.20 + 2,700 cache reads × $0.02 + 300 cache writes × "
        "$0.25 + 200 output × $1.20) per 1M tokens = $0.000429/call"
    )

    # Static text already first, cached as well as a 90% hit rate would: nothing to gain.
    cache = found["cache_prefix"]
    assert cache.monthly_saving == D("0.00")
    assert cache.blockers[0].startswith("already cached: 81.82% of input tokens are cache reads")
    assert cache.evidence == {"status": "not_needed"}
    assert "set prompt_cache_key" in cache.title

    # "Never against cached": the tuned model drops the 2,700 reads and 100 of the
    # writes; 300 uncached + 200 writes at $0.80 + 200 × $3.20 = 400 + 640 = 1,040 →
    # $0.00104, $210.00 a month MORE than $830.00: no payback, and gpt-4.1-mini shuts
    # down on 2027-01-14 before a payback that never comes.
    tune = found["fine_tune:openai:gpt-4.1-mini"]
    assert tune.cost_per_call == D("0.0010400000")
    assert tune.monthly_saving == D("-210.00")
    assert tune.payback_months is None
    assert tune.net_saving_over_horizon == D("-2572.50")  # −210 × 12 − 52.50
    assert tune.blockers == [
        "The tuned model shuts down on 2027-01-14, and the one-time cost never pays back before it."
    ]


# --------------------------------------------------------------------------- lifecycle


def test_training_closed_blocks_the_fine_tune():
    tune = by_key(worked(as_of=dt.date(2027, 1, 6)))["fine_tune:openai:gpt-4.1-mini"]
    assert tune.blockers == [
        "Training closed on 2027-01-06: openai accepts no new training jobs from that day "
        "(as of 2027-01-06)."
    ]
    assert tune.monthly_saving == D("600.00")  # the money is unchanged; the date decides
    assert tune.ready is False


def test_a_shutdown_before_the_payback_blocks_the_fine_tune_and_ranks_it_last():
    # $52.50 training + $1,147.50 data preparation = $1,200.00; payback 1,200 / 600 =
    # 2.00 months → 2 × 30.436875 = 60.87 → 61 days after 2026-11-29 = 2027-01-29,
    # after the 2027-01-14 shutdown. Training is open (2026-11-29 < 2027-01-06).
    inputs = worked(data_preparation_cost=D("1147.50"))
    tune = by_key(inputs)["fine_tune:openai:gpt-4.1-mini"]
    assert tune.one_time_cost == D("1200.00") and tune.payback_months == D("2.00")
    assert tune.net_saving_over_horizon == D("6000.00")  # 600 × 12 − 1,200
    assert tune.blockers == [
        "The tuned model shuts down on 2027-01-14, before the payback completes on 2027-01-29 "
        "(2.00 months from 2026-11-29)."
    ]
    order = keys(inputs)
    unblocked = [s.key for s in compare(inputs) if not s.blockers]
    assert order.index("fine_tune:openai:gpt-4.1-mini") > max(order.index(k) for k in unblocked)


def test_a_payback_the_day_before_the_shutdown_is_not_blocked():
    # $52.50 + $7.50 = $60.00 / $600 = 0.1 months → 3.04 → 4 days = 2026-12-03.
    tune = by_key(
        worked(
            data_preparation_cost=D("7.50"),
            current=dataclasses.replace(MINI, shutdown_date=dt.date(2026, 12, 4)),
        )
    )["fine_tune:openai:gpt-4.1-mini"]
    assert tune.blockers == []
    tune = by_key(
        worked(
            data_preparation_cost=D("7.50"),
            current=dataclasses.replace(MINI, shutdown_date=dt.date(2026, 12, 3)),
        )
    )["fine_tune:openai:gpt-4.1-mini"]
    assert "before the payback completes on 2026-12-03" in tune.blockers[0]


def test_downshifts_skip_dead_models_and_block_ones_dying_within_the_horizon():
    found = by_key(worked(candidates=[LUNA, GPT_4O_MINI, NANO, TERRA]))
    # nano stopped serving on 2026-10-23: not listed.
    assert "downshift:gpt-4.1-nano" not in found
    # terra costs more than today (2.00 × 3,300 + 12.00 × 200 = 9,000 per 1M), but
    # gpt-4.1-mini retires inside the horizon, so terra is listed as a replacement.
    terra = found["downshift:gpt-5.6-terra"]
    assert terra.monthly_cost == D("9000.00") and terra.monthly_saving == D("-7360.00")
    assert "replacing gpt-4.1-mini before it shuts down on 2027-01-14" in terra.title
    # gpt-4o-mini: 3,300 × $0.15 + 200 × $0.60 = 495 + 120 = 615 → $615.00; saving
    # $1,025.00; but it shuts down inside the horizon, which ends 366 days on
    # (ceil(12 × 30.436875) = ceil(365.2425)) on 2027-11-30.
    old = found["downshift:gpt-4o-mini"]
    assert old.monthly_cost == D("615.00") and old.monthly_saving == D("1025.00")
    assert old.blockers == [
        "gpt-4o-mini shuts down on 2027-01-14, within the 12-month horizon "
        "(from 2026-11-29 to 2027-11-30)."
    ]
    # Keeping gpt-4.1-mini is blocked: it stops working inside the horizon.
    assert "keeping it as is stops working then" in found["keep"].blockers[0]
    # With a current model that does not retire, a dearer model is not a move.
    calm = by_key(
        worked(
            current=dataclasses.replace(MINI, shutdown_date=None),
            candidates=[LUNA, GPT_4O_MINI, NANO, TERRA],
        )
    )
    assert "downshift:gpt-5.6-terra" not in calm


# --------------------------------------------------------------------------- hosting, retraining


def reference_offer(**overrides) -> ModelOffer:
    fields = dict(model="acme-model", provider="acme", input=D(2), output=D(0), training=D("3.00"))
    fields.update(overrides)
    return ModelOffer(**fields)


def reference_inputs(**overrides) -> StrategyInputs:
    """DESIGN.md's reference case as strategy inputs: 1,000,000 calls × 1,000 input
    tokens at $2, 800 removable, same price tuned; 1,000,000 training tokens × 2
    epochs × $3.00 = $6.00 + $9,994.00 preparation = $10,000.00 one-time."""
    fields = dict(
        as_of=AS_OF,
        calls_per_month=D(1_000_000),
        avg_input_tokens=D(1000),
        avg_output_tokens=D(0),
        current=reference_offer(),
        tokens_removable=D(800),
        training_tokens=1_000_000,
        epochs=2,
        data_preparation_cost=D(9994),
        approved_examples=500,
        versions_last_30_days=0,
    )
    fields.update(overrides)
    return StrategyInputs(**fields)


def test_the_reference_fine_tune_matches_the_verdict():
    tune = by_key(reference_inputs())["fine_tune:acme:acme-model"]
    # 200 tokens × $2 = $0.0004 per call vs $0.002: $1,600.00 a month, 6.25 months,
    # 1,600 × 12 − 10,000 = $9,200.00 over the horizon.
    assert tune.cost_per_call == D("0.0004000000")
    assert tune.monthly_saving == D("1600.00") and tune.payback_months == D("6.25")
    assert tune.net_saving_over_horizon == D("9200.00")


def test_hosting_is_a_fixed_monthly_cost_and_lengthens_the_payback():
    # 400 a month of tokens + $100 hosting = $500.00; saving 2,000 − 500 = $1,500.00;
    # payback 10,000 / 1,500 = 6.666… → 6.67 months; 1,500 × 12 − 10,000 = $8,000.00.
    inputs = reference_inputs(current=reference_offer(ft_hosting_per_month=D(100)))
    tune = by_key(inputs)["fine_tune:acme:acme-model"]
    assert tune.fixed_monthly_cost == D("100.00")
    assert tune.monthly_cost == D("500.00") and tune.monthly_saving == D("1500.00")
    assert tune.payback_months == D("6.67")
    assert tune.net_saving_over_horizon == D("8000.00")
    assert "hosting the tuned model: $100.00/month" in tune.formula
    # The verdict on the same inputs gives the same month and payback.
    verdict = advise(
        AdvisorInputs(
            calls_per_month=D(1_000_000),
            avg_input_tokens=D(1000),
            avg_output_tokens=D(0),
            tokens_removable=D(800),
            input_price_per_1m=D(2),
            output_price_per_1m=D(0),
            one_time_cost=D(10_000),
            approved_examples=500,
            ft_fixed_cost_per_month=D(100),
        )
    )
    assert (verdict.monthly_savings, verdict.payback_months) == (D("1500.00"), D("6.67"))


def test_retraining_as_often_as_the_prompt_changes():
    # Each run is $6.00 of training (preparation is one-time); 2 new versions in the
    # last 30 days → $12.00 a month. Saving 1,600 − 12 = $1,588.00; payback
    # 10,000 / 1,588 = 6.297… → 6.30; 1,588 × 12 − 10,000 = $9,056.00. (The seed's
    # verdict leaves retraining out: it still says $1,600.00.)
    tune = by_key(reference_inputs(versions_last_30_days=2))["fine_tune:acme:acme-model"]
    assert tune.retraining_monthly_cost == D("12.00")
    assert tune.monthly_cost == D("412.00") and tune.monthly_saving == D("1588.00")
    assert tune.payback_months == D("6.30")
    assert tune.net_saving_over_horizon == D("9056.00")
    assert tune.blockers == []
    assert (
        "retraining: $6.00 per training run × 2 new versions in the last 30 days = $12.00/month"
        in tune.formula
    )
    # A third version is over the maximum of 2: $18.00 a month, and blocked.
    tune = by_key(reference_inputs(versions_last_30_days=3))["fine_tune:acme:acme-model"]
    assert tune.retraining_monthly_cost == D("18.00")
    assert tune.blockers == [
        "3 new versions in the last 30 days, more than 2: every change means a new training run."
    ]


def test_too_few_examples_block_the_fine_tune():
    tune = by_key(reference_inputs(approved_examples=499))["fine_tune:acme:acme-model"]
    assert tune.blockers == ["499 approved examples, under the 500 minimum for LoRA-class tuning."]


def test_every_provider_that_trains_gets_its_own_fine_tune():
    # An open-weight model on another provider: tuned at $0.30 in / $0.30 out plus
    # $200 a month of hosting. 500 × 0.30 + 200 × 0.30 = 210 per 1M → $210.00 + $200
    # = $410.00; saving 1,640 − 410 = $1,230.00; training 10,500,000 × $0.50 / 1M = $5.25.
    open_8b = ModelOffer(
        model="open-8b",
        provider="together",
        input=D("0.20"),
        output=D("0.20"),
        training=D("0.50"),
        ft_input=D("0.30"),
        ft_output=D("0.30"),
        ft_hosting_per_month=D(200),
    )
    found = by_key(worked(candidates=[LUNA, open_8b]))
    tune = found["fine_tune:together:open-8b"]
    assert tune.monthly_cost == D("410.00") and tune.monthly_saving == D("1230.00")
    assert tune.one_time_cost == D("5.25") and tune.fixed_monthly_cost == D("200.00")
    # Another provider and no evidence: not a downshift candidate.
    assert "downshift:open-8b" not in found


# --------------------------------------------------------------------------- batch, flex, prune


def test_batch_is_blocked_unless_the_prompt_is_asynchronous():
    batch = by_key(worked())["batch"]
    # $1,640.00 × 0.5 = $820.00
    assert batch.monthly_cost == D("820.00") and batch.monthly_saving == D("820.00")
    assert batch.blockers[0].startswith("not marked asynchronous:")
    assert batch.ready is False

    inputs = worked(asynchronous=True)
    batch = by_key(inputs)["batch"]
    assert batch.blockers == [] and batch.ready is True
    assert batch.evidence == {"status": "not_needed"}
    assert batch.net_saving_over_horizon == D("9840.00")
    assert batch.formula[0] == "$1,640.00/month × 0.5 = $820.00/month"
    # 9,840 beats the cache fix's 9,720: first.
    assert keys(inputs) == [
        "batch",
        "cache_prefix",
        "downshift:gpt-5.6-luna",
        "fine_tune:openai:gpt-4.1-mini",
        "keep",
    ]


def test_flex_on_a_model_that_offers_it():
    # Luna today, uncached: 900 per 1M → $900.00; flex × 0.5 → $450.00.
    found = by_key(worked(current=LUNA, candidates=[], asynchronous=True))
    assert found["flex"].monthly_cost == D("450.00") and found["flex"].blockers == []
    assert "batch" not in found  # luna's offer has no batch multiplier here


def test_three_tier_cache_fix_on_a_model_with_a_write_fee():
    # On luna, static first at 90%: 300 × 0.20 + 2,700 × 0.02 + 300 × 0.25 (writes at
    # 1.25×) + 200 × 1.20 = 60 + 54 + 75 + 240 = 429 → $429.00 against $900.00.
    cache = by_key(worked(current=LUNA, candidates=[]))["cache_prefix"]
    assert (cache.cost_per_call, cache.monthly_cost) == (D("0.0004290000"), D("429.00"))
    assert cache.monthly_saving == D("471.00")
    assert "write its 3,000 tokens to the cache at $0.25 per 1M" in cache.assumptions[0]


def test_pruning_half_the_examples():
    # floor(1,651 / 2) = 825 tokens go; every input tier × (3,300 − 825) / 3,300 = 0.75:
    # 2,475 × $0.40 + 200 × $1.60 = 990 + 320 = 1,310 → $0.00131 → $1,310.00; saving
    # $330.00; 330 × 12 = $3,960.00.
    prune = by_key(worked(example_tokens=1651))["prune_examples"]
    assert (prune.cost_per_call, prune.monthly_cost) == (D("0.0013100000"), D("1310.00"))
    assert prune.monthly_saving == D("330.00") and prune.net_saving_over_horizon == D("3960.00")
    assert prune.title == (
        "Prune the few-shot examples: drop half of the 1,651 example tokens (825 per call)"
    )
    assert prune.evidence["status"] == "untested"
    assert "prune_examples" not in by_key(worked(example_tokens=1))  # floor(0.5) = 0: nothing


def test_a_prefix_under_the_provider_minimum_is_blocked():
    # 900 static tokens: reads 810 × 0.10 + writes 90 × 0.40 + 2,400 × 0.40 + 320
    # = 81 + 36 + 960 + 320 = 1,397 → $1,397.00, a $243.00 saving that OpenAI would
    # never give: it caches prefixes from 1,024 tokens.
    cache = by_key(worked(static_tokens=900, cacheable_prefix_tokens=0))["cache_prefix"]
    assert cache.monthly_cost == D("1397.00")
    assert cache.blockers == [
        "900 static tokens, below the provider's 1,024-token minimum for caching a prefix."
    ]


def test_no_static_tokens_no_cache_strategy():
    assert "cache_prefix" not in by_key(worked(static_tokens=0, cacheable_prefix_tokens=0))


# --------------------------------------------------------------------------- downshift choice, evidence


def offer(model, input_, provider="openai", **more):
    return ModelOffer(model=model, provider=provider, input=D(input_), output=D("1.00"), **more)


def test_at_most_three_cheapest_downshifts_plus_every_one_with_evidence():
    # On today's 3,300 + 200 tokens, per 1M: c 0.20 → 860; b 0.25 → 1,025; a 0.30 →
    # 1,190; d 0.35 → 1,355; all under 1,640. d is the fourth, but has evidence.
    a, b, c, d = offer("a", "0.30"), offer("b", "0.25"), offer("c", "0.20"), offer("d", "0.35")
    failed = Evidence(status="failed", run_id=7, pass_rate=D("0.70"), baseline_pass_rate=D("0.95"))
    found = by_key(worked(candidates=[a, b, c, d]))
    assert sorted(k for k in found if k.startswith("downshift:")) == [
        "downshift:a",
        "downshift:b",
        "downshift:c",
    ]
    found = by_key(worked(candidates=[a, b, c, d], evidence={"d": failed}))
    assert found["downshift:d"].monthly_cost == D("1355.00")
    assert found["downshift:d"].evidence == {
        "status": "failed",
        "run_id": 7,
        "pass_rate": "0.70",
        "format_adherence": None,
        "cost_per_call": None,
        "baseline_run_id": None,
        "baseline_pass_rate": "0.95",
        "baseline_format_adherence": None,
    }
    assert found["downshift:d"].ready is False


def test_another_provider_only_with_evidence_and_ready_only_when_it_passed():
    # claude-lite: 3,300 × $0.10 + 200 × $0.50 = 330 + 100 = 430 → $430.00.
    lite = ModelOffer(model="claude-lite", provider="anthropic", input=D("0.10"), output=D("0.50"))
    assert "downshift:claude-lite" not in by_key(worked(candidates=[lite]))
    passed = Evidence(status="ready", run_id=42, pass_rate=D("0.96"), baseline_pass_rate=D("0.95"))
    shift = by_key(worked(candidates=[lite], evidence={"claude-lite": passed}))[
        "downshift:claude-lite"
    ]
    assert shift.monthly_cost == D("430.00") and shift.monthly_saving == D("1210.00")
    assert shift.evidence["status"] == "ready" and shift.ready is True
    untested = by_key(worked())["downshift:gpt-5.6-luna"]
    assert untested.evidence["status"] == "untested" and untested.ready is False


# --------------------------------------------------------------------------- contract


def test_one_per_call_function_prices_every_tier():
    # 300 × 0.20 + 2,700 × 0.02 + 300 × 0.25 + 200 × 1.20 = 429 per 1M
    assert call_cost(LUNA, Tiers(D(300), D(2700), D(300), D(200))) == D("0.000429")
    # no cached or write price: both at input
    assert call_cost(
        NANO.__class__(model="x", input=D(1), output=D(0)), Tiers(D(1), D(1), D(1), D(0))
    ) == D("0.000003")


def test_strategies_are_json_safe():
    for strategy in compare(worked(asynchronous=True, example_tokens=1651)):
        data = strategy.as_dict()
        json.dumps(data)
        assert set(data) == {
            "key",
            "kind",
            "title",
            "model",
            "provider",
            "cost_per_call",
            "monthly_cost",
            "monthly_saving",
            "one_time_cost",
            "fixed_monthly_cost",
            "retraining_monthly_cost",
            "payback_months",
            "net_saving_over_horizon",
            "blockers",
            "evidence",
            "ready",
            "formula",
            "assumptions",
        }


@pytest.mark.parametrize(
    "build, field",
    [
        (lambda: worked(calls_per_month=1e6), "calls_per_month"),
        (
            lambda: worked(cache_read_share=D("0.9"), cache_write_share=D("0.2")),
            "cache_write_share",
        ),
        (lambda: worked(cacheable_prefix_tokens=3001), "cacheable_prefix_tokens"),
        (lambda: worked(as_of=None), "as_of"),
        (lambda: ModelOffer(model="m", input=0.4, output=D(1)), "input"),
        (lambda: Evidence(status="passed"), "status"),
    ],
)
def test_bad_inputs_are_refused_by_name(build, field):
    with pytest.raises(AdvisorInputError) as caught:
        build()
    assert caught.value.field == field


def test_the_what_if_body_refuses_inputs_that_disagree():
    strategy_inputs = reference_inputs()
    advisor_inputs = AdvisorInputs(
        calls_per_month=D(999_999),
        avg_input_tokens=D(1000),
        avg_output_tokens=D(0),
        tokens_removable=D(800),
        input_price_per_1m=D(2),
        output_price_per_1m=D(0),
        one_time_cost=D(10_000),
        approved_examples=500,
    )
    with pytest.raises(ValueError, match="calls_per_month"):
        strategy_inputs_as_what_if(strategy_inputs, advisor_inputs)
    agreeing = dataclasses.replace(advisor_inputs, calls_per_month=D(1_000_000))
    body = strategy_inputs_as_what_if(strategy_inputs, agreeing)
    json.dumps(body)
    assert body["current_model"]["training"] == "3.00" and body["as_of"] == "2026-11-29"
    with pytest.raises(ValueError, match="one_time_cost"):
        strategy_inputs_as_what_if(
            strategy_inputs, dataclasses.replace(agreeing, one_time_cost=D(9_000))
        )


def test_no_fine_tune_on_a_candidate_that_no_longer_serves():
    # gpt-4.1-nano stopped serving on 2026-10-23: neither a downshift nor a fine-tune.
    dead = dataclasses.replace(NANO, training=D("1.50"))
    found = by_key(worked(candidates=[LUNA, dead]))
    assert "fine_tune:openai:gpt-4.1-nano" not in found
    assert "downshift:gpt-4.1-nano" not in found
    # The current model is always listed, blocked, even after its shutdown.
    late = by_key(worked(as_of=dt.date(2027, 2, 1)))["fine_tune:openai:gpt-4.1-mini"]
    assert late.blockers[0].startswith("Training closed on 2027-01-06")
    assert late.blockers[1].startswith(
        "The tuned model shut down on 2027-01-14, before the payback"
    )


def test_huge_inputs_do_not_overflow():
    # Every input at the 1e15 ceiling: the retraining over the horizon alone is
    # 1e15 tokens × 1e15 epochs × $1e15 / 1M × 1e15 versions × 1e15 months ≈ 1e69.
    big = D(10) ** 15
    huge = ModelOffer(
        model="m",
        provider="p",
        input=big,
        output=big,
        training=big,
        batch_multiplier=big,
        ft_hosting_per_month=big,
    )
    inputs = StrategyInputs(
        as_of=dt.date(1, 1, 1),
        calls_per_month=big,
        avg_input_tokens=big,
        avg_output_tokens=big,
        current=huge,
        static_tokens=int(big),
        example_tokens=int(big),
        tokens_removable=big,
        training_tokens=int(big),
        epochs=int(big),
        data_preparation_cost=big,
        versions_last_30_days=int(big),
        max_versions_last_30_days=int(big),
        horizon_months=big,
    )
    found = by_key(inputs)
    json.dumps([s.as_dict() for s in found.values()])
    assert found["fine_tune:p:m"].retraining_monthly_cost == D(10) ** 54


# --------------------------------------------------------------------------- static text already first


def test_when_the_static_text_already_leads_caching_needs_no_prompt_change_and_is_ready():
    # All 3,000 static tokens come before {{ customer_message }}: nothing moves.
    found = by_key(worked(cacheable_prefix_tokens=3000))
    cache = found["cache_prefix"]
    assert cache.evidence == {"status": "not_needed"}
    assert cache.ready is True and cache.monthly_cost == D("830.00")
    # Ready moves lead the ranking, ahead of bigger but untested savings.
    assert keys(worked(cacheable_prefix_tokens=3000))[0] == "cache_prefix"


def test_a_move_is_priced_after_the_free_caching_fix_when_the_prefix_already_leads():
    # Luna with the 3,000-token prefix cached at 90%: 2,700 reads × $0.02 + 300
    # writes × $0.25 + 300 uncached × $0.20 + 200 output × $1.20 = 54 + 75 + 60 + 240
    # = 429 per 1M → $0.000429 per call → $429.00 a month (3c's last row).
    luna = by_key(worked(cacheable_prefix_tokens=3000))["downshift:gpt-5.6-luna"]
    assert (luna.cost_per_call, luna.monthly_cost) == (D("0.0004290000"), D("429.00"))
    assert luna.monthly_saving == D("1211.00")  # 1,640 − 429
    assert "caching needs no prompt change" in luna.assumptions[0]
    # When the prompt text would have to move first, the move is priced on today's tokens.
    luna = by_key(worked())["downshift:gpt-5.6-luna"]
    assert luna.monthly_cost == D("900.00")


def test_free_moves_rank_before_proven_ones_and_proven_before_untested():
    proven = Evidence(status="ready", run_id=7, pass_rate=D("0.95"), baseline_pass_rate=D("0.9"))
    order = keys(worked(cacheable_prefix_tokens=3000, evidence={"gpt-5.6-luna": proven}))
    # cache (no change, $9,720 net) before luna (eval-proven, $14,532 net: 1,211 × 12)
    assert order[:2] == ["cache_prefix", "downshift:gpt-5.6-luna"]
    luna = by_key(worked(cacheable_prefix_tokens=3000, evidence={"gpt-5.6-luna": proven}))[
        "downshift:gpt-5.6-luna"
    ]
    assert luna.ready is True and luna.net_saving_over_horizon == D("14532.00")
    assert luna.evidence["status"] == "ready" and luna.evidence["run_id"] == 7
