"""The seed's verdict with the world's constraints (issue 13, item 5), hand-worked.

Pure: no database. The seed's own cases live in tests/lib/test_advisor.py and
pass unchanged; here are cache writes (three input tiers), hosting, and the
lifecycle rules. Prices are USD per 1M tokens; a cost per call is
tokens × price / 1,000,000. A payback date is as_of + ceil(months × 30.436875)
days (the mean Gregorian month).
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal as D

import pytest

from prompts_app.lib.advisor import (
    WHAT_IF_ALL_KEYS,
    WHAT_IF_EXTRA_KEYS,
    AdvisorInputError,
    AdvisorInputs,
    advise,
    payback_date,
    validate_inputs,
)

AS_OF = dt.date(2026, 11, 29)
TRAINING_CLOSES = dt.date(2027, 1, 6)  # OpenAI: first day without new training jobs
SHUTDOWN = dt.date(2027, 1, 14)  # gpt-4.1 / 4.1-mini and their fine-tunes


def reference(**overrides) -> AdvisorInputs:
    """DESIGN.md's reference case: 1,000,000 calls/month, 1,000 input tokens of
    which 800 are removable, $2 per 1M before and after tuning, no output, a
    $10,000 run, 500 approved examples, 1 new version: $1,600.00/month, 6.25 months."""
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


# --------------------------------------------------------------------------- unchanged without them


def test_the_reference_case_stays_exact():
    advice = advise(reference())
    assert advice.monthly_savings == D("1600.00")
    assert advice.payback_months == D("6.25")
    assert advice.break_even_calls_per_month == D(520_834)
    assert advice.verdict == "fine_tune"
    assert set(advice.checks) == {"payback", "volume", "examples", "stability"}


def test_as_of_alone_changes_no_figure_reason_or_check():
    plain = advise(reference()).as_dict(schedule_months=24)
    dated = advise(reference(as_of=AS_OF)).as_dict(schedule_months=24)
    assert dated["inputs"].pop("as_of") == "2026-11-29"
    plain["inputs"].pop("as_of")
    assert dated == plain


def test_as_of_defaults_to_today_only_with_a_lifecycle_date():
    assert reference().resolved().as_of is None
    before = dt.datetime.now(dt.UTC).date()
    as_of = reference(model_shutdown_date=dt.date(2999, 1, 1)).resolved().as_of
    assert before <= as_of <= dt.datetime.now(dt.UTC).date()


# --------------------------------------------------------------------------- three input tiers


def three_tiers(**overrides) -> AdvisorInputs:
    """1,000 input tokens a call: 50% cache reads at $0.20, 10% cache writes at
    $2.50 (1.25 × the $2.00 input price), the other 400 uncached; 550 removable;
    the tuned model at $2.00 input / $0.20 cached; a $1,500 run."""
    fields = dict(
        cached_input_share=D("0.5"),
        cached_input_price_per_1m=D("0.20"),
        cache_write_share=D("0.1"),
        cache_write_price_per_1m=D("2.50"),
        ft_cached_input_price_per_1m=D("0.20"),
        tokens_removable=D(550),
        one_time_cost=D(1500),
    )
    fields.update(overrides)
    return reference(**fields)


def test_cache_writes_are_a_third_tier_and_the_tuned_model_drops_reads_first():
    # current: 400 uncached × $2.00 + 500 reads × $0.20 + 100 writes × $2.50
    #        = 800 + 100 + 250 = 1,150 per 1M → $0.00115 per call
    # tuned: the 550 removable tokens take the 500 reads, then 50 of the 100 writes:
    #        400 uncached × $2.00 + 0 reads + 50 writes × $2.00 (tuned input: no tuned
    #        write price) = 800 + 100 = 900 per 1M → $0.0009 per call
    # saving $0.00025 × 1,000,000 = $250.00/month; payback 1,500 / 250 = 6.00 months
    # break-even = 1,500 / (12 × 0.00025) = 1,500 / 0.003 = 500,000 calls/month
    advice = advise(three_tiers())
    assert advice.current_cost_per_call == D("0.0011500000")
    assert advice.fine_tuned_cost_per_call == D("0.0009000000")
    assert advice.monthly_savings == D("250.00")
    assert advice.payback_months == D("6.00")
    assert advice.break_even_calls_per_month == D(500_000)
    assert advice.verdict == "fine_tune"
    writes = next(r for r in advice.reasons if "written to the prompt cache" in r)
    assert writes.startswith("10% of input tokens (100 of 1,000 per call) are written")
    assert "$2.50 per 1M" in writes and "write 50 fewer per call" in writes


def test_without_the_write_fee_the_same_tokens_save_less():
    # Writes at the input price: current = 800 + 100 + 100 × $2.00 = 1,100 → $0.0011;
    # tuned unchanged at $0.0009 → saving $0.0002 → $200.00/month, payback 7.50 months.
    advice = advise(three_tiers(cache_write_price_per_1m=None))
    assert advice.current_cost_per_call == D("0.0011000000")
    assert advice.monthly_savings == D("200.00")
    assert advice.payback_months == D("7.50")
    assert advice.inputs.cache_write_price_per_1m == D(2)  # defaulted to the input price


def test_removable_tokens_beyond_reads_and_writes_come_off_uncached():
    # 800 removable: 500 reads, 100 writes, then 200 of the 400 uncached →
    # tuned = 200 × $2.00 = 400 per 1M → $0.0004; saving 1,150 − 400 → $0.00075 → $750.00.
    advice = advise(three_tiers(tokens_removable=D(800)))
    assert advice.fine_tuned_cost_per_call == D("0.0004000000")
    assert advice.monthly_savings == D("750.00")


def test_reads_and_writes_together_cannot_exceed_every_token():
    with pytest.raises(AdvisorInputError) as caught:
        reference(cached_input_share=D("0.9"), cache_write_share=D("0.2"))
    assert caught.value.field == "cache_write_share"
    assert "0.9 + 0.2 = 1.1" in caught.value.message
    assert reference(
        cached_input_share=D("0.9"), cache_write_share=D("0.1")
    ).cache_write_share == D("0.1")


# --------------------------------------------------------------------------- hosting


def test_hosting_comes_off_the_monthly_saving_and_raises_the_break_even():
    # monthly = 1,000,000 × $0.0016 − $100 = $1,500.00; payback = 10,000 / 1,500 = 6.666… → 6.67
    # break-even = (10,000 / 12 + 100) / 0.0016 = 933.33… / 0.0016 = 583,333.33… → 583,334
    advice = advise(reference(ft_fixed_cost_per_month=D(100)))
    assert advice.monthly_savings == D("1500.00")
    assert advice.payback_months == D("6.67")
    assert advice.break_even_calls_per_month == D(583_334)
    assert advice.verdict == "fine_tune"
    assert advice.reasons[0] == (
        "Fine-tuning saves $1,500.00 a month: $0.0016 per call × 1,000,000 calls = $1,600.00, "
        "from dropping 800 tokens per call, less $100.00 a month of hosting the tuned model."
    )
    # The schedule nets the hosting too: month 7 = 7 × 1,500 − 10,000 = $500.00.
    assert advice.payback_schedule(7)[-1]["net"] == D("500.00")


def test_hosting_that_eats_the_whole_saving_never_pays_back():
    # 1,600 − 1,600 = $0.00 a month; break-even = (10,000 + 1,600 × 12) / (12 × 0.0016)
    # = 29,200 / 0.0192 = 1,520,833.33… → 1,520,834 calls/month.
    advice = advise(reference(ft_fixed_cost_per_month=D(1600)))
    assert advice.monthly_savings == D("0.00")
    assert advice.payback_months is None
    assert advice.break_even_calls_per_month == D(1_520_834)
    assert advice.verdict == "keep_prompting"
    assert "$1,600.00 a month of hosting the tuned model leaves nothing" in advice.reasons[0]


# --------------------------------------------------------------------------- lifecycle


def test_payback_dates_use_the_mean_gregorian_month():
    # 6.25 × 30.436875 = 190.23… → 191 days after 2026-11-29 = 2027-06-08
    assert payback_date(AS_OF, D("6.25")) == dt.date(2027, 6, 8)
    # 1.95 × 30.436875 = 59.35… → 60 days = 2027-01-28; 0 months is the day itself
    assert payback_date(AS_OF, D("1.95")) == dt.date(2027, 1, 28)
    assert payback_date(AS_OF, D(0)) == AS_OF
    assert payback_date(AS_OF, D(10) ** 15) is None  # after 9999-12-31


def test_open_training_and_no_shutdown_keeps_the_verdict_and_says_until_when():
    advice = advise(reference(as_of=AS_OF, training_available_until=TRAINING_CLOSES))
    assert advice.checks["lifecycle"] is True
    assert advice.verdict == "fine_tune"
    assert advice.monthly_savings == D("1600.00") and advice.payback_months == D("6.25")
    assert (
        "New training jobs stop on 2027-01-06: as of 2026-11-29 training is open, so a run must "
        "start before then." in advice.reasons
    )


@pytest.mark.parametrize(
    "as_of, open_",
    [(dt.date(2027, 1, 5), True), (dt.date(2027, 1, 6), False), (dt.date(2027, 3, 1), False)],
)
def test_training_is_open_strictly_before_its_first_closed_day(as_of, open_):
    advice = advise(reference(as_of=as_of, training_available_until=TRAINING_CLOSES))
    assert advice.checks["lifecycle"] is open_
    assert advice.verdict == ("fine_tune" if open_ else "keep_prompting")


def test_closed_training_keeps_prompting_with_the_date_first():
    advice = advise(reference(as_of=dt.date(2027, 1, 6), training_available_until=TRAINING_CLOSES))
    assert advice.verdict == "keep_prompting"
    # The money is unchanged; the date decides.
    assert advice.monthly_savings == D("1600.00") and advice.checks["payback"] is True
    assert advice.reasons[0] == (
        "Training closed on 2027-01-06 (no new training jobs from that day; as of 2027-01-06): "
        "there is nothing to tune, so keep prompting."
    )


def test_closed_training_is_not_prepare_data_either():
    advice = advise(
        reference(
            approved_examples=100,
            as_of=dt.date(2027, 2, 1),
            training_available_until=TRAINING_CLOSES,
        )
    )
    assert advice.verdict == "keep_prompting"
    assert advise(reference(approved_examples=100)).verdict == "prepare_data"


def test_shutdown_before_the_payback_completes_keeps_prompting():
    # one-time $3,120 / $1,600 a month = 1.95 months → payback on 2027-01-28 (60 days),
    # after gpt-4.1-mini's shutdown on 2027-01-14.
    advice = advise(reference(one_time_cost=D(3120), as_of=AS_OF, model_shutdown_date=SHUTDOWN))
    assert advice.payback_months == D("1.95")
    assert advice.checks == {
        "payback": True,
        "volume": True,
        "examples": True,
        "stability": True,
        "lifecycle": False,
    }
    assert advice.verdict == "keep_prompting"
    assert advice.reasons[0] == (
        "The tuned model shuts down on 2027-01-14, before the payback completes on 2027-01-28 "
        "(1.95 months from 2026-11-29): the run would not pay for itself, so keep prompting."
    )


@pytest.mark.parametrize(
    "shutdown, ok", [(dt.date(2027, 1, 29), True), (dt.date(2027, 1, 28), False)]
)
def test_the_payback_must_complete_before_the_first_day_without_serving(shutdown, ok):
    advice = advise(reference(one_time_cost=D(3120), as_of=AS_OF, model_shutdown_date=shutdown))
    assert advice.checks["lifecycle"] is ok
    assert advice.verdict == ("fine_tune" if ok else "keep_prompting")


def test_the_reference_payback_outlives_no_2027_shutdown():
    # 6.25 months from 2026-11-29 → 2027-06-08, long after 2027-01-14.
    advice = advise(
        reference(
            as_of=AS_OF, training_available_until=TRAINING_CLOSES, model_shutdown_date=SHUTDOWN
        )
    )
    assert advice.verdict == "keep_prompting"
    assert "before the payback completes on 2027-06-08" in advice.reasons[0]
    assert advice.monthly_savings == D("1600.00")


def test_a_shutdown_with_no_payback_at_all_fails_the_lifecycle():
    advice = advise(
        reference(ft_input_price_per_1m=D(20), as_of=AS_OF, model_shutdown_date=dt.date(2030, 1, 1))
    )
    assert advice.payback_months is None
    assert advice.checks["lifecycle"] is False
    assert "never pays back before it" in advice.reasons[0]


# --------------------------------------------------------------------------- what-if keys


def test_the_what_if_takes_the_new_keys_with_iso_dates():
    raw = {
        "calls_per_month": 1_000_000,
        "avg_input_tokens": 1000,
        "avg_output_tokens": 0,
        "tokens_removable": 800,
        "input_price_per_1m": "2",
        "output_price_per_1m": "0",
        "one_time_cost": "3120",
        "approved_examples": 500,
        "versions_last_30_days": 1,
        "cache_write_share": "0",
        "cache_write_price_per_1m": "2.50",
        "ft_cached_input_price_per_1m": "2",
        "ft_fixed_cost_per_month": "0",
        "as_of": "2026-11-29",
        "training_available_until": "2027-01-06",
        "model_shutdown_date": "2027-01-14",
    }
    inputs = validate_inputs(raw)
    assert inputs.as_of == AS_OF and inputs.model_shutdown_date == SHUTDOWN
    assert advise(inputs).verdict == "keep_prompting"
    rendered = inputs.as_dict()
    assert rendered["as_of"] == "2026-11-29" and rendered["model_shutdown_date"] == "2027-01-14"
    json.dumps(rendered)
    assert set(WHAT_IF_EXTRA_KEYS) <= set(WHAT_IF_ALL_KEYS)


@pytest.mark.parametrize(
    "value, words",
    [
        ("2027/01/06", "YYYY-MM-DD"),
        ("2027-1-6", "YYYY-MM-DD"),
        ("20270106", "YYYY-MM-DD"),
        ("2027-01-06T00:00:00", "YYYY-MM-DD"),
        (20270106, "YYYY-MM-DD"),
        ("2027-02-30", "not a real date"),
    ],
)
def test_the_what_if_refuses_other_date_forms_naming_the_field(value, words):
    raw = {
        "calls_per_month": 1,
        "avg_input_tokens": 1,
        "avg_output_tokens": 0,
        "tokens_removable": 0,
        "input_price_per_1m": 1,
        "output_price_per_1m": 1,
        "one_time_cost": 0,
        "training_available_until": value,
    }
    with pytest.raises(AdvisorInputError) as caught:
        validate_inputs(raw)
    assert caught.value.field == "training_available_until"
    assert words in caught.value.message


def test_the_what_if_refuses_reads_plus_writes_over_one():
    raw = {
        "calls_per_month": 1,
        "avg_input_tokens": 1,
        "avg_output_tokens": 0,
        "tokens_removable": 0,
        "input_price_per_1m": 1,
        "output_price_per_1m": 1,
        "one_time_cost": 0,
        "cached_input_share": "0.8",
        "cache_write_share": "0.3",
    }
    with pytest.raises(AdvisorInputError) as caught:
        validate_inputs(raw)
    assert caught.value.field == "cache_write_share"


@pytest.mark.parametrize(
    "field, value",
    [
        ("cache_write_share", 0.1),  # a float
        ("ft_fixed_cost_per_month", D(-1)),
        ("as_of", dt.datetime(2026, 11, 29, tzinfo=dt.UTC)),  # a time of day sneaking in
        ("model_shutdown_date", "2027-01-14"),  # the dataclass takes dates, not strings
    ],
)
def test_the_dataclass_refuses_bad_new_values(field, value):
    with pytest.raises(AdvisorInputError) as caught:
        reference(**{field: value})
    assert caught.value.field == field
